import { slaRulesOf, type RippleConfig } from "../config.js";
import { campaignId, createdTransition, obligationKindOf, type Campaign, type Obligation, type PatchRoot } from "../domain/campaign.js";
import { dependentKey, type DependencyEdge } from "../domain/dependency.js";
import { splitTagKey } from "../domain/image-ref.js";
import { clockFor } from "../domain/sla.js";
import type { StateStore } from "../ports/state-store.js";
import type { CampaignJob, ObligationJob, WorkQueue } from "../ports/work-queue.js";
import { inParallel } from "./in-parallel.js";
import { patchRootOf } from "./patch-root.js";

export interface CampaignDeps {
  readonly store: StateStore;
  readonly queue: WorkQueue;
  readonly config: RippleConfig;
  readonly now: () => Date;
}

const OPEN = new Set<Obligation["state"]>(["pending", "scheduled"]);
const ENQUEUE_CONCURRENCY = 100;


/**
 * Opens the campaign (base tag, new digest) with one `pending` obligation per direct dependent not
 * already on the new digest, queues one job per obligation (`rebuild` for an image, `pull-request` for a
 * file pin), and supersedes the still-open obligations of the base's earlier campaigns (their queued
 * work is dropped when it runs). Idempotent: a replay creates nothing and queues only the jobs of
 * obligations not queued before.
 * @throws the retryable errors of the store or the queue.
 */
export async function openCampaign(
  deps: CampaignDeps,
  move: { base: string; fromDigest: string; toDigest: string; trigger: string; root: PatchRoot },
  edges: readonly DependencyEdge[],
): Promise<{ id: string; created: boolean; obligations: number }> {
  const now = deps.now().toISOString();
  const campaign: Campaign = {
    id: campaignId(move.base, move.toDigest),
    base: move.base,
    fromDigest: move.fromDigest,
    toDigest: move.toDigest,
    openedAt: now,
    trigger: move.trigger,
    jobsQueuedAt: null,
    root: move.root,
  };
  const byDependent = new Map<string, DependencyEdge>();
  for (const edge of edges) {
    if (edge.baseDigest === move.toDigest) continue;
    const key = dependentKey(edge.dependent);
    if (!byDependent.has(key)) byDependent.set(key, edge);
  }
  const rules = slaRulesOf(deps.config);
  const opening = createdTransition(now, `campaign opened: ${move.base} moved to ${move.toDigest}`);
  const obligations: Obligation[] = [...byDependent.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, edge]) => ({
      campaignId: campaign.id,
      dependentKey: key,
      dependent: edge.dependent,
      kind: obligationKindOf(edge.dependent),
      state: "pending",
      fromDigest: edge.baseDigest,
      reason: null,
      runId: null,
      createdAt: now,
      updatedAt: now,
      clock: clockFor(rules, key, move.base, move.root),
      history: [opening],
    }));
  const opened = await deps.store.openCampaign(campaign, obligations);

  // Jobs go out once per campaign: a replay finds `jobsQueuedAt` set; a crash before it was set queues
  // the pending jobs again, which the idempotent workers absorb.
  const toQueue = opened.campaign.jobsQueuedAt === null ? opened.obligations.filter((obligation) => obligation.state === "pending") : [];
  await inParallel(toQueue, ENQUEUE_CONCURRENCY, async (obligation) => {
    const job: ObligationJob = {
      v: 1,
      campaignId: obligation.campaignId,
      dependentKey: obligation.dependentKey,
      base: opened.campaign.base,
      fromDigest: obligation.fromDigest,
      toDigest: opened.campaign.toDigest,
    };
    await deps.queue.enqueue(obligation.kind, job);
  });
  if (opened.campaign.jobsQueuedAt === null) await deps.store.markCampaignQueued(opened.campaign.id, deps.now().toISOString());
  // After the new jobs are out: superseding is bookkeeping, off the path from push to queued rebuild.
  await supersedeEarlierCampaigns(deps, opened.campaign);
  return { id: opened.campaign.id, created: opened.created, obligations: opened.obligations.length };
}

