/**
 * The SLA monitor (a timer): reads the open-campaign index, evaluates only the campaigns that changed or
 * reached their next check time, decides each one's alert, records it and queues one delivery job per sink.
 */
import { decideAlert, type AlertDeliveryAction, type AlertPolicy, type AlertRoute, type AlertState } from "../domain/alert-policy.js";
import { scheduledAtOf, type Campaign, type Obligation } from "../domain/campaign.js";
import { isOpenObligation, parseDuration, predictionSourceOf, quietHoursEndAfter, type StuckRules } from "../domain/sla.js";
import { stableOffsetMs } from "../domain/spread.js";
import { stuckRulesOf, type RippleConfig } from "../config.js";
import type { AlertRecord, OpenCampaignEntry, StateStore, WaiverRecord } from "../ports/state-store.js";
import type { RippleEventPublisher } from "../ports/alert-sink.js";
import type { OpenObligationCounts, SlaMetrics } from "../ports/sla-metrics.js";
import type { WorkQueue } from "../ports/work-queue.js";
import { lifecycleEventsOf, newlyClosed, progressAfter } from "./lifecycle-events.js";
import { buildAlertMessage, type AlertLinks } from "./alert-message.js";
import { inParallel } from "./in-parallel.js";
import { isSettled, pastDurationsOf, standingOf, type ObligationStanding } from "./sla-standing.js";

export interface SlaMonitorDeps {
  readonly store: StateStore;
  readonly queue: WorkQueue;
  readonly config: RippleConfig;
  readonly now: () => Date;
  readonly links: AlertLinks;
  /** Where lifecycle events go (the event-grid sinks' topics); none: not published. */
  readonly publishers?: readonly RippleEventPublisher[];
  /** Where the open-obligation counts and times to patch go; none: not exported. */
  readonly metrics?: SlaMetrics;
}

export interface SlaTickResult {
  /** Campaigns in the open index. */
  readonly open: number;
  /** Campaigns evaluated this tick (changed, or at their next check time). */
  readonly evaluated: number;
  /** Campaigns removed from the index (settled, alert resolved). */
  readonly settled: number;
  /** Delivery jobs queued. */
  readonly deliveries: number;
  /** Campaigns whose lifecycle events could not be published: left unchecked, they are tried again next tick. */
  readonly publishFailures: number;
}

/**
 * The longest a campaign goes unevaluated: a safety net for a change whose index touch was lost in a crash.
 * Each campaign's net is between half of it and all of it, by a stable offset from its id, so campaigns
 * opened (or evaluated) together do not all come due in one tick.
 */
const MAX_CHECK_INTERVAL_MS = 15 * 60_000;
/** How soon a campaign whose deliveries are still outstanding is looked at again. */
const DELIVERY_RECHECK_MS = 60_000;
const CONCURRENCY = 16;

/** The alert policy of the configuration. */
export function alertPolicyOf(config: RippleConfig): AlertPolicy {
  const escalate = config.alerts.escalateAfter;
  return {
    renotifyMs: config.alerts.renotify === "0s" ? 0 : parseDuration(config.alerts.renotify)!,
    escalateAfterMs: escalate === undefined ? null : parseDuration(escalate)!,
    quietHours: config.alerts.quietHours ?? null,
  };
}

function isDue(entry: OpenCampaignEntry, now: Date): boolean {
  return entry.checkedAt === null || entry.nextCheckAt === null || Date.parse(entry.nextCheckAt) <= now.getTime();
}

/** How long a campaign header may be missing while its opening is still being written (large campaigns). */
const OPENING_GRACE_MS = 60 * 60_000;

/**
 * One tick. Idempotent: a second tick (or a concurrent one) at the same moment decides nothing new — the
 * alert record is written under its ETag only if its sequence is still the one this tick read, and the
 * delivery worker sends each (sink, sequence) once.
 * @throws the retryable errors of the store or the queue (the timer runs again).
 */
export async function checkSla(deps: SlaMonitorDeps): Promise<SlaTickResult> {
  const now = deps.now();
  const [entries, waivers] = await Promise.all([deps.store.listOpenCampaigns(), deps.store.listWaivers()]);
  const due = entries.filter((entry) => isDue(entry, now));
  let settled = 0;
  let deliveries = 0;
  let publishFailures = 0;
  const counts = new Map(entries.map((entry) => [entry.campaignId, entry.counts]));
  await inParallel(due, CONCURRENCY, async (entry) => {
    const outcome = await evaluateCampaign(deps, entry, waivers, now);
    if (outcome.settled) settled += 1;
    if (!outcome.published) publishFailures += 1;
    deliveries += outcome.deliveries;
    counts.set(entry.campaignId, outcome.counts);
  });
  deps.metrics?.observeOpen(sumCounts([...counts.values()]));
  return { open: entries.length, evaluated: due.length, settled, deliveries, publishFailures };
}

