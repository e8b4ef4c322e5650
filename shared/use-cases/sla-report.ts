/** `ripple sla` and `GET /api/status`: every open obligation of the open campaigns, by risk. */
import type { RippleConfig } from "../config.js";
import type { Campaign } from "../domain/campaign.js";
import { isOpenObligation } from "../domain/sla.js";
import type { StateStore, WaiverRecord } from "../ports/state-store.js";
import { inParallel } from "./in-parallel.js";
import { pastDurationsOf, standingOf, type ObligationStanding } from "./sla-standing.js";

export interface SlaRow {
  readonly campaignId: string;
  readonly base: string;
  readonly dependent: string;
  readonly kind: "rebuild" | "pull-request";
  readonly state: string;
  readonly status: string;
  /** What on-call is told (`failed`, `overdue`, `stuck`, `predicted-breach`, `at-risk`), or null. */
  readonly alert: string | null;
  readonly step: string;
  readonly startedAt: string;
  readonly dueAt: string;
  /** Positive: late by; negative: time left. */
  readonly lateByMs: number;
  readonly rule: string;
  readonly waiver: { readonly until: string; readonly reason: string; readonly by: string; readonly via: "function-key" | null } | null;
}

export interface SlaReport {
  readonly at: string;
  readonly campaigns: number;
  /** Open obligations by status. */
  readonly counts: Readonly<Record<string, number>>;
  readonly rows: readonly SlaRow[];
}

const RISK = ["failed", "overdue", "stuck", "predicted-breach", "at-risk"];

function riskOf(row: SlaRow): number {
  const index = row.alert === null ? RISK.length : RISK.indexOf(row.alert);
  return row.waiver !== null ? RISK.length + 1 : index;
}

/** Orders rows most urgent first: failed, overdue, stuck, predicted, at risk, then the rest; within each, the latest first. */
export function compareByRisk(a: SlaRow, b: SlaRow): number {
  return riskOf(a) - riskOf(b) || b.lateByMs - a.lateByMs || (a.dependent < b.dependent ? -1 : a.dependent > b.dependent ? 1 : 0);
}

export function rowOf(campaign: Campaign, standing: ObligationStanding): SlaRow {
  const { obligation, clock, waiver } = standing;
  return {
    campaignId: campaign.id,
    base: campaign.base,
    dependent: obligation.dependentKey,
    kind: obligation.kind,
    state: obligation.state,
    status: standing.status,
    alert: standing.alert,
    step: standing.step,
    startedAt: clock.startedAt,
    dueAt: clock.dueAt,
    lateByMs: standing.lateByMs,
    rule: clock.rule,
    waiver: waiverView(waiver),
  };
}

function waiverView(waiver: WaiverRecord | null): SlaRow["waiver"] {
  return waiver === null ? null : { until: waiver.until, reason: waiver.reason, by: waiver.by, via: waiver.via ?? null };
}

/** Reads the open-campaign index and each open campaign once. Read only. */
export async function slaReport(deps: { store: StateStore; config: RippleConfig; now: () => Date }): Promise<SlaReport> {
  const now = deps.now();
  const [entries, waivers] = await Promise.all([deps.store.listOpenCampaigns(), deps.store.listWaivers()]);
  const rows: SlaRow[] = [];
  let campaigns = 0;
  await inParallel(entries, 16, async (entry) => {
    const stored = await deps.store.getCampaign(entry.campaignId);
    if (stored === null) return;
    const open = stored.obligations.filter((obligation) => isOpenObligation(obligation.state));
    if (open.length === 0) return;
    campaigns += 1;
    for (const obligation of open) {
      // The same prediction the monitor makes: from the dependent's build durations or its repository's merge latencies.
      const pastDurationsMs = deps.config.sla.predict ? await pastDurationsOf(deps.store, obligation) : [];
      rows.push(rowOf(stored.campaign, standingOf(deps.config, stored.campaign, obligation, now, waivers, pastDurationsMs)));
    }
  });
  rows.sort(compareByRisk);
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.waiver !== null ? "waived" : (row.alert ?? row.status)] = (counts[row.waiver !== null ? "waived" : (row.alert ?? row.status)] ?? 0) + 1;
  return { at: now.toISOString(), campaigns, counts, rows };
}
