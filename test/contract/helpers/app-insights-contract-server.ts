import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { gunzipSync } from "node:zlib";
import type { StackTls } from "../../../shared/local/tls.js";
import { parseJsonBody, readBody } from "./request-body.js";

/** The audience of an Entra ID token for Application Insights ingestion (`https://monitor.azure.com/.default`). */
export const MONITOR_AUDIENCE = "https://monitor.azure.com";
/** The ingestion paths: v2.1 takes Entra ID tokens, v2 the instrumentation key alone. */
const TRACK_PATHS = ["/v2.1/track", "/v2/track"];

/** One telemetry item as received, JSON as sent. */
export type Envelope = Readonly<Record<string, unknown>>;

/** One ingestion request the endpoint saw. */
export interface TrackRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | null;
  /** `gzip` when the body came compressed, else null. */
  readonly contentEncoding: string | null;
  /** `bearer` when it carried `Authorization: Bearer`, else null. */
  readonly auth: "bearer" | null;
  /** Telemetry items in the body (0 when it could not be read). */
  readonly count: number;
  readonly status: number;
}

/** Breeze's answer: how many items it took, and why it refused the others (`index` into the request). */
export interface TrackResponse {
  readonly itemsReceived: number;
  readonly itemsAccepted: number;
  readonly errors: ReadonlyArray<{ index: number; statusCode: number; message: string }>;
}

/**
 * A local Application Insights ingestion endpoint ("Breeze") over HTTPS, as the Azure Monitor exporters
 * use it:
 * - `POST /v2.1/track` (or `/v2/track`); any other path or method 404;
 * - with `requireToken` (the component's local auth disabled): `Authorization: Bearer <token>` whose `aud`
 *   is `https://monitor.azure.com` and which has not expired (the stack's unsigned tokens, as
 *   `localAccessToken` mints them: audience and lifetime are checked, not Entra ID's signature), else 401;
 * - a JSON array of telemetry items, gzip-compressed when `content-encoding: gzip`; unreadable: 400;
 * - each item needs `name`, `time` (an ISO date), `iKey` (this component's instrumentation key, else the
 *   whole batch is refused with 400 "Invalid instrumentation key") and `data.baseType` with
 *   `data.baseData`; a `MetricData` item needs `baseData.metrics`: a non-empty array of `{ name, value }`
 *   with a string name and a finite number, and optional numeric `count`, `min`, `max`;
 * - answers `{ itemsReceived, itemsAccepted, errors: [{ index, statusCode, message }] }`: 200 when all
 *   were accepted, 206 when some, 400 when none. Only accepted items are recorded.
 * `fail` scripts the next answers (401, 429, 503, …) with the same body shape, every item refused.
 */
export interface AppInsightsContractServer {
  /** `https://127.0.0.1:<port>`: the IngestionEndpoint of the connection string. */
  readonly endpoint: string;
  readonly instrumentationKey: string;
  readonly requests: TrackRequest[];
  /** Every telemetry item accepted, in arrival order. */
  readonly envelopes: Envelope[];
  /** Answers the next `times` requests with `status` (after auth), refusing every item. */
  fail(status: number, times: number, headers?: Record<string, string>): void;
  stop(): Promise<void>;
}

export interface AppInsightsContractServerOptions {
  readonly tls: Pick<StackTls, "certPath" | "keyPath">;
  readonly instrumentationKey: string;
  /** Whether only Entra ID tokens are taken (`DisableLocalAuth`). Default true, as in Ripple's deployment. */
  readonly requireToken?: boolean;
}

type Answer = { status: number; body: TrackResponse | null; headers?: Record<string, string> };

/** Whether `token` is a JWT for Azure Monitor's audience that has not expired (signatures are not checked). */
function acceptsToken(token: string): boolean {
  const payload = token.split(".")[1];
  if (payload === undefined) return false;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { aud?: unknown; exp?: unknown };
    return String(claims.aud).replace(/\/$/, "") === MONITOR_AUDIENCE && typeof claims.exp === "number" && claims.exp * 1000 > Date.now();
  } catch {
    return false;
  }
}

