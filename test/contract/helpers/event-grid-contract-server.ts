import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { StackTls } from "../../../shared/local/tls.js";

/** Event Grid's limit on a publish request body (and on one event): 1 MB. */
export const MAX_PUBLISH_BYTES = 1024 * 1024;
export const EVENT_GRID_AUDIENCE = "https://eventgrid.azure.net";
const API_VERSION = "2018-01-01";
const BATCH_MEDIA_TYPE = "application/cloudevents-batch+json";
const SINGLE_MEDIA_TYPE = "application/cloudevents+json";
/** CloudEvents 1.0 attributes every event must carry (REQUIRED in the spec). */
const REQUIRED_ATTRIBUTES = ["specversion", "id", "source", "type"] as const;

/** One CloudEvent as received, JSON as sent. */
export type RecordedCloudEvent = Readonly<Record<string, unknown>>;

/** One publish request the topic saw. */
export interface EventGridRequest {
  readonly method: string;
  /** Path and query as sent. */
  readonly path: string;
  readonly contentType: string | null;
  /** How it authenticated: `key` (`aeg-sas-key`), `bearer` (`Authorization: Bearer`), or null. */
  readonly auth: "key" | "bearer" | null;
  /** Events in the body (0 when it could not be read). */
  readonly count: number;
  readonly bytes: number;
  readonly status: number;
}

/**
 * A local Event Grid custom topic with the CloudEvents 1.0 input schema, over HTTPS, as Event Grid's
 * "publish events to a custom topic" documentation describes the exchange:
 * - `POST /api/events?api-version=2018-01-01` (any other path 404, another api-version 400);
 * - auth: `aeg-sas-key: <topic key>`, or `Authorization: Bearer <token>` whose `aud` is
 *   `https://eventgrid.azure.net` and which has not expired (the stack's unsigned tokens, as
 *   `localAccessToken` mints them: audience and lifetime are checked, not Entra ID's signature); anything
 *   else 401 `Unauthorized`;
 * - a body over 1 MB: 413 `PayloadTooLarge`;
 * - `content-type: application/cloudevents-batch+json; charset=utf-8` with a JSON array (or
 *   `application/cloudevents+json` with one event); an event without one of the required CloudEvents
 *   attributes (`specversion` 1.0, `id`, `source`, `type`) or unreadable JSON: 400 `BadRequest` with
 *   `InputJsonInvalid`; nothing of a refused request is recorded;
 * - success: 200 with an empty body.
 * Error bodies are Event Grid's `{ "error": { "code", "message", "details" } }`.
 */
export interface EventGridContractServer {
  /** `https://127.0.0.1:<port>/api/events`: the topic endpoint to give the client. */
  readonly endpoint: string;
  readonly requests: EventGridRequest[];
  /** Every event accepted, in arrival order. */
  readonly events: RecordedCloudEvent[];
  /** The topic's access key (`aeg-sas-key`). */
  readonly key: string;
  /** Answers the next `times` publish requests with `status` and Event Grid's error body (after auth). */
  fail(status: number, times: number, headers?: Record<string, string>): void;
  stop(): Promise<void>;
}

export interface EventGridContractServerOptions {
  readonly tls: Pick<StackTls, "certPath" | "keyPath">;
  readonly key: string;
}

type Answer = { status: number; error?: { code: string; message: string; details?: Array<{ code: string; message: string }> }; headers?: Record<string, string> };

class Refusal extends Error {
  constructor(readonly answer: Answer) {
    super(answer.error?.message ?? String(answer.status));
  }
}

function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(createHash("sha256").update(presented).digest(), createHash("sha256").update(expected).digest());
}

/** Whether `token` is a JWT for Event Grid's audience that has not expired (signatures are not checked). */
function acceptsToken(token: string): boolean {
  const payload = token.split(".")[1];
  if (payload === undefined) return false;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { aud?: unknown; exp?: unknown };
    const audience = String(claims.aud).replace(/\/$/, "");
    return audience === EVENT_GRID_AUDIENCE && typeof claims.exp === "number" && claims.exp * 1000 > Date.now();
  } catch {
    return false;
  }
}

function invalid(message: string): Refusal {
  return new Refusal({ status: 400, error: { code: "BadRequest", message, details: [{ code: "InputJsonInvalid", message }] } });
}

