import { createHash } from "node:crypto";
import { normalizeRegistryHost } from "../domain/image-ref.js";
import { dedupeKey, describeFutureTime, type EventSource, type RegistryAction, type RegistryEvent } from "../domain/registry-event.js";
import { AppError, ValidationError } from "../errors.js";
import { formatIssuePath, parseWith, ROOT_PATH, validationFailure } from "../validation.js";
import {
  ACR_EVENT_TYPES,
  AcrWebhookHeader,
  AcrWebhookImageEvent,
  CloudEventHeader,
  CloudImageEvent,
  DistributionEnvelope,
  DistributionEventHeader,
  DistributionImageEvent,
  EventGridEventHeader,
  EventGridImageEvent,
  EventGridValidationEvent,
  RegistryHost,
  SUBSCRIPTION_VALIDATION_EVENT_TYPE,
} from "./notification-schemas.js";

/** The formats a notification arrives in (the watcher's own `upstream` events never come over HTTP). */
type NotificationFormat = Exclude<EventSource, "upstream">;

/** An inbound HTTP request carrying a registry notification, as an entry point sees it. */
export interface NotificationRequest {
  method: string;
  /** Header names in lowercase. */
  headers: Readonly<Record<string, string | undefined>>;
  body: string;
}

/** A notification that was understood but is not Ripple's business (a Helm chart, a blob, a pull…). */
export interface IgnoredNotification {
  id: string;
  type: string;
  reason: string;
}

/**
 * One event of a delivery that is refused on its own while the others are recorded: an invalid event
 * of a Distribution envelope (the registry never resends it), or an event of any format dated too far
 * ahead of the receiver's clock. `key` is stable, so a redelivery is a duplicate.
 */
export interface RejectedNotification {
  /** The store key to record the rejection under. */
  key: string;
  /** The normalized event, when it was valid but refused (a future time); null when it did not parse. */
  event: RegistryEvent | null;
  /** The dotted path into the body (`events.1.target.digest`). */
  path: string;
  reason: string;
}

export type NotificationOutcome =
  | { kind: "handshake"; status: 200; headers: Record<string, string>; body: unknown }
  | { kind: "events"; events: RegistryEvent[]; ignored: IgnoredNotification[]; rejected: RejectedNotification[] };

/** The largest body accepted; Event Grid's own limit for a delivery is 1 MB. */
export const MAX_NOTIFICATION_BYTES = 1024 * 1024;

/**
 * The most events one request may carry (our Event Grid subscription delivers one per request, see
 * infra/modules/event-subscription.bicep; Distribution sends a handful). Bounds the work one request can
 * cause; a larger request is refused whole (HTTP 413), before anything is recorded.
 */
export const MAX_EVENTS_PER_REQUEST = 500;

/** The {@link AppError} code of a request over {@link MAX_EVENTS_PER_REQUEST} (HTTP 413). */
export const TOO_MANY_EVENTS = "too_many_events";

/** How a caller wants events checked beyond their shape. */
export interface ParseOptions {
  /** The receiver's clock: an event dated beyond it plus the allowed skew is rejected. Unchecked when absent. */
  readonly now?: Date;
}

type Path = ReadonlyArray<string | number>;
type Hint = { format: NotificationFormat; shape: "single" | "batch" | "any" };

const WHAT: Readonly<Record<NotificationFormat | "unknown", string>> = {
  eventgrid: "Event Grid notification",
  cloudevents: "CloudEvents notification",
  "acr-webhook": "ACR webhook notification",
  distribution: "Distribution notification",
  unknown: "registry notification",
};

const CONTENT_TYPE_HINTS: Readonly<Record<string, Hint>> = {
  "application/cloudevents+json": { format: "cloudevents", shape: "single" },
  "application/cloudevents-batch+json": { format: "cloudevents", shape: "batch" },
  "application/vnd.docker.distribution.events.v1+json": { format: "distribution", shape: "single" },
  "application/vnd.docker.distribution.events.v2+json": { format: "distribution", shape: "single" },
};

const CHART_REASON = "Helm chart events are not tracked";

// Media types of manifests (what tags point at); anything else a Distribution event names is a blob.
const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.artifact.manifest.v1+json",
]);

