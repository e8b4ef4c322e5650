/**
 * Benchmarks of the `ripple` command (issue #11), each run as a user runs it: a new Node process, wall time
 * from spawn to exit.
 * - cli_start_ms: `ripple --help`, median of 10 (target ≤ 200 ms);
 * - extract_ratio_vs_peer: `ripple extract --json` over 5,000 generated Dockerfiles, divided by Renovate's
 *   Dockerfile extractor over the same files in one Node process (target ≤ 0.5); medians of 5 each, alternating.
 *   Renovate is installed on first use into a cache folder (`RIPPLE_BENCH_CACHE`, default
 *   `~/.cache/ripple-bench`), never as a dependency of the project; when it cannot be installed the figure is
 *   null and `extract_peer_error` says why.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeDockerfileCorpus } from "./dockerfile-corpus.js";

const CLI = resolve(import.meta.dirname, "../../shared/cli/main.js");
/** The last Renovate release that runs on Node 20 (40 and later need Node 22). */
const RENOVATE_VERSION = "39.264.1";
const CORPUS_SIZE = 5_000;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs a command with standard output into `stdoutFile` (or nowhere); resolves with its wall time in ms. */
function timeProcess(command: string, args: readonly string[], options: { stdoutFile?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<number> {
  const stdout = options.stdoutFile === undefined ? "ignore" : openSync(options.stdoutFile, "w");
  const started = performance.now();
  return new Promise<number>((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", stdout, "pipe"], env: options.env ?? process.env, timeout: options.timeoutMs ?? 300_000 });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const elapsed = performance.now() - started;
      if (code === 0) resolvePromise(elapsed);
      else reject(new Error(`${command} ${args.slice(0, 3).join(" ")}… exited with ${code ?? signal}: ${stderr.trim().slice(-2_000)}`));
    });
  }).finally(() => {
    if (typeof stdout === "number") closeSync(stdout);
  });
}

/** `ripple --help` from process start to exit: median of 10, after one run to warm the file cache. */
export async function benchCliStart(runs = 10): Promise<{ cli_start_ms: number }> {
  await timeProcess(process.execPath, [CLI, "--help"]);
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) samples.push(await timeProcess(process.execPath, [CLI, "--help"]));
  return { cli_start_ms: Math.round(median(samples)) };
}

/** The path of Renovate's Dockerfile extractor, installing the pinned release into `cacheDir` when missing. */
async function ensureRenovate(cacheDir: string): Promise<string> {
  const prefix = join(cacheDir, `renovate-${RENOVATE_VERSION}`);
  const extractor = join(prefix, "node_modules/renovate/dist/modules/manager/dockerfile/extract.js");
  if (existsSync(extractor)) return extractor;
  await mkdir(prefix, { recursive: true });
  process.stderr.write(`installing renovate@${RENOVATE_VERSION} into ${prefix} (once)\n`);
  // No install scripts: they build or download native modules (re2, sqlite) the extractor does not use.
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  try {
    await timeProcess(npm, ["install", "--prefix", prefix, `renovate@${RENOVATE_VERSION}`, "--ignore-scripts", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"], { timeoutMs: 600_000 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = /npm error code (\S+)/.exec(message)?.[1];
    throw new Error(code === undefined ? message : `npm install renovate@${RENOVATE_VERSION} failed: ${code} (npm's log is under ~/.npm/_logs)`);
  }
  if (!existsSync(extractor)) throw new Error(`renovate@${RENOVATE_VERSION} installed, but ${extractor} is missing`);
  return extractor;
}

/** The peer's one process: Renovate's `extractPackageFile` over every file named on the command line. */
const PEER_SCRIPT = `"use strict";
const { readFileSync } = require("node:fs");
const { extractPackageFile } = require(process.argv[2]);
const results = [];
for (const file of process.argv.slice(3)) {
  const found = extractPackageFile(readFileSync(file, "utf8"), file, {});
  results.push({ file, deps: found === null ? [] : found.deps });
}
process.stdout.write(JSON.stringify(results, null, 2) + "\\n");
`;

/** Both extractors over the same corpus, alternating, each through a new process; medians of `runs`. */
async function compareExtractors(extractor: string, files: readonly string[], dir: string, runs: number): Promise<{ ripple: number; peer: number }> {
  const peerScript = join(dir, "renovate-extract.cjs");
  await writeFile(peerScript, PEER_SCRIPT);
  const rippleOut = join(dir, "ripple.json");
  const peerOut = join(dir, "renovate.json");
  // Renovate logs through its own logger on standard output; keep it to real failures.
  const peerEnv = { ...process.env, LOG_LEVEL: "fatal" };
  const ripple: number[] = [];
  const peer: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    ripple.push(await timeProcess(process.execPath, [CLI, "extract", "--json", ...files], { stdoutFile: rippleOut }));
    peer.push(await timeProcess(process.execPath, [peerScript, extractor, ...files], { stdoutFile: peerOut, env: peerEnv }));
  }
  // Both must have done the whole job for the ratio to mean anything.
  for (const [name, out] of [["ripple", rippleOut], ["renovate", peerOut]] as const) {
    const entries = (JSON.parse(await readFile(out, "utf8")) as unknown[]).length;
    if (entries !== files.length) throw new Error(`${name} reported ${entries} of ${files.length} files`);
  }
  return { ripple: median(ripple), peer: median(peer) };
}

export interface ExtractComparison {
  extract_ratio_vs_peer: number | null;
  extract_ms: number | null;
  extract_peer_ms: number | null;
  extract_files: number;
  extract_peer: string;
  extract_peer_error?: string;
}

/** `ripple extract --json` against Renovate's Dockerfile extractor on the same generated corpus. */
export async function benchExtractVsPeer(runs = 5): Promise<ExtractComparison> {
  const base = { extract_files: CORPUS_SIZE, extract_peer: `renovate@${RENOVATE_VERSION}` };
  let extractor: string;
  try {
    extractor = await ensureRenovate(process.env["RIPPLE_BENCH_CACHE"] ?? join(homedir(), ".cache", "ripple-bench"));
  } catch (error) {
    return { ...base, extract_ratio_vs_peer: null, extract_ms: null, extract_peer_ms: null, extract_peer_error: `cannot install the peer: ${error instanceof Error ? error.message : String(error)}` };
  }
  const dir = await mkdtemp(join(tmpdir(), "ripple-cli-bench-"));
  try {
    const files = await writeDockerfileCorpus(join(dir, "corpus"), CORPUS_SIZE);
    const { ripple, peer } = await compareExtractors(extractor, files, dir, runs);
    return { ...base, extract_ratio_vs_peer: Math.round((ripple / peer) * 100) / 100, extract_ms: Math.round(ripple), extract_peer_ms: Math.round(peer) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every figure of this file, for `run.js cli`. */
export async function benchCli(): Promise<{ cli_start_ms: number } & ExtractComparison> {
  return { ...(await benchCliStart()), ...(await benchExtractVsPeer()) };
}

