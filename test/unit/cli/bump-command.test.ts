import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCapturedOutput } from "./helpers/captured-output.js";
import { bumpCommand, type BumpCommandOptions } from "../../../shared/cli/bump-command.js";
import { AppError } from "../../../shared/errors.js";

const OLD = "sha256:d4a28e59ebd25e224d35fb665a1305a4f700b6d8c954eae9bab9f5748d658efa";
const NEW = "sha256:11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437";
const OTHER = "sha256:9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91";

const DOCKERFILE = `\uFEFF# base\r\nFROM alpine:3.20@${OLD} AS build\r\nRUN echo ok\r\nFROM alpine:3.20@${OLD}\r\n`;
const BUMPED = `\uFEFF# base\r\nFROM alpine:3.20@${NEW} AS build\r\nRUN echo ok\r\nFROM alpine:3.20@${NEW}\r\n`;

const output = useCapturedOutput("ripple-bump-");

async function writeInput(name: string, content: string | Buffer): Promise<string> {
  const file = join(output.directory, name);
  await writeFile(file, content);
  return file;
}

function lines(...text: string[]): string {
  return text.join("\n");
}

function options(overrides: Partial<BumpCommandOptions> = {}): BumpCommandOptions {
  return { image: `alpine:3.20@${OLD}`, digest: NEW, pin: false, write: false, ...overrides };
}

/** The error a command fails with, reduced to what a user sees and a script branches on. */
async function failureOf(run: Promise<number>): Promise<{ type: string; code: string; message: string }> {
  try {
    await run;
  } catch (error) {
    if (error instanceof AppError) return { type: error.name, code: error.code, message: error.message };
    throw error;
  }
  throw new Error("the command did not fail");
}

