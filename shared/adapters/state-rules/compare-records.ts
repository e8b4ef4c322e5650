import { ValidationError } from "../../errors.js";
import { withTransition, type Campaign, type Obligation } from "../../domain/campaign.js";
import { dependentKey, type DependencyEdge } from "../../domain/dependency.js";
import type { EventRecord, PatchOriginRecord, RunRecord, TagState } from "../../ports/state-store.js";
import { assertInstant, compareInstants, instantMs } from "./apply-tag-move.js";

// The list orders both state stores return, so one contract suite can compare whole results.

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Newest `receivedAt` first, then by key. */
export function compareEventsNewestFirst(a: EventRecord, b: EventRecord): number {
  return compareInstants(b.receivedAt, a.receivedAt) || compareText(a.key, b.key);
}

/** By registry, repository, tag. */
export function compareTags(a: TagState, b: TagState): number {
  return compareText(a.registry, b.registry) || compareText(a.repository, b.repository) || compareText(a.tag, b.tag);
}

/** By base, dependent key, evidence, platform (null first). */
export function compareEdges(a: DependencyEdge, b: DependencyEdge): number {
  return (
    compareText(a.base, b.base) ||
    compareText(dependentKey(a.dependent), dependentKey(b.dependent)) ||
    compareText(a.evidence, b.evidence) ||
    compareText(a.platform ?? "", b.platform ?? "")
  );
}

/** Newest `openedAt` first, then by id. */
export function compareCampaignsNewestFirst(a: Campaign, b: Campaign): number {
  return compareInstants(b.openedAt, a.openedAt) || compareText(a.id, b.id);
}

/** By dependent key. */
export function compareObligations(a: Obligation, b: Obligation): number {
  return compareText(a.dependentKey, b.dependentKey);
}

/**
 * Rejects obligations that do not belong to `campaign` or repeat a dependent key, and a campaign
 * whose `openedAt` is not an ISO instant. Throws ValidationError.
 */
export function checkCampaignInput(campaign: Campaign, obligations: readonly Obligation[]): void {
  assertInstant(campaign.openedAt);
  const seen = new Set<string>();
  for (const [index, obligation] of obligations.entries()) {
    if (obligation.campaignId !== campaign.id) {
      throw new ValidationError("obligation belongs to another campaign", [
        { path: `obligations.${index}.campaignId`, message: `expected "${campaign.id}"` },
      ]);
    }
    if (seen.has(obligation.dependentKey)) {
      throw new ValidationError("duplicate obligation", [
        { path: `obligations.${index}.dependentKey`, message: `"${obligation.dependentKey}" appears twice` },
      ]);
    }
    seen.add(obligation.dependentKey);
  }
}

/**
 * The patched obligation with its change recorded in its history ({@link withTransition}).
 * Throws ValidationError when a patch changed the identity of the obligation it was given.
 */
export function checkObligationPatch(before: Obligation, after: Obligation): Obligation {
  if (after.campaignId !== before.campaignId || after.dependentKey !== before.dependentKey) {
    throw new ValidationError("an obligation patch may not change campaignId or dependentKey", [
      { path: "dependentKey", message: "identity changed by patch" },
    ]);
  }
  return withTransition(before, after);
}

/** Runs newest claim first, then by key. */
export function compareRunsNewestFirst(a: RunRecord, b: RunRecord): number {
  if (a.claimedAt !== b.claimedAt) return a.claimedAt < b.claimedAt ? 1 : -1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Whether a stored patch origin stays when `next` is put: a replay of the same sighting (or an older one)
 * changes nothing; a later sighting of the digest (a rollback to it) replaces it, so the clock of the
 * campaign that rollback opens starts when the tag moved back, not when the digest was first published.
 */
export function keepsPatchOrigin(stored: PatchOriginRecord | null, next: PatchOriginRecord): boolean {
  return stored !== null && instantMs(stored.firstSeenAt) >= instantMs(next.firstSeenAt);
}