const NO_COUNTS: OpenObligationCounts = { onTrack: 0, atRisk: 0, overdue: 0, failed: 0, waived: 0 };

function sumCounts(all: ReadonlyArray<OpenObligationCounts | null>): OpenObligationCounts {
  const total = { ...NO_COUNTS };
  for (const counts of all) {
    if (counts === null) continue;
    for (const key of Object.keys(total) as Array<keyof OpenObligationCounts>) total[key] += counts[key];
  }
  return total;
}

/** A campaign's open obligations by where they stand. */
function countsOf(standings: readonly ObligationStanding[]): OpenObligationCounts {
  const counts = { ...NO_COUNTS };
  for (const standing of standings) {
    if (!isOpenObligation(standing.obligation.state)) continue;
    if (standing.waiver !== null) counts.waived += 1;
    else if (standing.obligation.state === "failed") counts.failed += 1;
    else if (standing.status === "overdue") counts.overdue += 1;
    else if (standing.status === "at-risk") counts.atRisk += 1;
    else counts.onTrack += 1;
  }
  return counts;
}

/** Exports a settled campaign's time to patch: its root's availability to its last obligation done. */
function recordTimeToPatch(deps: SlaMonitorDeps, campaign: Campaign, standings: readonly ObligationStanding[]): void {
  const done = standings.filter((standing) => standing.obligation.state === "done");
  if (deps.metrics === undefined || done.length === 0) return;
  const last = Math.max(...done.map((standing) => Date.parse(standing.obligation.updatedAt)));
  const start = Date.parse(done[0]!.clock.startedAt);
  deps.metrics.recordTimeToPatch(Math.max(0, (last - start) / 1000), { base: campaign.root?.base ?? campaign.base, met: done.every((standing) => standing.status === "met") });
}

type Evaluation = { settled: boolean; deliveries: number; published: boolean; counts: OpenObligationCounts | null };

async function evaluateCampaign(deps: SlaMonitorDeps, entry: OpenCampaignEntry, waivers: readonly WaiverRecord[], now: Date): Promise<Evaluation> {
  const checkedAt = now.toISOString();
  const stored = await deps.store.getCampaign(entry.campaignId);
  if (stored === null) {
    // A large campaign writes its header last: until then, or for an hour, keep looking.
    const gone = now.getTime() - Date.parse(entry.openedAt) > OPENING_GRACE_MS;
    await deps.store.markCampaignChecked(entry.campaignId, entry.version, checkedAt, new Date(now.getTime() + 60_000).toISOString(), gone);
    return { settled: gone, deliveries: 0, published: true, counts: null };
  }
  const standings = await standingsOf(deps, stored.campaign, stored.obligations, waivers, now);
  const previous = await deps.store.getAlert(entry.campaignId);
  const settledNow = isSettled(standings);
  const items = standings.flatMap((standing) => (standing.alert === null ? [] : [{ dependentKey: standing.obligation.dependentKey, status: standing.alert, step: standing.stepKey }]));
  const decision = decideAlert(previous?.state ?? null, items, settledNow, now, alertPolicyOf(deps.config));
  const saved = await saveDecision(deps, stored.campaign, standings, previous, decision.next, decision.deliveries, now);
  const record = saved.record;
  const queued = record === null ? 0 : await queueOutstanding(deps, record);
  // Unpublished lifecycle events leave the entry due: the next tick handles the same changes again.
  const published = await handleProgress(deps, stored.campaign, stored.obligations);
  const counts = countsOf(standings);
  if (!published || !saved.won) {
    await deps.store.markCampaignChecked(entry.campaignId, entry.version, checkedAt, checkedAt, false, counts);
    return { settled: false, deliveries: queued, published, counts };
  }
  // Settled by a waiver is not done: the entry stays, so the waiver's expiry is seen.
  const closed = stored.obligations.every((obligation) => !isOpenObligation(obligation.state));
  const done = closed && settledNow && (record === null || record.state.status === "resolved") && queued === 0;
  const written = await deps.store.markCampaignChecked(entry.campaignId, entry.version, checkedAt, done ? null : nextCheckAt(deps.config, entry.campaignId, standings, record, queued, waivers, now), done, counts);
  // Counted once: by the tick that removed the settled campaign from the index.
  if (done && written) recordTimeToPatch(deps, stored.campaign, standings);
  return { settled: done, deliveries: queued, published: true, counts: done ? null : counts };
}

