/**
 * The Bicep cannot be compiled here (no bicep CLI), so the structural mistakes a reader can miss are
 * checked on every test run: strings, comments and brackets balanced in every file; every module called
 * with exactly the parameters it declares (all required ones, no unknown ones); main.parameters.json naming
 * only parameters of main.bicep.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const INFRA = resolve(import.meta.dirname, "../../infra");
const files = ["main.bicep", ...readdirSync(join(INFRA, "modules")).filter((name) => name.endsWith(".bicep")).map((name) => `modules/${name}`)];
const read = (file: string) => readFileSync(join(INFRA, file), "utf8");

/** The first structural fault of a Bicep text (an unclosed string, comment or bracket), or null. */
function structuralFault(text: string): string | null {
  const stack: Array<{ open: string; line: number }> = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let line = 1;
  let i = 0;
  const next = () => {
    if (text[i] === "\n") line += 1;
    i += 1;
  };
  while (i < text.length) {
    const rest = text.slice(i, i + 3);
    const inString = stack.at(-1)?.open === "'";
    if (inString) {
      if (text[i] === "\\") { next(); next(); continue; }
      if (text[i] === "'") { stack.pop(); next(); continue; }
      if (text.startsWith("${", i)) { stack.push({ open: "${", line }); next(); next(); continue; }
      if (text[i] === "\n") return `line ${line}: a string runs past the end of its line`;
      next();
      continue;
    }
    if (rest === "'''") {
      const end = text.indexOf("'''", i + 3);
      if (end < 0) return `line ${line}: a multi-line string is never closed`;
      while (i < end + 3) next();
      continue;
    }
    if (text.startsWith("//", i)) { while (i < text.length && text[i] !== "\n") next(); continue; }
    if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) return `line ${line}: a comment is never closed`;
      while (i < end + 2) next();
      continue;
    }
    const char = text[i]!;
    if (char === "'") stack.push({ open: "'", line });
    else if ("([{".includes(char)) stack.push({ open: char, line });
    else if (char === "}" && stack.at(-1)?.open === "${") stack.pop();
    else if (char in pairs) {
      const top = stack.pop();
      if (top?.open !== pairs[char]) return `line ${line}: '${char}' closes ${top === undefined ? "nothing" : `'${top.open}' of line ${top.line}`}`;
    }
    next();
  }
  const open = stack.at(-1);
  return open === undefined ? null : `'${open.open}' of line ${open.line} is never closed`;
}

/** The parameters a Bicep file declares, and which of them have no default (required). */
function declaredParameters(text: string): { all: string[]; required: string[] } {
  const all: string[] = [];
  const required: string[] = [];
  for (const [, name, rest] of text.matchAll(/^param\s+(\w+)\s+([^\n]*)$/gm)) {
    all.push(name!);
    if (!rest!.includes("=")) required.push(name!);
  }
  return { all: all.sort(), required: required.sort() };
}

/** Each `module name 'path' = … { … params: { key: … } }` of a file: the path and the keys passed. */
function moduleCalls(text: string): Array<{ name: string; path: string; keys: string[] }> {
  const calls: Array<{ name: string; path: string; keys: string[] }> = [];
  for (const match of text.matchAll(/^module\s+(\w+)\s+'([^']+)'[^\n]*\{$/gm)) {
    const start = match.index! + match[0].length;
    let depth = 1;
    let end = start;
    while (depth > 0 && end < text.length) {
      if (text[end] === "{") depth += 1;
      else if (text[end] === "}") depth -= 1;
      end += 1;
    }
    const body = text.slice(start, end);
    const params = /^\s{2}params:\s*\{$/m.exec(body);
    const keys = params === null ? [] : [...body.slice(params.index).matchAll(/^\s{4}(\w+):/gm)].map((key) => key[1]!);
    calls.push({ name: match[1]!, path: match[2]!, keys: [...new Set(keys)].sort() });
  }
  return calls;
}

describe("infra (Bicep read structurally, since it cannot be compiled here)", () => {
  it.each(files)("%s has balanced strings, comments and brackets", (file) => {
    expect(structuralFault(read(file))).toBeNull();
  });

  it("finds the fault of a string that runs into the next line (as a broken @description once did)", () => {
    expect(structuralFault("@description('one\noutput x string = 'y'\nparam a string")).toEqual("line 1: a string runs past the end of its line");
    expect(structuralFault("var a = [\n  'x'\n")).toEqual("'[' of line 1 is never closed");
    expect(structuralFault("var a = '${b}' // '\nvar c = '''\nmulti ' line\n'''\n")).toBeNull();
  });

  it.each(files.flatMap((file) => moduleCalls(read(file)).map((call) => [file, call.name, call] as const)))("%s calls module %s with exactly its parameters", (file, _, call) => {
    const declared = declaredParameters(read(join(file, "..", call.path).replace(/^\.\//, "")));
    expect({ missing: declared.required.filter((name) => !call.keys.includes(name)), unknown: call.keys.filter((key) => !declared.all.includes(key)) }).toEqual({ missing: [], unknown: [] });
  });

  it("lists every module in infra/README.md's layout", () => {
    const layout = /^```\ninfra\/\n([\s\S]*?)```$/m.exec(read("README.md"))?.[1] ?? "";
    expect(files.filter((file) => file.startsWith("modules/") && !layout.includes(`  ${file} `))).toEqual([]);
  });

  it("leaves the local stack, the tests and local reports out of the deployment package, and keeps what the app runs", () => {
    const ignored = read("../.funcignore").split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
    const shipped = ["functions", "shared", "docs", "host.json", "package.json", "package-lock.json", "tsconfig.json"];
    expect({
      leftOut: [".git", ".stack", "test", "infra", "node_modules", "dist", "reports", "test-results"].filter((path) => !ignored.includes(path)),
      shippedButIgnored: shipped.filter((path) => ignored.some((pattern) => pattern === path || pattern === `${path}/` || pattern === "*")),
    }).toEqual({ leftOut: [], shippedButIgnored: [] });
  });

  it("has azd hooks whose sh scripts parse: Key Vault recovery before provision, the configuration check before deploy, the subscription after it, the registry's group guarded before down", () => {
    const project = parseYaml(read("azure.yaml")) as { hooks: Record<string, { posix: { shell: string; run: string }; windows: { shell: string; run: string } }> };
    const faults = Object.entries(project.hooks).flatMap(([name, hook]) => {
      const parsed = spawnSync("sh", ["-n", "-c", hook.posix.run], { encoding: "utf8" });
      return parsed.status === 0 ? [] : [`${name}: ${parsed.stderr.trim()}`];
    });
    expect({ hooks: Object.keys(project.hooks).sort(), shells: Object.values(project.hooks).map((hook) => `${hook.posix.shell}/${hook.windows.shell}`), faults }).toEqual({
      hooks: ["postdeploy", "predeploy", "predown", "preprovision"],
      shells: ["sh/pwsh", "sh/pwsh", "sh/pwsh", "sh/pwsh"],
      faults: [],
    });
  });

  it("maps main.parameters.json onto main.bicep's parameters only", () => {
    const json = JSON.parse(read("main.parameters.json")) as { parameters: Record<string, unknown> };
    const declared = declaredParameters(read("main.bicep")).all;
    expect(Object.keys(json.parameters).filter((name) => !declared.includes(name))).toEqual([]);
  });
});
