import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSlackSink } from "../../shared/adapters/alert-sinks/slack/slack-sink.js";
import { ConfigError } from "../../shared/errors.js";
import type { AlertAction, AlertMessage } from "../../shared/ports/alert-sink.js";
import { sampleAlert, sampleItems } from "./helpers/alert-message.js";
import { rejection } from "./helpers/rejection.js";
import {
  ALERTS_CHANNEL,
  DEFAULT_SLACK_BOT_TOKEN as BOT_TOKEN,
  SLACK_MAX_BLOCKS,
  startSlackReceiver as startSlackContractServer,
  type SlackFault,
  type SlackReceiver as SlackContractServer,
  type SlackStoredMessage,
} from "../../shared/local/alert-receivers/slack-receiver.js";

const SINK_ID = "oncall-slack";
const SERVICE = `slack sink ${SINK_ID}`;
const SUMMARY = sampleAlert().summary;

let server: SlackContractServer;

beforeEach(async () => {
  server = await startSlackContractServer();
});

afterEach(async () => {
  await server.stop();
});

function botSink(overrides: { token?: string; channel?: string } = {}) {
  return createSlackSink({ id: SINK_ID, token: overrides.token ?? BOT_TOKEN, channel: overrides.channel ?? `#${ALERTS_CHANNEL.name}`, apiUrl: server.apiUrl });
}

function webhookSink() {
  return createSlackSink({ id: SINK_ID, webhookUrl: server.webhookUrl });
}

function alert(action: AlertAction, sequence: number): AlertMessage {
  return sampleAlert({ action, sequence, ...(action === "resolve" ? { items: [], late: 0 } : {}) });
}

/** The header text of a stored message (its first block). */
function headerOf(message: SlackStoredMessage | undefined): unknown {
  const [first] = (message?.blocks ?? []) as Array<{ text?: { text?: unknown } }>;
  return first?.text?.text;
}

/** A stored message reduced to what a reader of the channel sees. */
function seen(message: SlackStoredMessage) {
  return { ts: message.ts, via: message.via, header: headerOf(message), text: message.text, threadTs: message.threadTs, replyBroadcast: message.replyBroadcast, edits: message.edits };
}

describe("Slack alert sink, incoming webhook", () => {
  it("posts a new message for every action, headed with what it is, and keeps no reference", async () => {
    const sink = webhookSink();
    const references: Array<string | null> = [];
    for (const [index, action] of (["trigger", "update", "renotify", "resolve"] as const).entries()) references.push(await sink.deliver(alert(action, index + 1), null));

    expect({ references, kind: sink.kind, headers: server.messages().map(headerOf), texts: server.messages().map((message) => message.text), answers: server.requests.map((request) => request.status) }).toEqual({
      references: [null, null, null, null],
      kind: "slack",
      headers: [`Late patch: ${SUMMARY}`, `Updated: ${SUMMARY}`, `Reminder: ${SUMMARY}`, `Resolved: ${SUMMARY}`],
      texts: [SUMMARY, SUMMARY, SUMMARY, SUMMARY],
      answers: [200, 200, 200, 200],
    });
  });

  it.each([
    { name: "an archived channel", setup: (s: SlackContractServer) => s.archive(), status: 410, body: "channel_is_archived", retryable: false, extra: {} },
    { name: "a rate limit", setup: (s: SlackContractServer) => s.fail({ target: "webhook", status: 429, error: "rate_limited", retryAfterSeconds: 12 }), status: 429, body: "rate_limited", retryable: true, extra: { retryAfterMs: 12_000 } },
    { name: "a server error", setup: (s: SlackContractServer) => s.fail({ target: "webhook", status: 500, error: "rollup_error" }), status: 500, body: "rollup_error", retryable: true, extra: {} },
    { name: "a refused payload", setup: (s: SlackContractServer) => s.fail({ target: "webhook", status: 400, error: "invalid_payload" }), status: 400, body: "invalid_payload", retryable: false, extra: {} },
  ])("answers $name with $status: retryable $retryable, never naming the URL", async ({ setup, status, body, retryable, extra }) => {
    setup(server);

    expect(await rejection(webhookSink().deliver(alert("trigger", 1), null), { secret: server.webhookSecret })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: answered ${status}: ${body}`,
      retryable,
      details: { service: SERVICE, status, ...extra },
    });
  });

  it.each([
    { name: "a revoked hook", replace: (url: string, secret: string) => url.replace(secret, "revoked-hook-0000"), status: 403, body: "invalid_token" },
    { name: "another workspace's hook", replace: (url: string) => url.replace("/services/T0RIPPLE/", "/services/T0OTHER/"), status: 404, body: "no_service" },
  ])("is refused permanently for $name", async ({ replace, status, body }) => {
    const sink = createSlackSink({ id: SINK_ID, webhookUrl: replace(server.webhookUrl, server.webhookSecret) });

    expect(await rejection(sink.deliver(alert("trigger", 1), null), { secret: "revoked-hook-0000" })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: answered ${status}: ${body}`,
      retryable: false,
      details: { service: SERVICE, status },
    });
  });
});