/**
 * Parses an inbound registry notification into normalized {@link RegistryEvent}s, or into the
 * answer to a subscription handshake.
 *
 * Detects the format from, in order: an `OPTIONS` request with `WebHook-Request-Origin` (the
 * CloudEvents webhook validation handshake), the content type (`application/cloudevents+json`,
 * `application/cloudevents-batch+json`, `application/vnd.docker.distribution.events.v1+json`), the
 * `aeg-event-type` header (Event Grid schema), then the shape of the body. Pure: no I/O, so it is
 * idempotent and safe to call on a redelivery.
 *
 * Events Ripple does not act on (Helm charts, blobs, pulls, mounts, other event types) are listed in
 * `ignored` with a reason rather than rejected.
 *
 * Events refused one by one are listed in `rejected` (the caller records them as such): each invalid
 * event of a Distribution envelope, whose registry never resends it, and, with `options.now`, any event
 * dated more than `MAX_EVENT_CLOCK_SKEW_MS` (domain/registry-event) ahead of it.
 *
 * @throws ValidationError for malformed input: an empty body, a body over 1 MiB, bad JSON, an
 *   unrecognized shape, wrong types, missing fields, bad digests, tags, repository names or hosts, ids
 *   or validation codes over their length limit, an unknown action or one that contradicts the event
 *   type, sizes that are not whole non-negative numbers, a subscription validation event sharing its
 *   batch with other events. Its `issues` carry the dotted path into the body
 *   (`events.0.target.digest`) and the reason; its message is one line naming the first issue.
 * @throws AppError {@link TOO_MANY_EVENTS} for a request of more than {@link MAX_EVENTS_PER_REQUEST} events.
 */
export function parseRegistryNotification(request: NotificationRequest, options: ParseOptions = {}): NotificationOutcome {
  if (request.method.toUpperCase() === "OPTIONS") return answerWebhookValidation(request.headers);

  const eventGridType = readHeader(request.headers, "aeg-event-type");
  const eventGridHint: Hint | null = eventGridType === undefined ? null : { format: "eventgrid", shape: "any" };
  const hint = hintFromContentType(readHeader(request.headers, "content-type")) ?? eventGridHint;
  const outcome = parseBody(request.body, hint, { ...options, keepRejected: true });
  if (eventGridType === "SubscriptionValidation" && outcome.kind !== "handshake") {
    throw failure("eventgrid", [], `aeg-event-type is SubscriptionValidation but no ${SUBSCRIPTION_VALIDATION_EVENT_TYPE} is present`);
  }
  return outcome;
}

/**
 * Parses a notification read from a file (`ripple ingest FILE`) or handed over by the Event Grid trigger.
 * The format comes from `contentType` when it names one, otherwise from the shape of the body alone.
 * Without `options.keepRejected`, an event refused on its own is thrown like any other invalid input
 * (an operator feeding a file wants to hear about it).
 *
 * @throws ValidationError and AppError as {@link parseRegistryNotification} does.
 */
export function parseRegistryPayload(body: string, contentType?: string, options: ParseOptions & { keepRejected?: boolean } = {}): NotificationOutcome {
  return parseBody(body, hintFromContentType(contentType), { ...options, keepRejected: options.keepRejected === true });
}

function answerWebhookValidation(headers: NotificationRequest["headers"]): NotificationOutcome {
  const origin = readHeader(headers, "webhook-request-origin")?.trim();
  if (origin === undefined || origin === "") {
    throw validationFailure(WHAT.cloudevents, [
      { path: "headers.webhook-request-origin", message: "required for the CloudEvents webhook validation handshake" },
    ]);
  }
  return { kind: "handshake", status: 200, headers: { "WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*" }, body: null };
}

function parseBody(body: string, hint: Hint | null, options: ParseOptions & { keepRejected: boolean }): NotificationOutcome {
  const what = hint === null ? "unknown" : hint.format;
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > MAX_NOTIFICATION_BYTES) throw failure(what, [], `body is ${bytes} bytes, over the 1 MiB limit`);
  if (body.trim() === "") throw failure(what, [], "body is empty");
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw failure(what, [], "body is not valid JSON");
  }

  const format = hint?.format ?? detectFormat(json);
  if (hint?.shape === "single" && Array.isArray(json)) throw failure(format, [], "expected a JSON object, not an array");
  if (hint?.shape === "batch" && !Array.isArray(json)) throw failure(format, [], "expected a JSON array of events");
  assertEventCount(json);
  const parsed = parseFormat(format, json, options.keepRejected);
  const outcome = parsed.kind === "events" ? settleEvents(parsed, options.now) : parsed;
  const first = outcome.kind === "events" ? outcome.rejected[0] : undefined;
  if (first !== undefined && !options.keepRejected) throw validationFailure(WHAT[format], [{ path: first.path, message: first.reason }]);
  return outcome;
}

