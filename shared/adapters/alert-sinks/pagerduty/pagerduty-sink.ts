/**
 * PagerDuty through the Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`): one PagerDuty alert
 * per Ripple alert, keyed by `dedup_key`.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { formatDuration } from "../../../domain/sla.js";
import { ConfigError } from "../../../errors.js";
import type { AlertItem, AlertMessage, AlertSink } from "../../../ports/alert-sink.js";
import { checkSinkUrl, sendToSink } from "../sink-http.js";

export const PAGERDUTY_EVENTS_ENDPOINT = "https://events.pagerduty.com/v2/enqueue";
/** Documented limits of an alert event. */
export const MAX_SUMMARY_LENGTH = 1024;
export const MAX_DEDUP_KEY_LENGTH = 255;
/** Items listed in `custom_details` (the rest are counted): keeps an event far below PagerDuty's 512 KB. */
export const MAX_DETAILED_ITEMS = 50;
/** Links attached to the alert: campaign page, runbook, then item links up to this many in all. */
export const MAX_LINKS = 20;

export interface PagerDutySinkOptions {
  /** The sink's id in the configuration. */
  readonly id: string;
  /** The 32-character integration key of an Events API v2 integration (a service or a ruleset). */
  readonly routingKey: string;
  /** Default {@link PAGERDUTY_EVENTS_ENDPOINT}; https, or http to loopback (the local receiver). */
  readonly endpoint?: string;
  readonly fetch?: typeof fetch;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
}

/** The `payload` of a trigger event (PagerDuty Common Event Format). */
export interface PagerDutyPayload {
  readonly summary: string;
  readonly source: string;
  readonly severity: "critical" | "error" | "warning" | "info";
  readonly timestamp: string;
  readonly component: string;
  readonly group: string;
  readonly class: string;
  readonly custom_details: Readonly<Record<string, unknown>>;
}

/** An Events API v2 alert event as this sink sends it (`payload`, `links`, `client*` on triggers only). */
export interface PagerDutyEvent {
  readonly routing_key: string;
  readonly event_action: "trigger" | "acknowledge" | "resolve";
  readonly dedup_key: string;
  readonly payload?: PagerDutyPayload;
  readonly links?: ReadonlyArray<{ readonly href: string; readonly text: string }>;
  readonly client?: string;
  readonly client_url?: string;
}

/** The 202 answer; lenient, only the field we use. */
const EnqueueAnswer = z.object({ dedup_key: z.string().min(1).optional() });

/**
 * An {@link AlertSink} that opens, updates and resolves one PagerDuty alert per Ripple alert:
 * - `trigger`, `update`, `renotify` and `escalate` send `event_action: "trigger"` with the alert's
 *   `dedup_key`: PagerDuty opens an alert for the first one and adds a trigger log entry to the open alert
 *   for the others. A renotify therefore does not page again by itself — reminders rely on PagerDuty's own
 *   incident notifications (the escalation policy and its repeat rules). An escalate sent to a sink with
 *   another routing key opens the alert on that service.
 * - `resolve` sends `event_action: "resolve"` with the same `dedup_key` (no payload); PagerDuty drops it
 *   when no alert is open. A later trigger with that key opens a new alert.
 *
 * The trigger payload: `summary` (cut to 1024 characters), `source` the base tag, `severity` `warning` or
 * `critical`, `timestamp` when the monitor built the message, `component` `ripple`, `group` the campaign
 * id, `class` `patch-sla`, `custom_details` the campaign and its items (dependent, kind, status, step,
 * late by, due); links to the campaign page, the runbook and the items' links.
 *
 * `deliver` returns the `dedup_key` PagerDuty answered; `previous` is not needed (the key is derived from
 * the message's `dedupeKey`, shortened with a hash when it exceeds 255 characters). Idempotent: a
 * redelivered trigger adds a log entry to the same alert, a redelivered resolve is dropped.
 * @throws ConfigError at construction when the endpoint is not https (http to loopback only) or the
 *   routing key is not 32 characters; the message never contains either.
 * @throws UpstreamError from `deliver` as {@link AlertSink.deliver}: 400 (invalid event) permanent; 429, 5xx
 *   and network failures retryable, with `details.retryAfterMs` from `Retry-After`.
 */
