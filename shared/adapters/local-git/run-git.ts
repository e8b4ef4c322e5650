import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { UpstreamError } from "../../errors.js";

/** What a git command left behind: its exit code, raw stdout and stderr text. */
export interface GitResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** The author and committer of every commit Ripple makes in a local repository. */
export const RIPPLE_IDENTITY = { name: "Ripple", email: "ripple@localhost" } as const;

/**
 * The environment of every git command: the caller's, without any `GIT_*` variable (a `GIT_DIR` or
 * `GIT_INDEX_FILE` inherited from a hook would point git at another repository or index), no terminal
 * prompts, Ripple as author and committer, plus `extra`.
 */
function gitEnvironment(extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("GIT_")) env[name] = value;
  return {
    ...env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: RIPPLE_IDENTITY.name,
    GIT_AUTHOR_EMAIL: RIPPLE_IDENTITY.email,
    GIT_COMMITTER_NAME: RIPPLE_IDENTITY.name,
    GIT_COMMITTER_EMAIL: RIPPLE_IDENTITY.email,
    ...extra,
  };
}

/**
 * Runs `git --git-dir=<gitDir> <args>` without a shell (cwd = the git dir, so no work tree is ever
 * found), writing `input` to its stdin. Exit codes in `okCodes` (default `[0]`) are answers, not failures.
 * @throws UpstreamError (`git`, retryable) when git cannot start or exits with another code; the message
 * carries the first line of git's stderr, never the input.
 */
export async function runGit(gitDir: string, args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  return spawnGit(gitDir, [`--git-dir=${gitDir}`], args, options);
}

/**
 * The absolute git dir of `repository` (the repository itself when bare, its `.git` otherwise), or null
 * when `repository` is not the top of a git repository (a folder inside one is not).
 * @throws UpstreamError (`git`, retryable) when git cannot start or fails otherwise.
 */
export async function findGitDir(repository: string): Promise<string | null> {
  const isDirectory = await stat(repository).then((entry) => entry.isDirectory(), () => false);
  if (!isDirectory) return null;
  // The ceiling stops git from searching upwards: a folder inside another repository is not a repository.
  const result = await spawnGit(repository, [], ["rev-parse", "--absolute-git-dir"], { okCodes: [0, 128], env: { GIT_CEILING_DIRECTORIES: dirname(repository) } });
  if (result.code !== 0) {
    if (!/not a git repository/i.test(result.stderr)) {
      throw new UpstreamError("git", `git rev-parse failed in ${repository}: ${result.stderr.trim().split("\n")[0] ?? ""}`, { retryable: true });
    }
    return null;
  }
  return result.stdout.toString("utf8").trim();
}

interface GitOptions {
  readonly input?: string | Buffer;
  readonly env?: Readonly<Record<string, string>>;
  readonly okCodes?: readonly number[];
}

async function spawnGit(cwd: string, globalArgs: readonly string[], args: readonly string[], options: GitOptions): Promise<GitResult> {
  const okCodes = options.okCodes ?? [0];
  const result = await new Promise<GitResult>((resolve, reject) => {
    const child = spawn("git", [...globalArgs, ...args], {
      cwd,
      env: gitEnvironment(options.env ?? {}),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error) => reject(new UpstreamError("git", `git ${args[0] ?? ""} could not start: ${error.message}`, { retryable: true, cause: error })));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString("utf8") }));
    // git may exit before reading all of stdin (EPIPE); its exit code tells what happened.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
  if (!okCodes.includes(result.code)) {
    const reason = result.stderr.trim().split("\n")[0] || `exit code ${result.code}`;
    throw new UpstreamError("git", `git ${args[0] ?? ""} failed in ${cwd}: ${reason}`, { retryable: true });
  }
  return result;
}

/** Runs git (see {@link runGit}) and answers its stdout as trimmed text. */
export async function gitText(gitDir: string, args: readonly string[], options: Omit<GitOptions, "okCodes"> = {}): Promise<string> {
  return (await runGit(gitDir, args, options)).stdout.toString("utf8").trim();
}
