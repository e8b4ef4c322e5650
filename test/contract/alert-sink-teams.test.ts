import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTeamsSink } from "../../shared/adapters/alert-sinks/teams/teams-sink.js";
import type { AlertAction } from "../../shared/ports/alert-sink.js";
import { ConfigError } from "../../shared/errors.js";
import { sampleAlert, sampleItems } from "./helpers/alert-message.js";
import { rejection } from "./helpers/rejection.js";
import { TEAMS_MAX_MESSAGE_BYTES, startTeamsReceiver as startTeamsContractServer, type TeamsReceiver as TeamsContractServer } from "../../shared/local/alert-receivers/teams-receiver.js";

const SINK_ID = "oncall-teams";
const SERVICE = `teams sink ${SINK_ID}`;

let server: TeamsContractServer;

beforeEach(async () => {
  server = await startTeamsContractServer();
});

afterEach(async () => {
  await server.stop();
});

/** The text of the card's first TextBlock, its title. */
function titleOf(card: Record<string, unknown>): unknown {
  return (card["body"] as Array<Record<string, unknown>>)[0]?.["text"];
}

/** The dependents a card lists, in order (each item's first TextBlock). */
function dependentsOf(card: Record<string, unknown>): unknown[] {
  const body = card["body"] as Array<Record<string, unknown>>;
  return body.filter((element) => element["type"] === "Container").map((container) => (container["items"] as Array<Record<string, unknown>>)[0]?.["text"]);
}

describe("Teams Workflows alert sink", () => {
  it("posts a new card for every action, titled with what it is, and keeps no reference", async () => {
    const sink = createTeamsSink({ id: SINK_ID, webhookUrl: server.url });
    const actions: AlertAction[] = ["trigger", "update", "renotify", "escalate", "resolve"];
    const references: Array<string | null> = [];
    for (const [index, action] of actions.entries()) {
      const items = action === "resolve" ? [] : undefined;
      references.push(await sink.deliver(sampleAlert({ action, sequence: index + 1, ...(items ? { items } : {}) }), references.at(-1) ?? null));
    }

    const summary = sampleAlert().summary;
    expect({ references, kind: sink.kind, titles: server.cards.map(titleOf), answers: server.requests.map((request) => [request.status, request.contentType]) }).toEqual({
      references: [null, null, null, null, null],
      kind: "teams",
      titles: [`Late patch: ${summary}`, `Updated: ${summary}`, `Reminder: ${summary}`, `Escalated: ${summary}`, `Resolved: ${summary}`],
      answers: Array.from({ length: 5 }, () => [202, "application/json; charset=utf-8"]),
    });
  });

  it("renders one fixed alert as this card", async () => {
    await createTeamsSink({ id: SINK_ID, webhookUrl: server.url }).deliver(sampleAlert(), null);

    expect(server.cards).toHaveLength(1);
    expect(server.cards[0]).toMatchSnapshot();
  });

  it("fits 1,000 items under 28 KB: the last items give way to one 'and N more' line", async () => {
    const items = sampleItems(1000);
    await createTeamsSink({ id: SINK_ID, webhookUrl: server.url }).deliver(sampleAlert({ items, late: 1000, total: 1200 }), null);

    const [card] = server.cards;
    const shown = dependentsOf(card ?? {});
    const body = (card?.["body"] ?? []) as Array<Record<string, unknown>>;
    expect({
      fits: (server.requests[0]?.bytes ?? Infinity) < TEAMS_MAX_MESSAGE_BYTES,
      enough: shown.length >= 20,
      shown,
      last: body.at(-1)?.["text"],
    }).toEqual({
      fits: true,
      enough: true,
      shown: items.slice(0, shown.length).map((item) => item.dependent),
      last: `and ${1000 - shown.length} more — see the campaign page`,
    });
  });

});

