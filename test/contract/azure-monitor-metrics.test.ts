/**
 * SLA metrics on Application Insights: the real OpenTelemetry metrics SDK and Azure Monitor exporter
 * against a local HTTPS ingestion endpoint that follows the documented Breeze contract, authenticated with
 * a token credential (the app's managed identity, as the stack's identity endpoint mints its tokens).
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { Agent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { TokenCredential } from "@azure/identity";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createAzureMonitorMetrics,
  EXPORT_FAILED_MESSAGE,
  type AzureMonitorMetrics,
  type AzureMonitorMetricsOptions,
} from "../../shared/adapters/azure-monitor/azure-monitor-metrics.js";
import { createNoMetrics } from "../../shared/adapters/azure-monitor/no-metrics.js";
import { ConfigError } from "../../shared/errors.js";
import { localAccessToken } from "../../shared/local/identity-endpoint.js";
import { ensureStackTls, type StackTls } from "../../shared/local/tls.js";
import { startAppInsightsContractServer, type AppInsightsContractServer, type Envelope } from "./helpers/app-insights-contract-server.js";

const IKEY = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const METRIC_ENVELOPE = "Microsoft.ApplicationInsights.Metric";
const OPEN = "ripple.sla.open_obligations";
const TIME_TO_PATCH = "ripple.sla.time_to_patch";
const ALPINE = "docker.io/library/alpine:3.20";
const DEBIAN = "docker.io/library/debian:12";

let dir: string;
let tls: StackTls;
let agent: Agent;
let server: AppInsightsContractServer;
let created: AzureMonitorMetrics[];
/** The scopes the exporter asked the token credential for. */
let scopes: string[];
let logs: Array<{ message: string; fields: Record<string, unknown> }>;

