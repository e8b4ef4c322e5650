/**
 * The campaign page's model: one campaign, every obligation's SLA standing, history and waiver, and the
 * campaign's alert with each sink's deliveries — plain data, read with three store calls whatever the size.
 */
import type { RippleConfig } from "../config.js";
import { scheduledAtOf, type Campaign, type Obligation, type ObligationKind, type ObligationState, type ObligationTransition, type PatchRoot } from "../domain/campaign.js";
import type { AlertItemStatus, AlertLevel } from "../domain/alert-policy.js";
import { formatDuration, isOpenObligation, type SlaStatus } from "../domain/sla.js";
import type { AlertRecord, StateStore } from "../ports/state-store.js";
import { dependentLabel, runbookSectionOf } from "./alert-message.js";
import { compareByRisk, rowOf } from "./sla-report.js";
import { standingOf, type ObligationStanding } from "./sla-standing.js";

export interface CampaignView {
  /** The moment the standings were read. */
  readonly at: string;
  readonly campaign: {
    readonly id: string;
    readonly base: string;
    readonly fromDigest: string | null;
    readonly toDigest: string;
    readonly openedAt: string;
    readonly trigger: string;
    readonly jobsQueuedAt: string | null;
  };
  /** The cascade's root and clock start; null on campaigns recorded before roots were kept. */
  readonly root: PatchRoot | null;
  /** Obligations by SLA status. */
  readonly counts: Readonly<Partial<Record<SlaStatus, number>>>;
  /** Most urgent first (the order of `ripple sla`): failed, overdue, stuck, predicted, at risk, then the rest. */
  readonly obligations: readonly ObligationView[];
  readonly alert: AlertView | null;
}

export interface ObligationView {
  /** The row's `id`: `encodeURIComponent(dependentKey)`, what alert links point at. */
  readonly anchor: string;
  readonly dependentKey: string;
  /** The dependent for people (`contoso/deploy: k8s/app.yaml line 12` for a pinned file). */
  readonly label: string;
  readonly kind: ObligationKind;
  readonly state: ObligationState;
  readonly status: SlaStatus;
  /** What on-call is told about it (failed, overdue, stuck, …), or null. */
  readonly attention: AlertItemStatus | null;
  readonly step: string;
  readonly clock: { readonly startedAt: string; readonly startSource: PatchRoot["source"]; readonly dueAt: string; readonly rule: string; readonly budget: string };
  /** `overdue by 2 h 5 min`, `3 h left`, `met 1 h before due`, `missed by 20 min`, `superseded`. */
  readonly timing: string;
  /** Positive: late by; negative: time left (for a closed one, at completion). */
  readonly lateByMs: number;
  /** From the clock's start to done (closed) or now (open). */
  readonly sinceStartMs: number;
  /** From the last scheduling to done or now; null when never scheduled. */
  readonly sinceScheduledMs: number | null;
  /** The rebuild's run id (rebuild obligations). */
  readonly runId: string | null;
  /** The pull request (pull-request obligations keep its URL in `Obligation.runId`). */
  readonly pullRequestUrl: string | null;
  readonly doneWith: string | null;
  readonly predictedDoneAt: string | null;
  /** The runbook section (anchor) for its trouble, when it needs attention. */
  readonly runbookSection: string | null;
  /** `via`: "function-key" when the waiver came through the API's key with nobody signed in (`by` is then the caller's word). */
  readonly waiver: { readonly by: string; readonly reason: string; readonly until: string; readonly via: "function-key" | null } | null;
  readonly history: readonly ObligationTransition[];
}

export interface AlertView {
  readonly status: "open" | "resolved";
  readonly level: AlertLevel;
  readonly sequence: number;
  readonly openedAt: string;
  readonly notifiedAt: string;
  readonly escalatedAt: string | null;
  readonly resolvedAt: string | null;
  readonly summary: string | null;
  readonly items: ReadonlyArray<{ readonly dependentKey: string; readonly anchor: string; readonly status: AlertItemStatus; readonly step: string }>;
  /** Per sink, by sink id. */
  readonly deliveries: readonly DeliveryView[];
}

export interface DeliveryView {
  readonly sinkId: string;
  /** The sequence last delivered (0: none). */
  readonly delivered: number;
  readonly deliveredAt: string | null;
  /** What the latest decision wants delivered to it, if anything. */
  readonly wanted: { readonly sequence: number; readonly action: string } | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly failedSequence: number | null;
}

/**
 * Reads one campaign for its page: one `getCampaign`, one `listWaivers`, one `getAlert` (no read per
 * obligation, so a campaign of thousands renders at once). Read only; returns null for an unknown id.
 * Breach predictions are left out (they need each dependent's past durations).
 */
