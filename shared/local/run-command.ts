import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";

/** What a finished command left behind: its exit code (null when a signal ended it) and its combined output. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved; empty when the output went to `logFile`. */
  output: string;
}

/** Output kept in memory per command when no log file is given; longer output keeps its tail. */
const maxCapturedChars = 256 * 1024;

/**
 * Runs a command to completion with an explicit working directory and returns its exit status and output.
 * With `logFile`, stdout and stderr are appended to that file instead of being captured (so a chatty tool
 * such as buildah never blocks on a full pipe and nothing is cut short). Never throws for a non-zero exit;
 * throws only when the command cannot be started (for example ENOENT).
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; logFile?: string },
): Promise<CommandResult> {
  const logFd = opts.logFile === undefined ? undefined : openSync(opts.logFile, "a");
  try {
    return await new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(command, [...args], {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ["ignore", logFd ?? "pipe", logFd ?? "pipe"],
      });
      let output = "";
      const collect = (chunk: Buffer): void => {
        output += chunk.toString("utf8");
        if (output.length > maxCapturedChars) output = output.slice(-maxCapturedChars);
      };
      child.stdout?.on("data", collect);
      child.stderr?.on("data", collect);
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code, signal, output }));
    });
  } finally {
    if (logFd !== undefined) closeSync(logFd);
  }
}

/** A log file's size in bytes (0 when it cannot be read): where the next command's output will start. */
export async function logSize(logFile: string): Promise<number> {
  return (await stat(logFile).catch(() => null))?.size ?? 0;
}

/** What `logFile` gained after its first `offset` bytes (one command's output), or "" when it cannot be read. */
export async function readLogSince(logFile: string, offset: number): Promise<string> {
  return (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(offset).toString("utf8");
}

/** The last `lines` lines of a log file, or "" when it cannot be read; for error messages. */
export async function readLogTail(logFile: string, lines = 30): Promise<string> {
  try {
    return tailLines(await readFile(logFile, "utf8"), lines);
  } catch {
    return "";
  }
}

/** The last `lines` non-empty-trailing lines of a text. */
export function tailLines(text: string, lines = 30): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
