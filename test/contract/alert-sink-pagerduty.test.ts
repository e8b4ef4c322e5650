import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPagerDutySink, type PagerDutySinkOptions } from "../../shared/adapters/alert-sinks/pagerduty/pagerduty-sink.js";
import type { AlertAction, AlertItem, AlertSink } from "../../shared/ports/alert-sink.js";
import { sampleAlert } from "./helpers/alert-message.js";
import { startPagerDutyReceiver as startPagerDutyContractServer, type PagerDutyReceiver as PagerDutyContractServer } from "../../shared/local/alert-receivers/pagerduty-receiver.js";
import { rejection, type ErrorShape } from "./helpers/rejection.js";

const ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6";
const SERVICE = "pagerduty sink oncall-pd";
const ALERT = sampleAlert();

/** The trigger event {@link ALERT} becomes, field by field as the Events API v2 documents it. */
const TRIGGER_EVENT = {
  routing_key: ROUTING_KEY,
  event_action: "trigger",
  dedup_key: ALERT.dedupeKey,
  payload: {
    summary: ALERT.summary,
    source: "docker.io/library/alpine:3.20",
    severity: "critical",
    timestamp: "2026-11-26T13:12:00.000Z",
    component: "ripple",
    group: ALERT.campaignId,
    class: "patch-sla",
    custom_details: {
      campaign: ALERT.campaignId,
      base: "docker.io/library/alpine:3.20",
      from_digest: ALERT.fromDigest,
      to_digest: ALERT.toDigest,
      late: "1 of 14",
      action: "trigger",
      sequence: 1,
      items: [
        {
          dependent: "rippleacr.azurecr.io/team/api:1.0",
          kind: "rebuild",
          status: "failed",
          step: "rebuild failed: step 3 exited 1",
          late_by: "5 h 12 min",
          due: "2026-11-26T08:00:00.000Z",
        },
      ],
    },
  },
  links: [
    { href: ALERT.campaignUrl, text: "Campaign" },
    { href: "https://ripple.example.com/runbook#rebuild-failed", text: "Runbook" },
    { href: "https://ripple.example.com/runs/cb1", text: "rippleacr.azurecr.io/team/api:1.0: Run logs" },
  ],
  client: "Ripple",
  client_url: ALERT.campaignUrl,
};

function item(index: number): AlertItem {
  return { dependent: `rippleacr.azurecr.io/team/app-${index}:1.0`, kind: "rebuild", status: "overdue", step: "pending: no recipe", dueAt: "2026-11-26T08:00:00.000Z", lateByMs: -2_400_000, links: [{ label: "Run logs", url: `https://ripple.example.com/runs/${index}` }] };
}

let server: PagerDutyContractServer;
let sink: AlertSink;

function makeSink(options: Partial<PagerDutySinkOptions> = {}): AlertSink {
  return createPagerDutySink({ id: "oncall-pd", routingKey: ROUTING_KEY, endpoint: server.url, ...options });
}

beforeEach(async () => {
  server = await startPagerDutyContractServer();
  sink = makeSink();
});
afterEach(async () => {
  await server.stop();
});

