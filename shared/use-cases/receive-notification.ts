import { createHash, timingSafeEqual } from "node:crypto";
import { findRegistry, findUpstreamRegistry, type RippleConfig } from "../config.js";
import { dedupeKey, toPublicEvent, type RegistryEvent } from "../domain/registry-event.js";
import { AppError, ValidationError } from "../errors.js";
import type { DeliveryTokenVerifier } from "../ports/delivery-token-verifier.js";
import type { StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";
import { inParallel } from "./in-parallel.js";
import {
  MAX_EVENTS_PER_REQUEST,
  parseRegistryNotification,
  parseRegistryPayload,
  TOO_MANY_EVENTS,
  type NotificationOutcome,
  type NotificationRequest,
  type RejectedNotification,
} from "./parse-registry-notification.js";

export interface ReceiveDeps {
  readonly store: StateStore;
  readonly queue: WorkQueue;
  readonly config: RippleConfig;
  readonly secret: string;
  /**
   * Set when Event Grid webhook deliveries (requests carrying `aeg-event-type`) must bear a Microsoft Entra
   * token; the shared secret is then not accepted for them. Absent or null: they use the secret too.
   */
  readonly eventGridTokens?: DeliveryTokenVerifier | null;
  readonly now: () => Date;
}

export type ReceiveResult =
  /** `reason` is set when an Event Grid delivery's Entra token was missing or refused (never the token itself). */
  | { readonly kind: "unauthorized"; readonly reason?: string }
  | { readonly kind: "handshake"; readonly status: 200; readonly headers: Record<string, string>; readonly body: unknown }
  | { readonly kind: "invalid"; readonly error: ValidationError }
  | { readonly kind: "too_many"; readonly count: number; readonly limit: number; readonly message: string }
  | { readonly kind: "rejected"; readonly key: string; readonly reason: string }
  | {
      readonly kind: "recorded";
      readonly accepted: number;
      /** Dedupe keys of the events recorded and queued by this call. */
      readonly acceptedKeys: readonly string[];
      readonly duplicates: number;
      readonly ignored: number;
      /** Events refused one by one and recorded as `rejected` (the others of the delivery are kept). */
      readonly rejected: number;
      readonly rejections: readonly Rejection[];
      readonly events: ReturnType<typeof toPublicEvent>[];
    };

/** One event refused on its own: the key it is recorded under, where in the body, and why. */
export interface Rejection {
  readonly key: string;
  readonly path: string;
  readonly reason: string;
}

/** Longest reason stored on a rejected record. */
const MAX_REASON_LENGTH = 1000;

/** Distribution's envelope media types (v1; v2 as some registries send it): an unreadable envelope is recorded, not refused. */
const DISTRIBUTION_MEDIA_TYPE = /^application\/vnd\.docker\.distribution\.events\.v[12]\+json\s*(?:;|$)/i;

/** Compares the presented secret with the expected one in constant time (hashing first equalizes lengths). */
export function secretMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined || presented === "") return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The secret a sender presents: `Authorization: Bearer <s>` (Distribution, ACR webhook) or `X-Ripple-Secret`. */
export function presentedSecret(headers: Readonly<Record<string, string | undefined>>): string | undefined {
  const authorization = headers["authorization"];
  if (authorization !== undefined && /^bearer\s+/i.test(authorization)) return authorization.replace(/^bearer\s+/i, "");
  return headers["x-ripple-secret"];
}

/**
 * Authenticates, validates and records one registry notification, and queues each new event for
 * processing. Nothing is written for an unauthenticated or malformed request, nor for one of more than
 * {@link MAX_EVENTS_PER_REQUEST} events (`too_many`), except that a malformed but authenticated
 * Distribution envelope is recorded as `rejected` (the registry would otherwise retry it forever and
 * hold back every later event). Events are refused one by one, recorded as `rejected` with their path
 * and reason while the rest of the delivery is recorded: each invalid event of a Distribution envelope,
 * and an event of any format dated more than the allowed clock skew ahead of `now`. Events from
 * registries not in the configuration are recorded as `ignored` and never fetched. Idempotent: a
 * redelivered event (or rejection) is a duplicate; if it was recorded but never processed, it is queued again.
 * @throws UpstreamError (retryable) when storage is unreachable, or the Entra tenant's signing keys cannot
 *   be fetched to check an Event Grid delivery's token: the sender retries.
 */