/** Marks the open obligations of the base's other campaigns `superseded` by `campaign`. Idempotent. */
async function supersedeEarlierCampaigns(deps: CampaignDeps, campaign: Campaign): Promise<void> {
  // Only the campaign of the digest the tag points at now supersedes: when two moves are processed out of
  // order, the older move's campaign must not supersede the newer one's (its own jobs will see the base
  // has moved on and supersede themselves).
  const parts = splitTagKey(campaign.base);
  const tag = parts === null ? null : await deps.store.getTag(parts.registry, parts.repository, parts.tag);
  if (tag?.digest !== campaign.toDigest) return;
  const earlier = (await deps.store.listCampaigns({ base: campaign.base })).filter((other) => other.id !== campaign.id && other.toDigest !== campaign.toDigest);
  for (const other of earlier) {
    const found = await deps.store.getCampaign(other.id);
    for (const obligation of found?.obligations ?? []) {
      if (!OPEN.has(obligation.state)) continue;
      await deps.store.updateObligation(other.id, obligation.dependentKey, (current) =>
        OPEN.has(current.state) ? { ...current, state: "superseded", reason: `superseded by campaign ${campaign.id} (${campaign.toDigest})`, updatedAt: deps.now().toISOString() } : current,
      );
    }
  }
}

/**
 * The delayed half of debouncing: opens the campaign for `job.base` moving to `job.toDigest` only if the
 * tag still points there (a later push in the window has its own job and wins). The campaign runs from
 * the digest the tag had before the burst. Idempotent.
 */
export async function openDebouncedCampaign(deps: CampaignDeps, job: CampaignJob): Promise<{ kind: "opened"; id: string; obligations: number } | { kind: "skipped"; reason: string }> {
  const parts = splitTagKey(job.base);
  if (parts === null) return { kind: "skipped", reason: `not a tag key: ${job.base}` };
  const tag = await deps.store.getTag(parts.registry, parts.repository, parts.tag);
  if (tag === null || tag.digest !== job.toDigest) return { kind: "skipped", reason: `${job.base} has moved on from ${job.toDigest}` };
  const windowStart = Date.parse(job.movedAt) - deps.config.rebuild.debounceSeconds * 1000;
  const before = [...tag.history].reverse().find((entry) => Date.parse(entry.at) <= windowStart && entry.digest !== job.toDigest);
  if (before === undefined) return { kind: "skipped", reason: `${job.base} had no earlier digest` };
  const root = await patchRootOf(deps.store, { ...parts, digest: job.toDigest, pushedAt: job.movedAt, created: null }, await deps.store.listBasesOf(job.base));
  const opened = await openCampaign(deps, { base: job.base, fromDigest: before.digest, toDigest: job.toDigest, trigger: job.trigger, root }, await deps.store.listDependents(job.base));
  return { kind: "opened", id: opened.id, obligations: opened.obligations };
}

/**
 * The rebuilt image's own push (or, for a file pin, the scan that finds the pin on the new digest)
 * completes its obligations: for every base edge of `key` (now at `digest`), the obligation of `key` in the
 * campaign (edge base, edge base digest) is `done` when still open. Returns the campaigns whose
 * obligation this completed.
 */
export async function settleRebuiltImage(
  deps: Pick<CampaignDeps, "store" | "now">,
  key: string,
  digest: string,
  edges: readonly DependencyEdge[],
  how = "rebuilt as",
): Promise<string[]> {
  const settled: string[] = [];
  const seen = new Set<string>();
  for (const edge of edges) {
    const id = campaignId(edge.base, edge.baseDigest);
    if (seen.has(id)) continue;
    seen.add(id);
    const found = await deps.store.getCampaign(id);
    const obligation = found?.obligations.find((candidate) => candidate.dependentKey === key);
    if (obligation === undefined || !OPEN.has(obligation.state)) continue;
    await deps.store.updateObligation(id, key, (current) =>
      OPEN.has(current.state) ? { ...current, state: "done", reason: `${how} ${digest} on ${edge.baseDigest} (${edge.evidence})`, doneWith: digest, updatedAt: deps.now().toISOString() } : current,
    );
    settled.push(id);
  }
  return settled;
}