describe("PagerDuty sink: events and alert lifecycle (Events API v2)", () => {
  it("sends the documented trigger event and returns the dedup_key PagerDuty answered", async () => {
    expect(await sink.deliver(ALERT, null)).toEqual(ALERT.dedupeKey);
    expect(server.requests).toEqual([{ method: "POST", path: "/v2/enqueue", contentType: "application/json", bytes: expect.any(Number), body: TRIGGER_EVENT, status: 202 }]);
    expect(sink.kind).toEqual("pagerduty");
  });

  it("opens one alert on trigger, adds to it on update and closes it on resolve", async () => {
    const refs = [
      await sink.deliver(ALERT, null),
      await sink.deliver(sampleAlert({ action: "update", severity: "warning", late: 2, sequence: 2 }), ALERT.dedupeKey),
    ];
    const open = { routingKey: ROUTING_KEY, dedupKey: ALERT.dedupeKey, status: "triggered", triggers: 2, payload: expect.objectContaining({ severity: "warning", custom_details: expect.objectContaining({ late: "2 of 14", sequence: 2 }) }), links: TRIGGER_EVENT.links, client: "Ripple", clientUrl: ALERT.campaignUrl };
    expect(server.incidents).toEqual([open]);
    refs.push(await sink.deliver(sampleAlert({ action: "resolve", items: [], late: 0, sequence: 3 }), ALERT.dedupeKey));
    expect({ refs, incidents: server.incidents, lastBody: server.requests.at(-1)?.body }).toEqual({
      refs: [ALERT.dedupeKey, ALERT.dedupeKey, ALERT.dedupeKey],
      incidents: [{ ...open, status: "resolved" }],
      lastBody: { routing_key: ROUTING_KEY, event_action: "resolve", dedup_key: ALERT.dedupeKey },
    });
  });

  it("opens a new alert when the campaign triggers again after a resolve, as PagerDuty does", async () => {
    await sink.deliver(ALERT, null);
    await sink.deliver(sampleAlert({ action: "resolve", items: [], sequence: 2 }), ALERT.dedupeKey);
    await sink.deliver(sampleAlert({ sequence: 3 }), ALERT.dedupeKey);
    expect(server.incidents.map(({ dedupKey, status, triggers }) => ({ dedupKey, status, triggers }))).toEqual([
      { dedupKey: ALERT.dedupeKey, status: "resolved", triggers: 1 },
      { dedupKey: ALERT.dedupeKey, status: "triggered", triggers: 1 },
    ]);
  });

});

describe("PagerDuty sink: mapping of actions, severity and limits", () => {
  it.each<[AlertAction, string]>([
    ["trigger", "trigger"],
    ["update", "trigger"],
    ["renotify", "trigger"],
    ["escalate", "trigger"],
    ["resolve", "resolve"],
  ])("maps %s to event_action %s with the campaign's dedup_key", async (action, eventAction) => {
    await sink.deliver(sampleAlert({ action }), null);
    const body = server.requests[0]?.body as Record<string, unknown>;
    expect({ event_action: body["event_action"], dedup_key: body["dedup_key"], hasPayload: "payload" in body, status: server.requests[0]?.status }).toEqual({
      event_action: eventAction,
      dedup_key: ALERT.dedupeKey,
      hasPayload: action !== "resolve",
      status: 202,
    });
  });

  it.each([
    ["warning", "warning"],
    ["critical", "critical"],
  ] as const)("maps severity %s to %s", async (severity, expected) => {
    await sink.deliver(sampleAlert({ severity }), null);
    expect((server.incident(ALERT.dedupeKey)?.payload as { severity: string }).severity).toEqual(expected);
  });

  it("cuts a summary longer than 1024 characters so PagerDuty accepts it", async () => {
    await sink.deliver(sampleAlert({ summary: "s".repeat(2000) }), null);
    expect({ status: server.requests[0]?.status, summary: (server.incident(ALERT.dedupeKey)?.payload as { summary: string }).summary }).toEqual({ status: 202, summary: `${"s".repeat(1023)}…` });
  });

  it("shortens a dedupe key longer than 255 characters the same way every time", async () => {
    const dedupeKey = `ripple-${"x".repeat(300)}`;
    const refs = [await sink.deliver(sampleAlert({ dedupeKey }), null), await sink.deliver(sampleAlert({ dedupeKey, action: "resolve", items: [], sequence: 2 }), null)];
    expect({ same: refs[0] === refs[1], length: refs[0]?.length, statuses: server.incidents.map((incident) => incident.status) }).toEqual({ same: true, length: 255, statuses: ["resolved"] });
  });

  it("lists at most 50 items and 20 links, and counts the rest, for a campaign with many late dependents", async () => {
    await sink.deliver(sampleAlert({ items: Array.from({ length: 500 }, (_, index) => item(index)), late: 500, total: 500 }), null);
    const payload = server.incident(ALERT.dedupeKey)?.payload as { custom_details: { items: Array<{ late_by: string }>; items_not_listed: number } };
    expect({
      status: server.requests[0]?.status,
      listed: payload.custom_details.items.length,
      notListed: payload.custom_details.items_not_listed,
      lateBy: payload.custom_details.items[0]?.late_by,
      links: (server.incident(ALERT.dedupeKey)?.links as unknown[]).length,
    }).toEqual({ status: 202, listed: 50, notListed: 450, lateBy: "due in 40 min", links: 20 });
  });

});

