import { toPublicEvent } from "../domain/registry-event.js";
import type { EventRecord, EventStatus, StateStore } from "../ports/state-store.js";

/** One recorded event as `ripple events` shows it (and prints with `--json`). */
export interface EventListing {
  readonly key: string;
  readonly status: EventStatus;
  readonly reason: string | null;
  readonly receivedAt: string;
  readonly event: ReturnType<typeof toPublicEvent> | null;
}

/**
 * The failed registry events, newest first, at most `limit`: read from the store's failed-event
 * index, so an event that failed for good is listed however many newer events arrived after it —
 * each one replayable with `ripple replay KEY`. Read-only (the store may clean stale index entries).
 * @throws the store's errors.
 */
export async function listFailedEvents(deps: { store: StateStore }, limit: number): Promise<EventListing[]> {
  return (await deps.store.listFailedEvents(limit)).map(toEventListing);
}

/** The listing of one recorded event: the record without its lease and count, the event in its public shape. */
export function toEventListing(record: EventRecord): EventListing {
  return {
    key: record.key,
    status: record.status,
    reason: record.reason,
    receivedAt: record.receivedAt,
    event: record.event === null ? null : toPublicEvent(record.event),
  };
}