/**
 * Handles the obligations closed since the campaign's progress record last saw them: publishes their
 * lifecycle events (and the opening) to every publisher, counts their scheduled → done durations (a
 * rebuild's under its dependent; a pull request's, opened → merged, as its repository's merge latency), then
 * records them as seen. Returns false when a publish failed (nothing is recorded: all is tried again).
 */
async function handleProgress(deps: SlaMonitorDeps, campaign: Campaign, obligations: readonly Obligation[]): Promise<boolean> {
  const progress = await deps.store.getProgress(campaign.id);
  const closed = newlyClosed(obligations, progress);
  if (progress?.opened === true && closed.length === 0) return true;
  const publishers = deps.publishers ?? [];
  const events = lifecycleEventsOf(campaign, obligations, progress);
  if (publishers.length > 0 && events.length > 0) {
    const results = await Promise.allSettled(publishers.map((publisher) => publisher.publish(events)));
    if (results.some((result) => result.status === "rejected")) return false;
  }
  await inParallel(closed.filter((obligation) => obligation.state === "done"), CONCURRENCY, async (obligation) => {
    const scheduledAt = scheduledAtOf(obligation);
    if (scheduledAt === null) return;
    const id = `${obligation.campaignId}|${obligation.dependentKey}`;
    const ms = Math.max(0, Date.parse(obligation.updatedAt) - Date.parse(scheduledAt));
    const source = predictionSourceOf(obligation);
    if (source.kind === "merge-latency") await deps.store.addMergeLatency(source.repository, id, ms);
    else await deps.store.addDuration(source.dependentKey, id, ms);
  });
  await deps.store.saveProgress(campaign.id, (current) => progressAfter(campaign.id, current, closed));
  return true;
}

async function standingsOf(deps: SlaMonitorDeps, campaign: Campaign, obligations: readonly Obligation[], waivers: readonly WaiverRecord[], now: Date): Promise<ObligationStanding[]> {
  const durations = new Map<string, number[]>();
  if (deps.config.sla.predict) {
    // Pull requests of one repository share their history: read it once per source.
    const reads = new Map<string, Promise<number[]>>();
    const predicted = obligations.filter((obligation) => obligation.state === "pending" || obligation.state === "scheduled");
    await inParallel(predicted, CONCURRENCY, async (obligation) => {
      const source = JSON.stringify(predictionSourceOf(obligation));
      if (!reads.has(source)) reads.set(source, pastDurationsOf(deps.store, obligation));
      durations.set(obligation.dependentKey, await reads.get(source)!);
    });
  }
  return obligations.map((obligation) => standingOf(deps.config, campaign, obligation, now, waivers, durations.get(obligation.dependentKey) ?? []));
}

/** Sink ids of a route. */
function sinksOf(config: RippleConfig, route: AlertRoute): string[] {
  return config.alerts.sinks.filter((sink) => sink.route === route).map((sink) => sink.id);
}

/**
 * Records the decision unless another tick already moved the alert past the state it was decided from
 * (then that tick's decision stands, this one delivers nothing, and the campaign is looked at again at
 * once). A decision that changes nothing is not written.
 */
async function saveDecision(
  deps: SlaMonitorDeps,
  campaign: Campaign,
  standings: readonly ObligationStanding[],
  previous: AlertRecord | null,
  next: AlertState | null,
  wantedDeliveries: ReadonlyArray<{ action: AlertDeliveryAction; route: AlertRoute }>,
  now: Date,
): Promise<{ record: AlertRecord | null; won: boolean }> {
  if (next === null || (wantedDeliveries.length === 0 && previous !== null && JSON.stringify(previous.state) === JSON.stringify(next))) return { record: previous, won: true };
  const fromSequence = previous?.state.sequence ?? 0;
  let won = false;
  const record = await deps.store.saveAlert(campaign.id, (current) => {
    won = (current?.state.sequence ?? 0) === fromSequence;
    if (!won) return current!;
    const wanted = { ...(current?.wanted ?? {}) };
    for (const delivery of wantedDeliveries) {
      for (const sinkId of sinksOf(deps.config, delivery.route)) wanted[sinkId] = { sequence: next.sequence, action: delivery.action };
    }
    const primary = wantedDeliveries[0]?.action ?? current?.message?.action ?? "update";
    const message = wantedDeliveries.length === 0 ? (current?.message ?? null) : buildAlertMessage(campaign, standings, next, primary, now, deps.links);
    return { campaignId: campaign.id, state: next, message, wanted, deliveries: current?.deliveries ?? {}, updatedAt: now.toISOString() };
  });
  return { record, won };
}

