/**
 * Ripple events and SLA alerts on an Event Grid topic: the real `@azure/eventgrid` client against a local
 * HTTPS topic that follows the documented publish contract, with a token credential (the app's managed
 * identity, as the stack's identity endpoint mints its tokens) and with the topic key.
 */
import { useContractTls } from "./helpers/contract-tls.js";
import { Agent, request as httpsRequest } from "node:https";
import { AzureKeyCredential } from "@azure/eventgrid";
import type { TokenCredential } from "@azure/identity";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEventGridPublisher, createEventGridSink, type EventGridPublisherOptions } from "../../shared/adapters/alert-sinks/event-grid/event-grid-publisher.js";
import { ConfigError } from "../../shared/errors.js";
import { localAccessToken } from "../../shared/local/identity-endpoint.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { AlertMessage, RippleEvent } from "../../shared/ports/alert-sink.js";
import { sampleAlert } from "./helpers/alert-message.js";
import { startEventGridContractServer, type EventGridContractServer } from "./helpers/event-grid-contract-server.js";
import { rejection } from "./helpers/rejection.js";

const TOPIC_KEY = "topic-key-0123456789abcdef0123456789abcdef=";
const PUBLISH_PATH = "/api/events?api-version=2018-01-01";
const BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8";

let tls: StackTls;
let agent: Agent;
let topic: EventGridContractServer;
/** The scopes the SDK asked the token credential for. */
let scopes: string[][];

const identity: TokenCredential = {
  getToken: async (requested) => {
    const list = Array.isArray(requested) ? requested : [requested];
    scopes.push(list);
    return { token: localAccessToken(list[0] ?? "", "ripple-app"), expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

function publisher(overrides: Partial<EventGridPublisherOptions> = {}) {
  return createEventGridPublisher({ endpoint: topic.endpoint, credential: identity, agent, retryOptions: { maxRetries: 0 }, ...overrides });
}

/** The CloudEvent the SDK sends for a Ripple event from source `/ripple`. */
function cloudEvent(event: RippleEvent, source = "/ripple"): Record<string, unknown> {
  return { specversion: "1.0", id: event.id, type: event.type, source, subject: event.subject, time: event.time, datacontenttype: "application/json", data: event.data };
}

function rippleEvent(index: number): RippleEvent {
  return { id: `ripple-c1:obligation-${index}`, type: "Ripple.Obligation.Done", subject: `campaigns/c1/obligations/dep-${index}`, time: "2026-11-26T13:12:00.000Z", data: { index } };
}

/** The alert message's fields as the event's data carries them. */
function alertData(message: AlertMessage): Record<string, unknown> {
  const { at: _at, ...data } = message;
  return data;
}

/** Posts `body` straight to the topic (no SDK), for the contract's refusals. */
function post(body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(topic.endpoint.replace("/api/events", PUBLISH_PATH), { method: "POST", agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

useContractTls("ripple-event-grid-", (scratch) => ({ tls, agent } = scratch));

beforeEach(async () => {
  scopes = [];
  topic = await startEventGridContractServer({ tls, key: TOPIC_KEY });
});

afterEach(async () => {
  await topic.stop();
});

describe("publisher", () => {
  it("publishes CloudEvents with the app's token for Event Grid's audience", async () => {
    const events = [rippleEvent(1), rippleEvent(2)];

    await publisher().publish(events);

    expect({ events: topic.events, requests: topic.requests, scopes: [...new Set(scopes.map((list) => list.join(" ")))] }).toEqual({
      events: events.map((event) => cloudEvent(event)),
      requests: [{ method: "POST", path: PUBLISH_PATH, contentType: BATCH_CONTENT_TYPE, auth: "bearer", count: 2, bytes: expect.any(Number), status: 200 }],
      scopes: ["https://eventgrid.azure.net/.default"],
    });
  });

  it("publishes with the topic key and a configured source", async () => {
    await publisher({ credential: new AzureKeyCredential(TOPIC_KEY), source: "/ripple/prod" }).publish([rippleEvent(1)]);

    expect({ events: topic.events, auth: topic.requests.map((request) => request.auth), scopes }).toEqual({ events: [cloudEvent(rippleEvent(1), "/ripple/prod")], auth: ["key"], scopes: [] });
  });

  it("splits 150 events into two requests of 100 and 50, in order", async () => {
    const events = Array.from({ length: 150 }, (_, index) => rippleEvent(index));

    await publisher().publish(events);

    expect({ counts: topic.requests.map((request) => request.count), ids: topic.events.map((event) => event["id"]) }).toEqual({
      counts: [100, 50],
      ids: events.map((event) => event.id),
    });
  });

  it.each([
    ["not a URL", { endpoint: "topic" }],
    ["plain http to another host", { endpoint: "http://topic.example/api/events" }],
    ["a token over plain http", { endpoint: "http://127.0.0.1:1/api/events" }],
  ])("refuses %s as configuration", (_case, overrides) => {
    expect(() => publisher(overrides)).toThrow(ConfigError);
  });
});

describe("publisher failures", () => {
  it("refuses a bad key permanently without naming it", async () => {
    const badKey = "wrong-key-fedcba9876543210";

    const failure = await rejection(publisher({ credential: new AzureKeyCredential(badKey) }).publish([rippleEvent(1)]), { secret: badKey });

    expect({ failure, events: topic.events }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: "event-grid: publishing 1 event (request 1 of 1) failed with HTTP 401 (Unauthorized)",
        retryable: false,
        details: { service: "event-grid", status: 401 },
      },
      events: [],
    });
  });

  it("hands a 503 back retryable after the SDK's own retries, with Retry-After as retryAfterMs", async () => {
    topic.fail(503, 2, { "retry-after": "0" });
    topic.fail(503, 1, { "retry-after": "120" });

    const failure = await rejection(publisher({ retryOptions: { maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 1 } }).publish([rippleEvent(1)]));

    expect({ failure, statuses: topic.requests.map((request) => request.status) }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: "event-grid: publishing 1 event (request 1 of 1) failed with HTTP 503 (ServiceUnavailable)",
        retryable: true,
        details: { service: "event-grid", status: 503, retryAfterMs: 120_000 },
      },
      statuses: [503, 503, 503],
    });
  });

  it("sends an event over 1 MB alone and reports the topic's 413 as permanent", async () => {
    const huge: RippleEvent = { ...rippleEvent(2), data: { blob: "x".repeat(1_100_000) } };

    const failure = await rejection(publisher().publish([rippleEvent(1), huge]));

    expect({ failure, requests: topic.requests.map((request) => [request.count, request.status]), ids: topic.events.map((event) => event["id"]) }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: "event-grid: publishing 1 event (request 2 of 2) failed with HTTP 413 (PayloadTooLarge)",
        retryable: false,
        details: { service: "event-grid", status: 413 },
      },
      requests: [[1, 200], [0, 413]],
      ids: [rippleEvent(1).id],
    });
  });
});

