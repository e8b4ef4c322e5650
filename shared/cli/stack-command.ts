import { existsSync, readFileSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfigFile } from "../config.js";
import { startStack, type StackConfigTemplate } from "../local/stack.js";
import { printJson } from "./output.js";
import { defaultStackDir } from "./services.js";

interface StackFile {
  readonly pid: number;
  readonly registry: string;
  readonly hostUrl: string;
  readonly webhookUrl: string;
  readonly configPath: string;
  readonly settings: Record<string, string>;
}

/**
 * `ripple stack up [--config FILE]`: starts the stack, writes `<dir>/stack.json` (read by the other
 * commands) and stays in the foreground until interrupted or `ripple stack down`.
 */
export async function stackUp(options: { configFile?: string; persist: boolean; json: boolean; identity?: boolean }): Promise<number> {
  const dir = defaultStackDir();
  const file = join(dir, "stack.json");
  if (existsSync(file)) {
    const previous = JSON.parse(readFileSync(file, "utf8")) as StackFile;
    if (isAlive(previous.pid)) throw new Error(`a stack is already running (pid ${previous.pid}); stop it with \`ripple stack down\``);
  }
  const template = options.configFile === undefined ? undefined : (loadConfigFile(options.configFile) as StackConfigTemplate);
  const stack = await startStack({ dir, persist: options.persist, identity: options.identity ?? false, log: (line) => process.stderr.write(`${line}\n`), ...(template ? { config: template } : {}) });
  const description: StackFile = {
    pid: process.pid,
    registry: stack.registry.host,
    hostUrl: stack.hostUrl,
    webhookUrl: stack.webhookUrl,
    configPath: stack.configPath,
    settings: { ...stack.settings },
  };
  // It holds the webhook secret (and, in identity mode, the identity endpoint's header): owner only.
  await writeFile(file, JSON.stringify(description, null, 2), { mode: 0o600 });
  await chmod(file, 0o600);
  if (options.json) printJson({ ...description, settings: undefined });
  else process.stdout.write(`stack up: registry https://${stack.registry.host}, functions host ${stack.hostUrl}, state in ${dir}\n(Ctrl-C or \`ripple stack down\` to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await stack.stop();
  await rm(file, { force: true });
  process.stderr.write("stack down\n");
  return 0;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `ripple stack down`: stops the stack started by `ripple stack up` and waits until it is gone. */
export async function stackDown(): Promise<number> {
  const file = join(defaultStackDir(), "stack.json");
  if (!existsSync(file)) {
    process.stdout.write("no stack is running\n");
    return 0;
  }
  const { pid } = JSON.parse(readFileSync(file, "utf8")) as StackFile;
  if (isAlive(pid)) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (isAlive(pid)) throw new Error(`stack process ${pid} did not stop within 30 s`);
  await rm(file, { force: true });
  process.stdout.write("stack down\n");
  return 0;
}
