import { existsSync, readFileSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { isProcessRunning, stopOrphanedProcess } from "../local/processes.js";
import { parseStackConfigTemplate, startStack, type StackConfigTemplate, type StackProcess } from "../local/stack.js";
import { printJson } from "./output.js";
import { defaultStackDir } from "./services.js";

/** `<stack dir>/stack.json`: what the other commands read, and how `ripple stack down` finds the stack. */
interface StackFile {
  /** The `ripple stack up` process. */
  readonly pid: number;
  readonly registry: string;
  readonly hostUrl: string;
  readonly webhookUrl: string;
  readonly configPath: string;
  /** The app settings, secrets included: the file is owner-only. */
  readonly settings: Record<string, string>;
  /** The servers it started, stopped by pid should `ripple stack up` be gone without stopping them. */
  readonly processes?: readonly StackProcess[];
}

const stopSignals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const stackDownTimeoutMs = 30_000;

/**
 * `ripple stack up [--config FILE]`: starts the stack, writes `<dir>/stack.json` (owner-only: it holds the
 * app settings) and prints the endpoints once ready, then stays in the foreground until SIGINT (Ctrl-C),
 * SIGTERM, SIGHUP or `ripple stack down`, and stops every process it started before it exits. Servers
 * left by an earlier stack whose `stack up` was killed are stopped first.
 *
 * @throws Error when a stack is already running; ConfigError for a bad `--config` file.
 */
export async function stackUp(options: { configFile?: string; persist: boolean; json: boolean; identity?: boolean }): Promise<number> {
  const dir = defaultStackDir();
  const file = join(dir, "stack.json");
  const previous = readStackFile(file);
  if (previous !== undefined) {
    if (await isStackUpProcess(previous.pid)) throw new Error(`a stack is already running (pid ${previous.pid}); stop it with \`ripple stack down\``);
    await stopOrphans(previous);
    await rm(file, { force: true });
  }
  const template = options.configFile === undefined ? undefined : await loadStackConfigTemplate(options.configFile);
  // Whoever reads our output may go away (a script that only wanted the JSON): the stack keeps running.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  // Listening before start-up: a signal while starting stops what has started instead of orphaning it.
  const stopRequest = waitForStopSignal();
  try {
    const stack = await startStack({ dir, persist: options.persist, identity: options.identity ?? false, log: (line) => process.stderr.write(`${line}\n`), ...(template ? { config: template } : {}) });
    try {
      const description: StackFile = { pid: process.pid, registry: stack.registry.host, hostUrl: stack.hostUrl, webhookUrl: stack.webhookUrl, configPath: stack.configPath, settings: { ...stack.settings }, processes: stack.processes };
      await writeOwnerOnly(file, JSON.stringify(description, null, 2));
      if (options.json) printJson({ ...description, settings: undefined });
      else process.stdout.write(`stack up: registry https://${stack.registry.host}, functions host ${stack.hostUrl}, state in ${dir}\n(Ctrl-C or \`ripple stack down\` to stop)\n`);
      await stopRequest.signalled;
    } finally {
      await stack.stop();
      await rm(file, { force: true });
    }
  } finally {
    stopRequest.dispose();
  }
  process.stderr.write("stack down\n");
  return 0;
}

/**
 * `ripple stack down`: stops the stack started by `ripple stack up` (SIGTERM, then waits until it and
 * every server it started are gone) and removes `stack.json`. Servers of a stack whose `stack up` is no
 * longer running are stopped by their recorded pids.
 *
 * @throws Error when `stack up` does not stop within 30 s (its servers are stopped all the same).
 */
export async function stackDown(): Promise<number> {
  const file = join(defaultStackDir(), "stack.json");
  const stack = readStackFile(file);
  if (stack === undefined) {
    process.stdout.write("no stack is running\n");
    return 0;
  }
  const running = await isStackUpProcess(stack.pid);
  const stopped = running && (await stopStackUpProcess(stack.pid));
  const orphans = await stopOrphans(stack);
  await rm(file, { force: true });
  if (running && !stopped) throw new Error(`stack process ${stack.pid} did not stop within ${stackDownTimeoutMs / 1000} s; its servers were stopped`);
  process.stdout.write(orphans === 0 ? "stack down\n" : `stack down (stopped ${orphans} server${orphans === 1 ? "" : "s"} left by a stack that was no longer running)\n`);
  return 0;
}

/** A `--config` file in the shape the README documents (see {@link parseStackConfigTemplate}). */
async function loadStackConfigTemplate(path: string): Promise<StackConfigTemplate> {
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read configuration file ${path}: ${error.code ?? "error"}`);
  });
  return parseStackConfigTemplate(text, path);
}

function readStackFile(file: string): StackFile | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StackFile;
  } catch {
    // A file cut short by a crash names nothing we could stop.
    return undefined;
  }
}

/** Written to a fresh file created 0600 and renamed into place, so the content is never readable by others. */
async function writeOwnerOnly(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await rm(temporary, { force: true });
  await writeFile(temporary, content, { mode: 0o600, flag: "wx" });
  await rename(temporary, file);
}

/** Resolves on the first stop signal; until `dispose`, later ones are absorbed so the stop runs to its end. */
function waitForStopSignal(): { signalled: Promise<void>; dispose(): void } {
  // Signal listeners do not keep Node's loop alive and the servers are unref'd children: hold it open.
  const keepAlive = setInterval(() => undefined, 60_000);
  let listener: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => {
    listener = () => resolve();
    for (const signal of stopSignals) process.on(signal, listener);
  });
  return {
    signalled,
    dispose() {
      clearInterval(keepAlive);
      for (const signal of stopSignals) process.off(signal, listener);
    },
  };
}

/** True while `pid` runs `ripple stack up` (not a zombie, not a recycled pid running something else). */
async function isStackUpProcess(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1 || !(await isProcessRunning(pid))) return false;
  const args = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
  const stackAt = args.indexOf("stack");
  return stackAt >= 0 && args[stackAt + 1] === "up";
}

/** SIGTERM, then up to 30 s for `stack up` to stop its servers and exit. True once it has. */
async function stopStackUpProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return true;
  }
  const deadline = Date.now() + stackDownTimeoutMs;
  while (await isProcessRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/**
 * Stops the recorded servers still running (none once `stack up` stopped them itself), last started
 * first as `stack up` does (the host before the storage it drains); returns how many.
 */
async function stopOrphans(stack: StackFile): Promise<number> {
  let stopped = 0;
  for (const server of [...(stack.processes ?? [])].reverse()) if (await stopOrphanedProcess({ pid: server.pid, command: server.command })) stopped += 1;
  return stopped;
}