export async function receiveNotification(deps: ReceiveDeps, request: NotificationRequest): Promise<ReceiveResult> {
  const handshake = request.method.toUpperCase() === "OPTIONS";
  if (!handshake) {
    const refused = await authenticate(deps, request);
    if (refused !== null) return refused;
  }

  let outcome: NotificationOutcome;
  try {
    outcome = parseRegistryNotification(request, { now: deps.now() });
  } catch (error) {
    const tooMany = tooManyEvents(error);
    if (tooMany !== null) return tooMany;
    if (!(error instanceof ValidationError)) throw error;
    const contentType = request.headers["content-type"] ?? "";
    if (!DISTRIBUTION_MEDIA_TYPE.test(contentType)) return { kind: "invalid", error };
    return rejectEnvelope(deps, request.body, error);
  }
  if (outcome.kind === "handshake") return outcome;
  return recordEvents(deps, outcome.events, outcome.ignored.length, outcome.rejected);
}

function tooManyEvents(error: unknown): Extract<ReceiveResult, { kind: "too_many" }> | null {
  if (!(error instanceof AppError) || error.code !== TOO_MANY_EVENTS) return null;
  const count = typeof error.details["count"] === "number" ? error.details["count"] : 0;
  return { kind: "too_many", count, limit: MAX_EVENTS_PER_REQUEST, message: error.message };
}

/** Records a Distribution envelope that cannot be read at all, keyed by its body's hash so a redelivery is a duplicate. */
async function rejectEnvelope(deps: Omit<ReceiveDeps, "secret">, body: string, error: ValidationError): Promise<ReceiveResult> {
  const key = `rejected|${createHash("sha256").update(body).digest("hex")}`;
  const reason = error.message.slice(0, MAX_REASON_LENGTH);
  await deps.store.recordEvent({ key, event: null, status: "rejected", reason, receivedAt: deps.now().toISOString() });
  return { kind: "rejected", key, reason };
}

/**
 * Null when the request may go on; otherwise the answer: a subscription validation answered at once, or
 * `unauthorized`. With {@link ReceiveDeps.eventGridTokens}, a request carrying `aeg-event-type` (every
 * Event Grid webhook delivery does) must bear a valid Entra token and the secret does not stand in for it;
 * every other sender (Distribution, ACR webhooks) presents the secret, and a token there is just a wrong secret.
 */
async function authenticate(deps: ReceiveDeps, request: NotificationRequest): Promise<Extract<ReceiveResult, { kind: "unauthorized" | "handshake" }> | null> {
  // Event Grid's subscription validation may come without the delivery properties (the secret header) that
  // event deliveries carry, and the docs do not promise the Entra token on it either; answering it writes
  // nothing and only echoes its code, so it needs no credentials.
  const tokens = deps.eventGridTokens ?? null;
  if (tokens !== null && headerOf(request, "aeg-event-type") !== undefined) {
    const validation = eventGridValidation(request);
    if (validation !== null) return validation;
    const check = await tokens.verify(headerOf(request, "authorization"));
    return check.ok ? null : { kind: "unauthorized", reason: check.reason };
  }
  if (secretMatches(presentedSecret(request.headers), deps.secret)) return null;
  return eventGridValidation(request) ?? { kind: "unauthorized" };
}

