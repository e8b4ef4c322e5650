/**
 * The status page's model: open campaigns by SLA risk, open obligations counted by status, and how long
 * patches took over the last 30 days.
 */
import type { RippleConfig } from "../config.js";
import type { Campaign, Obligation } from "../domain/campaign.js";
import { isOpenObligation } from "../domain/sla.js";
import type { StateStore } from "../ports/state-store.js";
import { dependentLabel } from "./alert-message.js";
import { inParallel } from "./in-parallel.js";
import { slaReport, type SlaRow } from "./sla-report.js";

/** The window of the time-to-patch figures. */
export const TIME_TO_PATCH_DAYS = 30;

export interface StatusView {
  readonly at: string;
  /** Open obligations by what on-call is told (`failed`, `overdue`, …), else status, or `waived`. */
  readonly counts: Readonly<Record<string, number>>;
  /** Most urgent first: ordered by each campaign's most urgent obligation. */
  readonly campaigns: readonly OpenCampaignView[];
  readonly timeToPatch: TimeToPatch;
}

export interface OpenCampaignView {
  readonly campaignId: string;
  readonly base: string;
  /** Its open obligations. */
  readonly open: number;
  /** Its open obligations by the same keys as {@link StatusView.counts}. */
  readonly counts: Readonly<Record<string, number>>;
  /** Its most urgent open obligation. */
  readonly worst: {
    readonly dependentKey: string;
    readonly label: string;
    readonly anchor: string;
    readonly status: string;
    readonly attention: string | null;
    readonly step: string;
    readonly dueAt: string;
    readonly lateByMs: number;
    readonly waived: boolean;
  };
}

/**
 * Campaigns opened in the window whose obligations are all closed and at least one done: from the root's
 * clock start to the last obligation done. Null figures when there are none.
 */
export interface TimeToPatch {
  readonly days: number;
  readonly count: number;
  readonly medianMs: number | null;
  readonly p95Ms: number | null;
  readonly maxMs: number | null;
}

/**
 * Reads the open campaigns (through {@link slaReport}) and the campaigns opened in the last
 * {@link TIME_TO_PATCH_DAYS} days. Read only.
 */
export async function statusView(deps: { store: StateStore; config: RippleConfig; now: () => Date }): Promise<StatusView> {
  const now = deps.now();
  const fixed = { ...deps, now: () => now };
  const [report, durations] = await Promise.all([slaReport(fixed), patchDurations(deps.store, now)]);
  return { at: report.at, counts: report.counts, campaigns: openCampaignsOf(report.rows), timeToPatch: timeToPatchOf(durations) };
}

function countKeyOf(row: SlaRow): string {
  return row.waiver !== null ? "waived" : (row.alert ?? row.status);
}

/** Groups the risk-ordered rows by campaign, keeping the order of each campaign's first (worst) row. */
function openCampaignsOf(rows: readonly SlaRow[]): OpenCampaignView[] {
  const byId = new Map<string, { view: OpenCampaignView; counts: Record<string, number> }>();
  for (const row of rows) {
    let entry = byId.get(row.campaignId);
    if (entry === undefined) {
      const counts: Record<string, number> = {};
      entry = { counts, view: { campaignId: row.campaignId, base: row.base, open: 0, counts, worst: worstOf(row) } };
      byId.set(row.campaignId, entry);
    }
    entry.counts[countKeyOf(row)] = (entry.counts[countKeyOf(row)] ?? 0) + 1;
    entry.view = { ...entry.view, open: entry.view.open + 1 };
  }
  return [...byId.values()].map((entry) => entry.view);
}

function worstOf(row: SlaRow): OpenCampaignView["worst"] {
  return {
    dependentKey: row.dependent,
    label: dependentLabel(row.dependent),
    anchor: encodeURIComponent(row.dependent),
    status: row.status,
    attention: row.alert,
    step: row.step,
    dueAt: row.dueAt,
    lateByMs: row.lateByMs,
    waived: row.waiver !== null,
  };
}

/** Time to patch of each campaign opened in the window and closed: root clock start → last obligation done. */
async function patchDurations(store: StateStore, now: Date): Promise<number[]> {
  const since = now.getTime() - TIME_TO_PATCH_DAYS * 86_400_000;
  const recent = (await store.listCampaigns()).filter((campaign) => Date.parse(campaign.openedAt) >= since);
  const durations: number[] = [];
  await inParallel(recent, 16, async (header) => {
    const found = await store.getCampaign(header.id);
    const duration = found === null ? null : patchDurationOf(found.campaign, found.obligations);
    if (duration !== null) durations.push(duration);
  });
  return durations;
}

/** Null while an obligation is open, or when none was done (all superseded). */
export function patchDurationOf(campaign: Campaign, obligations: readonly Obligation[]): number | null {
  if (obligations.some((obligation) => isOpenObligation(obligation.state))) return null;
  const done = obligations.filter((obligation) => obligation.state === "done").map((obligation) => Date.parse(obligation.updatedAt));
  if (done.length === 0) return null;
  const start = Date.parse(campaign.root?.availableAt ?? campaign.openedAt);
  return Math.max(...done) - start;
}

/** Count, median, 95th percentile (nearest rank) and maximum. */
export function timeToPatchOf(durations: readonly number[]): TimeToPatch {
  const sorted = [...durations].sort((a, b) => a - b);
  if (sorted.length === 0) return { days: TIME_TO_PATCH_DAYS, count: 0, medianMs: null, p95Ms: null, maxMs: null };
  const middle = Math.floor(sorted.length / 2);
  const medianMs = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const p95Ms = sorted[Math.max(0, Math.ceil(sorted.length * 0.95) - 1)]!;
  return { days: TIME_TO_PATCH_DAYS, count: sorted.length, medianMs, p95Ms, maxMs: sorted[sorted.length - 1]! };
}
