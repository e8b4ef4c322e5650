import type { Services } from "../composition.js";
import { reconcileRepositories } from "../use-cases/reconcile-repositories.js";
import { printJson } from "./output.js";

/**
 * `ripple scan`: rescans every configured repository for digest pins (progress on a terminal), syncs
 * pull-request states, and ends with a summary: repositories, files, pins, calls spent, rate limit left.
 */
export async function scanCommand(services: Services, json: boolean): Promise<number> {
  const total = (await services.listRepositories()).length;
  let done = 0;
  const tty = process.stderr.isTTY === true && !json;
  const result = await reconcileRepositories(services, (progress) => {
    done += 1;
    if (!tty) return;
    const line = "error" in progress ? `${progress.repository}: ${progress.error}` : `${progress.repository}: ${progress.unchanged ? "unchanged" : `${progress.files} files, ${progress.pins} pins`}, ${progress.calls} calls`;
    process.stderr.write(`\r\x1b[2K[${done}/${total}] ${line}`);
  });
  if (tty) process.stderr.write("\n");
  const limits = result.scans.map((scan) => scan.rateLimitRemaining).filter((left): left is number => left !== null);
  const summary = {
    repositories: total,
    scanned: result.scans.length,
    unchanged: result.scans.filter((scan) => scan.unchanged).length,
    files: result.scans.reduce((sum, scan) => sum + scan.files, 0),
    pins: result.scans.reduce((sum, scan) => sum + scan.pins, 0),
    skipped: result.scans.flatMap((scan) => scan.skipped.map((skip) => ({ repository: scan.repository, ...skip }))),
    calls: result.scans.reduce((sum, scan) => sum + scan.calls, 0),
    rateLimitRemaining: limits.length === 0 ? null : Math.min(...limits),
    pullRequestsSettled: result.settled,
    errors: result.errors,
  };
  if (json) printJson(summary);
  else {
    process.stdout.write(`${summary.repositories} repositories (${summary.unchanged} unchanged), ${summary.files} files, ${summary.pins} pins, ${summary.calls} calls, rate limit left ${summary.rateLimitRemaining ?? "n/a"}\n`);
    for (const skip of summary.skipped) process.stdout.write(`  skipped ${skip.repository}:${skip.path}: ${skip.reason}\n`);
    for (const error of summary.errors) process.stdout.write(`  error ${error.repository}: ${error.error}\n`);
  }
  return summary.errors.length > 0 ? 1 : 0;
}