describe("bumpCommand", () => {
  it("prints the rewritten file on output.stdout, byte for byte, and leaves the file alone", async () => {
    const file = await writeInput("Dockerfile", DOCKERFILE);
    expect(await bumpCommand(file, options())).toEqual(0);
    expect({ stdout: output.stdout, stderr: output.stderr, file: await readFile(file, "utf8") }).toEqual({ stdout: BUMPED, stderr: "", file: DOCKERFILE });
  });

  it("with write, rewrites the file in place (BOM and CRLF kept) and prints one line on output.stderr", async () => {
    const file = await writeInput("Dockerfile", DOCKERFILE);
    expect(await bumpCommand(file, options({ write: true }))).toEqual(0);
    expect({ stdout: output.stdout, stderr: output.stderr, file: await readFile(file) }).toEqual({
      stdout: "",
      stderr: `${file}: alpine:3.20@${OLD} → sha256:11507a0e2f5e on lines 2, 4\n`,
      file: Buffer.from(BUMPED, "utf8"),
    });
  });

  it("with write, says so when the reference already has the digest", async () => {
    const file = await writeInput("compose.yaml", `services:\n  app:\n    image: alpine@${NEW}\n`);
    expect(await bumpCommand(file, options({ image: "alpine", write: true }))).toEqual(0);
    expect({ stdout: output.stdout, stderr: output.stderr }).toEqual({ stdout: "", stderr: `${file}: alpine already at sha256:11507a0e2f5e\n` });
  });

  it("with pin, pins a reference that has no digest", async () => {
    const file = await writeInput("values.yaml", 'image:\n  repository: alpine\n  tag: "3.20"\n  digest: ""\n');
    expect(await bumpCommand(file, options({ image: "docker.io/library/alpine:3.20", pin: true }))).toEqual(0);
    expect(output.stdout).toEqual(`image:\n  repository: alpine\n  tag: "3.20"\n  digest: "${NEW}"\n`);
  });

  it.each<[string, string, string, string]>([
    [
      "a name without a tag changes only the reference written without a tag",
      "node",
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${OLD}`),
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${NEW}`),
    ],
    [
      "NAME:* changes every tag",
      "node:*",
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${OLD}`),
      lines(`FROM node:18@${NEW} AS legacy`, `FROM node@${NEW}`),
    ],
    [
      "NAME:*@OLD changes every tag that has the old digest",
      `node:*@${OLD}`,
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node:20@${OTHER}`),
      lines(`FROM node:18@${NEW} AS legacy`, `FROM node:20@${OTHER}`),
    ],
    [
      "a name with a digest and no tag means the reference without a tag too",
      `node@${OLD}`,
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${OLD}`),
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${NEW}`),
    ],
  ])("%s", async (_, image, input, expected) => {
    const file = await writeInput("Dockerfile", input);
    expect(await bumpCommand(file, options({ image }))).toEqual(0);
    expect(output.stdout).toEqual(expected);
  });

  it.each<[string, string, string, string]>([
    ["--format dockerfile reads any file name as a Dockerfile", "base.df", "dockerfile", `FROM alpine:3.20@${OLD}\n`],
    ["--format yaml reads any file name as YAML", "deploy.tpl", "yaml", `spec:\n  containers:\n    - image: alpine:3.20@${OLD}\n`],
  ])("%s", async (_, name, format, input) => {
    const file = await writeInput(name, input);
    expect(await bumpCommand(file, options({ format }))).toEqual(0);
    expect(output.stdout).toEqual(input.replace(OLD, NEW));
  });

  it.each<[string, string, string | Buffer, Partial<BumpCommandOptions>, { type: string; code: string; message: string }]>([
    [
      "a name without a tag when every reference of it has one",
      "Dockerfile",
      `FROM node:18@${OLD} AS legacy\nFROM node:20@${OLD}\n`,
      { image: "node" },
      {
        type: "AppError",
        code: "reference_not_found",
        message: "{file}: no reference to node without a tag that can be bumped; references of node with a tag match only when named: --image node:TAG, or --image 'node:*' for every tag",
      },
    ],
    ["a tag next to :*", "Dockerfile", "FROM alpine\n", { image: "alpine:3.20:*" }, { type: "ValidationError", code: "validation_failed", message: '--image "alpine:3.20:*": a tag and :* together: name one tag, or :* for every tag' }],
    ["an unknown --format", "Dockerfile", "FROM alpine\n", { format: "toml" }, { type: "ValidationError", code: "validation_failed", message: '--format "toml" is not dockerfile or yaml' }],
    [
      "no matching reference",
      "Dockerfile",
      "FROM alpine:3.20\n",
      {},
      { type: "AppError", code: "reference_not_found", message: `{file}: no reference to alpine:3.20@${OLD} that can be bumped (use --pin to pin references that have no digest yet)` },
    ],
    [
      "no matching reference, with pin",
      "Dockerfile",
      "FROM busybox:1.36\n",
      { image: "alpine", pin: true },
      { type: "AppError", code: "reference_not_found", message: "{file}: no reference to alpine that can be bumped" },
    ],
    ["a bad --digest", "Dockerfile", "FROM alpine\n", { digest: "sha256:abc" }, { type: "ValidationError", code: "validation_failed", message: '--digest "sha256:abc" is not a digest (sha256: and 64 hex characters)' }],
    ["a bad --image", "Dockerfile", "FROM alpine\n", { image: "Alpine:3.20" }, { type: "ValidationError", code: "validation_failed", message: '--image "Alpine:3.20": "library/Alpine" is not a valid repository name' }],
    [
      "a file of no known kind",
      "notes.txt",
      "FROM alpine\n",
      {},
      { type: "ValidationError", code: "validation_failed", message: "{file} is not a Dockerfile, Containerfile or YAML file by its name; name its format with --format dockerfile|yaml" },
    ],
    [
      "a file that is not UTF-8",
      "Dockerfile",
      Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x20, 0xff, 0x0a]),
      {},
      { type: "AppError", code: "file_not_utf8", message: "{file} is not UTF-8 text; it would not be written back byte for byte" },
    ],
  ])("fails for %s", async (_, name, content, overrides, expected) => {
    const file = await writeInput(name, content);
    expect(await failureOf(bumpCommand(file, options(overrides)))).toEqual({ ...expected, message: expected.message.replace("{file}", file) });
    expect(await readFile(file)).toEqual(Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8"));
  });

  it("fails for a file that does not exist", async () => {
    const file = join(output.directory, "Dockerfile");
    expect(await failureOf(bumpCommand(file, options()))).toEqual({ type: "AppError", code: "file_unreadable", message: `cannot read ${file}: ENOENT` });
  });
});
