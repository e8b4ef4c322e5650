import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createWebhookSink, verifyWebhookSignature, type WebhookSinkOptions } from "../../shared/adapters/alert-sinks/webhook/webhook-sink.js";
import type { AlertAction, AlertSink } from "../../shared/ports/alert-sink.js";
import { sampleAlert } from "./helpers/alert-message.js";
import { rejection, type ErrorShape } from "./helpers/rejection.js";
import { startWebhookReceiver as startWebhookContractServer, type WebhookReceiver as WebhookContractServer, type WebhookRequest } from "../../shared/local/alert-receivers/webhook-receiver.js";

const KEY = Buffer.from("ripple-contract-test-secret-0001");
const SECRET = `whsec_${KEY.toString("base64")}`;
const OTHER_SECRET = `whsec_${Buffer.from("another-receivers-secret-0000002").toString("base64")}`;
const SERVICE = "webhook sink ops-hook";
const ALERT = sampleAlert();
const EVENT_ID = /^msg_[0-9a-f]{32}$/;

let server: WebhookContractServer;
let sink: AlertSink;
/** The attempt clock of the sink: a whole second close to the receiver's clock. */
let sentAt: Date;

function makeSink(options: Partial<WebhookSinkOptions> = {}): AlertSink {
  return createWebhookSink({ id: "ops-hook", url: server.url, secret: SECRET, now: () => sentAt, ...options });
}

function received(index = 0): WebhookRequest {
  const request = server.requests[index];
  if (request === undefined) throw new Error(`no request ${index}`);
  return request;
}

beforeEach(async () => {
  server = await startWebhookContractServer({ secret: SECRET });
  sentAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  sink = makeSink();
});
afterEach(async () => {
  await server.stop();
});

describe("webhook sink: CloudEvents 1.0 structured mode", () => {
  it("delivers one structured-mode CloudEvent with the Standard Webhooks headers", async () => {
    expect(await sink.deliver(ALERT, null)).toBeNull();
    const request = received();
    expect({
      status: request.status,
      contentType: request.headers["content-type"],
      webhookId: request.headers["webhook-id"],
      webhookTimestamp: request.headers["webhook-timestamp"],
      event: JSON.parse(request.body) as unknown,
    }).toEqual({
      status: 204,
      contentType: "application/cloudevents+json; charset=utf-8",
      webhookId: server.deliveries[0]?.event["id"],
      webhookTimestamp: String(sentAt.getTime() / 1000),
      event: {
        specversion: "1.0",
        id: expect.stringMatching(EVENT_ID),
        source: `/ripple/campaigns/${ALERT.campaignId}`,
        type: "com.ripple.alert.trigger",
        subject: ALERT.campaignId,
        time: "2026-11-26T13:12:00.000Z",
        datacontenttype: "application/json",
        data: ALERT,
      },
    });
  });

  it("delivers trigger, update and resolve as three distinct events the receiver accepts", async () => {
    const messages = [ALERT, sampleAlert({ action: "update", late: 2, sequence: 2 }), sampleAlert({ action: "resolve", items: [], late: 0, sequence: 3 })];
    const refs = [];
    for (const message of messages) refs.push(await sink.deliver(message, null));
    const ids = new Set(server.deliveries.map((delivery) => delivery.event["id"]));
    expect({
      refs,
      distinctIds: ids.size,
      deliveries: server.deliveries.map(({ event, duplicate }) => ({ type: event["type"], sequence: (event["data"] as { sequence: number }).sequence, duplicate })),
    }).toEqual({
      refs: [null, null, null],
      distinctIds: 3,
      deliveries: [
        { type: "com.ripple.alert.trigger", sequence: 1, duplicate: false },
        { type: "com.ripple.alert.update", sequence: 2, duplicate: false },
        { type: "com.ripple.alert.resolve", sequence: 3, duplicate: false },
      ],
    });
  });

});

