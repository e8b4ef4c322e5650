/**
 * The local stack's alert receivers: one PagerDuty, Teams, Slack and webhook receiver each, started
 * together on loopback, with the secrets the sinks need to reach them (drawn at start, handed out only as
 * app settings), and a plain reading of what each one accepted for the demo and the tests.
 */
import { randomBytes } from "node:crypto";
import type { AlertSinkConfig } from "../../config.js";
import { isObject } from "./receiver-http.js";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./pagerduty-receiver.js";
import { ALERTS_CHANNEL, generateSlackBotToken, startSlackReceiver, type SlackReceiver } from "./slack-receiver.js";
import { startTeamsReceiver, type TeamsReceiver } from "./teams-receiver.js";
import { startWebhookReceiver, type WebhookReceiver } from "./webhook-receiver.js";

export type ReceiverKind = "pagerduty" | "teams" | "slack" | "webhook";

/** One alert delivery a receiver accepted, reduced to what a person reads. */
export interface ReceivedAlert {
  readonly receiver: ReceiverKind;
  /** What arrived: `trigger` / `resolve` (PagerDuty, with the alert's own action when it differs), `chat.postMessage` / `chat.update` / `webhook` (Slack), `card` (Teams), the CloudEvent's action (webhook). */
  readonly what: string;
  /** The alert's summary, or the title a chat message shows (which starts with what the delivery is). */
  readonly text: string;
  /** The campaign it is about, read from its campaign link; null when none shows. */
  readonly campaignId: string | null;
}

export interface AlertReceivers {
  readonly pagerduty: PagerDutyReceiver;
  readonly teams: TeamsReceiver;
  readonly slack: SlackReceiver;
  readonly webhook: WebhookReceiver;
  /** `{{pagerduty}}` (the Events API endpoint) and `{{slack}}` (the Web API base URL), for the stack's configuration. */
  readonly placeholders: Readonly<Record<string, string>>;
  /**
   * The app settings the sinks of `sinks` read (routing key, bot token, webhook URLs, signing secret), for
   * every sink of a kind with a local receiver. Secrets: they belong in the app's environment and in 0600
   * files only.
   */
  settingsFor(sinks: readonly AlertSinkConfig[]): Record<string, string>;
  /** What each receiver accepted, oldest first per receiver. */
  received(): ReceivedAlert[];
  stop(): Promise<void>;
}

/** Starts the four receivers with fresh secrets; on failure, stops those already started. */
export async function startAlertReceivers(): Promise<AlertReceivers> {
  const routingKey = randomBytes(16).toString("hex");
  const webhookSecret = `whsec_${randomBytes(32).toString("base64")}`;
  const botToken = generateSlackBotToken();
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const pagerduty = await startPagerDutyReceiver();
    started.push(pagerduty);
    const teams = await startTeamsReceiver();
    started.push(teams);
    const slack = await startSlackReceiver({ botToken });
    started.push(slack);
    const webhook = await startWebhookReceiver({ secret: webhookSecret });
    started.push(webhook);
    const secrets = { routingKey, webhookSecret, botToken };
    return {
      pagerduty,
      teams,
      slack,
      webhook,
      placeholders: { pagerduty: pagerduty.url, slack: slack.apiUrl },
      settingsFor: (sinks) => Object.assign({}, ...sinks.map((sink) => sinkSettings(sink, { pagerduty, teams, slack, webhook }, secrets))) as Record<string, string>,
      received: () => [...receivedByPagerDuty(pagerduty), ...receivedBySlack(slack), ...receivedByTeams(teams), ...receivedByWebhook(webhook)],
      stop: async () => {
        for (const receiver of started.reverse()) await receiver.stop();
      },
    };
  } catch (error) {
    for (const receiver of started.reverse()) await receiver.stop().catch(() => undefined);
    throw error;
  }
}

type Receivers = Pick<AlertReceivers, "pagerduty" | "teams" | "slack" | "webhook">;