function refuseAll(count: number, statusCode: number, message: string): TrackResponse {
  return { itemsReceived: count, itemsAccepted: 0, errors: Array.from({ length: count }, (_, index) => ({ index, statusCode, message })) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why a metric data point is refused, or null. */
function metricProblem(metric: unknown): string | null {
  if (!isRecord(metric) || typeof metric.name !== "string" || metric.name === "") return "a metric needs a name";
  if (typeof metric.value !== "number" || !Number.isFinite(metric.value)) return `metric ${metric.name}: value must be a finite number`;
  const bad = (["count", "min", "max"] as const).find((field) => metric[field] !== undefined && typeof metric[field] !== "number");
  return bad === undefined ? null : `metric ${metric.name}: ${bad} must be a number`;
}

/** Why one telemetry item is refused (400), or null when it is accepted. */
function itemProblem(item: unknown): string | null {
  if (!isRecord(item)) return "an item must be a JSON object";
  if (typeof item.name !== "string" || item.name === "") return "Field 'name' on type 'Envelope' is required.";
  if (typeof item.time !== "string" || Number.isNaN(Date.parse(item.time))) return "Field 'time' on type 'Envelope' is required.";
  const data = item.data;
  if (!isRecord(data) || typeof data.baseType !== "string" || !isRecord(data.baseData)) return "Field 'data' with 'baseType' and 'baseData' is required.";
  if (data.baseType !== "MetricData") return null;
  const metrics = data.baseData.metrics;
  if (!Array.isArray(metrics) || metrics.length === 0) return "Field 'metrics' on type 'MetricData' is required.";
  return metrics.map(metricProblem).find((problem) => problem !== null) ?? null;
}

/** The items of a body. @returns null when it is not a readable JSON array. */
function readItems(body: Buffer, encoding: string | null): unknown[] | null {
  let text: Buffer;
  try {
    text = encoding === "gzip" ? gunzipSync(body) : body;
  } catch {
    return null;
  }
  const parsed = parseJsonBody(text);
  return Array.isArray(parsed) ? parsed : null;
}

type Fault = { status: number; remaining: number; headers: Record<string, string> };

/** What the endpoint keeps between requests. */
interface EndpointState {
  readonly instrumentationKey: string;
  readonly requireToken: boolean;
  readonly faults: Fault[];
  readonly envelopes: Envelope[];
}

/** The answer to one request, recording the accepted items; `count` is the number of items it carried. */
function answerTo(req: IncomingMessage, body: Buffer, state: EndpointState): { answer: Answer; count: number } {
  const path = new URL(req.url ?? "/", "https://127.0.0.1").pathname;
  if (req.method !== "POST" || !TRACK_PATHS.includes(path)) return { answer: { status: 404, body: null }, count: 0 };
  const items = readItems(body, (req.headers["content-encoding"] ?? "").toLowerCase() || null);
  if (items === null) return { answer: { status: 400, body: refuseAll(1, 400, "Invalid JSON: expected an array of telemetry items.") }, count: 0 };
  const count = items.length;
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
  if (state.requireToken && (bearer === undefined || !acceptsToken(bearer))) {
    return { answer: { status: 401, body: refuseAll(count, 401, "Authorization token is missing or invalid for this resource.") }, count };
  }
  const fault = state.faults.find((candidate) => candidate.remaining > 0);
  if (fault !== undefined) {
    fault.remaining -= 1;
    return { answer: { status: fault.status, body: refuseAll(count, fault.status, "Injected fault."), headers: fault.headers }, count };
  }
  if (items.some((item) => isRecord(item) && item.iKey !== state.instrumentationKey)) {
    return { answer: { status: 400, body: refuseAll(count, 400, "Invalid instrumentation key") }, count };
  }
  const errors = items.flatMap((item, index) => {
    const problem = itemProblem(item);
    return problem === null ? [] : [{ index, statusCode: 400, message: problem }];
  });
  const refused = new Set(errors.map((error) => error.index));
  state.envelopes.push(...(items.filter((_, index) => !refused.has(index)) as Envelope[]));
  const accepted = count - errors.length;
  return { answer: { status: errors.length === 0 ? 200 : accepted > 0 ? 206 : 400, body: { itemsReceived: count, itemsAccepted: accepted, errors } }, count };
}

/** Starts the endpoint on a free loopback port with the stack's server certificate. */
export async function startAppInsightsContractServer(options: AppInsightsContractServerOptions): Promise<AppInsightsContractServer> {
  const requests: TrackRequest[] = [];
  const state: EndpointState = { instrumentationKey: options.instrumentationKey, requireToken: options.requireToken ?? true, faults: [], envelopes: [] };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const { answer, count } = answerTo(req, body, state);
    const auth = /^Bearer\s/i.test(req.headers.authorization ?? "") ? "bearer" : null;
    requests.push({
      method: req.method ?? "",
      path: req.url ?? "/",
      contentType: req.headers["content-type"] ?? null,
      contentEncoding: req.headers["content-encoding"] ?? null,
      auth,
      count,
      status: answer.status,
    });
    const payload = answer.body === null ? "" : JSON.stringify(answer.body);
    res.writeHead(answer.status, { ...(payload === "" ? {} : { "content-type": "application/json; charset=utf-8" }), "content-length": String(Buffer.byteLength(payload)), ...(answer.headers ?? {}) });
    res.end(payload);
  };

  const [cert, key] = await Promise.all([readFile(options.tls.certPath), readFile(options.tls.keyPath)]);
  const httpServer: Server = createServer({ cert, key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: 500, message: `contract server failure: ${String(error)}` }] }));
      }
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const address = httpServer.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  return {
    endpoint: `https://127.0.0.1:${port}`,
    instrumentationKey: options.instrumentationKey,
    requests,
    envelopes: state.envelopes,
    fail(status, times, headers = {}) {
      state.faults.push({ status, remaining: times, headers });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        httpServer.closeAllConnections();
        httpServer.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