describe("PagerDuty sink: failures and configuration", () => {
  it.each<[string, (server: PagerDutyContractServer) => void, Omit<ErrorShape, "name" | "code">]>([
    [
      "429 with Retry-After",
      (s) => s.fail(429, { retryAfterSeconds: 30 }),
      {
        message: `${SERVICE}: answered 429: {"status":"throttle event","message":"Requests for this service are arriving too quickly. Please retry later."}`,
        retryable: true,
        details: { service: SERVICE, status: 429, retryAfterMs: 30_000 },
      },
    ],
    ["500", (s) => s.fail(500), { message: `${SERVICE}: answered 500: {"status":"error","message":"Internal Server Error"}`, retryable: true, details: { service: SERVICE, status: 500 } }],
    ["503", (s) => s.fail(503), { message: `${SERVICE}: answered 503: {"status":"error","message":"Internal Server Error"}`, retryable: true, details: { service: SERVICE, status: 503 } }],
    ["a held request", (s) => s.hang(), { message: `${SERVICE}: request failed: timed out`, retryable: true, details: { service: SERVICE, status: null } }],
  ])("turns %s into an UpstreamError without the routing key", async (_name, script, expected) => {
    script(server);
    const error = await rejection(makeSink({ timeoutMs: 300 }).deliver(ALERT, null), { secret: ROUTING_KEY });
    expect(error).toEqual({ name: "UpstreamError", code: "upstream_failed", ...expected });
  });

  it("turns an invalid event into a permanent UpstreamError naming PagerDuty's reasons", async () => {
    const error = await rejection(sink.deliver(sampleAlert({ summary: "" }), null), { secret: ROUTING_KEY });
    expect({ error, incidents: server.incidents }).toEqual({
      error: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: `${SERVICE}: answered 400: {"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank"]}`,
        retryable: false,
        details: { service: SERVICE, status: 400 },
      },
      incidents: [],
    });
  });

  it("turns a refused connection into a retryable UpstreamError", async () => {
    const closed = await startPagerDutyContractServer();
    await closed.stop();
    const error = await rejection(makeSink({ endpoint: closed.url }).deliver(ALERT, null), { secret: ROUTING_KEY });
    expect(error).toEqual({ name: "UpstreamError", code: "upstream_failed", message: `${SERVICE}: request failed: network failure`, retryable: true, details: { service: SERVICE, status: null } });
  });

  it.each([
    ["plain http to another host", { endpoint: "http://events.pagerduty.example/v2/enqueue" }, "pagerduty sink oncall-pd: endpoint: must be an https URL (http only to loopback)"],
    ["not a URL", { endpoint: `not a url ${ROUTING_KEY}` }, "pagerduty sink oncall-pd: endpoint: not a URL"],
    ["a routing key of the wrong length", { routingKey: `${ROUTING_KEY}0` }, "pagerduty sink oncall-pd: routing key must be the 32-character integration key"],
  ])("refuses %s at construction without naming the value", async (_name, options, message) => {
    const error = await rejection(Promise.resolve().then(() => makeSink(options)), { secret: ROUTING_KEY });
    expect(error).toEqual({ name: "ConfigError", code: "config_invalid", message, retryable: false, details: { issues: [] } });
  });

  it("posts to PagerDuty's endpoint by default, through the fetch it is given", async () => {
    const calls: Array<{ url: string; method: string | undefined }> = [];
    const recording: typeof fetch = async (url, init) => {
      calls.push({ url: String(url), method: init?.method });
      return new Response(JSON.stringify({ status: "success", message: "Event processed", dedup_key: ALERT.dedupeKey }), { status: 202 });
    };
    const ref = await createPagerDutySink({ id: "oncall-pd", routingKey: ROUTING_KEY, fetch: recording }).deliver(ALERT, null);
    expect({ ref, calls }).toEqual({ ref: ALERT.dedupeKey, calls: [{ url: "https://events.pagerduty.com/v2/enqueue", method: "POST" }] });
  });
});
