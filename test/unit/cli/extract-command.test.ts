import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCapturedOutput } from "./helpers/captured-output.js";
import { extractCommand } from "../../../shared/cli/extract-command.js";

const output = useCapturedOutput("ripple-extract-");

async function writeInput(name: string, content: string): Promise<string> {
  const file = join(output.directory, name);
  await writeFile(file, content);
  return file;
}

const alpine = { name: "docker.io/library/alpine", tag: "3.20", digest: null, platform: null, line: 1, instruction: "FROM", stage: null };
const busybox = { name: "docker.io/library/busybox", tag: "1.36", digest: null, platform: null, line: 1, instruction: "FROM", stage: "b" };

describe("extractCommand", () => {
  it("reports each file of a batch, in order, with the error of one it cannot read, and exits 1 at the end", async () => {
    const first = await writeInput("a.Dockerfile", "FROM alpine:3.20\n");
    const missing = join(output.directory, "missing.Dockerfile");
    const folder = join(output.directory, "folder");
    await mkdir(folder);
    const last = await writeInput("b.Dockerfile", "FROM busybox:1.36 AS b\n");

    expect(await extractCommand([first, missing, folder, last], true)).toEqual(1);
    expect({ json: JSON.parse(output.stdout) as unknown, stderr: output.stderr }).toEqual({
      json: [
        { file: first, images: [alpine] },
        { file: missing, error: `cannot read ${missing}: ENOENT` },
        { file: folder, error: `cannot read ${folder}: EISDIR` },
        { file: last, images: [busybox] },
      ],
      stderr: `ripple: cannot read ${missing}: ENOENT\nripple: cannot read ${folder}: EISDIR\n`,
    });
  });

  it("prints the files it read as tables and the others on output.stderr, and exits 1", async () => {
    const first = await writeInput("Dockerfile", "FROM alpine:3.20\n");
    const missing = join(output.directory, "missing.Dockerfile");
    expect(await extractCommand([missing, first], false)).toEqual(1);
    expect({ stdout: output.stdout, stderr: output.stderr }).toEqual({
      stdout: `${first}\nLINE  INSTRUCTION  IMAGE                          PLATFORM  STAGE\n1     FROM         docker.io/library/alpine:3.20\n`,
      stderr: `ripple: cannot read ${missing}: ENOENT\n`,
    });
  });

  it("exits 0 when it read every file", async () => {
    const first = await writeInput("a.Dockerfile", "FROM alpine:3.20\n");
    const last = await writeInput("b.Dockerfile", "FROM busybox:1.36 AS b\n");
    expect(await extractCommand([first, last], true)).toEqual(0);
    expect({ json: JSON.parse(output.stdout) as unknown, stderr: output.stderr }).toEqual({ json: [{ file: first, images: [alpine] }, { file: last, images: [busybox] }], stderr: "" });
  });
});
