import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AppError } from "../errors.js";
import { readLogTail } from "./run-command.js";

/** A server process started by `startProcess`, in its own process group. */
export interface ManagedProcess {
  pid: number;
  /** stdout and stderr of the process, appended. */
  logPath: string;
  /** Where the pid is recorded while the process runs; removed by `stop`. */
  pidPath: string;
  /**
   * Ends the whole process group: SIGTERM, up to `graceMs` (default 5 s) for it to go, then SIGKILL.
   * Resolves once no process of the group is left. Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
}

export interface StartProcessOptions {
  /** Short name used for the log and pid files (`<dir>/<name>.log`, `<dir>/<name>.pid`). */
  name: string;
  command: string;
  args: readonly string[];
  /** Working directory of the process; always explicit so nothing lands in the caller's folder. */
  cwd: string;
  /** Folder for the log and pid files. */
  dir: string;
  env?: NodeJS.ProcessEnv;
  /** Polled until it resolves true; a rejection counts as "not yet". */
  ready: () => Promise<boolean>;
  /** How long to wait for `ready`; default 30 s. */
  timeoutMs?: number;
}

const pollIntervalMs = 25;

/**
 * Starts a long-running server detached in its own process group, with stdout/stderr appended to
 * `<dir>/<name>.log` (created owner-only) and its pid in `<dir>/<name>.pid`, and resolves once `ready()` passes.
 * When the server exits on its own (a crash, SIGKILL), the rest of its group (its children) is stopped
 * too and its pid file removed, as by `stop()`.
 *
 * @throws AppError `stack_process_failed` with the log tail when the process cannot start, exits, or is
 *   not ready before the deadline; the process group is stopped before the error is thrown.
 */
export async function startProcess(opts: StartProcessOptions): Promise<ManagedProcess> {
  await mkdir(opts.dir, { recursive: true });
  const logPath = resolve(opts.dir, `${opts.name}.log`);
  const pidPath = resolve(opts.dir, `${opts.name}.pid`);
  // Owner-only: a server's log may carry request details; the stack keeps secrets out of it regardless.
  const logFd = openSync(logPath, "a", 0o600);
  let child;
  try {
    child = spawn(opts.command, [...opts.args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ["ignore", logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  // The caller decides the lifetime through stop(); a running server must not keep Node's loop alive.
  child.unref();

  let exitInfo: string | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
    child.once("error", (error) => {
      spawnError = error;
      exitInfo ??= `spawn error ${error.message}`;
      resolve();
    });
  });

  const pid = child.pid;
  const fail = async (reason: string, cause?: unknown): Promise<never> => {
    const tail = await readLogTail(logPath);
    throw new AppError("stack_process_failed", `${opts.name} ${reason}${tail === "" ? "" : `; log tail (${logPath}):\n${tail}`}`, {
      cause,
      details: { name: opts.name, logPath, pid },
    });
  };
  if (pid === undefined) {
    await exited;
    return fail(`could not be started (${opts.command}): ${exitInfo ?? "no pid"}`, spawnError);
  }
  await writeFile(pidPath, `${pid}\n`);

  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    pid,
    logPath,
    pidPath,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        await stopProcessGroup(pid, () => exitInfo !== undefined, graceMs);
        await rm(pidPath, { force: true });
      })();
      return stopping;
    },
  };
  // A leader that dies on its own (a crash, SIGKILL) leaves its children — the local host's buildah
  // builds — running in its group, reparented to init: stop what is left of the group at once.
  void exited.then(() => managed.stop()).catch(() => undefined);

  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitInfo !== undefined) {
      await managed.stop();
      return fail(`exited before it was ready (${exitInfo})`, spawnError);
    }
    if (await opts.ready().catch(() => false)) return managed;
    if (Date.now() > deadline) {
      await managed.stop();
      return fail(`was not ready within ${timeoutMs} ms`);
    }
    await delay(pollIntervalMs);
  }
}

/**
 * True while a process of the group `pgid` is still running. Zombies do not count: an orphaned member
 * that already exited waits for the machine's init to reap it, which can take a second or more.
 */
