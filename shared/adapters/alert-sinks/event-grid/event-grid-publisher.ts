import { AzureKeyCredential, EventGridPublisherClient, type EventGridPublisherClientOptions, type SendCloudEventInput } from "@azure/eventgrid";
import type { TokenCredential } from "@azure/identity";
import { AppError, ConfigError, UpstreamError } from "../../../errors.js";
import type { AlertMessage, AlertSink, RippleEvent, RippleEventPublisher } from "../../../ports/alert-sink.js";
import { toUpstreamError } from "../../azure-errors.js";
import { parseRetryAfter } from "../../oci/registry-content-client.js";
import { checkSinkUrl } from "../sink-http.js";

/** The service name Event Grid failures carry. */
export const EVENT_GRID_SERVICE = "event-grid";
/** Events per publish request: the port's batch limit. */
export const MAX_EVENTS_PER_REQUEST = 100;
/** Event Grid refuses a request body over 1 MB (413); batches stay under it, with room for the array's commas. */
const MAX_BATCH_BYTES = 1_000_000;

export interface EventGridPublisherOptions extends EventGridPublisherClientOptions {
  /** The topic endpoint as the portal shows it: `https://<topic>.<region>-1.eventgrid.azure.net/api/events`. */
  readonly endpoint: string;
  /**
   * The app's managed identity (preferred: the SDK asks for `https://eventgrid.azure.net/.default` and sends
   * `Authorization: Bearer`, https only), or the topic's access key (`aeg-sas-key`) read from a setting.
   */
  readonly credential: TokenCredential | AzureKeyCredential;
  /** The CloudEvents `source` of every event (default `/ripple`). */
  readonly source?: string;
}

/**
 * A {@link RippleEventPublisher} on an Event Grid topic whose input schema is CloudEvents 1.0, through
 * `@azure/eventgrid`'s `EventGridPublisherClient` (`POST <endpoint>?api-version=2018-01-01`,
 * `application/cloudevents-batch+json`). Client options (a TLS `agent` with a private CA, `retryOptions`)
 * pass through to the SDK pipeline, whose retry policy retries network failures, 408, 429 and 5xx first.
 *
 * `publish` sends the events in order, at most {@link MAX_EVENTS_PER_REQUEST} and under 1 MB per request;
 * each event keeps its id, so a redelivered batch is recognisable downstream (Event Grid itself does not
 * deduplicate). Not atomic across requests: a failure after the first request leaves earlier ones sent.
 *
 * @throws ConfigError when the endpoint is not an https URL (http only to loopback, and never with a token).
 * @throws UpstreamError from `publish` (`event-grid`): retryable for network failures, token-service
 *   hiccups, 408, 429 and 5xx (with `details.retryAfterMs` from `Retry-After`); permanent for other 4xx
 *   (a bad key: 401; an event too large: 413), naming the status and Event Grid's error code, never the key.
 */
export function createEventGridPublisher(options: EventGridPublisherOptions): RippleEventPublisher {
  const { endpoint, credential, source = "/ripple", ...clientOptions } = options;
  const url = checkSinkUrl(endpoint, "event grid endpoint");
  if (url.protocol !== "https:" && !(credential instanceof AzureKeyCredential)) throw new ConfigError("event grid endpoint: a token is only sent over https", [{ path: "endpoint", message: "must be https with a token credential" }]);
  const client = new EventGridPublisherClient(url.href, "CloudEvent", credential, clientOptions);

  return {
    async publish(events) {
      const batches = batchesOf(events.map((event) => toCloudEvent(event, source)));
      for (const [index, batch] of batches.entries()) {
        const action = `publishing ${batch.length} event${batch.length === 1 ? "" : "s"} (request ${index + 1} of ${batches.length})`;
        try {
          await client.send(batch);
        } catch (error) {
          throw toEventGridError(error, action);
        }
      }
    },
  };
}

export interface EventGridSinkOptions {
  /** The sink's id in the configuration. */
  readonly id: string;
  readonly publisher: RippleEventPublisher;
}

/**
 * An {@link AlertSink} that publishes each delivery as one Ripple event: `Ripple.Sla.Resolved` for
 * `resolve`, `Ripple.Sla.Breached` for a critical alert, `Ripple.Sla.AtRisk` for a warning one (trigger,
 * update, renotify, escalate). The id is `<dedupeKey>:<sequence>`, the same for a redelivery of the same
 * delivery, so subscribers can drop duplicates and, by the sequence in the data, out-of-order ones. The
 * subject is `campaigns/<campaignId>`; the data is the alert message. Keeps no reference: returns null.
 * @throws UpstreamError as the publisher, named after this sink (`event-grid sink <id>`).
 */
export function createEventGridSink(options: EventGridSinkOptions): AlertSink {
  const { id, publisher } = options;
  return {
    id,
    kind: "event-grid",
    async deliver(message) {
      try {
        await publisher.publish([toRippleEvent(message)]);
      } catch (error) {
        throw renamed(error, `event-grid sink ${id}`);
      }
      return null;
    },
  };
}

/** The Ripple event of one alert delivery (see {@link createEventGridSink}). */
export function toRippleEvent(message: AlertMessage): RippleEvent {
  const type = message.action === "resolve" ? "Ripple.Sla.Resolved" : message.severity === "critical" ? "Ripple.Sla.Breached" : "Ripple.Sla.AtRisk";
  const { dedupeKey, action, severity, summary, campaignId, base, fromDigest, toDigest, total, late, items, campaignUrl, runbookUrl, sequence } = message;
  return {
    id: `${dedupeKey}:${sequence}`,
    type,
    subject: `campaigns/${campaignId}`,
    time: message.at,
    data: { dedupeKey, sequence, action, severity, summary, campaignId, base, fromDigest, toDigest, total, late, items, campaignUrl, runbookUrl },
  };
}

function toCloudEvent(event: RippleEvent, source: string): SendCloudEventInput<unknown> {
  return { id: event.id, type: event.type, source, subject: event.subject, time: new Date(event.time), datacontenttype: "application/json", data: event.data };
}

/** The events in order, split into requests of at most 100 events and under 1 MB each (a lone larger event goes alone: Event Grid answers 413). */
function batchesOf<T>(events: readonly T[]): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 2;
  for (const event of events) {
    const size = Buffer.byteLength(JSON.stringify(event)) + 1;
    if (current.length > 0 && (current.length === MAX_EVENTS_PER_REQUEST || bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 2;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** An SDK failure as the port's UpstreamError ({@link toUpstreamError}), with `Retry-After` as `details.retryAfterMs`. */
function toEventGridError(error: unknown, action: string): AppError {
  const mapped = toUpstreamError(error, { service: EVENT_GRID_SERVICE, action });
  const retryAfter = (error as { response?: { headers?: { get?(name: string): string | undefined } } } | null)?.response?.headers?.get?.("retry-after");
  const retryAfterMs = parseRetryAfter(retryAfter ?? null);
  if (mapped.retryable && retryAfterMs !== null) Object.assign(mapped.details, { retryAfterMs });
  return mapped;
}

/** The same failure under the sink's name (`event-grid sink <id>: …`), keeping status, retryability and the wait. */
function renamed(error: unknown, service: string): unknown {
  if (!(error instanceof UpstreamError)) return error;
  const text = error.message.startsWith(`${error.service}: `) ? error.message.slice(error.service.length + 2) : error.message;
  const copy = new UpstreamError(service, text, { status: error.status, retryable: error.retryable });
  const { retryAfterMs } = error.details;
  if (retryAfterMs !== undefined) Object.assign(copy.details, { retryAfterMs });
  return copy;
}
