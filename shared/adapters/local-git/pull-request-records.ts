import { randomBytes } from "node:crypto";
import { link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import { AppError, ConflictError } from "../../errors.js";

const commitSha = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/);

/**
 * The stored record of one local pull request, `<gitdir>/ripple/pulls/<number>.json`. `state` is what was
 * last written: an `open` record whose head has since reached the default branch is merged all the same.
 */
export const PullRequestRecord = z
  .object({
    number: z.number().int().positive(),
    branch: z.string().min(1),
    title: z.string(),
    body: z.string(),
    labels: z.array(z.string()),
    state: z.enum(["open", "closed", "merged"]),
    headSha: commitSha,
    baseSha: commitSha,
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .strict();
export type PullRequestRecord = z.infer<typeof PullRequestRecord>;

const recordName = /^([1-9][0-9]*)\.json$/;
/** A lock older than this was left by a writer that died; the next writer takes it over. */
const staleLockMs = 30_000;
/** How long a writer waits for another one before giving up with a (retryable) conflict. */
const lockWaitMs = 15_000;

/** The folder of the records of the repository whose git dir is `gitDir`. */
export function pullRequestsDirectory(gitDir: string): string {
  return join(gitDir, "ripple", "pulls");
}

/**
 * Every record of the repository, by ascending number; empty when there is none.
 * @throws AppError `pull_record_invalid` when a record file is not a valid record.
 */
export async function readPullRequestRecords(gitDir: string): Promise<PullRequestRecord[]> {
  const directory = pullRequestsDirectory(gitDir);
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const numbers = names.flatMap((name) => {
    const match = recordName.exec(name);
    return match?.[1] === undefined ? [] : [Number(match[1])];
  });
  const records = await Promise.all(numbers.map(async (number) => parseRecord(join(directory, `${number}.json`), await readFile(join(directory, `${number}.json`), "utf8"))));
  return records.sort((a, b) => a.number - b.number);
}

/** The record numbered `number`, or undefined. @throws AppError `pull_record_invalid` as {@link readPullRequestRecords}. */
export async function readPullRequestRecord(gitDir: string, number: number): Promise<PullRequestRecord | undefined> {
  const path = join(pullRequestsDirectory(gitDir), `${number}.json`);
  try {
    return parseRecord(path, await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Stores a new record under the next free number (one above the highest) and answers it. The file appears
 * complete or not at all: it is written aside and hard-linked into place, which fails rather than replace a
 * record another writer stored under the same number meanwhile (then the next number is tried).
 */
export async function createPullRequestRecord(gitDir: string, fields: Omit<PullRequestRecord, "number">): Promise<PullRequestRecord> {
  const directory = pullRequestsDirectory(gitDir);
  await mkdir(directory, { recursive: true });
  const existing = await readPullRequestRecords(gitDir);
  let number = (existing.at(-1)?.number ?? 0) + 1;
  const staging = join(directory, `.new.${randomBytes(6).toString("hex")}.tmp`);
  try {
    for (;;) {
      const record: PullRequestRecord = { number, ...fields };
      await writeFile(staging, serialize(record));
      try {
        await link(staging, join(directory, `${number}.json`));
        return record;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        number += 1;
      }
    }
  } finally {
    await rm(staging, { force: true });
  }
}

/** Replaces the stored record of `record.number` atomically (temporary file + rename). */
export async function writePullRequestRecord(gitDir: string, record: PullRequestRecord): Promise<void> {
  const directory = pullRequestsDirectory(gitDir);
  await mkdir(directory, { recursive: true });
  const staging = join(directory, `.${record.number}.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(staging, serialize(record));
  await rename(staging, join(directory, `${record.number}.json`));
}

/**
 * Runs `work` holding the repository's record lock, `<gitdir>/ripple/pulls.lock` (created exclusively, so
 * it also holds between processes: the local Functions host and the CLI may write the same repository).
 * Waiting polls with a deadline; a lock older than 30 s is taken over.
 * @throws ConflictError (retryable) when the lock stays taken for 15 s.
 */
export async function withPullRequestLock<T>(gitDir: string, work: () => Promise<T>): Promise<T> {
  const lockPath = join(gitDir, "ripple", "pulls.lock");
  await mkdir(join(gitDir, "ripple"), { recursive: true });
  const deadline = Date.now() + lockWaitMs;
  for (;;) {
    try {
      const handle = await open(lockPath, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const age = await stat(lockPath).then((entry) => Date.now() - entry.mtimeMs, () => 0);
      if (age > staleLockMs) {
        await rm(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new ConflictError(`the pull request records of ${gitDir} stayed locked (${lockPath})`);
      await delay(5 + Math.floor(Math.random() * 20));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lockPath, { force: true });
  }
}

function serialize(record: PullRequestRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

function parseRecord(path: string, text: string): PullRequestRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AppError("pull_record_invalid", `${path} is not JSON`, { cause: error });
  }
  const parsed = PullRequestRecord.safeParse(json);
  if (!parsed.success) {
    throw new AppError("pull_record_invalid", `${path} is not a pull request record: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  }
  return parsed.data;
}
