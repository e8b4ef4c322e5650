/**
 * `ripple --help`, `extract` and `bump` start without loading the Azure or GitHub SDKs (issue #11): the
 * built CLI runs with a preload that records every module it loads, ES modules through a resolve hook and
 * CommonJS ones (which Node 20's hooks do not see) from the require cache on exit.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "./helpers/run-cli.js";

const HOOKS = `import { appendFileSync } from "node:fs";
let log;
export function initialize(data) {
  log = data.log;
}
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(log, result.url + "\\n");
  return result;
}
`;

const PRELOAD = `import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
const log = process.env.RIPPLE_LOADED_LOG;
register(new URL("./hooks.mjs", import.meta.url), { data: { log } });
const cache = createRequire(import.meta.url).cache;
process.on("exit", () => appendFileSync(log, Object.keys(cache).map((file) => file + "\\n").join("")));
`;

const SDK = /[/\\]node_modules[/\\]@(azure|octokit)[/\\]/;
const DIGEST = "sha256:11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437";

let directory: string;
let dockerfile: string;
let configFile: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "ripple-lazy-load-"));
  await writeFile(join(directory, "hooks.mjs"), HOOKS);
  await writeFile(join(directory, "preload.mjs"), PRELOAD);
  configFile = join(directory, "ripple.yaml");
  await writeFile(configFile, "version: 1\nregistries: [{host: contoso.azurecr.io, tasks: {subscriptionId: s, resourceGroup: rg, registryName: contoso}}]\nrepositories: [{url: contoso/deploy}]\n");
  dockerfile = join(directory, "Dockerfile");
  await writeFile(dockerfile, "ARG VERSION=3.20\nFROM --platform=linux/amd64 alpine:${VERSION} AS build\nRUN echo built\nFROM scratch\nCOPY --from=build /bin/busybox /\n");
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Runs the built CLI with the recording preload; resolves with its exit code and every module it loaded. */
async function runRecorded(args: string[], name: string): Promise<{ code: number | null; stderr: string; loaded: string[] }> {
  const log = join(directory, `${name}.log`);
  await writeFile(log, "");
  // No storage settings and an empty stack folder: a command that needs services fails after loading them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("AzureWebJobsStorage")));
  const result = await runCli(args, { ...env, NODE_OPTIONS: `--import=${pathToFileURL(join(directory, "preload.mjs")).href}`, RIPPLE_LOADED_LOG: log, RIPPLE_STACK_DIR: join(directory, "no-stack") });
  const loaded = [...new Set((await readFile(log, "utf8")).split("\n").filter((line) => line !== ""))];
  return { code: result.code, stderr: result.stderr, loaded };
}

describe("ripple start-up", () => {
  it.each([
    ["--help", ["--help"]],
    ["extract", ["extract", "--json", "DOCKERFILE"]],
    ["extract-text", ["extract", "DOCKERFILE"]],
    ["bump", ["bump", "DOCKERFILE", "--image", "alpine:3.20", "--digest", DIGEST, "--pin"]],
    ["config-check", ["config", "check", "CONFIG", "--no-settings"]],
  ])("%s loads no Azure or GitHub SDK", async (name, args) => {
    const { code, stderr, loaded } = await runRecorded(args.map((arg) => (arg === "DOCKERFILE" ? dockerfile : arg === "CONFIG" ? configFile : arg)), name);

    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(loaded).toContain(pathToFileURL(CLI).href);
    expect(loaded.filter((module) => SDK.test(module))).toEqual([]);
  });

  it("sees the SDKs when a command does load them (the probe works)", async () => {
    const { code, stderr, loaded } = await runRecorded(["graph"], "graph");

    expect(code).toBe(1);
    expect(stderr).toContain("no storage connection");
    expect(loaded.filter((module) => /[/\\]node_modules[/\\]@azure[/\\](identity|data-tables)[/\\]/.test(module))).not.toEqual([]);
  });
});