/** The settings one sink reads, pointed at its kind's receiver; none for kinds without one (GitHub issue, Event Grid). */
function sinkSettings(sink: AlertSinkConfig, receivers: Receivers, secrets: { routingKey: string; webhookSecret: string; botToken: string }): Record<string, string> {
  switch (sink.kind) {
    case "pagerduty":
      return { [sink.routingKeySetting]: secrets.routingKey };
    case "teams":
      return { [sink.webhookUrlSetting]: receivers.teams.url };
    case "slack":
      return {
        ...(sink.webhookUrlSetting === undefined ? {} : { [sink.webhookUrlSetting]: receivers.slack.webhookUrl }),
        ...(sink.tokenSetting === undefined ? {} : { [sink.tokenSetting]: secrets.botToken }),
      };
    case "webhook":
      return { [sink.urlSetting]: receivers.webhook.url, [sink.secretSetting]: secrets.webhookSecret };
    default:
      return {};
  }
}

/** The campaign a message links to (`…/api/campaigns/<id>`), anywhere in it. */
function campaignOf(body: unknown): string | null {
  const match = /\/api\/campaigns\/([^"#?\s)>|\\]+)/.exec(JSON.stringify(body) ?? "");
  if (match?.[1] === undefined) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

function receivedByPagerDuty(receiver: PagerDutyReceiver): ReceivedAlert[] {
  return receiver.requests.flatMap((request) => {
    if (request.status !== 202 || !isObject(request.body)) return [];
    const event = request.body;
    const payload = isObject(event["payload"]) ? event["payload"] : {};
    const details = isObject(payload["custom_details"]) ? payload["custom_details"] : {};
    const action = String(event["event_action"]);
    const own = typeof details["action"] === "string" && details["action"] !== action ? ` (${details["action"]})` : "";
    const dedupKey = typeof event["dedup_key"] === "string" ? event["dedup_key"] : "";
    const text = typeof payload["summary"] === "string" ? payload["summary"] : `incident ${receiver.incident(dedupKey)?.status ?? "unknown"}: ${incidentSummary(receiver, dedupKey)}`;
    const campaignId = campaignOf(event) ?? (dedupKey.startsWith("ripple-") ? dedupKey.slice("ripple-".length) : null);
    return [{ receiver: "pagerduty" as const, what: `${action}${own}`, text, campaignId }];
  });
}

/** The summary of the latest trigger of the incident with `dedupKey`. */
function incidentSummary(receiver: PagerDutyReceiver, dedupKey: string): string {
  const payload = receiver.incident(dedupKey)?.payload;
  return isObject(payload) && typeof payload["summary"] === "string" ? payload["summary"] : dedupKey;
}

function receivedBySlack(receiver: SlackReceiver): ReceivedAlert[] {
  return receiver.requests.flatMap((request) => {
    if (request.status !== 200 || request.error !== null || !isObject(request.body)) return [];
    const what = request.path.startsWith("/api/") ? request.path.slice("/api/".length) : "webhook";
    const blocks = Array.isArray(request.body["blocks"]) ? (request.body["blocks"] as unknown[]) : [];
    const header = blocks.find((block) => isObject(block) && block["type"] === "header");
    const title = isObject(header) && isObject(header["text"]) ? header["text"]["text"] : request.body["text"];
    const reply = typeof request.body["thread_ts"] === "string" ? " (thread reply)" : what === "chat.update" ? " (edited in place)" : "";
    return [{ receiver: "slack" as const, what: `${what}${reply}`, text: typeof title === "string" ? title : "", campaignId: campaignOf(request.body) }];
  });
}

function receivedByTeams(receiver: TeamsReceiver): ReceivedAlert[] {
  return receiver.cards.map((card) => {
    const [first] = Array.isArray(card["body"]) ? (card["body"] as unknown[]) : [];
    const title = isObject(first) && typeof first["text"] === "string" ? first["text"] : "";
    return { receiver: "teams" as const, what: "card", text: title, campaignId: campaignOf(card) };
  });
}

function receivedByWebhook(receiver: WebhookReceiver): ReceivedAlert[] {
  return receiver.deliveries.map(({ event, duplicate }) => {
    const data = isObject(event["data"]) ? event["data"] : {};
    const type = typeof event["type"] === "string" ? event["type"] : "";
    const what = `${type.replace(/^com\.ripple\.alert\./, "")}${duplicate ? " (duplicate)" : ""}`;
    return { receiver: "webhook" as const, what, text: typeof data["summary"] === "string" ? data["summary"] : "", campaignId: typeof data["campaignId"] === "string" ? data["campaignId"] : campaignOf(event) };
  });
}

export { ALERTS_CHANNEL };