describe("sink", () => {
  it.each([
    ["a warning trigger", { action: "trigger", severity: "warning" }, "Ripple.Sla.AtRisk"],
    ["a warning renotify", { action: "renotify", severity: "warning" }, "Ripple.Sla.AtRisk"],
    ["a warning escalation", { action: "escalate", severity: "warning" }, "Ripple.Sla.AtRisk"],
    ["a critical update", { action: "update", severity: "critical" }, "Ripple.Sla.Breached"],
    ["a critical trigger", { action: "trigger", severity: "critical" }, "Ripple.Sla.Breached"],
    ["a resolve", { action: "resolve", severity: "critical", items: [], late: 0 }, "Ripple.Sla.Resolved"],
  ] as const)("publishes %s as %s with a deterministic id and the campaign as subject", async (_case, overrides, type) => {
    const message = sampleAlert({ ...overrides, sequence: 4 });
    const sink = createEventGridSink({ id: "events", publisher: publisher({ credential: new AzureKeyCredential(TOPIC_KEY) }) });

    const reference = await sink.deliver(message, null);

    expect({ reference, kind: sink.kind, events: topic.events }).toEqual({
      reference: null,
      kind: "event-grid",
      events: [
        {
          specversion: "1.0",
          id: `${message.dedupeKey}:4`,
          type,
          source: "/ripple",
          subject: `campaigns/${message.campaignId}`,
          time: message.at,
          datacontenttype: "application/json",
          data: alertData(message),
        },
      ],
    });
  });

  it("names the sink in a failure and keeps it retryable", async () => {
    topic.fail(503, 1);
    const sink = createEventGridSink({ id: "events", publisher: publisher({ credential: new AzureKeyCredential(TOPIC_KEY) }) });

    const failure = await rejection(sink.deliver(sampleAlert(), null), { secret: TOPIC_KEY });

    expect(failure).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: "event-grid sink events: publishing 1 event (request 1 of 1) failed with HTTP 503 (ServiceUnavailable)",
      retryable: true,
      details: { service: "event-grid sink events", status: 503 },
    });
  });
});

describe("the topic's contract", () => {
  const event = { specversion: "1.0", id: "e1", source: "/ripple", type: "Ripple.Sla.AtRisk", data: {} };

  it.each([
    ["no credentials", {}, [event], 401, "Unauthorized"],
    ["a token for another audience", { authorization: `Bearer ${localAccessToken("https://storage.azure.com/.default", "x")}` }, [event], 401, "Unauthorized"],
    ["an event without source", { "aeg-sas-key": TOPIC_KEY }, [{ ...event, source: undefined }], 400, "BadRequest"],
    ["an event of CloudEvents 0.3", { "aeg-sas-key": TOPIC_KEY }, [{ ...event, specversion: "0.3" }], 400, "BadRequest"],
    ["a body over 1 MB", { "aeg-sas-key": TOPIC_KEY }, [{ ...event, data: "x".repeat(1_100_000) }], 413, "PayloadTooLarge"],
  ])("refuses %s", async (_case, headers, events, status, code) => {
    const answer = await post(JSON.stringify(events), { "content-type": BATCH_CONTENT_TYPE, ...headers });

    expect({ status: answer.status, code: (JSON.parse(answer.body) as { error: { code: string } }).error.code, recorded: topic.events }).toEqual({ status, code, recorded: [] });
  });

  it("accepts a valid batch with the key", async () => {
    const answer = await post(JSON.stringify([event]), { "content-type": BATCH_CONTENT_TYPE, "aeg-sas-key": TOPIC_KEY });

    expect({ answer, recorded: topic.events }).toEqual({ answer: { status: 200, body: "" }, recorded: [event] });
  });
});
