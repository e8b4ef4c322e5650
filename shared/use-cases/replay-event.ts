import { AppError } from "../errors.js";
import type { EventRecord, StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";

/**
 * Replays a permanently failed registry event (on-call fixed the cause: a registry's permissions, an
 * identity's role): the event goes back to `accepted` with a fresh requeue count and no lease — which moves
 * it from the store's failed-event index (`ripple events --failed`) back to its unfinished-event index, so
 * the stuck-event sweep finds it again if this queued copy is lost too (with the sweep's backoff counted
 * from its receipt: one received over a day ago gets the policy's last few tries, a minute apart) — and
 * is queued for processing, which is idempotent. Returns the record as replayed.
 * @throws AppError `not_found` for an unknown key; AppError `not_replayable` for an event that did not fail
 *   (an accepted one is still on its way; a processed, ignored or rejected one has nothing to replay).
 */
export async function replayEvent(deps: { store: StateStore; queue: WorkQueue; now: () => Date }, key: string): Promise<EventRecord> {
  const record = await deps.store.getEvent(key);
  if (record === null) throw new AppError("not_found", `no event ${key} (see ripple events)`);
  if (record.status !== "failed" || record.event === null) throw notReplayable(key, record.status);
  const previous = record.reason ?? "failed";
  const replayed = await deps.store.updateEvent(key, (current) => {
    // A replay racing another one: only the first turns it back to accepted.
    if (current.status !== "failed") throw notReplayable(key, current.status);
    return {
      ...current,
      status: "accepted",
      reason: `replayed at ${deps.now().toISOString()} after: ${previous}`.slice(0, 1000),
      leaseUntil: null,
      requeues: 0,
    };
  });
  await deps.queue.enqueue("registry-events", { v: 1, eventKey: key });
  return replayed;
}

function notReplayable(key: string, status: string): AppError {
  return new AppError("not_replayable", `event ${key} is ${status}: only a failed event is replayed`);
}