describe("webhook sink: event type, data and id", () => {
  it.each<AlertAction>(["trigger", "update", "renotify", "escalate", "resolve"])("types a %s delivery com.ripple.alert.<action>", async (action) => {
    await sink.deliver(sampleAlert({ action }), null);
    expect(server.deliveries.map((delivery) => delivery.event["type"])).toEqual([`com.ripple.alert.${action}`]);
  });

  it.each([
    ["warning", "warning"],
    ["critical", "critical"],
  ] as const)("carries severity %s in data as %s", async (severity, expected) => {
    await sink.deliver(sampleAlert({ severity }), null);
    expect((server.deliveries[0]?.event["data"] as { severity: string }).severity).toEqual(expected);
  });

  it("keeps a long summary whole: the event carries the message as is", async () => {
    const summary = "s".repeat(5000);
    await sink.deliver(sampleAlert({ summary }), null);
    expect((server.deliveries[0]?.event["data"] as { summary: string }).summary).toEqual(summary);
  });

  it("gives a redelivery of the same message the same CloudEvent id, and the next sequence a new one", async () => {
    await sink.deliver(ALERT, null);
    sentAt = new Date(sentAt.getTime() + 61_000);
    await sink.deliver(ALERT, null);
    await sink.deliver(sampleAlert({ sequence: 2 }), null);
    const [first, again, next] = server.deliveries;
    expect({
      sameId: first?.event["id"] === again?.event["id"],
      sameWebhookId: first?.webhookId === again?.webhookId,
      newIdForNextSequence: next?.event["id"] !== first?.event["id"],
      duplicates: server.deliveries.map((delivery) => delivery.duplicate),
      timestamps: server.requests.map((request) => request.headers["webhook-timestamp"]),
    }).toEqual({
      sameId: true,
      sameWebhookId: true,
      newIdForNextSequence: true,
      duplicates: [false, true, false],
      timestamps: [String(sentAt.getTime() / 1000 - 61), String(sentAt.getTime() / 1000), String(sentAt.getTime() / 1000)],
    });
  });

  it("uses a configured source", async () => {
    await makeSink({ source: "https://ripple.example.com/" }).deliver(ALERT, null);
    expect(server.deliveries[0]?.event["source"]).toEqual(`https://ripple.example.com/campaigns/${ALERT.campaignId}`);
  });

});

