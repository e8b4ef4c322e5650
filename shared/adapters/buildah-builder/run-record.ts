import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { AppError } from "../../errors.js";
import type { BuildRun } from "../../ports/image-builder.js";

/** The run record `run.json` of a local build: exactly the port's BuildRun, written by the builder itself. */
export const BuildRunRecord = z
  .object({
    runId: z.string(),
    status: z.enum(["queued", "running", "succeeded", "failed", "canceled", "timed-out"]),
    logsUrl: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .strict();
export type BuildRunRecord = z.infer<typeof BuildRunRecord>;

const localRunIdPattern = /^local-\d{14}-[0-9a-f]{6}$/;

/** A new local run id, `local-<yyyymmddhhmmss UTC>-<6 random hex>`. */
export function createLocalRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-T:]/g, "");
  return `local-${stamp}-${randomBytes(3).toString("hex")}`;
}

/** Whether `runId` has the shape of a local run id (so it is safe as a folder name). Pure. */
export function isLocalRunId(runId: string): boolean {
  return localRunIdPattern.test(runId);
}

/** Writes `run.json` in `runDir` atomically (temporary file + rename), so a reader never sees half a record. */
export async function writeRunRecord(runDir: string, run: BuildRun): Promise<void> {
  const staging = join(runDir, `.run.json.${randomBytes(4).toString("hex")}`);
  await writeFile(staging, `${JSON.stringify(run, null, 2)}\n`);
  await rename(staging, join(runDir, "run.json"));
}

/**
 * Reads `run.json` from `runDir`; `undefined` when there is none.
 * @throws AppError `run_record_invalid` when the file is not a valid record.
 */
export async function readRunRecord(runDir: string): Promise<BuildRun | undefined> {
  let text: string;
  try {
    text = await readFile(join(runDir, "run.json"), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AppError("run_record_invalid", `${join(runDir, "run.json")} is not JSON`, { cause: error });
  }
  const parsed = BuildRunRecord.safeParse(json);
  if (!parsed.success) {
    throw new AppError("run_record_invalid", `${join(runDir, "run.json")} is not a build run record: ${parsed.error.issues[0]?.message ?? "invalid"}`, {
      details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })) },
    });
  }
  return parsed.data;
}
