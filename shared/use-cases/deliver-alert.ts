/**
 * The alert delivery worker (queue `alerts`): sends one campaign's alert to one sink, at most once per
 * (campaign, sink, sequence) however often the job is delivered or queued.
 */
import { AppError } from "../errors.js";
import type { AlertAction, AlertSink } from "../ports/alert-sink.js";
import type { AlertDeliveryState, AlertRecord, StateStore } from "../ports/state-store.js";
import type { AlertJob } from "../ports/work-queue.js";

export interface DeliverAlertDeps {
  readonly store: StateStore;
  readonly sinkFor: (sinkId: string) => AlertSink | null;
  readonly now: () => Date;
}

/**
 * How long one worker holds a delivery before another may take it over (a crashed worker's): longer than
 * the slowest sink's worst case (the GitHub issue sink: a listing, a comment and an update, each with its
 * retries and rate-limit waits).
 */
const SENDING_LEASE_MS = 5 * 60_000;

export type DeliveryOutcome =
  | { readonly outcome: "delivered"; readonly sequence: number; readonly ref: string | null }
  | { readonly outcome: "skipped"; readonly why: "no alert" | "already delivered" | "being sent" | "sink not configured" | "given up" };

const EMPTY: AlertDeliveryState = { sinkId: "", delivered: 0, ref: null, deliveredAt: null, sendingUntil: null, attempts: 0, lastError: null, failedSequence: null };

function deliveryOf(record: AlertRecord, sinkId: string): AlertDeliveryState {
  return record.deliveries[sinkId] ?? { ...EMPTY, sinkId };
}

/**
 * Delivers what the alert record wants for `job.sinkId` (the newest message, with that sink's action).
 * A delivery already made, or being made by another worker, is skipped: a redelivered job or a second
 * tick never pages twice. The send is leased (ETag-guarded) before it starts; a crash after the send and
 * before the record is saved sends once more when the lease expires (at-least-once, deduplicated by the
 * services that can: PagerDuty's dedup_key, the GitHub issue marker, Slack's message reference).
 * @throws the sink's retryable UpstreamError (the queue retries; a `retryAfterMs` defers the job); a
 *   permanent failure is recorded on the alert (`ripple alerts` shows it) and not thrown.
 */
export async function deliverAlert(deps: DeliverAlertDeps, job: AlertJob): Promise<DeliveryOutcome> {
  const sink = deps.sinkFor(job.sinkId);
  if (sink === null) return { outcome: "skipped", why: "sink not configured" };
  const lease = await takeLease(deps, job);
  if (lease.outcome !== "leased") return lease;
  const { record, sequence, action } = lease;
  const message = { ...record.message!, action, sequence };
  try {
    const ref = await sink.deliver(message, deliveryOf(record, job.sinkId).ref);
    await settle(deps, job, (delivery, at) => ({ ...delivery, delivered: Math.max(delivery.delivered, sequence), ref: ref ?? delivery.ref, deliveredAt: at, sendingUntil: null, attempts: 0, lastError: null, failedSequence: null }));
    return { outcome: "delivered", sequence, ref };
  } catch (error) {
    const retryable = !(error instanceof AppError) || error.retryable;
    const text = error instanceof Error ? error.message : String(error);
    await settle(deps, job, (delivery) => ({ ...delivery, sendingUntil: null, lastError: text, failedSequence: retryable ? null : sequence }));
    if (retryable) throw error;
    return { outcome: "skipped", why: "given up" };
  }
}

type Lease =
  | { readonly outcome: "leased"; readonly record: AlertRecord; readonly sequence: number; readonly action: AlertAction }
  | Extract<DeliveryOutcome, { outcome: "skipped" }>;

async function takeLease(deps: DeliverAlertDeps, job: AlertJob): Promise<Lease> {
  const now = deps.now();
  let lease: Lease = { outcome: "skipped", why: "no alert" };
  const current = await deps.store.getAlert(job.campaignId);
  if (current === null || current.message === null) return lease;
  await deps.store.saveAlert(job.campaignId, (record) => {
    const stored = record ?? current;
    const wanted = stored.wanted[job.sinkId];
    const delivery = deliveryOf(stored, job.sinkId);
    if (wanted === undefined || delivery.delivered >= wanted.sequence) lease = { outcome: "skipped", why: "already delivered" };
    else if (delivery.failedSequence === wanted.sequence) lease = { outcome: "skipped", why: "given up" };
    else if (delivery.sendingUntil !== null && Date.parse(delivery.sendingUntil) > now.getTime()) lease = { outcome: "skipped", why: "being sent" };
    else {
      lease = { outcome: "leased", record: stored, sequence: wanted.sequence, action: wanted.action };
      const sendingUntil = new Date(now.getTime() + SENDING_LEASE_MS).toISOString();
      return { ...stored, deliveries: { ...stored.deliveries, [job.sinkId]: { ...delivery, sendingUntil, attempts: delivery.attempts + 1 } } };
    }
    return stored;
  });
  return lease;
}

async function settle(deps: DeliverAlertDeps, job: AlertJob, change: (delivery: AlertDeliveryState, at: string) => AlertDeliveryState): Promise<void> {
  const at = deps.now().toISOString();
  await deps.store.saveAlert(job.campaignId, (record) => {
    if (record === null) throw new AppError("state_corrupt", `the alert of campaign "${job.campaignId}" vanished during a delivery`);
    return { ...record, deliveries: { ...record.deliveries, [job.sinkId]: change(deliveryOf(record, job.sinkId), at) } };
  });
}
