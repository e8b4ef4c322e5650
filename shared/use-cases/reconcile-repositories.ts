import type { RippleConfig } from "../config.js";
import type { Forge } from "../ports/forge.js";
import type { StateStore } from "../ports/state-store.js";
import { settlePullRequest } from "./run-pull-request-job.js";
import { scanRepository, type ScanSummary } from "./scan-repository.js";

export interface ReconcileDeps {
  readonly store: StateStore;
  readonly config: RippleConfig;
  readonly forgeFor: (repository: string) => Forge | null;
  /** Every repository to scan (the configured ones, and the GitHub App installation's when configured). */
  readonly listRepositories: () => Promise<string[]>;
  readonly now: () => Date;
}

/**
 * Heals what a missed webhook would leave behind: rescans every configured repository (one call each
 * when unchanged) and brings every open pull-request record up to date with its forge (merged → its
 * obligations done; closed → failed). Idempotent. A failing repository is reported and skipped.
 */
export async function reconcileRepositories(deps: ReconcileDeps, onProgress: (summary: ScanSummary | { repository: string; error: string }) => void = () => undefined): Promise<{ scans: ScanSummary[]; errors: { repository: string; error: string }[]; settled: number }> {
  const scans: ScanSummary[] = [];
  const errors: { repository: string; error: string }[] = [];
  for (const url of await deps.listRepositories()) {
    const forge = deps.forgeFor(url);
    if (forge === null) {
      const failure = { repository: url, error: "no forge serves this repository" };
      errors.push(failure);
      onProgress(failure);
      continue;
    }
    try {
      const summary = await scanRepository({ store: deps.store, forge, now: deps.now }, url);
      scans.push(summary);
      onProgress(summary);
    } catch (error) {
      const failure = { repository: url, error: error instanceof Error ? error.message : String(error) };
      errors.push(failure);
      onProgress(failure);
    }
  }
  let settled = 0;
  for (const record of await deps.store.listPullRequests()) {
    if (record.state !== "open") continue;
    const forge = deps.forgeFor(record.repository);
    const pull = forge === null ? null : await forge.findPullRequest(record.repository, record.branch);
    if (pull !== null && pull.number === record.number && pull.state !== "open") settled += await settlePullRequest(deps, record.repository, record.branch, pull.state, pull.number);
  }
  return { scans, errors, settled };
}