describe("Teams Workflows alert sink errors", () => {
  it.each([
    { status: 429, retryAfterSeconds: 30, retryable: true, code: "TooManyRequests", text: "Rate limit is exceeded. Try again later.", extra: { retryAfterMs: 30_000 } },
    { status: 500, retryAfterSeconds: undefined, retryable: true, code: "InternalServerError", text: "The server encountered an error.", extra: {} },
    { status: 503, retryAfterSeconds: 5, retryable: true, code: "InternalServerError", text: "The server encountered an error.", extra: { retryAfterMs: 5_000 } },
    { status: 404, retryAfterSeconds: undefined, retryable: false, code: "WorkflowNotFound", text: "The workflow could not be found.", extra: {} },
  ])("answers $status: retryable $retryable, never naming the URL", async ({ status, retryAfterSeconds, retryable, code, text, extra }) => {
    server.fail(status, { retryAfterSeconds });
    const sink = createTeamsSink({ id: SINK_ID, webhookUrl: server.url });

    expect(await rejection(sink.deliver(sampleAlert(), null), { secret: server.secret })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: answered ${status}: ${JSON.stringify({ error: { code, message: text } })}`,
      retryable,
      details: { service: SERVICE, status, ...extra },
    });
  });

  it("is refused permanently with a wrong signature, and the signature stays out of the error", async () => {
    const wrong = server.url.replace(server.secret, "wrong-signature-0000");
    const sink = createTeamsSink({ id: SINK_ID, webhookUrl: wrong });

    expect(await rejection(sink.deliver(sampleAlert(), null), { secret: "wrong-signature-0000" })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: answered 401: {"error":{"code":"DirectApiInvalidAuthorizationSignature","message":"The provided authorization signature is not valid."}}`,
      retryable: false,
      details: { service: SERVICE, status: 401 },
    });
  });

  it("fails retryably when nothing answers", async () => {
    const sink = createTeamsSink({ id: SINK_ID, webhookUrl: server.url });
    await server.stop();
    server = await startTeamsContractServer();

    expect(await rejection(sink.deliver(sampleAlert(), null), { secret: "sig=" })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `${SERVICE}: request failed: network failure`,
      retryable: true,
      details: { service: SERVICE, status: null },
    });
  });

  it.each(["http://teams.example.com/workflows/1/triggers/manual/paths/invoke?sig=abc", "ftp://127.0.0.1/x", "not a url"])("refuses the webhook URL %s without naming it", (webhookUrl) => {
    let thrown: unknown;
    try {
      createTeamsSink({ id: SINK_ID, webhookUrl });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).message).toBe(webhookUrl === "not a url" ? `${SERVICE}: webhookUrl: not a URL` : `${SERVICE}: webhookUrl: must be an https URL (http only to loopback)`);
  });
});

describe("Teams contract server", () => {
  const card = { type: "AdaptiveCard", version: "1.4", body: [{ type: "TextBlock", text: "hello" }] };
  const attachment = { contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null, content: card };

  it.each([
    { name: "a good card", body: { type: "message", attachments: [attachment] }, status: 202 },
    { name: "no type", body: { attachments: [attachment] }, status: 400 },
    { name: "two attachments", body: { type: "message", attachments: [attachment, attachment] }, status: 400 },
    { name: "a hero card", body: { type: "message", attachments: [{ ...attachment, contentType: "application/vnd.microsoft.card.hero" }] }, status: 400 },
    { name: "version 1.6", body: { type: "message", attachments: [{ ...attachment, content: { ...card, version: "1.6" } }] }, status: 400 },
    { name: "an empty body", body: { type: "message", attachments: [{ ...attachment, content: { ...card, body: [] } }] }, status: 400 },
    { name: "over 28 KB", body: { type: "message", attachments: [{ ...attachment, content: { ...card, body: [{ type: "TextBlock", text: "x".repeat(TEAMS_MAX_MESSAGE_BYTES) }] } }] }, status: 413 },
  ])("answers $status to $name", async ({ body, status }) => {
    const response = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    await response.arrayBuffer();
    expect(response.status).toBe(status);
  });
});
