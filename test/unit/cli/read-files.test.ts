import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readTextFileSync } from "../../../shared/cli/read-files.js";

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "ripple-read-files-"));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("readTextFileSync", () => {
  it("reads a file as UTF-8 text", async () => {
    const file = join(directory, "Dockerfile");
    await writeFile(file, "FROM é\n");
    expect(readTextFileSync(file)).toEqual({ ok: true, file, text: "FROM é\n" });
  });

  it.each([
    ["missing", "ENOENT"],
    ["folder", "EISDIR"],
  ])("returns the error code of a %s file instead of throwing", async (name, code) => {
    await mkdir(join(directory, "folder"));
    const file = join(directory, name);
    expect(readTextFileSync(file)).toEqual({ ok: false, file, code });
  });
});
