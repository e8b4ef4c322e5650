import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { answerFailure, closeServer, isObject, listenOnLoopback, parseJsonBody, readBody, sameSecret } from "./receiver-http.js";

/** Slack's documented limits (docs.slack.dev, "Blocks" and chat.postMessage). */
export const SLACK_MAX_BLOCKS = 50;
const MAX_HEADER_CHARS = 150;
const MAX_SECTION_CHARS = 3000;
const MAX_CONTEXT_ELEMENTS = 10;
const MAX_TEXT_CHARS = 40_000;
const BLOCK_TYPES = new Set(["header", "section", "context", "divider", "actions", "image", "rich_text", "markdown"]);

/** The receiver's one channel: both the webhook and the bot post to it. */
export const ALERTS_CHANNEL = { id: "C0123456789", name: "ripple-alerts" } as const;

/** A bot token in Slack's shape (`xoxb-<team>-<bot>-<secret>`), random. */
export function generateSlackBotToken(): string {
  const digits = (): string => String(1_000_000_000 + (randomBytes(4).readUInt32BE() % 9_000_000_000));
  return `xoxb-${digits()}-${digits()}-${randomBytes(18).toString("base64url")}`;
}

/** The bot token a receiver accepts when it is given none: drawn once per process, never written anywhere. */
export const DEFAULT_SLACK_BOT_TOKEN = generateSlackBotToken();

export interface SlackReceiverOptions {
  /** The bot token the Web API accepts (default {@link DEFAULT_SLACK_BOT_TOKEN}). */
  readonly botToken?: string;
  /** The secret last part of the incoming webhook's path; random when not given. */
  readonly webhookSecret?: string;
}

/** A message as Slack keeps it: posted once, edited in place by `chat.update`. */
export interface SlackStoredMessage {
  readonly channel: string;
  readonly ts: string;
  text: string;
  blocks: unknown[];
  /** The parent's `ts` for a thread reply, else null. */
  readonly threadTs: string | null;
  readonly replyBroadcast: boolean;
  /** How the message was posted: by the incoming webhook or the bot. */
  readonly via: "webhook" | "bot";
  /** How many times `chat.update` edited it. */
  edits: number;
}

/** One request the server saw, with the status and (for the Web API) the `error` it answered. */
export interface SlackRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | null;
  readonly contentType: string | null;
  readonly body: unknown;
  readonly status: number;
  readonly error: string | null;
}

/** A queued fault for the webhook or one Web API method. */
export interface SlackFault {
  /** `webhook`, `chat.postMessage` or `chat.update`. */
  readonly target: "webhook" | "chat.postMessage" | "chat.update";
  /** An HTTP status (429 with `Retry-After`, 5xx), or 200 with an `error` code for the Web API. */
  readonly status: number;
  readonly error: string;
  readonly retryAfterSeconds?: number;
}

/**
 * A local Slack (127.0.0.1, a free port) — the local stack's Slack and the contract tests' — that serves both ways of posting as Slack documents them:
 * - **Incoming webhook** `POST /services/T0RIPPLE/B0RIPPLE/<secret>`: a JSON body with `text` or `blocks`;
 *   200 `ok` (text/plain); 400 `invalid_payload` (not JSON) / `no_text` / `invalid_blocks`; 403
 *   `invalid_token` for a wrong secret; 404 `no_service` for another hook; 410 `channel_is_archived`
 *   once the channel is archived (api.slack.com changelog 2016-05-17 "Improving error conditions for
 *   Incoming Webhooks").
 * - **Web API** `POST /api/chat.postMessage` and `/api/chat.update`: `Authorization: Bearer <token>`
 *   (missing: `not_authed`, wrong: `invalid_auth`), JSON body; HTTP 200 with `{ok: true, channel, ts,
 *   message}` or `{ok: false, error}`. `chat.postMessage` takes a channel id or name and answers with the
 *   id; `chat.update` needs the id (`channel_not_found` for a name) and an existing `ts`
 *   (`message_not_found`); `thread_ts` must name a message of the channel (`thread_not_found`); an
 *   archived channel gives `is_archived`; text over 40,000 characters `msg_too_long`.
 * - Blocks (both ways): at most 50, known types, header text ≤ 150, section text ≤ 3,000, context ≤ 10
 *   elements, else `invalid_blocks`.
 * Messages are kept by channel and `ts` so a test sees an edit in place and thread replies.
 */
