import { spawn } from "node:child_process";
import { resolve } from "node:path";

/** The built `ripple` command. */
export const CLI = resolve(import.meta.dirname, "../../../dist/shared/cli/main.js");

/** Runs the built CLI with `input` on standard input; resolves with its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