const identity: TokenCredential = {
  getToken: async (requested) => {
    const list = Array.isArray(requested) ? requested : [requested];
    scopes.push(list.join(" "));
    return { token: localAccessToken(list[0] ?? "", "ripple-app"), expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

/** The adapter against the local endpoint; no periodic export within a test, no client retries, no disk. */
function metricsFor(overrides: Partial<AzureMonitorMetricsOptions> = {}): AzureMonitorMetrics {
  const metrics = createAzureMonitorMetrics({
    connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${server.endpoint}/;LiveEndpoint=${server.endpoint}/`,
    credential: identity,
    exportIntervalMs: 3_600_000,
    serviceName: "func-ripple",
    client: { agent, retryOptions: { maxRetries: 0 }, disableOfflineStorage: true },
    log: (message, fields) => logs.push({ message, fields }),
    ...overrides,
  });
  created.push(metrics);
  return metrics;
}

/**
 * Each accepted envelope as the contract fixes it (envelope name, key, base type, metrics and dimensions),
 * in the order of their dimensions: the SDK's order of data points is not part of the contract.
 */
function received(envelopes: readonly Envelope[] = server.envelopes) {
  return envelopes
    .map((envelope) => {
      const data = envelope.data as { baseType: string; baseData: { metrics: unknown[]; properties: Record<string, string> } };
      return { name: envelope.name, iKey: envelope.iKey, baseType: data.baseType, metrics: data.baseData.metrics, properties: data.baseData.properties };
    })
    .sort((a, b) => JSON.stringify(a.properties).localeCompare(JSON.stringify(b.properties)));
}

function gauge(status: string, value: number) {
  return { name: METRIC_ENVELOPE, iKey: IKEY, baseType: "MetricData", metrics: [{ name: OPEN, kind: "Aggregation", value, count: 1 }], properties: { status } };
}

function histogram(base: string, met: boolean, times: readonly number[]) {
  const sum = times.reduce((total, time) => total + time, 0);
  return {
    name: METRIC_ENVELOPE,
    iKey: IKEY,
    baseType: "MetricData",
    metrics: [{ name: TIME_TO_PATCH, kind: "Aggregation", value: sum, count: times.length, min: Math.min(...times), max: Math.max(...times) }],
    properties: { base, met: String(met) },
  };
}

/** Posts telemetry straight to the endpoint (no SDK), for the contract's own answers. */
function post(body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${server.endpoint}/v2.1/track`, { method: "POST", agent, headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

beforeAll(async () => {
  // Statsbeat (the SDK's own usage telemetry) goes to a Microsoft endpoint; not from a test.
  vi.stubEnv("APPLICATION_INSIGHTS_NO_STATSBEAT", "true");
  vi.stubEnv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true");
  dir = await mkdtemp(join(tmpdir(), "ripple-app-insights-"));
  tls = await ensureStackTls(dir);
  agent = new Agent({ ca: tls.caPem, keepAlive: true });
});

afterAll(async () => {
  agent.destroy();
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  created = [];
  scopes = [];
  logs = [];
  server = await startAppInsightsContractServer({ tls, instrumentationKey: IKEY });
});

afterEach(async () => {
  await Promise.all(created.map((metrics) => metrics.shutdown()));
  await server.stop();
});

describe("open obligations", () => {
  it("exports the last counts as a gauge by status, with the app's token for Azure Monitor's audience", async () => {
    const metrics = metricsFor();
    metrics.observeOpen({ onTrack: 1, atRisk: 1, overdue: 1, failed: 1, waived: 1 });
    metrics.observeOpen({ onTrack: 7, atRisk: 2, overdue: 1, failed: 3, waived: 0 });

    await metrics.flush();

    expect({ received: received(), requests: server.requests, scopes: [...new Set(scopes)], logs }).toEqual({
      received: [gauge("at-risk", 2), gauge("failed", 3), gauge("on-track", 7), gauge("overdue", 1), gauge("waived", 0)],
      requests: [{ method: "POST", path: "/v2.1/track", contentType: "application/json", contentEncoding: null, auth: "bearer", count: 5, status: 200 }],
      scopes: ["https://monitor.azure.com/.default"],
      logs: [],
    });
  });

  it("reports nothing before the first observation", async () => {
    const metrics = metricsFor();

    await metrics.flush();

    expect({ received: received(), requests: server.requests.length }).toEqual({ received: [], requests: 0 });
  });

  it("reads a bad count as 0 instead of throwing", async () => {
    const metrics = metricsFor();

    metrics.observeOpen({ onTrack: Number.NaN, atRisk: -2, overdue: 4, failed: 0, waived: 0 });
    await metrics.flush();

    expect(received()).toEqual([gauge("at-risk", 0), gauge("failed", 0), gauge("on-track", 0), gauge("overdue", 4), gauge("waived", 0)]);
  });

  it("carries the function app's name as the cloud role", async () => {
    const metrics = metricsFor();
    metrics.observeOpen({ onTrack: 1, atRisk: 0, overdue: 0, failed: 0, waived: 0 });

    await metrics.flush();

    expect(new Set(server.envelopes.map((envelope) => (envelope.tags as Record<string, string>)["ai.cloud.role"]))).toEqual(new Set(["func-ripple"]));
  });
});

describe("time to patch", () => {
  it("exports a histogram of seconds per base and outcome as sum, count, min and max", async () => {
    const metrics = metricsFor();
    metrics.recordTimeToPatch(600, { base: ALPINE, met: true });
    metrics.recordTimeToPatch(5_400, { base: ALPINE, met: true });
    metrics.recordTimeToPatch(90_000, { base: ALPINE, met: false });
    metrics.recordTimeToPatch(3_600, { base: DEBIAN, met: true });

    await metrics.flush();

    expect({ received: received(), statuses: server.requests.map((request) => request.status), logs }).toEqual({
      received: [histogram(ALPINE, false, [90_000]), histogram(ALPINE, true, [600, 5_400]), histogram(DEBIAN, true, [3_600])],
      statuses: [200],
      logs: [],
    });
  });

  it("sends each interval's times once (delta), and nothing for an interval without any", async () => {
    const metrics = metricsFor();
    metrics.recordTimeToPatch(600, { base: ALPINE, met: true });
    await metrics.flush();
    const first = received();

    await metrics.flush();
    const idle = server.requests.length;
    metrics.recordTimeToPatch(1_200, { base: ALPINE, met: true });
    await metrics.flush();

    expect({ first, idle, second: received(server.envelopes.slice(1)) }).toEqual({
      first: [histogram(ALPINE, true, [600])],
      idle: 1,
      second: [histogram(ALPINE, true, [1_200])],
    });
  });

  it.each([
    ["a negative time", -5],
    ["NaN", Number.NaN],
    ["infinity", Number.POSITIVE_INFINITY],
  ])("drops %s instead of throwing", async (_case, seconds) => {
    const metrics = metricsFor();

    metrics.recordTimeToPatch(seconds, { base: ALPINE, met: true });
    await metrics.flush();

    expect(server.requests).toEqual([]);
  });
});

const counts = { onTrack: 1, atRisk: 0, overdue: 0, failed: 0, waived: 0 };

describe("failed exports", () => {
  it("resolves flush on a 503, which the exporter keeps for its own retry without a log line", async () => {
    server.fail(503, 1, { "retry-after": "30" });
    const metrics = metricsFor();
    metrics.observeOpen(counts);

    await expect(metrics.flush()).resolves.toBeUndefined();

    expect({ statuses: server.requests.map((request) => request.status), received: received(), logs }).toEqual({ statuses: [503], received: [], logs: [] });
  });

  it("keeps a 503's telemetry on disk for the exporter's retry when offline storage is on (the default)", async () => {
    const storageDirectory = await mkdtemp(join(dir, "offline-"));
    server.fail(503, 1);
    const metrics = metricsFor({ client: { agent, retryOptions: { maxRetries: 0 }, storageDirectory } });
    metrics.observeOpen(counts);

    await expect(metrics.flush()).resolves.toBeUndefined();

    const files = await readdir(storageDirectory, { recursive: true });
    expect({ statuses: server.requests.map((request) => request.status), stored: files.filter((file) => file.endsWith(".ai.json")).length }).toEqual({ statuses: [503], stored: 1 });
  });

  it("resolves flush when the endpoint is unreachable, logging the lost export once", async () => {
    const gone = await startAppInsightsContractServer({ tls, instrumentationKey: IKEY });
    await gone.stop();
    const metrics = metricsFor({ connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${gone.endpoint}/` });
    metrics.observeOpen(counts);

    await expect(metrics.flush()).resolves.toBeUndefined();

    expect({ requests: gone.requests, logs }).toEqual({ requests: [], logs: [{ message: EXPORT_FAILED_MESSAGE, fields: { service: "azure-monitor", status: null } }] });
  });

});

describe("refusals and credentials", () => {
  it("logs a refused export once, with a fixed line and no secret, and flush still resolves", async () => {
    server.fail(400, 2);
    const metrics = metricsFor();
    metrics.observeOpen(counts);

    await expect(metrics.flush()).resolves.toBeUndefined();
    await expect(metrics.flush()).resolves.toBeUndefined();

    expect({ statuses: server.requests.map((request) => request.status), logs }).toEqual({
      statuses: [400, 400],
      logs: [{ message: EXPORT_FAILED_MESSAGE, fields: { service: "azure-monitor", status: 400 } }],
    });
  });

  it("logs a credential failure once without the credential's message, and sends nothing", async () => {
    const secret = "client-secret-0123456789";
    const broken: TokenCredential = { getToken: () => Promise.reject(new Error(`AADSTS7000215: invalid secret ${secret}`)) };
    const metrics = metricsFor({ credential: broken });
    metrics.observeOpen(counts);

    await expect(metrics.flush()).resolves.toBeUndefined();

    expect({ requests: server.requests, logs }).toEqual({ requests: [], logs: [{ message: EXPORT_FAILED_MESSAGE, fields: { service: "azure-monitor", status: null } }] });
    expect(JSON.stringify(logs)).not.toContain(secret);
  });

  it("without a credential, an endpoint that takes tokens only answers 401 and flush still resolves", async () => {
    const metrics = metricsFor({ credential: undefined });
    metrics.observeOpen(counts);

    await expect(metrics.flush()).resolves.toBeUndefined();

    expect({ requests: server.requests.map((request) => [request.auth, request.status]), received: received() }).toEqual({ requests: [[null, 401]], received: [] });
  });

  it("sends with the instrumentation key alone where local auth is allowed", async () => {
    await server.stop();
    server = await startAppInsightsContractServer({ tls, instrumentationKey: IKEY, requireToken: false });
    const metrics = metricsFor({ credential: undefined });
    metrics.observeOpen(counts);

    await metrics.flush();

    expect({ auth: server.requests.map((request) => request.auth), received: received(), scopes }).toEqual({ auth: [null], received: [gauge("at-risk", 0), gauge("failed", 0), gauge("on-track", 1), gauge("overdue", 0), gauge("waived", 0)], scopes: [] });
  });

});

describe("configuration", () => {
  it.each([
    ["no instrumentation key", `IngestionEndpoint=https://127.0.0.1:1/`],
    ["an instrumentation key that is not a GUID", `InstrumentationKey=not-a-guid-secretish;IngestionEndpoint=https://127.0.0.1:1/`],
  ])("refuses a connection string with %s as configuration, without repeating it", (_case, connectionString) => {
    let error: unknown = null;
    try {
      metricsFor({ connectionString });
    } catch (caught) {
      error = caught;
    }

    const reason = "must name a valid InstrumentationKey (a GUID) and, where not the public cloud, an IngestionEndpoint";
    expect({ isConfigError: error instanceof ConfigError, message: (error as ConfigError).message, details: (error as ConfigError).details }).toEqual({
      isConfigError: true,
      message: `application insights connection string: ${reason}`,
      details: { issues: [{ path: "APPLICATIONINSIGHTS_CONNECTION_STRING", message: reason }] },
    });
  });
});

describe("no metrics", () => {
  it("takes every call and sends nothing", async () => {
    const metrics = createNoMetrics();

    metrics.observeOpen({ onTrack: 1, atRisk: 2, overdue: 3, failed: 4, waived: 5 });
    metrics.recordTimeToPatch(600, { base: ALPINE, met: true });

    await expect(metrics.flush()).resolves.toBeUndefined();
    expect(server.requests).toEqual([]);
  });
});

describe("the ingestion endpoint's contract", () => {
  const item = (overrides: Record<string, unknown> = {}) => ({
    name: METRIC_ENVELOPE,
    time: "2026-11-26T13:00:00.000Z",
    iKey: IKEY,
    data: { baseType: "MetricData", baseData: { ver: 2, metrics: [{ name: OPEN, value: 3, count: 1 }], properties: { status: "overdue" } } },
    ...overrides,
  });
  const bearer = (audience: string) => ({ authorization: `Bearer ${localAccessToken(audience, "ripple-app")}` });

  it.each([
    ["no token", {}, [item()], 401, 401],
    ["a token for another audience", bearer("https://storage.azure.com/.default"), [item()], 401, 401],
    ["another component's key", bearer("https://monitor.azure.com/.default"), [item({ iKey: "00000000-0000-0000-0000-000000000000" })], 400, 400],
    ["a metric without a value", bearer("https://monitor.azure.com/.default"), [item({ data: { baseType: "MetricData", baseData: { metrics: [{ name: OPEN }] } } })], 400, 400],
  ])("refuses %s", async (_case, headers, items, status, itemStatus) => {
    const answer = await post(JSON.stringify(items), headers);

    expect({ answer, recorded: server.envelopes }).toEqual({
      answer: { status, body: { itemsReceived: 1, itemsAccepted: 0, errors: [{ index: 0, statusCode: itemStatus, message: expect.any(String) }] } },
      recorded: [],
    });
  });

  it("accepts a gzip-encoded batch, and part of a batch with 206", async () => {
    const gzipped = await post(gzipSync(JSON.stringify([item()])), { ...bearer("https://monitor.azure.com/.default"), "content-encoding": "gzip" });
    const partial = await post(JSON.stringify([item(), { name: METRIC_ENVELOPE, iKey: IKEY }]), bearer("https://monitor.azure.com/.default"));

    expect({ gzipped, partial, recorded: server.envelopes }).toEqual({
      gzipped: { status: 200, body: { itemsReceived: 1, itemsAccepted: 1, errors: [] } },
      partial: { status: 206, body: { itemsReceived: 2, itemsAccepted: 1, errors: [{ index: 1, statusCode: 400, message: expect.any(String) }] } },
      recorded: [item(), item()],
    });
  });
});
