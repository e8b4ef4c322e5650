import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFiles, type FileRead } from "../../../shared/cli/read-files.js";

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "ripple-read-files-"));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function collect(reads: AsyncIterable<FileRead>): Promise<FileRead[]> {
  const all: FileRead[] = [];
  for await (const read of reads) all.push(read);
  return all;
}

/** A reader whose reads finish when the test says so (or at once after `finishAll`), counting those in flight. */
function controlledReader() {
  const waiting = new Map<string, () => void>();
  const state = { inFlight: 0, most: 0, started: [] as string[], finishAtOnce: false };
  const read = (file: string): Promise<FileRead> => {
    state.started.push(file);
    state.inFlight += 1;
    state.most = Math.max(state.most, state.inFlight);
    return new Promise((resolve) => {
      const finish = (): void => {
        waiting.delete(file);
        state.inFlight -= 1;
        resolve({ ok: true, file, text: `text of ${file}` });
      };
      if (state.finishAtOnce) finish();
      else waiting.set(file, finish);
    });
  };
  const finish = (file: string): void => waiting.get(file)!();
  const finishAll = (): void => {
    state.finishAtOnce = true;
    for (const finishOne of waiting.values()) finishOne();
  };
  return { read, finish, finishAll, state };
}

describe("readFiles", () => {
  it("reads every file from disk as UTF-8 and yields them in the order given", async () => {
    const names = ["a", "b", "c", "d", "e"];
    // The first file is the largest, so later ones finish first: the order must still be the one given.
    for (const [index, name] of names.entries()) await writeFile(join(directory, name), index === 0 ? `FROM é\n${"#\n".repeat(200_000)}` : `FROM ${name}\n`);
    const files = names.map((name) => join(directory, name));

    const reads = await collect(readFiles(files, { concurrency: 2 }));

    expect(reads).toEqual(files.map((file, index) => ({ ok: true, file, text: index === 0 ? `FROM é\n${"#\n".repeat(200_000)}` : `FROM ${names[index]}\n` })));
  });

  it("yields the error code of a file it cannot read and reads the others", async () => {
    await writeFile(join(directory, "Dockerfile"), "FROM alpine\n");
    await mkdir(join(directory, "folder"));
    const files = ["missing", "Dockerfile", "folder"].map((name) => join(directory, name));

    expect(await collect(readFiles(files))).toEqual([
      { ok: false, file: files[0], code: "ENOENT" },
      { ok: true, file: files[1], text: "FROM alpine\n" },
      { ok: false, file: files[2], code: "EISDIR" },
    ]);
  });

  it("keeps at most `concurrency` reads in flight, starting the next one as each is taken", async () => {
    const files = ["1", "2", "3", "4", "5", "6", "7"];
    const reader = controlledReader();
    const reads = readFiles(files, { concurrency: 3, read: reader.read });

    const first = reads.next();
    await Promise.resolve();
    expect(reader.state.started).toEqual(["1", "2", "3"]);
    // Finishing a later file yields nothing yet: the first is still being read.
    reader.finish("2");
    reader.finish("1");
    expect(await first).toEqual({ done: false, value: { ok: true, file: "1", text: "text of 1" } });
    expect(reader.state.started).toEqual(["1", "2", "3", "4"]);
    reader.finishAll();
    expect((await collect(reads)).map((read) => read.file)).toEqual(["2", "3", "4", "5", "6", "7"]);

    expect(reader.state.most).toBe(3);
  });

  it("reads nothing for no files", async () => {
    expect(await collect(readFiles([]))).toEqual([]);
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses a concurrency of %s", async (concurrency) => {
    await expect(collect(readFiles(["Dockerfile"], { concurrency }))).rejects.toThrow(RangeError);
  });
});
