import type { RippleConfig } from "../config.js";
import type { StateStore } from "../ports/state-store.js";
import type { ObligationJob, WorkQueue } from "../ports/work-queue.js";
import { isClaimLive } from "./run-rebuild-job.js";

/**
 * Queues again the rebuild job of every claim whose worker died before the builder answered (no heartbeat
 * for `rebuild.claimTimeoutSeconds`). Azure keeps a dead worker's queue message invisible for up to 10
 * minutes; without this, such a claim would wait that long for a delivery to take it over. Only claims of
 * obligations still open are queued. Idempotent: the takeover is a guarded write, so a job queued twice
 * (by two sweeps, or by this and the message's own return) takes the claim over once. Returns the run keys
 * queued.
 * @throws the store's and the queue's errors (the next tick sweeps again).
 */
export async function requeueOrphanedClaims(deps: { store: StateStore; queue: WorkQueue; config: RippleConfig; now: () => Date }, registries: readonly string[]): Promise<string[]> {
  const nowMs = deps.now().getTime();
  const queued: string[] = [];
  for (const registry of registries) {
    for (const run of await deps.store.listRuns(registry)) {
      if (run.status !== "claimed" || run.runId !== null || isClaimLive(run, nowMs, deps.config.rebuild)) continue;
      const obligation = await deps.store.getObligation(run.campaignId, run.image);
      if (obligation === null || obligation.state !== "pending") continue;
      const job: ObligationJob = { v: 1, campaignId: run.campaignId, dependentKey: run.image, base: run.base, fromDigest: obligation.fromDigest, toDigest: run.baseDigest };
      await deps.queue.enqueue("rebuild", job);
      queued.push(run.key);
    }
  }
  return queued;
}
