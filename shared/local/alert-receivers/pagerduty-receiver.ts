import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { answerFailure, closeServer, isObject, listenOnLoopback, parseJsonBody, readBody } from "./receiver-http.js";

/** PagerDuty's documented size limit of an Events API v2 request. */
export const MAX_EVENT_BYTES = 512 * 1024;
const SEVERITIES = ["critical", "error", "warning", "info"];
const ACTIONS = ["trigger", "acknowledge", "resolve"];

/** One alert as PagerDuty keeps it: opened by a trigger, resolved by a resolve with the same key. */
export interface PagerDutyIncident {
  readonly routingKey: string;
  readonly dedupKey: string;
  status: "triggered" | "acknowledged" | "resolved";
  /** Trigger events applied to it: the one that opened it and each later one (a log entry in PagerDuty). */
  triggers: number;
  /** The `payload`, `links`, `client` and `client_url` of the latest trigger. */
  payload: unknown;
  links: unknown;
  client: unknown;
  clientUrl: unknown;
}

/** One request the server saw, with the status it answered (null: held unanswered). */
export interface PagerDutyRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | null;
  readonly bytes: number;
  readonly body: unknown;
  status: number | null;
}

/**
 * A local PagerDuty Events API v2 at `POST /v2/enqueue` (127.0.0.1, a free port) — the local stack's
 * PagerDuty and the contract tests' — that checks requests as the documentation describes
 * (developer.pagerduty.com, "Send an Alert Event" and "Events API v2 Overview") and keeps alerts by
 * `dedup_key`:
 * - `routing_key` 32 characters; `event_action` `trigger`, `acknowledge` or `resolve`; `dedup_key` at most
 *   255 characters, required for acknowledge and resolve (a trigger without one gets a UUID);
 * - a trigger needs `payload.summary` (≤ 1024 characters), `payload.source` and `payload.severity`
 *   (`critical`, `error`, `warning`, `info`); `payload.timestamp` when present is an ISO 8601 time,
 *   `custom_details` an object, `links[].href` required; the whole request at most 512 KB;
 * - a bad event gets `400 {status: "invalid event", message: "Event object is invalid", errors: [...]}`
 *   (the error wording is this server's); a good one `202 {status: "success", message: "Event processed",
 *   dedup_key}`;
 * - a trigger opens an alert or adds to the open one with its key (same routing key); a resolve or
 *   acknowledge with no open alert is dropped (still 202); a trigger after a resolve opens a new alert.
 * Faults are queued: {@link PagerDutyReceiver.fail} (429 / 5xx, `Retry-After`) and
 * {@link PagerDutyReceiver.hang} (accepts the request and never answers).
 */
