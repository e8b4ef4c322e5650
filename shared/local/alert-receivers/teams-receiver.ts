import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { answerFailure, closeServer, isObject, listenOnLoopback, parseJsonBody, readBody, sameSecret } from "./receiver-http.js";

/** Teams' documented message size limit ("about 28 KB"; over it: "Request Entity Too Large"). */
export const TEAMS_MAX_MESSAGE_BYTES = 28 * 1024;
export const ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive";
/** Adaptive Card versions Teams renders. */
const CARD_VERSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"];

/** One request the server saw, with the status it answered. */
export interface TeamsRequest {
  readonly method: string;
  /** The path without the query (the query holds the signature). */
  readonly path: string;
  readonly contentType: string | null;
  readonly bytes: number;
  readonly body: unknown;
  readonly status: number;
}

/**
 * A local Microsoft Teams Workflows webhook (the "Send webhook alerts to a channel" flow's HTTP trigger) —
 * the local stack's Teams and the contract tests' — on 127.0.0.1 and a free port, at `/workflows/<id>/triggers/manual/paths/invoke?api-version=1&sp=…&sv=1.0&sig=<secret>`:
 * - a wrong or missing `sig` gets 401, another path 404, another method 405 (Logic Apps' answers);
 * - a body over 28 KB gets `413 Request Entity Too Large` (learn.microsoft.com, "Create an Incoming Webhook"
 *   and the Teams connector's known limits);
 * - the body must be `{type: "message", attachments: [one {contentType: "application/vnd.microsoft.card.adaptive",
 *   contentUrl: null?, content}]}` with `content.type` `AdaptiveCard`, `content.version` 1.0–1.5, a non-empty
 *   `content.body` of typed elements (a TextBlock with text), and `Action.OpenUrl` actions with an absolute
 *   `url`. The real trigger answers 202 and the flow run fails later on a bad card; this server answers 400
 *   with the reasons, so a test sees it;
 * - a good one gets `202 Accepted` (empty body) and its card is recorded in {@link cards}.
 * Faults are queued with {@link TeamsReceiver.fail}: 429 (with `Retry-After`), 5xx, or any status.
 */
export interface TeamsReceiver {
  /** The webhook URL, secret signature included. */
  readonly url: string;
  /** The signature in the URL (a secret: it must never show in an error or a log). */
  readonly secret: string;
  readonly requests: TeamsRequest[];
  /** Every card posted to the channel, in order (the `content` of the attachment). */
  readonly cards: Record<string, unknown>[];
  /** Answers the next `times` requests with `status` (and `Retry-After: <retryAfterSeconds>` when given). */
  fail(status: number, options?: { times?: number; retryAfterSeconds?: number }): void;
  stop(): Promise<void>;
}

interface Fault {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

const FLOW_PATH = "/workflows/4f1c0de2a9b84c7e/triggers/manual/paths/invoke";

export interface TeamsReceiverOptions {
  /** The `sig` the flow's URL carries; random when not given. */
  readonly signature?: string;
}

export async function startTeamsReceiver(options: TeamsReceiverOptions = {}): Promise<TeamsReceiver> {
  const secret = options.signature ?? randomBytes(24).toString("base64url");
  const requests: TeamsRequest[] = [];
  const cards: Record<string, unknown>[] = [];
  const faults: Fault[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => answerFailure(res, error));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const body = parseJsonBody(raw);
    const reply = route(req.method ?? "", url, raw.length, body);
    requests.push({ method: req.method ?? "", path: url.pathname, contentType: req.headers["content-type"] ?? null, bytes: raw.length, body, status: reply.status });
    if (reply.status === 202) res.writeHead(202).end();
    else res.writeHead(reply.status, { "content-type": "application/json; charset=utf-8", ...reply.headers }).end(JSON.stringify(reply.body));
  }