function parseFormat(format: NotificationFormat, json: unknown, keepRejected: boolean): Parsed {
  switch (format) {
    case "eventgrid":
      return parseEventGrid(json);
    case "cloudevents":
      return parseCloudEvents(json);
    case "acr-webhook":
      return parseAcrWebhook(json);
    case "distribution":
      return parseDistribution(json, keepRejected);
  }
}

/** Refuses a request of more events than {@link MAX_EVENTS_PER_REQUEST} before any is read. */
function assertEventCount(json: unknown): void {
  const list = Array.isArray(json) ? json : isRecord(json) && Array.isArray(json.events) ? json.events : [];
  if (list.length <= MAX_EVENTS_PER_REQUEST) return;
  throw new AppError(TOO_MANY_EVENTS, `${list.length} events in one request, over the limit of ${MAX_EVENTS_PER_REQUEST}`, {
    details: { count: list.length, limit: MAX_EVENTS_PER_REQUEST },
  });
}

/** The events to record; with `now`, each one dated too far ahead of it is moved to `rejected` instead. */
function settleEvents(parsed: ParsedEvents, now: Date | undefined): NotificationOutcome {
  const events: RegistryEvent[] = [];
  const rejected = [...parsed.rejected];
  for (const { event, timePath } of parsed.located) {
    const problem = now === undefined ? null : describeFutureTime(event.occurredAt, now);
    if (problem === null) events.push(event);
    else rejected.push({ key: dedupeKey(event), event, path: formatIssuePath(timePath), reason: problem });
  }
  return { kind: "events", events, ignored: parsed.ignored, rejected };
}

function detectFormat(json: unknown): NotificationFormat {
  if (Array.isArray(json)) {
    // Only Event Grid and CloudEvents send arrays; per-event validation reports anything else.
    const first: unknown = json[0];
    return isRecord(first) && "specversion" in first ? "cloudevents" : "eventgrid";
  }
  if (!isRecord(json)) throw failure("unknown", [], "expected a JSON object or array");
  if ("events" in json) return "distribution";
  if ("eventType" in json) return "eventgrid";
  if ("specversion" in json) return "cloudevents";
  if ("action" in json) return "acr-webhook";
  throw failure("unknown", [], "unrecognized notification: expected an Event Grid event, a CloudEvent, an ACR webhook payload or a Distribution envelope");
}

/** The events of a body that may be one object or an array, each with its path. */
function listEvents(json: unknown, format: NotificationFormat): { value: unknown; at: Path }[] {
  if (!Array.isArray(json)) return [{ value: json, at: [] }];
  if (json.length === 0) throw failure(format, [], "expected at least one event");
  return json.map((value: unknown, index) => ({ value, at: [index] }));
}

/** An event as parsed, with the path of the time that orders it (for a rejection's path). */
interface LocatedEvent {
  event: RegistryEvent;
  timePath: Path;
}

type ParsedEvents = { kind: "events"; located: LocatedEvent[]; ignored: IgnoredNotification[]; rejected: RejectedNotification[] };
type Parsed = Extract<NotificationOutcome, { kind: "handshake" }> | ParsedEvents;

function parseEventGrid(json: unknown): Parsed {
  const what = WHAT.eventgrid;
  const parsed: ParsedEvents = { kind: "events", located: [], ignored: [], rejected: [] };
  const list = listEvents(json, "eventgrid");
  for (const { value, at } of list) {
    const header = parseWith(EventGridEventHeader, value, what, { at });
    if (header.eventType === SUBSCRIPTION_VALIDATION_EVENT_TYPE) {
      // Event Grid sends the validation alone; answering it would drop every other event of the batch.
      if (list.length > 1) throw failure("eventgrid", [...at, "eventType"], `a subscription validation event must be the only event of its delivery (this one has ${list.length})`);
      const validation = parseWith(EventGridValidationEvent, value, what, { at });
      return { kind: "handshake", status: 200, headers: {}, body: { validationResponse: validation.data.validationCode } };
    }
    const action = imageActionOf(header.eventType);
    if (action === null) {
      parsed.ignored.push({ id: header.id, type: header.eventType, reason: reasonToIgnoreType(header.eventType) });
      continue;
    }
    const event = parseWith(EventGridImageEvent, value, what, { at });
    checkDataAction("eventgrid", [...at, "data", "action"], event.data.action, header.eventType, action);
    parsed.located.push({
      timePath: isMissing(event.data.timestamp) ? [...at, "eventTime"] : [...at, "data", "timestamp"],
      event: buildEvent("eventgrid", [...at, "data", "target"], {
        id: header.id,
        action,
        host: event.data.request.host,
        target: event.data.target,
        occurredAt: event.data.timestamp ?? event.eventTime,
      }),
    });
  }
  return parsed;
}