export async function isProcessGroupRunning(pgid: number): Promise<boolean> {
  const members = await listRunningProcesses().catch(() => undefined);
  if (members === undefined) return signalZero(-pgid);
  return members.some((member) => member.pgid === pgid);
}

/** True while a process with this pid exists and has not exited (a zombie has). */
export async function isProcessRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) return signalZero(pid);
  return parseProcStat(stat)?.state !== "Z";
}

/** True while a process with this pid exists, zombies included. */
export function isProcessAlive(pid: number): boolean {
  return signalZero(pid);
}

function signalZero(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function listRunningProcesses(): Promise<Array<{ pid: number; pgid: number }>> {
  const entries = (await readdir("/proc")).filter((entry) => /^\d+$/.test(entry));
  const members: Array<{ pid: number; pgid: number }> = [];
  for (const entry of entries) {
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => undefined);
    const parsed = stat === undefined ? undefined : parseProcStat(stat);
    if (parsed !== undefined && parsed.state !== "Z") members.push({ pid: Number(entry), pgid: parsed.pgid });
  }
  return members;
}

/** State and process group from /proc/<pid>/stat; the command name in parentheses may hold anything. */
function parseProcStat(stat: string): { state: string; pgid: number } | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const pgid = Number(fields[2]);
  return state === undefined || !Number.isInteger(pgid) ? undefined : { state, pgid };
}

/**
 * Stops a process group left behind by an earlier run whose pid file is still in `dir`, but only when
 * `/proc/<pid>/cmdline` still names `command` (so a recycled pid is never signalled). Returns true when
 * something was stopped. For stack start-up after a crash; a no-op when there is no pid file.
 */
export async function stopStaleProcess(opts: { dir: string; name: string; command: string; graceMs?: number }): Promise<boolean> {
  const pidPath = join(opts.dir, `${opts.name}.pid`);
  const pid = Number.parseInt(await readFile(pidPath, "utf8").catch(() => ""), 10);
  const stopped = Number.isInteger(pid) && (await stopOrphanedProcess({ pid, command: opts.command, graceMs: opts.graceMs }));
  await rm(pidPath, { force: true });
  return stopped;
}

/**
 * Stops the process group led by `pid` — a server `startProcess` started in a process that is gone (a
 * stack whose `ripple stack up` was killed) — but only while `pid` still leads its own group and
 * `/proc/<pid>/cmdline` still names `command`, so a recycled pid is never signalled. Returns true when
 * something was stopped.
 *
 * @throws AppError `stack_process_failed` when the group survives SIGKILL.
 */
export async function stopOrphanedProcess(opts: { pid: number; command: string; graceMs?: number | undefined }): Promise<boolean> {
  if (!Number.isInteger(opts.pid) || opts.pid <= 1) return false;
  const stat = await readFile(`/proc/${opts.pid}/stat`, "utf8").catch(() => undefined);
  const cmdline = await readFile(`/proc/${opts.pid}/cmdline`, "utf8").catch(() => "");
  const leadsItsGroup = stat !== undefined && parseProcStat(stat)?.pgid === opts.pid;
  if (!leadsItsGroup || !cmdline.split("\0").some((arg) => arg === opts.command || arg.endsWith(`/${opts.command}`))) return false;
  // The leader leads its own group (pid = pgid), so the group check covers it too.
  await stopProcessGroup(opts.pid, () => true, opts.graceMs ?? 5_000);
  return true;
}

async function stopProcessGroup(pgid: number, hasExited: () => boolean, graceMs: number): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, signal);
    } catch {
      // the group is already gone
    }
  };
  // Our own child stays a zombie until Node reaps it and reports the exit; orphaned members are
  // reaped by init whenever it gets to it, so only running members count.
  const gone = async (): Promise<boolean> => hasExited() && !(await isProcessGroupRunning(pgid));
  signalGroup("SIGTERM");
  if (await waitFor(gone, graceMs)) return;
  signalGroup("SIGKILL");
  if (await waitFor(gone, 5_000)) return;
  throw new AppError("stack_process_failed", `process group ${pgid} survived SIGKILL`);
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await delay(pollIntervalMs);
  }
  return true;
}

async function delay(ms: number): Promise<void> {
  await new Promise<void>((resolve) => setTimeout(resolve, ms));
}
