/**
 * How each obligation of a campaign stands against its SLA at a moment: the one reading the SLA monitor,
 * `ripple sla` and the campaign page share, so they never disagree.
 */
import picomatch from "picomatch";
import { slaRulesOf, stuckRulesOf, type RippleConfig } from "../config.js";
import { pushRoot, scheduledAtOf, type Campaign, type Obligation, type ObligationClock } from "../domain/campaign.js";
import type { AlertItemStatus } from "../domain/alert-policy.js";
import { clockFor, isOpenObligation, predictDoneAt, predictionSourceOf, slaStatusOf, slaSubjectOf, stuckReason, type SlaStatus, type StuckReason } from "../domain/sla.js";
import type { StateStore, WaiverRecord } from "../ports/state-store.js";

export interface ObligationStanding {
  readonly obligation: Obligation;
  readonly clock: ObligationClock;
  readonly status: SlaStatus;
  /** Milliseconds past due (positive) or left (negative) at the moment of reading; for a closed one, at completion. */
  readonly lateByMs: number;
  readonly stuck: StuckReason | null;
  /**
   * When its history says it will be done (pending and scheduled obligations with history only): a rebuild
   * by its dependent's past build durations, a pull request by its repository's past merge latencies;
   * counted from scheduling, or from now while pending.
   */
  readonly predictedDoneAt: string | null;
  /** The active waiver covering it, if any. */
  readonly waiver: WaiverRecord | null;
  /** What on-call sees for it, when it needs attention (not waived, open, and late, failed, stuck or at risk). */
  readonly alert: AlertItemStatus | null;
  /** The step it is at, in words. */
  readonly step: string;
  /**
   * The step without the durations that grow by the minute: what the alert compares to tell a change
   * (a new failure reason, another run) from the clock ticking.
   */
  readonly stepKey: string;
}

/** The clock of an obligation: its own, or (recorded before clocks were kept) one computed from its campaign. */
export function clockOf(config: RippleConfig, campaign: Campaign, obligation: Obligation): ObligationClock {
  if (obligation.clock !== undefined) return obligation.clock;
  const root = campaign.root ?? pushRoot(campaign.base, campaign.toDigest, campaign.openedAt, null);
  return clockFor(slaRulesOf(config), obligation.dependentKey, campaign.base, root);
}

/** The waiver in force for an obligation at `now` (the latest-ending one), or null. */
export function waiverFor(waivers: readonly WaiverRecord[], obligation: Obligation, now: Date): WaiverRecord | null {
  let found: WaiverRecord | null = null;
  for (const waiver of waivers) {
    if (Date.parse(waiver.until) <= now.getTime()) continue;
    if (waiver.campaignId !== null && waiver.campaignId !== obligation.campaignId) continue;
    if (waiver.dependent !== null && !matchesDependent(waiver.dependent, obligation.dependentKey)) continue;
    if (found === null || waiver.until > found.until) found = waiver;
  }
  return found;
}

/** A dependent glob (as `sla.dependents[].match`) against a dependent key: the image with or without its tag, or `owner/repo/path`. */
export function matchesDependent(glob: string, dependentKey: string): boolean {
  const subject = slaSubjectOf(dependentKey);
  return picomatch.isMatch(subject, glob, { dot: true }) || picomatch.isMatch(subject.replace(/:[^:/]+$/, ""), glob, { dot: true }) || glob === dependentKey;
}

/** The step an obligation is at, in words: what on-call reads first about it. */
export function stepOf(obligation: Obligation, stuck: string | null): string {
  const what = obligation.kind === "rebuild" ? "rebuild" : "pull request";
  switch (obligation.state) {
    case "failed":
      return `${what} failed: ${obligation.reason ?? "no reason recorded"}`;
    case "pending":
      return stuck ?? `pending${obligation.reason ? `: ${obligation.reason}` : ""}`;
    case "scheduled":
      if (stuck !== null) return obligation.kind === "pull-request" && obligation.runId ? `${stuck} (${obligation.runId})` : stuck;
      return obligation.kind === "rebuild" ? `rebuild running (run ${obligation.runId ?? "not yet named"})` : `pull request open: ${obligation.runId ?? ""}`.trimEnd();
    case "done":
      return `done${obligation.doneWith ? ` with ${obligation.doneWith}` : ""}`;
    case "superseded":
      return `superseded${obligation.reason ? `: ${obligation.reason}` : ""}`;
  }
}

function alertStatusOf(obligation: Obligation, status: SlaStatus, stuck: StuckReason | null, predictedLate: boolean): AlertItemStatus | null {
  if (!isOpenObligation(obligation.state)) return null;
  if (obligation.state === "failed") return "failed";
  if (status === "overdue") return "overdue";
  if (stuck !== null) return "stuck";
  if (predictedLate) return "predicted-breach";
  return status === "at-risk" ? "at-risk" : null;
}

/**
 * The past durations an obligation's breach prediction reads (see {@link predictionSourceOf}); none for an
 * obligation that is neither pending nor scheduled. Reads only. @throws the store's retryable errors.
 */
export async function pastDurationsOf(store: Pick<StateStore, "getDurations" | "getMergeLatencies">, obligation: Obligation): Promise<number[]> {
  if (obligation.state !== "pending" && obligation.state !== "scheduled") return [];
  const source = predictionSourceOf(obligation);
  const samples = source.kind === "merge-latency" ? await store.getMergeLatencies(source.repository) : await store.getDurations(source.dependentKey);
  return samples?.samples.map((sample) => sample.ms) ?? [];
}

/**
 * The standing of one obligation at `now`. `pastDurationsMs` are the durations its prediction reads
 * ({@link pastDurationsOf}); a pending one is predicted from `now`, a scheduled one from its scheduling.
 */
export function standingOf(config: RippleConfig, campaign: Campaign, obligation: Obligation, now: Date, waivers: readonly WaiverRecord[], pastDurationsMs: readonly number[]): ObligationStanding {
  const clock = clockOf(config, campaign, obligation);
  const status = slaStatusOf(obligation, clock, now, config.sla.atRiskShare);
  const open = isOpenObligation(obligation.state);
  const scheduledAt = scheduledAtOf(obligation);
  const stuck = open ? stuckReason(obligation, scheduledAt, now, stuckRulesOf(config)) : null;
  const predictedFrom = obligation.state === "scheduled" ? scheduledAt : obligation.state === "pending" ? now.toISOString() : null;
  const predictedDoneAt = config.sla.predict ? predictDoneAt(predictedFrom, pastDurationsMs) : null;
  const predictedLate = predictedDoneAt !== null && predictedDoneAt > clock.dueAt;
  const waiver = open ? waiverFor(waivers, obligation, now) : null;
  const until = open ? now.getTime() : Date.parse(obligation.updatedAt);
  return {
    obligation,
    clock,
    status,
    lateByMs: until - Date.parse(clock.dueAt),
    stuck,
    predictedDoneAt,
    waiver,
    alert: waiver === null ? alertStatusOf(obligation, status, stuck, predictedLate) : null,
    step: stepOf(obligation, stuck?.text ?? null),
    stepKey: `${obligation.state}|${stuck?.kind ?? ""}|${obligation.state === "failed" ? (obligation.reason ?? "") : ""}|${obligation.runId ?? ""}`,
  };
}

/** Every obligation of a campaign is closed (done, superseded) or waived: its alert resolves. */
export function isSettled(standings: readonly ObligationStanding[]): boolean {
  return standings.every((standing) => !isOpenObligation(standing.obligation.state) || standing.waiver !== null);
}
