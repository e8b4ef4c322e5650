import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { verifyWebhookSignature } from "../../adapters/alert-sinks/webhook/webhook-signature.js";
import { answerFailure, closeServer, listenOnLoopback, parseJsonBody, readBody } from "./receiver-http.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
const CONTEXT_ATTRIBUTES = new Set(["specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time", "data", "data_base64"]);

/** One request the receiver saw and how it answered (null: held unanswered). */
export interface WebhookRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  readonly body: string;
  status: number | null;
  /** Why it was refused (`no-matching-signature`, `stale-timestamp`, a CloudEvents attribute, …). */
  reasons: string[];
}

/** One accepted CloudEvent. */
export interface WebhookDelivery {
  readonly webhookId: string;
  readonly event: Readonly<Record<string, unknown>>;
  /** An event with this `source` and `id` was accepted before (a redelivery). */
  readonly duplicate: boolean;
}

/**
 * A local webhook receiver (127.0.0.1, a free port, `POST /hooks/ripple`) — the local stack's and the
 * contract tests' — that accepts what a careful
 * CloudEvents 1.0 + Standard Webhooks consumer accepts, and answers:
 * - 415 unless `content-type` is `application/cloudevents+json` (structured mode, charset utf-8 if given);
 * - 401 unless the Standard Webhooks signature verifies with the shared secret over the raw body, with the
 *   timestamp within the tolerance (default 300 s) of the receiver's clock;
 * - 400 unless the body is a JSON CloudEvent: `specversion` `1.0`; `id`, `source` (a URI reference) and
 *   `type` non-empty strings; `time` RFC 3339; `subject`, `datacontenttype` strings; not both `data` and
 *   `data_base64`; extension names lower-case alphanumerics of at most 20 characters;
 * - 204 otherwise, recording the event (a repeated `source` + `id` is recorded as a duplicate).
 * Faults are queued: {@link WebhookReceiver.fail} and {@link WebhookReceiver.hang}.
 */
export interface WebhookReceiver {
  readonly url: string;
  readonly requests: WebhookRequest[];
  readonly deliveries: WebhookDelivery[];
  fail(status: number, options?: { times?: number; retryAfterSeconds?: number }): void;
  hang(times?: number): void;
  stop(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** The `whsec_` secret shared with the sender. */
  readonly secret: string;
  readonly toleranceSeconds?: number;
}

type Fault = { kind: "status"; status: number; retryAfterSeconds: number | undefined } | { kind: "hang" };

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const requests: WebhookRequest[] = [];
  const deliveries: WebhookDelivery[] = [];
  const faults: Fault[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => answerFailure(res, error));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen: WebhookRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: (await readBody(req)).toString("utf8"), status: null, reasons: [] };
    requests.push(seen);
    const fault = seen.path === "/hooks/ripple" ? faults.shift() : undefined;
    if (fault?.kind === "hang") return;
    const [status, headers] = fault?.kind === "status" ? [fault.status, retryAfter(fault.retryAfterSeconds)] : [receive(seen), {}];
    seen.status = status;
    res.writeHead(status, { "content-type": "application/json", ...headers }).end(status === 204 ? undefined : JSON.stringify({ errors: seen.reasons }));
  }

  /** Checks one request, records it when accepted, and returns the status to answer. */
  function receive(seen: WebhookRequest): number {
    if (seen.path !== "/hooks/ripple") return 404;
    if (seen.method !== "POST") return 405;
    if (!isStructuredCloudEvent(seen.headers["content-type"])) return refuse(seen, 415, "content-type must be application/cloudevents+json");
    const verification = verifyWebhookSignature(options.secret, { headers: seen.headers, body: seen.body }, { toleranceSeconds: options.toleranceSeconds });
    if (!verification.valid) return refuse(seen, 401, verification.reason);
    const event = parseJsonBody(seen.body);
    const errors = validateCloudEvent(event);
    if (errors.length > 0) return refuse(seen, 400, ...errors);
    const accepted = event as Record<string, unknown>;
    const duplicate = deliveries.some((delivery) => delivery.event["source"] === accepted["source"] && delivery.event["id"] === accepted["id"]);
    deliveries.push({ webhookId: verification.id, event: accepted, duplicate });
    return 204;
  }

  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/hooks/ripple`,
    requests,
    deliveries,
    fail(status, faultOptions = {}) {
      for (let i = 0; i < (faultOptions.times ?? 1); i += 1) faults.push({ kind: "status", status, retryAfterSeconds: faultOptions.retryAfterSeconds });
    },
    hang(times = 1) {
      for (let i = 0; i < times; i += 1) faults.push({ kind: "hang" });
    },
    stop: () => closeServer(server),
  };
}

/** The reasons a CloudEvents 1.0 JSON consumer would refuse `event`, empty when it accepts it. */
export function validateCloudEvent(event: unknown): string[] {
  if (typeof event !== "object" || event === null || Array.isArray(event)) return ["body is not a JSON object"];
  const attributes = event as Record<string, unknown>;
  const errors: string[] = [];
  if (attributes["specversion"] !== "1.0") errors.push("specversion must be 1.0");
  for (const name of ["id", "source", "type"]) if (!nonEmptyString(attributes[name])) errors.push(`${name} is required`);
  if (nonEmptyString(attributes["source"]) && /\s/.test(attributes["source"])) errors.push("source must be a URI reference");
  if (attributes["time"] !== undefined && !(typeof attributes["time"] === "string" && RFC3339.test(attributes["time"]))) errors.push("time must be an RFC 3339 timestamp");
  for (const name of ["subject", "datacontenttype"]) if (attributes[name] !== undefined && !nonEmptyString(attributes[name])) errors.push(`${name} must be a non-empty string`);
  if ("data" in attributes && "data_base64" in attributes) errors.push("data and data_base64 are exclusive");
  for (const name of Object.keys(attributes)) if (!CONTEXT_ATTRIBUTES.has(name) && !EXTENSION_NAME.test(name)) errors.push(`extension attribute ${name} is not a valid name`);
  return errors;
}

function isStructuredCloudEvent(contentType: string | undefined): boolean {
  const [mediaType, ...parameters] = (contentType ?? "").split(";").map((part) => part.trim().toLowerCase());
  const charset = parameters.find((parameter) => parameter.startsWith("charset="));
  return mediaType === "application/cloudevents+json" && (charset === undefined || charset === "charset=utf-8");
}

function refuse(seen: WebhookRequest, status: number, ...reasons: string[]): number {
  seen.reasons = reasons;
  return status;
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function retryAfter(seconds: number | undefined): Record<string, string> {
  return seconds === undefined ? {} : { "retry-after": String(seconds) };
}