describe("Slack alert sink, bot token", () => {
  it("posts once, then edits that message in place, replying in its thread to renotify and escalate", async () => {
    const sink = botSink();
    const references: Array<string | null> = [];
    for (const [index, action] of (["trigger", "update", "renotify", "escalate", "resolve"] as const).entries()) {
      references.push(await sink.deliver(alert(action, index + 1), references.at(-1) ?? null));
    }

    const [parent, reminder, escalation] = server.messages();
    const reference = `${ALERTS_CHANNEL.id}:${parent?.ts}`;
    const reply = (label: string, ts: string | undefined) => ({
      ts,
      via: "bot",
      header: `${label}: ${SUMMARY} · <${sampleAlert().campaignUrl}|campaign page>`,
      text: `${label}: ${SUMMARY} · <${sampleAlert().campaignUrl}|campaign page>`,
      threadTs: parent?.ts,
      replyBroadcast: true,
      edits: 0,
    });
    expect({ references, messages: server.messages().map(seen), calls: server.requests.map((request) => [request.path, request.authorization, request.error]) }).toEqual({
      references: [reference, reference, reference, reference, reference],
      messages: [
        { ts: parent?.ts, via: "bot", header: `Resolved: ${SUMMARY}`, text: SUMMARY, threadTs: null, replyBroadcast: false, edits: 4 },
        reply("Reminder", reminder?.ts),
        reply("Escalated", escalation?.ts),
      ],
      calls: [
        ["/api/chat.postMessage", `Bearer ${BOT_TOKEN}`, null],
        ["/api/chat.update", `Bearer ${BOT_TOKEN}`, null],
        ["/api/chat.update", `Bearer ${BOT_TOKEN}`, null],
        ["/api/chat.postMessage", `Bearer ${BOT_TOKEN}`, null],
        ["/api/chat.update", `Bearer ${BOT_TOKEN}`, null],
        ["/api/chat.postMessage", `Bearer ${BOT_TOKEN}`, null],
        ["/api/chat.update", `Bearer ${BOT_TOKEN}`, null],
      ],
    });
  });

  it("posts a new message when the kept one was deleted (message_not_found) and returns its reference", async () => {
    const sink = botSink();
    const first = await sink.deliver(alert("trigger", 1), null);
    const [kept] = server.messages();
    server.deleteMessage(ALERTS_CHANNEL.id, kept?.ts ?? "");

    const second = await sink.deliver(alert("update", 2), first);

    const [fresh] = server.messages();
    expect({ second, messages: server.messages().map(seen), errors: server.requests.map((request) => request.error) }).toEqual({
      second: `${ALERTS_CHANNEL.id}:${fresh?.ts}`,
      messages: [{ ts: fresh?.ts, via: "bot", header: `Updated: ${SUMMARY}`, text: SUMMARY, threadTs: null, replyBroadcast: false, edits: 0 }],
      errors: [null, "message_not_found", null],
    });
    expect(second).not.toBe(first);
  });

  it("posts a new message for a trigger even with a kept one (an alert opened again after its resolve)", async () => {
    const sink = botSink();
    const first = await sink.deliver(alert("resolve", 5), null);

    const second = await sink.deliver(alert("trigger", 6), first);

    expect({ second, messages: server.messages().map(seen) }).toEqual({
      second: `${ALERTS_CHANNEL.id}:${server.messages()[1]?.ts}`,
      messages: [
        { ts: server.messages()[0]?.ts, via: "bot", header: `Resolved: ${SUMMARY}`, text: SUMMARY, threadTs: null, replyBroadcast: false, edits: 0 },
        { ts: server.messages()[1]?.ts, via: "bot", header: `Late patch: ${SUMMARY}`, text: SUMMARY, threadTs: null, replyBroadcast: false, edits: 0 },
      ],
    });
  });

  it.each([null, "not-a-reference", "#ripple-alerts:1764150001.000100"])("posts a new message when the reference is %s", async (previous) => {
    const reference = await botSink().deliver(alert("update", 2), previous);

    expect({ reference, count: server.messages().length }).toEqual({ reference: `${ALERTS_CHANNEL.id}:${server.messages()[0]?.ts}`, count: 1 });
  });

});