  function route(method: string, url: URL, bytes: number, body: unknown): Reply {
    if (url.pathname !== FLOW_PATH) return failure(404, "WorkflowNotFound", "The workflow could not be found.");
    if (method !== "POST") return failure(405, "MethodNotAllowed", "The HTTP method is not allowed for this trigger.");
    if (!sameSecret(url.searchParams.get("sig"), secret)) return failure(401, "DirectApiInvalidAuthorizationSignature", "The provided authorization signature is not valid.");
    const fault = faults.shift();
    if (fault !== undefined) return faultReply(fault);
    if (bytes > TEAMS_MAX_MESSAGE_BYTES) return failure(413, "RequestEntityTooLarge", "Request Entity Too Large");
    const errors = validateMessage(body);
    if (errors.length > 0) return failure(400, "InvalidRequestContent", errors.join("; "));
    const attachments = (body as { attachments: Array<{ content: Record<string, unknown> }> }).attachments;
    cards.push(attachments[0]?.content ?? {});
    return { status: 202, body: null };
  }

  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}${FLOW_PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${secret}`,
    secret,
    requests,
    cards,
    fail(status, options = {}) {
      for (let i = 0; i < (options.times ?? 1); i += 1) faults.push({ status, retryAfterSeconds: options.retryAfterSeconds });
    },
    stop: () => closeServer(server),
  };
}

/** The reasons the flow would not post `body` as a card, empty when it would. */
export function validateMessage(body: unknown): string[] {
  if (!isObject(body)) return ["the body is not a JSON object"];
  if (body["type"] !== "message") return ["'type' must be 'message'"];
  const attachments = body["attachments"];
  if (!Array.isArray(attachments) || attachments.length !== 1) return ["'attachments' must hold exactly one card"];
  const attachment: unknown = attachments[0];
  if (!isObject(attachment) || attachment["contentType"] !== ADAPTIVE_CARD) return [`'attachments[0].contentType' must be '${ADAPTIVE_CARD}'`];
  if (attachment["contentUrl"] !== undefined && attachment["contentUrl"] !== null) return ["'attachments[0].contentUrl' must be null"];
  return validateCard(attachment["content"]);
}

function validateCard(card: unknown): string[] {
  if (!isObject(card)) return ["'content' is not an object"];
  const errors: string[] = [];
  if (card["type"] !== "AdaptiveCard") errors.push("'content.type' must be 'AdaptiveCard'");
  if (typeof card["version"] !== "string" || !CARD_VERSIONS.includes(card["version"])) errors.push("'content.version' must be 1.0 to 1.5");
  const cardBody = card["body"];
  if (!Array.isArray(cardBody) || cardBody.length === 0) errors.push("'content.body' must be a non-empty array");
  else errors.push(...cardBody.flatMap((element, index) => validateElement(element, `content.body[${index}]`)));
  const actions = card["actions"] ?? [];
  if (!Array.isArray(actions)) errors.push("'content.actions' must be an array");
  else errors.push(...actions.flatMap((action, index) => validateAction(action, `content.actions[${index}]`)));
  return errors;
}

function validateElement(element: unknown, path: string): string[] {
  if (!isObject(element) || typeof element["type"] !== "string") return [`'${path}.type' is missing`];
  if (element["type"] === "TextBlock") return typeof element["text"] === "string" && element["text"] !== "" ? [] : [`'${path}.text' is missing`];
  if (element["type"] === "Container") {
    const items = element["items"];
    return Array.isArray(items) ? items.flatMap((item, index) => validateElement(item, `${path}.items[${index}]`)) : [`'${path}.items' must be an array`];
  }
  if (element["type"] === "FactSet") return Array.isArray(element["facts"]) ? [] : [`'${path}.facts' must be an array`];
  return [];
}

function validateAction(action: unknown, path: string): string[] {
  if (!isObject(action) || action["type"] !== "Action.OpenUrl") return [`'${path}.type' must be 'Action.OpenUrl' (a webhook card has no bot to receive a submit)`];
  const url = action["url"];
  return typeof url === "string" && /^https?:\/\//.test(url) ? [] : [`'${path}.url' must be an absolute URL`];
}

function failure(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message } } };
}

function faultReply(fault: Fault): Reply {
  const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) };
  const reply =
    fault.status === 429
      ? failure(429, "TooManyRequests", "Rate limit is exceeded. Try again later.")
      : fault.status === 404
        ? failure(404, "WorkflowNotFound", "The workflow could not be found.")
        : failure(fault.status, "InternalServerError", "The server encountered an error.");
  return { ...reply, headers };
}
