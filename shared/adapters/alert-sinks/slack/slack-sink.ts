/**
 * Alerts to Slack, either through an incoming webhook (post only) or as a bot through the Web API, which
 * keeps one message per alert up to date and replies in its thread when people must be notified again.
 */
import type { AlertMessage, AlertSink } from "../../../ports/alert-sink.js";
import { checkSinkUrl, sendToSink } from "../sink-http.js";
import { renderSlackMessage, renderSlackReply } from "./slack-blocks.js";
import { createSlackWebApi, isSlackError, type SlackPosted, type SlackWebApi } from "./slack-web-api.js";

/** An incoming webhook: posts to the channel it was created for. */
export interface SlackWebhookSinkOptions {
  readonly id: string;
  /** `https://hooks.slack.com/services/…`. A secret: never logged or put in an error. */
  readonly webhookUrl: string;
  readonly fetch?: typeof fetch;
}

/** A bot token with `chat:write`, posting to `channel` (an id like `C0123456789`, or a name). */
export interface SlackBotSinkOptions {
  readonly id: string;
  /** A bot token (`xoxb-…`). A secret: never logged or put in an error. */
  readonly token: string;
  readonly channel: string;
  /** The Web API base URL (default `https://slack.com/api`). */
  readonly apiUrl?: string;
  readonly fetch?: typeof fetch;
}

export type SlackSinkOptions = SlackWebhookSinkOptions | SlackBotSinkOptions;

/** Updates that cannot edit the message in place: post a new one and keep that instead. */
const POST_AGAIN_ERRORS: ReadonlySet<string> = new Set(["message_not_found", "edit_window_closed", "cant_update_message"]);

/**
 * A Slack alert sink.
 * - Webhook: every delivery posts a new message whose header says what it is (`Resolved: …`); returns null.
 *   Not idempotent: a redelivery posts again.
 * - Bot: the first delivery (and any trigger) posts with `chat.postMessage` and returns `channel:ts` (the
 *   channel id Slack answered); later ones edit that message with `chat.update`, and a renotify or escalation also replies
 *   in its thread with `reply_broadcast` (an edit notifies nobody). When the message is gone (or can no
 *   longer be edited) a new one is posted and its reference returned. Idempotent for the edit; a
 *   redelivered renotify replies again.
 * @throws ConfigError when `webhookUrl` or `apiUrl` is not https (http only to loopback), naming the setting.
 */
export function createSlackSink(options: SlackSinkOptions): AlertSink {
  const service = `slack sink ${options.id}`;
  if ("webhookUrl" in options) {
    checkSinkUrl(options.webhookUrl, `${service}: webhookUrl`);
    return { id: options.id, kind: "slack", deliver: (message) => postToWebhook(service, options, message) };
  }
  const apiUrl = (options.apiUrl ?? "https://slack.com/api").replace(/\/+$/, "");
  checkSinkUrl(apiUrl, `${service}: apiUrl`);
  const api = createSlackWebApi({ service, token: options.token, apiUrl, fetch: options.fetch });
  return { id: options.id, kind: "slack", deliver: (message, previous) => deliverAsBot(api, options.channel, message, previous) };
}

/**
 * Slack answers 200 `ok`, or 400 `invalid_payload`, 403 `action_prohibited`, 404 `no_service` /
 * `channel_not_found`, 410 `channel_is_archived` (all permanent), 429 with `Retry-After`, 500 `rollup_error`.
 */
async function postToWebhook(service: string, options: SlackWebhookSinkOptions, message: AlertMessage): Promise<null> {
  await sendToSink({ service, url: options.webhookUrl, headers: { "content-type": "application/json; charset=utf-8" }, body: renderSlackMessage(message), fetch: options.fetch });
  return null;
}

async function deliverAsBot(api: SlackWebApi, channel: string, message: AlertMessage, previous: string | null): Promise<string> {
  const content = renderSlackMessage(message);
  const kept = parseReference(previous);
  // A trigger opens the alert (again, after a resolve): it must notify, which an edit does not.
  if (kept === null || message.action === "trigger") return formatReference(await api("chat.postMessage", { channel, ...content }));
  try {
    await api("chat.update", { channel: kept.channel, ts: kept.ts, ...content });
  } catch (error) {
    if (!isSlackError(error, POST_AGAIN_ERRORS)) throw error;
    return formatReference(await api("chat.postMessage", { channel, ...content }));
  }
  if (message.action === "renotify" || message.action === "escalate") {
    await api("chat.postMessage", { channel: kept.channel, thread_ts: kept.ts, reply_broadcast: true, ...renderSlackReply(message) });
  }
  return formatReference(kept);
}

/** `C0123456789:1700000000.000100`; anything else is treated as no message yet. */
function parseReference(reference: string | null): SlackPosted | null {
  const match = reference === null ? null : /^([A-Z0-9]+):(\d+\.\d+)$/.exec(reference);
  return match?.[1] !== undefined && match[2] !== undefined ? { channel: match[1], ts: match[2] } : null;
}

function formatReference(posted: SlackPosted): string {
  return `${posted.channel}:${posted.ts}`;
}
