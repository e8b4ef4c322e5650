/**
 * A generic webhook: each delivery is one CloudEvents 1.0 event in structured JSON mode, signed as the
 * Standard Webhooks spec says, so any receiver can route it by `type` and check where it came from.
 */
import { createHash } from "node:crypto";
import type { AlertAction, AlertMessage, AlertSink } from "../../../ports/alert-sink.js";
import { checkSinkUrl, sendToSink } from "../sink-http.js";
import { parseWebhookSecret, signWebhook } from "./webhook-signature.js";

export { verifyWebhookSignature, type ReceivedWebhook, type WebhookVerification } from "./webhook-signature.js";

/** The structured-mode media type of the CloudEvents JSON format. */
export const CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8";
/** Reverse-DNS event types, one per action: `com.ripple.alert.trigger`, `….update`, `….renotify`, `….escalate`, `….resolve`. */
export const ALERT_EVENT_TYPE_PREFIX = "com.ripple.alert.";
export const DEFAULT_SOURCE = "/ripple";

export interface WebhookSinkOptions {
  /** The sink's id in the configuration. */
  readonly id: string;
  /** https, or http to loopback (the local receiver). */
  readonly url: string;
  /** The Standard Webhooks signing secret, `whsec_<base64>` (at least 24 bytes). */
  readonly secret: string;
  /** The CloudEvents `source` prefix, a URI reference (default `/ripple`); `/campaigns/<id>` is appended. */
  readonly source?: string;
  readonly fetch?: typeof fetch;
  /** The attempt's clock, for `webhook-timestamp` (default the system clock). */
  readonly now?: () => Date;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
}

/** One alert delivery as a CloudEvents 1.0 event; `data` is the {@link AlertMessage} as is. */
export interface AlertCloudEvent {
  readonly specversion: "1.0";
  readonly id: string;
  readonly source: string;
  readonly type: `${typeof ALERT_EVENT_TYPE_PREFIX}${AlertAction}`;
  readonly subject: string;
  readonly time: string;
  readonly datacontenttype: "application/json";
  readonly data: AlertMessage;
}

/**
 * An {@link AlertSink} that POSTs each delivery to `url` as a CloudEvents 1.0 event in structured mode
 * (`content-type: application/cloudevents+json; charset=utf-8`, the JSON event format):
 * - `id`: `msg_` + 32 hex digits of SHA-256 over the message's `dedupeKey` and `sequence` — unique per
 *   delivery, the same for a redelivery of the same message (receivers deduplicate on it);
 * - `source`: `<source>/campaigns/<campaignId>`; `subject`: the campaign id;
 * - `type`: `com.ripple.alert.<action>` (`trigger`, `update`, `renotify`, `escalate`, `resolve`);
 * - `time`: when the monitor built the message; `datacontenttype`: `application/json`; `data`: the message
 *   (its `sequence` lets a receiver drop an out-of-order delivery).
 *
 * Signature (Standard Webhooks 1.0, symmetric): headers `webhook-id` (the event id, no `.`),
 * `webhook-timestamp` (this attempt, Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "<webhook-id>.<webhook-timestamp>.<raw body>">`, keyed with the base64-decoded part of the `whsec_`
 * secret. A receiver verifies with {@link verifyWebhookSignature} or any Standard Webhooks library, over
 * the raw body, and refuses timestamps more than 5 min from its clock.
 *
 * `deliver` keeps no reference (returns null) and ignores `previous`. Idempotent per (dedupeKey, sequence)
 * for receivers that deduplicate on the event id.
 * @throws ConfigError at construction for a non-https URL (http to loopback only) or a malformed secret;
 *   the message names neither.
 * @throws UpstreamError from `deliver` as {@link AlertSink.deliver} (401 for a refused signature is permanent).
 */
export function createWebhookSink(options: WebhookSinkOptions): AlertSink {
  const setting = `webhook sink ${options.id}`;
  const url = checkSinkUrl(options.url, `${setting}: url`).toString();
  const key = parseWebhookSecret(options.secret, `${setting}: secret`);
  const source = options.source ?? DEFAULT_SOURCE;
  const now = options.now ?? (() => new Date());
  return {
    id: options.id,
    kind: "webhook",
    async deliver(message) {
      const event = toAlertCloudEvent(message, source);
      const body = JSON.stringify(event);
      const signature = signWebhook(key, event.id, now().getTime() / 1000, body);
      await sendToSink({
        service: setting,
        url,
        headers: { "content-type": CLOUDEVENTS_CONTENT_TYPE, ...signature },
        body,
        fetch: options.fetch,
        timeoutMs: options.timeoutMs,
      });
      return null;
    },
  };
}

/** The CloudEvent of one delivery of `message`. Pure: the same message gives the same event. */
export function toAlertCloudEvent(message: AlertMessage, source: string = DEFAULT_SOURCE): AlertCloudEvent {
  return {
    specversion: "1.0",
    id: alertEventId(message),
    source: `${source.replace(/\/+$/, "")}/campaigns/${encodeURIComponent(message.campaignId)}`,
    type: `${ALERT_EVENT_TYPE_PREFIX}${message.action}`,
    subject: message.campaignId,
    time: message.at,
    datacontenttype: "application/json",
    data: message,
  };
}

/** `msg_` + 32 hex digits derived from (dedupeKey, sequence): no `.`, as Standard Webhooks ids require. */
export function alertEventId(message: Pick<AlertMessage, "dedupeKey" | "sequence">): string {
  return `msg_${createHash("sha256").update(`${message.dedupeKey}\n${message.sequence}`).digest("hex").slice(0, 32)}`;
}