export interface PagerDutyReceiver {
  /** `http://127.0.0.1:<port>/v2/enqueue`, the sink's endpoint. */
  readonly url: string;
  readonly requests: PagerDutyRequest[];
  /** Every alert, in the order they were opened. */
  readonly incidents: PagerDutyIncident[];
  /** The latest alert with `dedupKey`. */
  incident(dedupKey: string): PagerDutyIncident | undefined;
  /** Answers the next `times` requests with `status` (and `Retry-After: <retryAfterSeconds>` when given). */
  fail(status: number, options?: { times?: number; retryAfterSeconds?: number }): void;
  /** Holds the next `times` requests without answering (until {@link stop}). */
  hang(times?: number): void;
  stop(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

type Fault = { kind: "status"; status: number; retryAfterSeconds: number | undefined } | { kind: "hang" };

export async function startPagerDutyReceiver(): Promise<PagerDutyReceiver> {
  const requests: PagerDutyRequest[] = [];
  const incidents: PagerDutyIncident[] = [];
  const faults: Fault[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => answerFailure(res, error));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const seen: PagerDutyRequest = { method: req.method ?? "", path: req.url ?? "", contentType: req.headers["content-type"] ?? null, bytes: raw.length, body: parseJsonBody(raw), status: null };
    requests.push(seen);
    const reply = route(seen, raw.length);
    if (reply === null) return;
    seen.status = reply.status;
    res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers }).end(JSON.stringify(reply.body));
  }

  /** The answer to one request, or null to hold it. */
  function route(seen: PagerDutyRequest, bytes: number): Reply | null {
    if (seen.path !== "/v2/enqueue") return { status: 404, body: { status: "error", message: "Not Found" } };
    if (seen.method !== "POST") return { status: 405, body: { status: "error", message: "Method Not Allowed" } };
    const fault = faults.shift();
    if (fault?.kind === "hang") return null;
    if (fault?.kind === "status") return faultReply(fault.status, fault.retryAfterSeconds);
    const errors = bytes > MAX_EVENT_BYTES ? ["Event is larger than 512 KB"] : seen.body === null ? ["Event is not valid JSON"] : validateEvent(seen.body);
    if (errors.length > 0) return { status: 400, body: { status: "invalid event", message: "Event object is invalid", errors } };
    return { status: 202, body: { status: "success", message: "Event processed", dedup_key: apply(incidents, seen.body as EventBody) } };
  }

  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/v2/enqueue`,
    requests,
    incidents,
    incident: (dedupKey) => incidents.filter((incident) => incident.dedupKey === dedupKey).at(-1),
    fail(status, options = {}) {
      for (let i = 0; i < (options.times ?? 1); i += 1) faults.push({ kind: "status", status, retryAfterSeconds: options.retryAfterSeconds });
    },
    hang(times = 1) {
      for (let i = 0; i < times; i += 1) faults.push({ kind: "hang" });
    },
    stop: () => closeServer(server),
  };
}

interface EventBody {
  readonly routing_key: string;
  readonly event_action: "trigger" | "acknowledge" | "resolve";
  readonly dedup_key?: string;
  readonly payload?: unknown;
  readonly links?: unknown;
  readonly client?: unknown;
  readonly client_url?: unknown;
}

/** Applies a valid event to the alerts and returns its `dedup_key` (generated for a trigger without one). */
function apply(incidents: PagerDutyIncident[], event: EventBody): string {
  const dedupKey = event.dedup_key ?? randomUUID();
  const open = incidents.find((incident) => incident.dedupKey === dedupKey && incident.routingKey === event.routing_key && incident.status !== "resolved");
  if (event.event_action === "trigger") {
    const latest = { payload: event.payload, links: event.links, client: event.client, clientUrl: event.client_url };
    if (open === undefined) incidents.push({ routingKey: event.routing_key, dedupKey, status: "triggered", triggers: 1, ...latest });
    else Object.assign(open, { triggers: open.triggers + 1 }, latest);
  } else if (open !== undefined) {
    open.status = event.event_action === "resolve" ? "resolved" : "acknowledged";
  }
  return dedupKey;
}

/** The reasons PagerDuty would refuse `body`, empty when it accepts it. */
export function validateEvent(body: unknown): string[] {
  if (!isObject(body)) return ["Event object is not a JSON object"];
  const errors: string[] = [];
  const { routing_key: routingKey, event_action: action, dedup_key: dedupKey } = body;
  if (typeof routingKey !== "string" || routingKey === "") errors.push("'routing_key' is missing or blank");
  else if (routingKey.length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  if (typeof action !== "string" || !ACTIONS.includes(action)) errors.push("'event_action' is invalid (must be one of: 'trigger', 'acknowledge', 'resolve')");
  if (dedupKey !== undefined && (typeof dedupKey !== "string" || dedupKey.length > 255)) errors.push("'dedup_key' must be a string of at most 255 characters");
  if (action !== "trigger" && action !== undefined && dedupKey === undefined) errors.push("'dedup_key' is required for acknowledge and resolve events");
  if (action === "trigger") errors.push(...validatePayload(body["payload"]), ...validateLinks(body["links"]));
  return errors;
}

function validatePayload(payload: unknown): string[] {
  if (!isObject(payload)) return ["'payload' is missing or not an object"];
  const errors: string[] = [];
  const { summary, source, severity, timestamp } = payload;
  if (typeof summary !== "string" || summary.trim() === "") errors.push("'payload.summary' is missing or blank");
  else if (summary.length > 1024) errors.push("'payload.summary' is longer than 1024 characters");
  if (typeof source !== "string" || source.trim() === "") errors.push("'payload.source' is missing or blank");
  if (typeof severity !== "string" || !SEVERITIES.includes(severity)) errors.push("'payload.severity' is invalid (must be one of: 'critical', 'error', 'warning', 'info')");
  if (timestamp !== undefined && (typeof timestamp !== "string" || Number.isNaN(Date.parse(timestamp)))) errors.push("'payload.timestamp' is not an ISO 8601 time");
  if (payload["custom_details"] !== undefined && !isObject(payload["custom_details"])) errors.push("'payload.custom_details' must be an object");
  return errors;
}

function validateLinks(links: unknown): string[] {
  if (links === undefined) return [];
  if (!Array.isArray(links)) return ["'links' must be an array"];
  return links.some((link) => !isObject(link) || typeof link["href"] !== "string" || link["href"] === "") ? ["'links[].href' is required"] : [];
}

function faultReply(status: number, retryAfterSeconds: number | undefined): Reply {
  const headers: Record<string, string> = retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) };
  const body = status === 429 ? { status: "throttle event", message: "Requests for this service are arriving too quickly. Please retry later." } : { status: "error", message: "Internal Server Error" };
  return { status, body, headers };
}
