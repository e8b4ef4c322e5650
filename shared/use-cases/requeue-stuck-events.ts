import type { EventRecord, StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";
import { EVENT_LEASE_MS } from "./process-registry-event.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** How long after its receipt a stuck event is given up at the earliest: a registry outage shorter than this loses nothing. */
export const GIVE_UP_AFTER_MS = 24 * HOUR_MS;

/** When the stuck-event sweep queues an event again, and when it gives up. */
export interface RequeuePolicy {
  /** The wait after receipt before the first requeue; each next wait is twice the one before. */
  readonly firstDelayMs: number;
  /** The longest wait between two requeues. */
  readonly maxDelayMs: number;
  /** A requeue that comes due this long after receipt (or later) fails the event instead… */
  readonly giveUpAfterMs: number;
  /** …once it has been queued again this often (a replayed event received long ago still gets these tries). */
  readonly minRequeues: number;
}

/** Requeues 2, 4, 8, 16, 32 minutes apart, then hourly; the event fails at the first one due 24 h after receipt (after 27 requeues). */
export const REQUEUE_POLICY: RequeuePolicy = { firstDelayMs: 2 * MINUTE_MS, maxDelayMs: HOUR_MS, giveUpAfterMs: GIVE_UP_AFTER_MS, minRequeues: 5 };

/**
 * Heals the gaps between recording an event and processing it (a crash after the record, a message
 * that went to the poison queue during a registry outage, a worker that died holding the event): every
 * event still `accepted`, not held by a live processing lease, whose next requeue is due
 * ({@link requeueDueAt}: the waits double from `policy.firstDelayMs` after receipt up to
 * `policy.maxDelayMs`) or whose lease ran out is queued again and its `requeues` counted. A requeue that comes due `policy.giveUpAfterMs` after receipt (and after at least
 * `policy.minRequeues`) marks the event `failed` with the reason instead, for on-call to see
 * (`ripple events --failed`) and to replay (`ripple replay`, which puts it back in the index).
 * Reads the store's unfinished-event index, oldest first, at most `batchLimit` events per call (those
 * not yet due included) — never the newest N events, so an old event is found however many newer
 * ones arrived after it. Processing is idempotent, so an event queued twice is processed once; two
 * sweeps running at once queue each event once (the count and the status are guarded writes that
 * re-check the event). Returns the keys queued and given up.
 * @throws the store's and the queue's errors (retryable ones: the next tick sweeps again).
 */
export async function requeueStuckEvents(
  deps: { store: StateStore; queue: WorkQueue; now: () => Date },
  options: { batchLimit: number; policy?: RequeuePolicy },
): Promise<{ requeued: string[]; gaveUp: string[] }> {
  const policy = options.policy ?? REQUEUE_POLICY;
  const now = deps.now();
  // Events younger than the first wait are listed too once a lease could have run out on them.
  const olderThan = new Date(now.getTime() - Math.min(policy.firstDelayMs, EVENT_LEASE_MS)).toISOString();
  const requeued: string[] = [];
  const gaveUp: string[] = [];
  for (const record of await deps.store.listUnfinishedEvents(olderThan, options.batchLimit)) {
    const action = stuckAction(record, now, policy);
    if (action === "wait") continue;
    const changed = await settleStuckEvent(deps.store, record, now, action === "give-up" ? gaveUpReason(record, now) : null);
    if (!changed) continue;
    if (action === "give-up") {
      gaveUp.push(record.key);
      continue;
    }
    await deps.queue.enqueue("registry-events", { v: 1, eventKey: record.key });
    requeued.push(record.key);
  }
  return { requeued, gaveUp };
}

/**
 * When the next requeue of an event received at `receivedAt` and queued again `requeues` times is
 * due (epoch ms): receipt plus the waits so far, doubling from `firstDelayMs`, each at most
 * `maxDelayMs`. With the default policy: 2, 6, 14, 30, 62, 122, 182 … minutes after receipt.
 */
export function requeueDueAt(receivedAt: string, requeues: number, policy: RequeuePolicy): number {
  let due = Date.parse(receivedAt);
  let delay = policy.firstDelayMs;
  for (let done = 0; done <= requeues; done += 1) {
    // Past the cap every wait is the same: add the rest at once (a corrupt count cannot spin here).
    if (delay >= policy.maxDelayMs) return due + (requeues - done + 1) * policy.maxDelayMs;
    due += delay;
    delay *= 2;
  }
  return due;
}

/**
 * What the sweep does with a listed event now: leave it, queue it again, or give it up. An event whose
 * processing lease ran out while it is still `accepted` lost its processor (a worker that died mid-way,
 * whose queue message Azure keeps invisible for 10 minutes): it is queued again at once.
 */
function stuckAction(record: EventRecord, now: Date, policy: RequeuePolicy): "wait" | "requeue" | "give-up" {
  const requeues = record.requeues ?? 0;
  if (!isStuck(record, now)) return "wait";
  if (!leaseRanOut(record, now) && now.getTime() < requeueDueAt(record.receivedAt, requeues, policy)) return "wait";
  const age = now.getTime() - Date.parse(record.receivedAt);
  return age >= policy.giveUpAfterMs && requeues >= policy.minRequeues ? "give-up" : "requeue";
}

/**
 * Counts one more requeue of a stuck event, or (with `failReason`) fails it. Guarded on the state read
 * inside the write: an event a processor took since it was listed is left alone (a processed event is
 * never marked failed, a leased one never queued again), and so is one a concurrent sweep just counted.
 * Returns whether this call changed it.
 */
async function settleStuckEvent(store: StateStore, listed: EventRecord, now: Date, failReason: string | null): Promise<boolean> {
  let changed = false;
  await store.updateEvent(listed.key, (current) => {
    changed = isStuck(current, now) && (current.requeues ?? 0) === (listed.requeues ?? 0);
    if (!changed) return current;
    // The lease is cleared: a lease that ran out is acted on once, not at every tick.
    if (failReason !== null) return { ...current, status: "failed", reason: failReason };
    return { ...current, requeues: (current.requeues ?? 0) + 1, ...(current.leaseUntil == null ? {} : { leaseUntil: null }) };
  });
  return changed;
}

/** A processing lease was taken and ran out without the processor finishing or giving it back. */
function leaseRanOut(record: EventRecord, now: Date): boolean {
  return record.leaseUntil != null && Date.parse(record.leaseUntil) <= now.getTime();
}

/** Still `accepted` and not held by a live processing lease. */
function isStuck(record: EventRecord, now: Date): boolean {
  return record.status === "accepted" && (record.leaseUntil == null || Date.parse(record.leaseUntil) <= now.getTime());
}

function gaveUpReason(record: EventRecord, now: Date): string {
  const hours = Math.floor((now.getTime() - Date.parse(record.receivedAt)) / HOUR_MS);
  return `not processed ${hours} h after receipt and ${record.requeues ?? 0} requeues (see the registry-events poison queue)`;
}
