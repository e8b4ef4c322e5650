/** Ripple's lifecycle events for subscribers (an Event Grid topic): a campaign opened, an obligation done or failed. */
import type { Campaign, Obligation } from "../domain/campaign.js";
import type { RippleEvent } from "../ports/alert-sink.js";
import type { CampaignProgress } from "../ports/state-store.js";

/** What marks an obligation's closed state as handled (`done@<updatedAt>`); null while it is open. */
export function closedMarker(obligation: Obligation): string | null {
  return obligation.state === "done" || obligation.state === "failed" ? `${obligation.state}@${obligation.updatedAt}` : null;
}

/** The obligations closed (done or failed) since the progress record last saw them. */
export function newlyClosed(obligations: readonly Obligation[], progress: CampaignProgress | null): Obligation[] {
  return obligations.filter((obligation) => {
    const marker = closedMarker(obligation);
    return marker !== null && progress?.seen[obligation.dependentKey] !== marker;
  });
}

/** The progress record once `closed` (and the opening) are handled. */
export function progressAfter(campaignId: string, progress: CampaignProgress | null, closed: readonly Obligation[]): CampaignProgress {
  const seen = { ...(progress?.seen ?? {}) };
  for (const obligation of closed) seen[obligation.dependentKey] = closedMarker(obligation)!;
  return { campaignId, opened: true, seen };
}

/**
 * The lifecycle events not yet published: the campaign's opening (unless the progress record says it was)
 * and each newly closed obligation. Ids are deterministic (the campaign, the dependent, the state and its
 * time), so publishing the same change again is recognisably the same event.
 */
export function lifecycleEventsOf(campaign: Campaign, obligations: readonly Obligation[], progress: CampaignProgress | null): RippleEvent[] {
  const events: RippleEvent[] = [];
  if (progress?.opened !== true) {
    events.push({
      id: `${campaign.id}:opened`,
      type: "Ripple.Campaign.Opened",
      subject: `campaigns/${campaign.id}`,
      time: campaign.openedAt,
      data: { campaignId: campaign.id, base: campaign.base, fromDigest: campaign.fromDigest, toDigest: campaign.toDigest, root: campaign.root ?? null, obligations: obligations.length },
    });
  }
  for (const obligation of newlyClosed(obligations, progress)) {
    events.push({
      id: `${campaign.id}|${obligation.dependentKey}:${closedMarker(obligation)}`,
      type: obligation.state === "done" ? "Ripple.Obligation.Done" : "Ripple.Obligation.Failed",
      subject: `campaigns/${campaign.id}/obligations/${encodeURIComponent(obligation.dependentKey)}`,
      time: obligation.updatedAt,
      data: {
        campaignId: campaign.id,
        base: campaign.base,
        dependent: obligation.dependentKey,
        kind: obligation.kind,
        state: obligation.state,
        reason: obligation.reason,
        runId: obligation.runId,
        doneWith: obligation.doneWith ?? null,
        dueAt: obligation.clock?.dueAt ?? null,
      },
    });
  }
  return events;
}