describe("Slack alert sink, bot token, rendering", () => {
  it("renders one fixed alert as these blocks", async () => {
    await botSink().deliver(sampleAlert(), null);

    const [message] = server.messages();
    expect({ text: message?.text, blocks: message?.blocks }).toMatchSnapshot();
  });

  it.each([
    { via: "bot", sink: () => botSink() },
    { via: "webhook", sink: () => webhookSink() },
  ])("fits 1,000 items in at most 50 blocks ($via): the last give way to one 'and N more' line", async ({ sink }) => {
    const items = sampleItems(1000);
    await sink().deliver(sampleAlert({ items, late: 1000, total: 1200 }), null);

    const blocks = (server.messages()[0]?.blocks ?? []) as Array<{ type: string; text?: { text: string }; elements?: Array<{ text: string }> }>;
    const shown = blocks.filter((block) => block.type === "section").slice(1).map((block) => block.text?.text.split("\n")[0]);
    expect({
      withinLimit: blocks.length <= SLACK_MAX_BLOCKS,
      enough: shown.length >= 20,
      shown,
      more: blocks.at(-2)?.elements?.[0]?.text,
    }).toEqual({
      withinLimit: true,
      enough: true,
      shown: items.slice(0, shown.length).map((item) => `*${item.dependent}*`),
      more: `and ${1000 - shown.length} more — see the campaign page`,
    });
  });

});

