import type { StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";

/**
 * Heals the one gap between recording an event and queueing it (a crash, a storage fault after the
 * record): every event still `accepted` after `olderThanMs` is queued again. Processing is idempotent,
 * so an event queued twice is processed once. Returns the keys queued.
 */
export async function requeueStuckEvents(
  deps: { store: StateStore; queue: WorkQueue; now: () => Date },
  options: { olderThanMs: number; scanLimit: number },
): Promise<string[]> {
  const cutoff = deps.now().getTime() - options.olderThanMs;
  const requeued: string[] = [];
  for (const record of await deps.store.listEvents(options.scanLimit)) {
    if (record.status !== "accepted" || Date.parse(record.receivedAt) > cutoff) continue;
    await deps.queue.enqueue("registry-events", { v: 1, eventKey: record.key });
    requeued.push(record.key);
  }
  return requeued;
}
