/** Ripple's lifecycle events for subscribers (an Event Grid topic): a campaign opened, an obligation done or failed. */
import type { Campaign, Obligation } from "../domain/campaign.js";
import type { RippleEvent } from "../ports/alert-sink.js";

/**
 * The lifecycle events of a campaign since the monitor last looked at it (`since`; null: never — the
 * campaign's opening is news too). Ids are deterministic (the campaign, the dependent, the state and its
 * time), so publishing the same change again is recognisably the same event.
 */
export function lifecycleEventsOf(campaign: Campaign, obligations: readonly Obligation[], since: string | null): RippleEvent[] {
  const events: RippleEvent[] = [];
  if (since === null) {
    events.push({
      id: `${campaign.id}:opened`,
      type: "Ripple.Campaign.Opened",
      subject: `campaigns/${campaign.id}`,
      time: campaign.openedAt,
      data: { campaignId: campaign.id, base: campaign.base, fromDigest: campaign.fromDigest, toDigest: campaign.toDigest, root: campaign.root ?? null, obligations: obligations.length },
    });
  }
  for (const obligation of obligations) {
    if (obligation.state !== "done" && obligation.state !== "failed") continue;
    if (since !== null && obligation.updatedAt < since) continue;
    events.push({
      id: `${campaign.id}|${obligation.dependentKey}:${obligation.state}:${obligation.updatedAt}`,
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