describe("Slack alert sink, bot token, errors", () => {
  const retryable = (error: string, extra: Record<string, unknown> = {}) => ({ error, retryable: true, extra });
  const permanent = (error: string) => ({ error, retryable: false, extra: {} });
  it.each([
    { ...retryable("ratelimited", { retryAfterMs: 3_000 }), retryAfterSeconds: 3 },
    retryable("internal_error"),
    retryable("fatal_error"),
    retryable("service_unavailable"),
    retryable("request_timeout"),
    permanent("not_authed"),
    permanent("account_inactive"),
    permanent("token_revoked"),
    permanent("msg_too_long"),
    permanent("invalid_blocks"),
    permanent("missing_scope"),
  ])("maps {ok: false, error: $error} to retryable $retryable", async ({ error, retryable: isRetryable, extra, ...rest }) => {
    const retryAfterSeconds = "retryAfterSeconds" in rest ? rest.retryAfterSeconds : undefined;
    server.fail({ target: "chat.postMessage", status: 200, error, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });

    expect(await rejection(botSink().deliver(alert("trigger", 1), null), { secret: BOT_TOKEN })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: chat.postMessage answered ${error}`,
      retryable: isRetryable,
      details: { service: SERVICE, status: 200, slackError: error, ...extra },
    });
  });

  it.each([
    { fault: { target: "chat.update", status: 429, error: "ratelimited", retryAfterSeconds: 7 }, retryable: true, extra: { retryAfterMs: 7_000 } },
    { fault: { target: "chat.update", status: 503, error: "service_unavailable" }, retryable: true, extra: {} },
  ] satisfies Array<{ fault: SlackFault; retryable: boolean; extra: Record<string, unknown> }>)("maps HTTP $fault.status on an update to retryable", async ({ fault, retryable: isRetryable, extra }) => {
    const sink = botSink();
    const reference = await sink.deliver(alert("trigger", 1), null);
    server.fail(fault);

    expect(await rejection(sink.deliver(alert("update", 2), reference), { secret: BOT_TOKEN })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: answered ${fault.status}: {"ok":false,"error":"${fault.error}"}`,
      retryable: isRetryable,
      details: { service: SERVICE, status: fault.status, ...extra },
    });
  });

  it.each([
    { name: "a wrong token", sink: () => botSink({ token: "xoxb-wrong-token-0000" }), error: "invalid_auth" },
    { name: "an unknown channel", sink: () => botSink({ channel: "#nowhere" }), error: "channel_not_found" },
  ])("fails permanently with $name, naming no token", async ({ sink, error }) => {
    expect(await rejection(sink().deliver(alert("trigger", 1), null), { secret: "xoxb-" })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: chat.postMessage answered ${error}`,
      retryable: false,
      details: { service: SERVICE, status: 200, slackError: error },
    });
  });
});

describe("Slack sink settings", () => {
  it.each([
    { options: { id: SINK_ID, webhookUrl: "http://hooks.slack.example.com/services/T/B/secret" }, message: `${SERVICE}: webhookUrl: must be an https URL (http only to loopback)` },
    { options: { id: SINK_ID, token: BOT_TOKEN, channel: "C0123456789", apiUrl: "http://slack.example.com/api" }, message: `${SERVICE}: apiUrl: must be an https URL (http only to loopback)` },
    { options: { id: SINK_ID, webhookUrl: "hooks.slack.com/services/T/B/secret" }, message: `${SERVICE}: webhookUrl: not a URL` },
  ])("refuses $options.id with $message", ({ options, message }) => {
    expect(() => createSlackSink(options)).toThrow(new ConfigError(message));
  });
});

describe("Slack contract server", () => {
  const post = (method: string, body: unknown) =>
    fetch(`${server.apiUrl}/${method}`, { method: "POST", headers: { authorization: `Bearer ${BOT_TOKEN}`, "content-type": "application/json; charset=utf-8" }, body: JSON.stringify(body) }).then((response) => response.json());
  const section = { type: "section", text: { type: "mrkdwn", text: "x" } };

  it.each([
    { name: "51 blocks", body: { channel: ALERTS_CHANNEL.id, text: "t", blocks: Array.from({ length: 51 }, () => section) }, error: "invalid_blocks" },
    { name: "a 151-character header", body: { channel: ALERTS_CHANNEL.id, text: "t", blocks: [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }] }, error: "invalid_blocks" },
    { name: "no text or blocks", body: { channel: ALERTS_CHANNEL.id }, error: "no_text" },
    { name: "a channel name on update", body: { channel: ALERTS_CHANNEL.name, ts: "1.000100", text: "t" }, error: "channel_not_found", method: "chat.update" },
  ])("refuses $name with $error", async ({ body, error, method }) => {
    expect(await post(method ?? "chat.postMessage", body)).toEqual({ ok: false, error });
  });
});