function parseCloudEvents(json: unknown): Parsed {
  const what = WHAT.cloudevents;
  const parsed: ParsedEvents = { kind: "events", located: [], ignored: [], rejected: [] };
  for (const { value, at } of listEvents(json, "cloudevents")) {
    const header = parseWith(CloudEventHeader, value, what, { at });
    const action = imageActionOf(header.type);
    if (action === null) {
      parsed.ignored.push({ id: header.id, type: header.type, reason: reasonToIgnoreType(header.type) });
      continue;
    }
    const event = parseWith(CloudImageEvent, value, what, { at });
    checkDataAction("cloudevents", [...at, "data", "action"], event.data.action, header.type, action);
    const occurredAt = event.data.timestamp ?? event.time;
    if (isMissing(occurredAt)) throw failure("cloudevents", [...at, "time"], "required (neither time nor data.timestamp is set)");
    parsed.located.push({
      timePath: isMissing(event.data.timestamp) ? [...at, "time"] : [...at, "data", "timestamp"],
      event: buildEvent("cloudevents", [...at, "data", "target"], { id: header.id, action, host: event.data.request.host, target: event.data.target, occurredAt }),
    });
  }
  return parsed;
}

function parseAcrWebhook(json: unknown): Parsed {
  const what = WHAT["acr-webhook"];
  const header = parseWith(AcrWebhookHeader, json, what);
  if (header.action !== "push" && header.action !== "delete") {
    const reason = header.action.startsWith("chart_") ? CHART_REASON : `action ${JSON.stringify(header.action)} is not handled`;
    return { kind: "events", located: [], ignored: [{ id: header.id, type: header.action, reason }], rejected: [] };
  }
  const payload = parseWith(AcrWebhookImageEvent, json, what);
  const event = buildEvent("acr-webhook", ["target"], {
    id: header.id,
    action: header.action,
    host: payload.request.host,
    target: payload.target,
    occurredAt: payload.timestamp,
  });
  return { kind: "events", located: [{ event, timePath: ["timestamp"] }], ignored: [], rejected: [] };
}

/**
 * A Distribution envelope's events are taken one by one: the registry never resends an envelope that
 * was answered, so an invalid event is rejected on its own and the valid ones around it are kept.
 */
function parseDistribution(json: unknown, keepRejected: boolean): Parsed {
  const envelope = parseWith(DistributionEnvelope, json, WHAT.distribution);
  const parsed: ParsedEvents = { kind: "events", located: [], ignored: [], rejected: [] };
  envelope.events.forEach((value, index) => {
    const at: Path = ["events", index];
    try {
      const result = parseDistributionEvent(value, at);
      if ("reason" in result) parsed.ignored.push(result);
      else parsed.located.push(result);
    } catch (error) {
      if (!(error instanceof ValidationError) || !keepRejected) throw error;
      parsed.rejected.push(rejectionOf(value, error));
    }
  });
  return parsed;
}

function parseDistributionEvent(value: unknown, at: Path): LocatedEvent | IgnoredNotification {
  const what = WHAT.distribution;
  const header = parseWith(DistributionEventHeader, value, what, { at });
  const reason = reasonToIgnoreDistributionEvent(header);
  if (reason !== null) return { id: header.id, type: header.action, reason };
  const event = parseWith(DistributionImageEvent, value, what, { at });
  if (isMissing(event.target.digest) && isMissing(event.target.tag)) {
    // Distribution reports a repository deletion as a delete naming neither digest nor tag.
    return { id: header.id, type: header.action, reason: "repository deletions are not tracked" };
  }
  const host = event.request?.host ?? hostOfUrl(event.target.url, [...at, "target", "url"]);
  if (host === null) throw failure("distribution", [...at, "request", "host"], "required (and there is no target.url to take the host from)");
  return {
    timePath: [...at, "timestamp"],
    event: buildEvent("distribution", [...at, "target"], {
      id: header.id,
      action: header.action === "push" ? "push" : "delete",
      host,
      target: event.target,
      occurredAt: event.timestamp,
    }),
  };
}