/**
 * Queues a delivery job for every configured sink not yet sent what is wanted of it (a sink since removed
 * from the configuration is left alone). Returns how many.
 */
async function queueOutstanding(deps: SlaMonitorDeps, record: AlertRecord): Promise<number> {
  const configured = new Set(deps.config.alerts.sinks.map((sink) => sink.id));
  const outstanding = Object.entries(record.wanted).filter(([sinkId, wanted]) => configured.has(sinkId) && (record.deliveries[sinkId]?.delivered ?? 0) < wanted.sequence && !isGivenUp(record, sinkId, wanted.sequence));
  await inParallel(outstanding, CONCURRENCY, async ([sinkId, wanted]) => {
    await deps.queue.enqueue("alerts", { v: 1, campaignId: record.campaignId, sinkId, sequence: wanted.sequence });
  });
  return outstanding.length;
}

/** A delivery that failed permanently for this sequence is not queued again (it shows in `ripple alerts`). */
function isGivenUp(record: AlertRecord, sinkId: string, sequence: number): boolean {
  const delivery = record.deliveries[sinkId];
  return delivery !== undefined && delivery.failedSequence === sequence;
}

/** The earliest moment the campaign's standing or alert can change without an event. */
function nextCheckAt(config: RippleConfig, campaignId: string, standings: readonly ObligationStanding[], record: AlertRecord | null, queued: number, waivers: readonly WaiverRecord[], now: Date): string {
  const at = now.getTime();
  const stuck = stuckRulesOf(config);
  const candidates: number[] = [at + MAX_CHECK_INTERVAL_MS - stableOffsetMs(campaignId, MAX_CHECK_INTERVAL_MS / 2)];
  if (queued > 0) candidates.push(at + DELIVERY_RECHECK_MS);
  for (const standing of standings) {
    if (!isOpenObligation(standing.obligation.state)) continue;
    const start = Date.parse(standing.clock.startedAt);
    candidates.push(start + standing.clock.budgetMs * config.sla.atRiskShare, Date.parse(standing.clock.dueAt));
    // A pending prediction moves with the clock: it lands after the due time once the time left is shorter than it.
    if (standing.predictedDoneAt !== null) candidates.push(standing.obligation.state === "pending" ? Date.parse(standing.clock.dueAt) - (Date.parse(standing.predictedDoneAt) - at) : Date.parse(standing.predictedDoneAt));
    candidates.push(stuckAt(standing.obligation, stuck));
  }
  for (const waiver of waivers) candidates.push(Date.parse(waiver.until));
  const policy = alertPolicyOf(config);
  if (record !== null && record.state.status === "open") {
    if (policy.renotifyMs > 0) candidates.push(Date.parse(record.state.notifiedAt) + policy.renotifyMs);
    if (policy.escalateAfterMs !== null && record.state.criticalSince !== null && record.state.escalatedAt === null) candidates.push(Date.parse(record.state.criticalSince) + policy.escalateAfterMs);
  }
  // A warning held back by quiet hours goes out when they end: look again then.
  const quietEnd = standings.some((standing) => standing.alert !== null) ? quietHoursEndAfter(policy.quietHours, now) : null;
  if (quietEnd !== null) candidates.push(quietEnd.getTime());
  const future = candidates.filter((candidate) => candidate > at);
  return new Date(Math.max(at + 1_000, Math.min(...future))).toISOString();
}

/** When an open obligation will count as stuck if nothing happens (see {@link stuckReason}). */
function stuckAt(obligation: Obligation, rules: StuckRules): number {
  if (obligation.state === "pending") return Date.parse(obligation.updatedAt) + rules.pendingMs;
  if (obligation.state !== "scheduled") return Number.POSITIVE_INFINITY;
  if (obligation.kind === "pull-request") return Date.parse(scheduledAtOf(obligation) ?? obligation.updatedAt) + rules.pullRequestMs;
  return Date.parse(obligation.updatedAt) + rules.runMs;
}