describe("webhook sink: Standard Webhooks signature", () => {
  it("signs so that a receiver can verify with the secret: HMAC-SHA256 of id.timestamp.body, base64, v1", async () => {
    await sink.deliver(ALERT, null);
    const request = received();
    const id = String(request.headers["webhook-id"]);
    const timestamp = String(request.headers["webhook-timestamp"]);
    const recomputed = createHmac("sha256", KEY).update(`${id}.${timestamp}.${request.body}`).digest("base64");
    expect({
      header: request.headers["webhook-signature"],
      verification: verifyWebhookSignature(SECRET, { headers: request.headers, body: Buffer.from(request.body) }, { now: sentAt }),
    }).toEqual({ header: `v1,${recomputed}`, verification: { valid: true, id, timestamp: sentAt.getTime() / 1000 } });
  });

  it.each<[string, (headers: Record<string, string>, body: string) => [Record<string, string>, string], Date | null, string]>([
    ["a changed body", (h, b) => [h, b.replace('"critical"', '"warning"')], null, "no-matching-signature"],
    ["a changed webhook-id", (h, b) => [{ ...h, "webhook-id": "msg_0" }, b], null, "no-matching-signature"],
    ["a changed timestamp", (h, b) => [{ ...h, "webhook-timestamp": String(Number(h["webhook-timestamp"]) + 1) }, b], null, "no-matching-signature"],
    ["a signature made with another secret", (h, b) => [{ ...h, "webhook-signature": `v1,${createHmac("sha256", "x").update(b).digest("base64")}` }, b], null, "no-matching-signature"],
    ["only an asymmetric (v1a) signature", (h, b) => [{ ...h, "webhook-signature": h["webhook-signature"]!.replace("v1,", "v1a,") }, b], null, "no-matching-signature"],
    ["a missing signature header", (h, b) => [{ "webhook-id": h["webhook-id"]!, "webhook-timestamp": h["webhook-timestamp"]! }, b], null, "missing-headers"],
    ["a non-numeric timestamp", (h, b) => [{ ...h, "webhook-timestamp": "2026-11-26T13:12:00Z" }, b], null, "bad-timestamp"],
    ["a check 6 minutes later", (h, b) => [h, b], new Date(Date.now() + 360_000), "stale-timestamp"],
    ["a check 6 minutes earlier", (h, b) => [h, b], new Date(Date.now() - 360_000), "future-timestamp"],
  ])("detects %s", async (_name, tamper, checkedAt, reason) => {
    await sink.deliver(ALERT, null);
    const request = received();
    const original = Object.fromEntries(["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => [name, String(request.headers[name])]));
    const [headers, body] = tamper(original, request.body);
    expect(verifyWebhookSignature(SECRET, { headers, body }, checkedAt === null ? {} : { now: checkedAt })).toEqual({ valid: false, reason });
  });

  it("accepts any matching v1 signature among several (secret rotation)", async () => {
    await sink.deliver(ALERT, null);
    const request = received();
    const headers = { ...request.headers, "webhook-signature": `v1,${Buffer.alloc(32).toString("base64")} ${String(request.headers["webhook-signature"])}` };
    expect(verifyWebhookSignature(SECRET, { headers, body: request.body }).valid).toEqual(true);
  });

  it.each<[string, Partial<WebhookSinkOptions>, string]>([
    ["a sink with another secret", { secret: OTHER_SECRET }, `${SERVICE}: answered 401: {"errors":["no-matching-signature"]}`],
    ["a sink whose clock is 10 minutes behind", { now: () => new Date(Date.now() - 600_000) }, `${SERVICE}: answered 401: {"errors":["stale-timestamp"]}`],
  ])("is refused by the receiver as %s: a permanent UpstreamError", async (_name, options, message) => {
    const error = await rejection(makeSink(options).deliver(ALERT, null), { secret: options.secret ?? SECRET });
    expect({ error, deliveries: server.deliveries }).toEqual({
      error: { name: "UpstreamError", code: "upstream_failed", message, retryable: false, details: { service: SERVICE, status: 401 } },
      deliveries: [],
    });
  });

});

describe("webhook sink: failures and configuration", () => {
  it.each<[string, (server: WebhookContractServer) => void, Omit<ErrorShape, "name" | "code">]>([
    ["429 with Retry-After", (s) => s.fail(429, { retryAfterSeconds: 12 }), { message: `${SERVICE}: answered 429: {"errors":[]}`, retryable: true, details: { service: SERVICE, status: 429, retryAfterMs: 12_000 } }],
    ["500", (s) => s.fail(500), { message: `${SERVICE}: answered 500: {"errors":[]}`, retryable: true, details: { service: SERVICE, status: 500 } }],
    ["503 with Retry-After", (s) => s.fail(503, { retryAfterSeconds: 5 }), { message: `${SERVICE}: answered 503: {"errors":[]}`, retryable: true, details: { service: SERVICE, status: 503, retryAfterMs: 5_000 } }],
    ["410 (the receiver is gone)", (s) => s.fail(410), { message: `${SERVICE}: answered 410: {"errors":[]}`, retryable: false, details: { service: SERVICE, status: 410 } }],
    ["a held request", (s) => s.hang(), { message: `${SERVICE}: request failed: timed out`, retryable: true, details: { service: SERVICE, status: null } }],
  ])("turns %s into an UpstreamError without the secret", async (_name, script, expected) => {
    script(server);
    const error = await rejection(makeSink({ timeoutMs: 300 }).deliver(ALERT, null), { secret: SECRET });
    expect(error).toEqual({ name: "UpstreamError", code: "upstream_failed", ...expected });
  });

  it("turns a refused connection into a retryable UpstreamError", async () => {
    const closed = await startWebhookContractServer({ secret: SECRET });
    await closed.stop();
    const error = await rejection(makeSink({ url: closed.url }).deliver(ALERT, null), { secret: SECRET });
    expect(error).toEqual({ name: "UpstreamError", code: "upstream_failed", message: `${SERVICE}: request failed: network failure`, retryable: true, details: { service: SERVICE, status: null } });
  });

  it.each<[string, Partial<WebhookSinkOptions>, string]>([
    ["plain http to another host", { url: "http://hooks.example.com/ripple" }, `${SERVICE}: url: must be an https URL (http only to loopback)`],
    ["not a URL", { url: `hooks ${SECRET}` }, `${SERVICE}: url: not a URL`],
    ["a secret that is not base64", { secret: "hunter2 hunter2 hunter2 hunter2" }, `${SERVICE}: secret: must be a Standard Webhooks secret (whsec_ and base64 of at least 24 bytes)`],
    ["a secret shorter than 24 bytes", { secret: `whsec_${Buffer.from("sixteen-byte-key").toString("base64")}` }, `${SERVICE}: secret: must be a Standard Webhooks secret (whsec_ and base64 of at least 24 bytes)`],
  ])("refuses %s at construction without naming the value", async (_name, options, message) => {
    const error = await rejection(Promise.resolve().then(() => makeSink(options)), { secret: options.secret ?? SECRET });
    expect(error).toEqual({ name: "ConfigError", code: "config_invalid", message, retryable: false, details: { issues: [] } });
  });

  it("lets the receiver refuse an event that is not structured-mode CloudEvents", async () => {
    const body = JSON.stringify({ specversion: "1.0", id: "msg_1", source: "/ripple", type: "com.ripple.alert.trigger" });
    const signed = { "webhook-id": "msg_1", "webhook-timestamp": String(Math.floor(Date.now() / 1000)) };
    const signature = `v1,${createHmac("sha256", KEY).update(`${signed["webhook-id"]}.${signed["webhook-timestamp"]}.${body}`).digest("base64")}`;
    const post = (contentType: string, payload: string) => fetch(server.url, { method: "POST", headers: { "content-type": contentType, ...signed, "webhook-signature": signature }, body: payload });
    const statuses = [(await post("application/json", body)).status, (await post("application/cloudevents+json", body)).status];
    const badBody = JSON.stringify({ specversion: "0.3", id: "", source: "/ripple", type: "t", time: "yesterday", Bad_Name: 1 });
    const badSignature = `v1,${createHmac("sha256", KEY).update(`${signed["webhook-id"]}.${signed["webhook-timestamp"]}.${badBody}`).digest("base64")}`;
    const bad = await fetch(server.url, { method: "POST", headers: { "content-type": "application/cloudevents+json", ...signed, "webhook-signature": badSignature }, body: badBody });
    expect({ statuses, bad: { status: bad.status, body: await bad.json() } }).toEqual({
      statuses: [415, 204],
      bad: { status: 400, body: { errors: ["specversion must be 1.0", "id is required", "time must be an RFC 3339 timestamp", "extension attribute Bad_Name is not a valid name"] } },
    });
  });
});
