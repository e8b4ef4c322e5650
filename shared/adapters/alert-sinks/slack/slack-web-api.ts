/**
 * The two Slack Web API methods the Slack sink calls, over {@link sendToSink}. Slack answers most errors with
 * HTTP 200 and `{"ok": false, "error": "<code>"}`; this turns those into the port's UpstreamError.
 */
import { z } from "zod";
import { UpstreamError } from "../../../errors.js";
import { parseRetryAfter } from "../../oci/registry-content-client.js";
import { sendToSink } from "../sink-http.js";

/** Error codes that say "try again later": Slack's transient failures and its rate limit. */
export const RETRYABLE_SLACK_ERRORS: ReadonlySet<string> = new Set([
  "ratelimited",
  "rate_limited",
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
]);

/** Slack error codes are short snake-case words; anything else is not repeated in an error message. */
const ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

const SlackAnswer = z.object({
  ok: z.boolean(),
  error: z.string().optional(),
  channel: z.string().optional(),
  ts: z.string().optional(),
});
type SlackAnswer = z.infer<typeof SlackAnswer>;

export type SlackMethod = "chat.postMessage" | "chat.update";

export interface SlackWebApiOptions {
  /** The sink's name in messages (`slack sink oncall`). */
  readonly service: string;
  /** A bot token (`xoxb-…`). Sent as `Authorization: Bearer`, never logged or put in an error. */
  readonly token: string;
  /** `https://slack.com/api`, without a trailing slash. */
  readonly apiUrl: string;
  readonly fetch?: typeof fetch;
}

/** A posted or edited message: the channel id Slack answered with and the message's `ts`. */
export interface SlackPosted {
  readonly channel: string;
  readonly ts: string;
}

export type SlackWebApi = (method: SlackMethod, body: Readonly<Record<string, unknown>>) => Promise<SlackPosted>;

/**
 * A caller of `chat.postMessage` / `chat.update` with JSON bodies and Bearer auth.
 * @throws UpstreamError: retryable for network failures, HTTP 408/429/5xx and the codes in
 *   {@link RETRYABLE_SLACK_ERRORS} (with `details.retryAfterMs` from `Retry-After`), permanent for other
 *   codes; `details.slackError` holds the code.
 */
export function createSlackWebApi(options: SlackWebApiOptions): SlackWebApi {
  return async (method, body) => {
    const response = await sendToSink({
      service: options.service,
      url: `${options.apiUrl}/${method}`,
      // Slack reads a JSON body only with a charset; without one it warns `missing_charset`.
      headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json; charset=utf-8" },
      body,
      fetch: options.fetch,
    });
    const answer = parseAnswer(response.text);
    if (answer === null) throw new UpstreamError(options.service, `${method} answered ${response.status} without a Slack API result`, { status: response.status, retryable: false });
    if (!answer.ok) throw slackError(options.service, method, answer, response.status, response.headers);
    if (answer.channel === undefined || answer.ts === undefined) {
      throw new UpstreamError(options.service, `${method} answered ok without channel and ts`, { status: response.status, retryable: false });
    }
    return { channel: answer.channel, ts: answer.ts };
  };
}

/** True when `error` is a Slack API error with one of `codes`. */
export function isSlackError(error: unknown, codes: ReadonlySet<string>): boolean {
  if (!(error instanceof UpstreamError)) return false;
  const code = error.details["slackError"];
  return typeof code === "string" && codes.has(code);
}

function parseAnswer(text: string): SlackAnswer | null {
  try {
    const parsed = SlackAnswer.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function slackError(service: string, method: SlackMethod, answer: SlackAnswer, status: number, headers: Headers): UpstreamError {
  const code = answer.error !== undefined && ERROR_CODE.test(answer.error) ? answer.error : "unknown_error";
  const retryable = RETRYABLE_SLACK_ERRORS.has(code);
  const error = new UpstreamError(service, `${method} answered ${code}`, { status, retryable });
  error.details["slackError"] = code;
  const retryAfterMs = retryable ? parseRetryAfter(headers.get("retry-after")) : null;
  if (retryAfterMs !== null) error.details["retryAfterMs"] = retryAfterMs;
  return error;
}