export interface SlackReceiver {
  /** The incoming webhook URL, secret included. */
  readonly webhookUrl: string;
  /** The secret part of {@link webhookUrl} (never to show in an error or a log). */
  readonly webhookSecret: string;
  /** The bot token the Web API accepts (a secret). */
  readonly botToken: string;
  /** The Web API base URL (`http://127.0.0.1:<port>/api`). */
  readonly apiUrl: string;
  readonly requests: SlackRequest[];
  /** Every message of `channel` (an id), in the order they were posted. */
  messages(channel?: string): SlackStoredMessage[];
  /** Deletes a message, as a person in the channel could. */
  deleteMessage(channel: string, ts: string): void;
  /** Archives the channel: the webhook answers 410, the Web API `is_archived`. */
  archive(): void;
  fail(fault: SlackFault, times?: number): void;
  stop(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

interface State {
  readonly webhookSecret: string;
  readonly botToken: string;
  readonly store: Map<string, SlackStoredMessage>;
  readonly faults: SlackFault[];
  archived: boolean;
  clock: number;
}

const WEBHOOK_PREFIX = "/services/T0RIPPLE/B0RIPPLE/";

export async function startSlackReceiver(options: SlackReceiverOptions = {}): Promise<SlackReceiver> {
  const state: State = {
    webhookSecret: options.webhookSecret ?? randomBytes(18).toString("base64url"),
    botToken: options.botToken ?? DEFAULT_SLACK_BOT_TOKEN,
    store: new Map(),
    faults: [],
    archived: false,
    clock: 0,
  };
  const requests: SlackRequest[] = [];
  const server = createServer((req, res) => {
    void handle(state, requests, req, res).catch((error: unknown) => answerFailure(res, error));
  });
  const port = await listenOnLoopback(server);
  return {
    webhookUrl: `http://127.0.0.1:${port}${WEBHOOK_PREFIX}${state.webhookSecret}`,
    webhookSecret: state.webhookSecret,
    botToken: state.botToken,
    apiUrl: `http://127.0.0.1:${port}/api`,
    requests,
    messages: (channel = ALERTS_CHANNEL.id) => [...state.store.values()].filter((message) => message.channel === channel),
    deleteMessage: (channel, ts) => void state.store.delete(`${channel}:${ts}`),
    archive: () => void (state.archived = true),
    fail(fault, times = 1) {
      for (let i = 0; i < times; i += 1) state.faults.push(fault);
    },
    stop: () => closeServer(server),
  };
}

async function handle(state: State, requests: SlackRequest[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = await readBody(req);
  const path = req.url ?? "/";
  const body = parseJsonBody(raw);
  const authorization = req.headers.authorization ?? null;
  const reply = req.method !== "POST" ? { status: 405, text: "method_not_allowed" } : path.startsWith("/api/") ? webApi(state, path.slice(5), authorization, body) : webhook(state, path, raw.length, body);
  const error = isObject(reply.json) && typeof reply.json["error"] === "string" ? reply.json["error"] : null;
  requests.push({ method: req.method ?? "", path, authorization, contentType: req.headers["content-type"] ?? null, body, status: reply.status, error });
  if (reply.json !== undefined) res.writeHead(reply.status, { "content-type": "application/json; charset=utf-8", ...reply.headers }).end(JSON.stringify(reply.json));
  else res.writeHead(reply.status, { "content-type": "text/plain; charset=utf-8", ...reply.headers }).end(reply.text ?? "");
}

function webhook(state: State, path: string, bytes: number, body: unknown): Reply {
  if (!path.startsWith(WEBHOOK_PREFIX)) return { status: 404, text: "no_service" };
  if (!sameSecret(path.slice(WEBHOOK_PREFIX.length), state.webhookSecret)) return { status: 403, text: "invalid_token" };
  const fault = takeFault(state, "webhook");
  if (fault !== undefined) return { status: fault.status, text: fault.error, headers: retryAfter(fault) };
  if (state.archived) return { status: 410, text: "channel_is_archived" };
  if (bytes === 0 || !isObject(body)) return { status: 400, text: "invalid_payload" };
  const problem = validateContent(body);
  if (problem !== null) return { status: 400, text: problem };
  post(state, { channel: ALERTS_CHANNEL.id, text: stringOr(body["text"]), blocks: arrayOr(body["blocks"]), threadTs: null, replyBroadcast: false, via: "webhook" });
  return { status: 200, text: "ok" };
}

function webApi(state: State, method: string, authorization: string | null, body: unknown): Reply {
  if (method !== "chat.postMessage" && method !== "chat.update") return slackError("unknown_method");
  if (authorization === null) return slackError("not_authed");
  if (!sameSecret(authorization, `Bearer ${state.botToken}`)) return slackError("invalid_auth");
  const fault = takeFault(state, method);
  if (fault !== undefined) return { status: fault.status, json: { ok: false, error: fault.error }, headers: retryAfter(fault) };
  if (!isObject(body)) return slackError("invalid_json");
  const channel = resolveChannel(body["channel"], method === "chat.update");
  if (channel === null) return slackError("channel_not_found");
  if (state.archived) return slackError("is_archived");
  const problem = validateContent(body);
  if (problem !== null) return slackError(problem);
  return method === "chat.postMessage" ? postMessage(state, channel, body) : updateMessage(state, channel, body);
}

function postMessage(state: State, channel: string, body: Record<string, unknown>): Reply {
  const threadTs = typeof body["thread_ts"] === "string" ? body["thread_ts"] : null;
  if (threadTs !== null && !state.store.has(`${channel}:${threadTs}`)) return slackError("thread_not_found");
  const message = post(state, { channel, text: stringOr(body["text"]), blocks: arrayOr(body["blocks"]), threadTs, replyBroadcast: body["reply_broadcast"] === true, via: "bot" });
  return { status: 200, json: { ok: true, channel, ts: message.ts, message: describe(message) } };
}

function updateMessage(state: State, channel: string, body: Record<string, unknown>): Reply {
  const ts = body["ts"];
  const message = typeof ts === "string" ? state.store.get(`${channel}:${ts}`) : undefined;
  if (message === undefined) return slackError("message_not_found");
  message.text = stringOr(body["text"]);
  // Without `blocks` an update keeps the old ones only when it has no text either (chat.update docs).
  if (Array.isArray(body["blocks"])) message.blocks = body["blocks"];
  else if (body["text"] !== undefined) message.blocks = [];
  message.edits += 1;
  return { status: 200, json: { ok: true, channel, ts: message.ts, text: message.text, message: describe(message) } };
}

function post(state: State, fields: Omit<SlackStoredMessage, "ts" | "edits">): SlackStoredMessage {
  state.clock += 1;
  const message: SlackStoredMessage = { ...fields, ts: `${1764150000 + state.clock}.${String(state.clock * 100).padStart(6, "0")}`, edits: 0 };
  state.store.set(`${message.channel}:${message.ts}`, message);
  return message;
}

function describe(message: SlackStoredMessage): Record<string, unknown> {
  return { type: "message", text: message.text, blocks: message.blocks, ts: message.ts, bot_id: "B0RIPPLE", ...(message.threadTs === null ? {} : { thread_ts: message.threadTs }) };
}

/** An id (`C…`) or, for posting only, a name with or without `#`. */
function resolveChannel(value: unknown, idOnly: boolean): string | null {
  if (value === ALERTS_CHANNEL.id) return ALERTS_CHANNEL.id;
  if (!idOnly && (value === ALERTS_CHANNEL.name || value === `#${ALERTS_CHANNEL.name}`)) return ALERTS_CHANNEL.id;
  return null;
}

/** The error code Slack gives for this `text` / `blocks`, or null when it takes them. */
function validateContent(body: Record<string, unknown>): string | null {
  const { text, blocks } = body;
  if (text !== undefined && typeof text !== "string") return "invalid_arguments";
  if (blocks !== undefined && !Array.isArray(blocks)) return "invalid_blocks_format";
  if ((text === undefined || text === "") && (blocks === undefined || blocks.length === 0)) return "no_text";
  if (typeof text === "string" && text.length > MAX_TEXT_CHARS) return "msg_too_long";
  if (Array.isArray(blocks) && (blocks.length > SLACK_MAX_BLOCKS || !blocks.every(isValidBlock))) return "invalid_blocks";
  return null;
}

function isValidBlock(block: unknown): boolean {
  if (!isObject(block) || typeof block["type"] !== "string" || !BLOCK_TYPES.has(block["type"])) return false;
  const text = isObject(block["text"]) ? block["text"]["text"] : undefined;
  if (block["type"] === "header") return isObject(block["text"]) && block["text"]["type"] === "plain_text" && typeof text === "string" && text.length > 0 && text.length <= MAX_HEADER_CHARS;
  if (block["type"] === "section") return typeof text === "string" && text.length > 0 && text.length <= MAX_SECTION_CHARS;
  if (block["type"] === "context") {
    const elements = block["elements"];
    return Array.isArray(elements) && elements.length > 0 && elements.length <= MAX_CONTEXT_ELEMENTS;
  }
  return true;
}

function takeFault(state: State, target: SlackFault["target"]): SlackFault | undefined {
  const index = state.faults.findIndex((fault) => fault.target === target);
  return index < 0 ? undefined : state.faults.splice(index, 1)[0];
}

function retryAfter(fault: SlackFault): Record<string, string> {
  return fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) };
}

function slackError(error: string): Reply {
  return { status: 200, json: { ok: false, error } };
}

function stringOr(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function arrayOr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