export function createPagerDutySink(options: PagerDutySinkOptions): AlertSink {
  const setting = `pagerduty sink ${options.id}`;
  const endpoint = checkSinkUrl(options.endpoint ?? PAGERDUTY_EVENTS_ENDPOINT, `${setting}: endpoint`).toString();
  if (options.routingKey.length !== 32) throw new ConfigError(`${setting}: routing key must be the 32-character integration key`);
  const { routingKey } = options;
  return {
    id: options.id,
    kind: "pagerduty",
    async deliver(message) {
      const event = toPagerDutyEvent(message, routingKey);
      const response = await sendToSink({ service: setting, url: endpoint, body: event, fetch: options.fetch, timeoutMs: options.timeoutMs });
      return answeredDedupKey(response.text) ?? event.dedup_key;
    },
  };
}

/** The Events API v2 event for one delivery of `message`. Pure. */
export function toPagerDutyEvent(message: AlertMessage, routingKey: string): PagerDutyEvent {
  const dedupKey = pagerDutyDedupKey(message.dedupeKey);
  if (message.action === "resolve") return { routing_key: routingKey, event_action: "resolve", dedup_key: dedupKey };
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key: dedupKey,
    payload: {
      summary: truncate(message.summary, MAX_SUMMARY_LENGTH),
      source: message.base,
      severity: message.severity,
      timestamp: message.at,
      component: "ripple",
      group: message.campaignId,
      class: "patch-sla",
      custom_details: customDetails(message),
    },
    links: links(message),
    client: "Ripple",
    client_url: message.campaignUrl,
  };
}

/** `dedupeKey` itself when PagerDuty takes it (≤ 255 characters), else a stable shortening ending in a hash. */
export function pagerDutyDedupKey(dedupeKey: string): string {
  if (dedupeKey.length <= MAX_DEDUP_KEY_LENGTH) return dedupeKey;
  const hash = createHash("sha256").update(dedupeKey).digest("hex").slice(0, 16);
  return `${dedupeKey.slice(0, MAX_DEDUP_KEY_LENGTH - hash.length - 1)}-${hash}`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function customDetails(message: AlertMessage): Record<string, unknown> {
  const listed = message.items.slice(0, MAX_DETAILED_ITEMS);
  return {
    campaign: message.campaignId,
    base: message.base,
    from_digest: message.fromDigest,
    to_digest: message.toDigest,
    late: `${message.late} of ${message.total}`,
    action: message.action,
    sequence: message.sequence,
    items: listed.map(itemDetails),
    ...(message.items.length > listed.length ? { items_not_listed: message.items.length - listed.length } : {}),
  };
}

function itemDetails(item: AlertItem): Record<string, string> {
  return {
    dependent: item.dependent,
    kind: item.kind,
    status: item.status,
    step: item.step,
    late_by: item.lateByMs >= 0 ? formatDuration(item.lateByMs) : `due in ${formatDuration(-item.lateByMs)}`,
    due: item.dueAt,
  };
}

function links(message: AlertMessage): Array<{ href: string; text: string }> {
  const all = [
    { href: message.campaignUrl, text: "Campaign" },
    { href: message.runbookUrl, text: "Runbook" },
    ...message.items.flatMap((item) => item.links.map((link) => ({ href: link.url, text: `${item.dependent}: ${link.label}` }))),
  ];
  return all.slice(0, MAX_LINKS);
}

function answeredDedupKey(text: string): string | null {
  try {
    const parsed = EnqueueAnswer.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data.dedup_key ?? null) : null;
  } catch {
    return null;
  }
}