/** The events of a body, checked as a CloudEvents topic checks them. @throws Refusal (400). */
function readEvents(text: string, mediaType: string): RecordedCloudEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid("The request body is not valid JSON.");
  }
  const events = mediaType === SINGLE_MEDIA_TYPE ? [parsed] : parsed;
  if (!Array.isArray(events) || events.length === 0) throw invalid("Expected a non-empty JSON array of CloudEvents.");
  events.forEach((event: unknown, index) => {
    if (typeof event !== "object" || event === null || Array.isArray(event)) throw invalid(`Event ${index} is not a JSON object.`);
    const record = event as Record<string, unknown>;
    const missing = REQUIRED_ATTRIBUTES.filter((name) => typeof record[name] !== "string" || record[name] === "");
    if (missing.length > 0) throw invalid(`Event ${index} is missing required CloudEvents attributes: ${missing.join(", ")}.`);
    if (record.specversion !== "1.0") throw invalid(`Event ${index} has specversion ${String(record.specversion)}; expected 1.0.`);
    if (Buffer.byteLength(JSON.stringify(record)) > MAX_PUBLISH_BYTES) throw new Refusal({ status: 413, error: { code: "PayloadTooLarge", message: `Event ${index} exceeds 1 MB.` } });
  });
  return events as RecordedCloudEvent[];
}

/** Starts the topic on a free loopback port with the stack's server certificate. */
export async function startEventGridContractServer(options: EventGridContractServerOptions): Promise<EventGridContractServer> {
  const requests: EventGridRequest[] = [];
  const events: RecordedCloudEvent[] = [];
  const faults: Array<{ status: number; remaining: number; headers: Record<string, string> }> = [];

  const authenticate = (req: IncomingMessage): "key" | "bearer" => {
    const key = req.headers["aeg-sas-key"];
    if (typeof key === "string" && sameSecret(key, options.key)) return "key";
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (bearer !== undefined && acceptsToken(bearer)) return "bearer";
    throw new Refusal({ status: 401, error: { code: "Unauthorized", message: "The request authorization key or token is not authorized for this topic." } });
  };

  const answerTo = (req: IncomingMessage, url: URL, body: Buffer): { answer: Answer; count: number } => {
    if (req.method !== "POST" || url.pathname !== "/api/events") throw new Refusal({ status: 404, error: { code: "NotFound", message: "The requested resource was not found." } });
    if (url.searchParams.get("api-version") !== API_VERSION) throw invalid(`The api-version '${url.searchParams.get("api-version") ?? ""}' is not supported; use ${API_VERSION}.`);
    authenticate(req);
    if (body.length > MAX_PUBLISH_BYTES) throw new Refusal({ status: 413, error: { code: "PayloadTooLarge", message: "The request body exceeds 1 MB." } });
    const fault = faults.find((candidate) => candidate.remaining > 0);
    if (fault !== undefined) {
      fault.remaining -= 1;
      throw new Refusal({ status: fault.status, error: { code: fault.status >= 500 ? "ServiceUnavailable" : "Failed", message: "Injected fault." }, headers: fault.headers });
    }
    const mediaType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (mediaType !== BATCH_MEDIA_TYPE && mediaType !== SINGLE_MEDIA_TYPE) throw invalid(`Content type '${req.headers["content-type"] ?? ""}' is not supported by a CloudEvents topic.`);
    const accepted = readEvents(body.toString("utf8"), mediaType);
    events.push(...accepted);
    return { answer: { status: 200 }, count: accepted.length };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    let result: { answer: Answer; count: number };
    try {
      result = answerTo(req, url, body);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      result = { answer: error.answer, count: 0 };
    }
    const auth = typeof req.headers["aeg-sas-key"] === "string" ? "key" : /^Bearer\s/i.test(req.headers.authorization ?? "") ? "bearer" : null;
    const { answer } = result;
    requests.push({ method: req.method ?? "", path: req.url ?? "/", contentType: req.headers["content-type"] ?? null, auth, count: result.count, bytes: body.length, status: answer.status });
    const payload = answer.error === undefined ? "" : JSON.stringify({ error: answer.error });
    res.writeHead(answer.status, { ...(payload === "" ? {} : { "content-type": "application/json; charset=utf-8" }), "content-length": String(Buffer.byteLength(payload)), ...(answer.headers ?? {}) });
    res.end(payload);
  };

  const [cert, key] = await Promise.all([readFile(options.tls.certPath), readFile(options.tls.keyPath)]);
  const httpServer: Server = createServer({ cert, key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "InternalServerError", message: `contract server failure: ${String(error)}` } }));
      }
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const address = httpServer.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  return {
    endpoint: `https://127.0.0.1:${port}/api/events`,
    requests,
    events,
    key: options.key,
    fail(status, times, headers = {}) {
      faults.push({ status, remaining: times, headers });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        httpServer.closeAllConnections();
        httpServer.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