export async function campaignView(deps: { store: StateStore; config: RippleConfig; now: () => Date }, id: string): Promise<CampaignView | null> {
  const [found, waivers, alert] = await Promise.all([deps.store.getCampaign(id), deps.store.listWaivers(), deps.store.getAlert(id)]);
  if (found === null) return null;
  const now = deps.now();
  const { campaign } = found;
  const ranked = found.obligations
    .map((obligation) => standingOf(deps.config, campaign, obligation, now, waivers, []))
    .map((standing) => ({ standing, row: rowOf(campaign, standing) }))
    .sort((a, b) => compareByRisk(a.row, b.row));
  const counts: Partial<Record<SlaStatus, number>> = {};
  for (const { standing } of ranked) counts[standing.status] = (counts[standing.status] ?? 0) + 1;
  return {
    at: now.toISOString(),
    campaign: headerOf(campaign),
    root: campaign.root ?? null,
    counts,
    obligations: ranked.map(({ standing }) => obligationViewOf(standing, now)),
    alert: alert === null ? null : alertViewOf(alert),
  };
}

function headerOf(campaign: Campaign): CampaignView["campaign"] {
  const { id, base, fromDigest, toDigest, openedAt, trigger, jobsQueuedAt } = campaign;
  return { id, base, fromDigest, toDigest, openedAt, trigger, jobsQueuedAt };
}

/** The SLA in words: how late, or how much is left, or how it closed. */
export function timingOf(status: SlaStatus, lateByMs: number): string {
  switch (status) {
    case "superseded":
      return "superseded";
    case "met":
      return `met ${formatDuration(-lateByMs)} before due`;
    case "missed":
      return `missed by ${formatDuration(lateByMs)}`;
    default:
      return openTimingOf(lateByMs);
  }
}

/** An open obligation's clock in words: `overdue by 2 h 5 min` or `3 h left`. */
export function openTimingOf(lateByMs: number): string {
  return lateByMs > 0 ? `overdue by ${formatDuration(lateByMs)}` : `${formatDuration(-lateByMs)} left`;
}

function obligationViewOf(standing: ObligationStanding, now: Date): ObligationView {
  const { obligation, clock, waiver } = standing;
  const end = isOpenObligation(obligation.state) ? now.getTime() : Date.parse(obligation.updatedAt);
  const scheduledAt = scheduledAtOf(obligation);
  return {
    anchor: encodeURIComponent(obligation.dependentKey),
    dependentKey: obligation.dependentKey,
    label: dependentLabel(obligation.dependentKey),
    kind: obligation.kind,
    state: obligation.state,
    status: standing.status,
    attention: standing.alert,
    step: standing.step,
    clock: { startedAt: clock.startedAt, startSource: clock.startSource, dueAt: clock.dueAt, rule: clock.rule, budget: formatDuration(clock.budgetMs) },
    timing: timingOf(standing.status, standing.lateByMs),
    lateByMs: standing.lateByMs,
    sinceStartMs: end - Date.parse(clock.startedAt),
    sinceScheduledMs: scheduledAt === null ? null : end - Date.parse(scheduledAt),
    ...runsOf(obligation),
    doneWith: obligation.doneWith ?? null,
    predictedDoneAt: standing.predictedDoneAt,
    runbookSection: standing.alert === null ? null : runbookSectionOf(standing),
    waiver: waiver === null ? null : { by: waiver.by, reason: waiver.reason, until: waiver.until, via: waiver.via ?? null },
    history: obligation.history ?? [],
  };
}

function runsOf(obligation: Obligation): Pick<ObligationView, "runId" | "pullRequestUrl"> {
  if (obligation.kind === "rebuild") return { runId: obligation.runId, pullRequestUrl: null };
  return { runId: null, pullRequestUrl: obligation.runId };
}

function alertViewOf(alert: AlertRecord): AlertView {
  const { state } = alert;
  return {
    status: state.status,
    level: state.level,
    sequence: state.sequence,
    openedAt: state.openedAt,
    notifiedAt: state.notifiedAt,
    escalatedAt: state.escalatedAt,
    resolvedAt: state.resolvedAt,
    summary: alert.message?.summary ?? null,
    items: state.items.map((item) => ({ dependentKey: item.dependentKey, anchor: encodeURIComponent(item.dependentKey), status: item.status, step: item.step })),
    deliveries: deliveriesOf(alert),
  };
}

function deliveriesOf(alert: AlertRecord): DeliveryView[] {
  const sinks = [...new Set([...Object.keys(alert.deliveries), ...Object.keys(alert.wanted)])].sort();
  return sinks.map((sinkId) => {
    const delivery = alert.deliveries[sinkId];
    const wanted = alert.wanted[sinkId];
    return {
      sinkId,
      delivered: delivery?.delivered ?? 0,
      deliveredAt: delivery?.deliveredAt ?? null,
      wanted: wanted === undefined ? null : { sequence: wanted.sequence, action: wanted.action },
      attempts: delivery?.attempts ?? 0,
      lastError: delivery?.lastError ?? null,
      failedSequence: delivery?.failedSequence ?? null,
    };
  });
}
