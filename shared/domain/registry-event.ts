/**
 * The one internal shape every registry notification (Event Grid, CloudEvents, ACR webhook,
 * Distribution envelope) is normalized into.
 */
export type RegistryAction = "push" | "delete";

/** `upstream`: a move the upstream watcher saw on a registry that sends no notifications. */
export type EventSource = "eventgrid" | "cloudevents" | "acr-webhook" | "distribution" | "upstream";

export interface RegistryEvent {
  /** The sender's event id (for logs and evidence; deduplication uses {@link dedupeKey}). */
  readonly id: string;
  readonly source: EventSource;
  readonly action: RegistryAction;
  /** Normalized (lowercase) registry host, with port when there is one. */
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | null;
  /** Null only for a Distribution tag deletion, which names the tag but not the digest. */
  readonly digest: string | null;
  readonly mediaType: string | null;
  /** When the registry says the action happened (ISO 8601). Orders tag moves. */
  readonly occurredAt: string;
}

/**
 * How far ahead of the receiver's clock a registry's event time may be (clock skew between hosts).
 * An event dated later is refused when it arrives, and a recorded tag move dated later than the
 * clock allows never blocks a move the registry made after it (see `applyTagMove`).
 */
export const MAX_EVENT_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Whether an event time lies beyond `now` plus {@link MAX_EVENT_CLOCK_SKEW_MS} (an unparsable time counts as not). */
export function isBeyondClockSkew(occurredAt: string, now: Date | number): boolean {
  const at = Date.parse(occurredAt);
  return !Number.isNaN(at) && at > new Date(now).getTime() + MAX_EVENT_CLOCK_SKEW_MS;
}

/** Why an event time cannot be accepted at `now` (too far in the future), or null when it can. */
export function describeFutureTime(occurredAt: string, now: Date): string | null {
  if (!isBeyondClockSkew(occurredAt, now)) return null;
  const minutes = MAX_EVENT_CLOCK_SKEW_MS / 60_000;
  return `event time ${new Date(Date.parse(occurredAt)).toISOString()} is more than ${minutes} minutes ahead of the receiver's clock (${now.toISOString()})`;
}

/** The public JSON shape printed by `ripple ingest`. */
export function toPublicEvent(event: RegistryEvent): {
  action: RegistryAction;
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
} {
  return {
    action: event.action,
    registry: event.registry,
    repository: event.repository,
    tag: event.tag,
    digest: event.digest,
    mediaType: event.mediaType,
  };
}

/**
 * Two deliveries of the same fact share this key: registry + repository + digest + action + tag, and
 * the registry's time of the action. The time tells a redelivery (same fact, same time) from a new fact
 * with the same content: a rollback A → B → A, or a tag deleted and pushed again, must not be dropped.
 */
export function dedupeKey(event: Pick<RegistryEvent, "registry" | "repository" | "digest" | "action" | "tag" | "occurredAt">): string {
  const at = Number.isNaN(Date.parse(event.occurredAt)) ? event.occurredAt : new Date(event.occurredAt).toISOString();
  return [event.registry, event.repository, event.digest ?? "-", event.action, event.tag ?? "-", at].join("|");
}
