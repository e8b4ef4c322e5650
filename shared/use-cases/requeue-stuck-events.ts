import type { StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";

/**
 * Heals the gaps between recording an event and processing it (a crash after the record, a message
 * that went to the poison queue): every event still `accepted` after `olderThanMs`, and not held by a
 * live processing lease, is queued again — at most `maxRequeues` times, after which it is marked
 * `failed` with the reason, for on-call to see. Processing is idempotent, so an event queued twice is
 * processed once. Looks at the newest `scanLimit` events. Returns the keys queued and given up.
 */
export async function requeueStuckEvents(
  deps: { store: StateStore; queue: WorkQueue; now: () => Date },
  options: { olderThanMs: number; scanLimit: number; maxRequeues: number },
): Promise<{ requeued: string[]; gaveUp: string[] }> {
  const now = deps.now();
  const cutoff = now.getTime() - options.olderThanMs;
  const requeued: string[] = [];
  const gaveUp: string[] = [];
  for (const record of await deps.store.listEvents(options.scanLimit)) {
    if (record.status !== "accepted" || Date.parse(record.receivedAt) > cutoff) continue;
    if (record.leaseUntil != null && Date.parse(record.leaseUntil) > now.getTime()) continue;
    if ((record.requeues ?? 0) >= options.maxRequeues) {
      await deps.store.setEventStatus(record.key, "failed", `not processed after ${options.maxRequeues} requeues (see the registry-events poison queue)`);
      gaveUp.push(record.key);
      continue;
    }
    await deps.store.updateEvent(record.key, (current) => ({ ...current, requeues: (current.requeues ?? 0) + 1 }));
    await deps.queue.enqueue("registry-events", { v: 1, eventKey: record.key });
    requeued.push(record.key);
  }
  return { requeued, gaveUp };
}