function headerOf(request: NotificationRequest, name: string): string | undefined {
  return Object.entries(request.headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

/** The answer to an Event Grid subscription validation request (`aeg-event-type: SubscriptionValidation`), else null. */
function eventGridValidation(request: NotificationRequest): Extract<ReceiveResult, { kind: "handshake" }> | null {
  if (headerOf(request, "aeg-event-type") !== "SubscriptionValidation") return null;
  try {
    const outcome = parseRegistryNotification(request);
    return outcome.kind === "handshake" ? outcome : null;
  } catch {
    return null;
  }
}

/**
 * Receives one event from the Event Grid trigger (the platform has authenticated the delivery and
 * answered the validation handshake). Same validation and recording as {@link receiveNotification}.
 * @throws ValidationError for a malformed event (logged and dropped by the trigger).
 */
export async function receiveEventGridEvent(deps: Omit<ReceiveDeps, "secret">, event: unknown): Promise<ReceiveResult> {
  const outcome = parseRegistryPayload(JSON.stringify([event]), "application/json", { now: deps.now(), keepRejected: true });
  if (outcome.kind === "handshake") return outcome;
  return recordEvents(deps, outcome.events, outcome.ignored.length, outcome.rejected);
}

/** Events of one delivery recorded at once. */
const RECORD_CONCURRENCY = 32;

/**
 * Records normalized events (dedupe, ignore unconfigured registries) and queues each new one for
 * processing, and records each of `rejected` as `rejected`. Idempotent. Used by every entry point after
 * its own validation.
 */
export async function recordEvents(
  deps: Omit<ReceiveDeps, "secret">,
  events: readonly RegistryEvent[],
  ignoredByParser: number,
  rejected: readonly RejectedNotification[] = [],
): Promise<ReceiveResult> {
  const acceptedKeys: string[] = [];
  const rejections: Rejection[] = [];
  let duplicates = 0;
  let ignored = ignoredByParser;
  // Recorded a few at a time (each is its own guarded write), the results read back in the delivery's order.
  const results = new Array<Awaited<ReturnType<typeof recordEvent>>>(events.length);
  await inParallel(events.map((_, index) => index), RECORD_CONCURRENCY, async (index) => {
    results[index] = await recordEvent(deps, events[index]!);
  });
  for (const [index, result] of results.entries()) {
    if (result === "accepted") acceptedKeys.push(dedupeKey(events[index]!));
    else if (result === "duplicate") duplicates += 1;
    else if (result === "ignored") ignored += 1;
    else rejections.push(result);
  }
  for (const rejection of rejected) {
    await recordRejection(deps, rejection);
    rejections.push({ key: rejection.key, path: rejection.path, reason: rejection.reason });
  }
  return {
    kind: "recorded",
    accepted: acceptedKeys.length,
    acceptedKeys,
    duplicates,
    ignored,
    rejected: rejections.length,
    rejections,
    events: events.map(toPublicEvent),
  };
}

async function recordRejection(deps: Omit<ReceiveDeps, "secret">, rejection: RejectedNotification): Promise<boolean> {
  const reason = `${rejection.path}: ${rejection.reason}`.slice(0, MAX_REASON_LENGTH);
  return deps.store.recordEvent({ key: rejection.key, event: rejection.event, status: "rejected", reason, receivedAt: deps.now().toISOString() });
}

async function recordEvent(deps: Omit<ReceiveDeps, "secret">, event: RegistryEvent): Promise<"accepted" | "duplicate" | "ignored" | Rejection> {
  const key = dedupeKey(event);
  const receivedAt = deps.now().toISOString();
  // Upstream registries send nothing; their events come from the watcher, which only watches configured ones.
  if (findRegistry(deps.config, event.registry) === null && (event.source !== "upstream" || findUpstreamRegistry(deps.config, event.registry) === null)) {
    const reason = `registry ${event.registry} is not in the configuration`;
    const fresh = await deps.store.recordEvent({ key, event, status: "ignored", reason, receivedAt });
    return fresh ? "ignored" : "duplicate";
  }
  let fresh: boolean;
  try {
    fresh = await deps.store.recordEvent({ key, event, status: "accepted", reason: null, receivedAt });
  } catch (error) {
    // The store refused the record itself (too large for one entity): a sender's resend cannot fix it, so
    // it is recorded as rejected, small, under a key of its own, and the rest of the delivery goes on.
    if (!(error instanceof ValidationError)) throw error;
    const rejection = { key: `rejected|${createHash("sha256").update(key).digest("hex")}`, event: null, path: `event ${JSON.stringify(event.id)}`, reason: error.message };
    await recordRejection(deps, rejection);
    return { key: rejection.key, path: rejection.path, reason: rejection.reason };
  }
  if (!fresh) {
    // Recorded before but perhaps never queued (a crash between the two writes): queue it again.
    // Processing is idempotent, so a second message for a processed event changes nothing.
    const existing = await deps.store.getEvent(key);
    if (existing?.status === "accepted") await deps.queue.enqueue("registry-events", { v: 1, eventKey: key });
    return "duplicate";
  }
  await deps.queue.enqueue("registry-events", { v: 1, eventKey: key });
  return "accepted";
}