/**
 * An invalid event refused on its own, keyed by a hash of its JSON so a redelivery is a duplicate. An event
 * too deeply nested to serialize (JSON.parse takes more depth than JSON.stringify) is keyed by its path.
 */
function rejectionOf(value: unknown, error: ValidationError): RejectedNotification {
  const first = error.issues[0] ?? { path: ROOT_PATH, message: error.message };
  let text: string;
  try {
    text = JSON.stringify(value) ?? "undefined";
  } catch {
    text = `unserializable event at ${first.path}`;
  }
  const fingerprint = createHash("sha256").update(text).digest("hex");
  return { key: `rejected|${fingerprint}`, event: null, path: first.path, reason: first.message };
}

/** Refuses a `data.action` that is not the action the event type names (an `ImagePushed` saying `delete`). */
function checkDataAction(format: NotificationFormat, path: Path, stated: string | null | undefined, eventType: string, action: RegistryAction): void {
  if (isMissing(stated) || stated === action) return;
  throw failure(format, path, `${JSON.stringify(stated)} contradicts the event type ${eventType} (expected ${JSON.stringify(action)})`);
}

function imageActionOf(eventType: string): RegistryAction | null {
  if (eventType === ACR_EVENT_TYPES.imagePushed) return "push";
  if (eventType === ACR_EVENT_TYPES.imageDeleted) return "delete";
  return null;
}

function reasonToIgnoreType(eventType: string): string {
  if (eventType === ACR_EVENT_TYPES.chartPushed || eventType === ACR_EVENT_TYPES.chartDeleted) return CHART_REASON;
  return "event type is not handled";
}

function reasonToIgnoreDistributionEvent(header: DistributionEventHeader): string | null {
  if (header.action === "pull" || header.action === "mount") return `${header.action} events do not change what a tag points at`;
  if (isBlobTarget(header.target)) return "blob events are not tracked (only manifests and tags)";
  return null;
}

function isBlobTarget(target: DistributionEventHeader["target"]): boolean {
  const path = pathOfUrl(target.url);
  if (path?.includes("/blobs/")) return true;
  if (path?.includes("/manifests/")) return false;
  // A delete names only the repository and the digest or tag: treat it as a manifest or tag deletion.
  if (isMissing(target.mediaType)) return false;
  return !MANIFEST_MEDIA_TYPES.has(baseMediaType(target.mediaType));
}

function baseMediaType(mediaType: string): string {
  return (mediaType.split(";")[0] ?? "").trim().toLowerCase();
}

function pathOfUrl(url: string | null | undefined): string | null {
  if (isMissing(url)) return null;
  try {
    return new URL(url).pathname;
  } catch {
    return null;
  }
}

function hostOfUrl(url: string | null | undefined, at: Path): string | null {
  if (isMissing(url)) return null;
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    throw failure("distribution", at, "not a valid URL");
  }
  return parseWith(RegistryHost, host, WHAT.distribution, { at });
}

interface EventFields {
  id: string;
  action: RegistryAction;
  host: string;
  target: { repository: string; digest?: string | null; tag?: string | null; mediaType?: string | null };
  occurredAt: string;
}

/** Applies the rules every format shares: a push names a digest, a delete names a digest or a tag. */
function buildEvent(source: NotificationFormat, targetPath: Path, fields: EventFields): RegistryEvent {
  const digest = fields.target.digest ?? null;
  const tag = fields.target.tag ?? null;
  if (digest === null && fields.action === "push") throw failure(source, [...targetPath, "digest"], "required for a push");
  if (digest === null && tag === null) throw failure(source, [...targetPath, "digest"], "required (a delete names a digest or a tag)");
  return {
    id: fields.id,
    source,
    action: fields.action,
    registry: normalizeRegistryHost(fields.host),
    repository: fields.target.repository,
    tag,
    digest,
    mediaType: fields.target.mediaType ?? null,
    occurredAt: fields.occurredAt,
  };
}

function failure(format: NotificationFormat | "unknown", path: Path, message: string): ValidationError {
  return validationFailure(WHAT[format], [{ path: formatIssuePath(path), message }]);
}

function hintFromContentType(contentType: string | undefined): Hint | null {
  if (contentType === undefined) return null;
  return CONTENT_TYPE_HINTS[baseMediaType(contentType)] ?? null;
}

function readHeader(headers: NotificationRequest["headers"], name: string): string | undefined {
  const exact = headers[name];
  if (exact !== undefined) return exact;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

function isMissing(value: string | null | undefined): value is null | undefined {
  return value === null || value === undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
