import type { EventRecord, StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";

/**
 * Heals the gaps between recording an event and processing it (a crash after the record, a message
 * that went to the poison queue): every event still `accepted` after `olderThanMs`, and not held by a
 * live processing lease, is queued again — at most `maxRequeues` times, after which it is marked
 * `failed` with the reason, for on-call to see and to replay (`ripple replay`, which puts it back in
 * the index). Reads the store's unfinished-event index, oldest first, at most `batchLimit` per call —
 * never the newest N events, so an old event is found however many newer ones arrived after it.
 * Processing is idempotent, so an event queued twice is processed once; two sweeps running at once
 * queue each event once (the count and the status are guarded writes that re-check the event).
 * Returns the keys queued and given up.
 * @throws the store's and the queue's errors (retryable ones: the next tick sweeps again).
 */
export async function requeueStuckEvents(
  deps: { store: StateStore; queue: WorkQueue; now: () => Date },
  options: { olderThanMs: number; batchLimit: number; maxRequeues: number },
): Promise<{ requeued: string[]; gaveUp: string[] }> {
  const now = deps.now();
  const olderThan = new Date(now.getTime() - options.olderThanMs).toISOString();
  const requeued: string[] = [];
  const gaveUp: string[] = [];
  for (const record of await deps.store.listUnfinishedEvents(olderThan, options.batchLimit)) {
    if (!isStuck(record, now)) continue;
    const giveUp = (record.requeues ?? 0) >= options.maxRequeues;
    const changed = await settleStuckEvent(deps.store, record, now, giveUp ? gaveUpReason(options.maxRequeues) : null);
    if (!changed) continue;
    if (giveUp) {
      gaveUp.push(record.key);
      continue;
    }
    await deps.queue.enqueue("registry-events", { v: 1, eventKey: record.key });
    requeued.push(record.key);
  }
  return { requeued, gaveUp };
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
    return failReason !== null ? { ...current, status: "failed", reason: failReason } : { ...current, requeues: (current.requeues ?? 0) + 1 };
  });
  return changed;
}

/** Still `accepted` and not held by a live processing lease. */
function isStuck(record: EventRecord, now: Date): boolean {
  return record.status === "accepted" && (record.leaseUntil == null || Date.parse(record.leaseUntil) <= now.getTime());
}

function gaveUpReason(maxRequeues: number): string {
  return `not processed after ${maxRequeues} requeues (see the registry-events poison queue)`;
}
