import { AppError, UpstreamError } from "../../errors.js";

/** The service name GitHub failures carry. */
export const GITHUB_SERVICE = "github";
const SERVICE = GITHUB_SERVICE;

/** Octokit's `Headers` of a response. */
type Headers = Readonly<Record<string, string | number | undefined>>;

/** The HTTP status of an Octokit error, else null. */
export function statusOf(error: unknown): number | null {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" ? status : null;
}

/** Whether GitHub answered (a response exists) with one of `statuses`: "not there" for a caller that reads or lists. */
export function answeredWith(error: unknown, statuses: readonly number[]): boolean {
  const status = statusOf(error);
  return status !== null && (error as { response?: unknown }).response !== undefined && statuses.includes(status);
}

/**
 * An Octokit failure as an UpstreamError: the action, the status and GitHub's short `message`, never
 * request headers or the token; the Octokit error is not kept as `cause` because it holds the request.
 * Octokit reports a request that got no answer as status 500 without a response: that is a network error.
 */
export function toGitHubError(error: unknown, action: string): AppError {
  if (error instanceof AppError) return error;
  const status = statusOf(error);
  const response = (error as { response?: { headers?: Headers; data?: unknown } } | null)?.response;
  if (status !== null && response !== undefined) {
    const message = (response.data as { message?: unknown } | null)?.message;
    const short = typeof message === "string" ? `: ${message.slice(0, 200)}` : "";
    const retryAfterMs = rateLimitWaitMs(status, response.headers, message);
    const upstream = new UpstreamError(SERVICE, `${action} failed with HTTP ${status}${short}`, { status, ...(retryAfterMs === null ? {} : { retryable: true }) });
    if (retryAfterMs !== null) Object.assign(upstream.details, { retryAfterMs });
    return upstream;
  }
  if (status !== null) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const code = typeof cause?.code === "string" ? ` ${cause.code}` : "";
    return new UpstreamError(SERVICE, `${action} failed: network error${code}`, { status: null, retryable: true });
  }
  const summary = error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : typeof error;
  return new UpstreamError(SERVICE, `${action} failed: ${summary}`, { status: null, retryable: false });
}

/**
 * How long GitHub asks a client to wait after a rate-limited answer, as its REST rate-limit documentation
 * says: `retry-after` seconds; else, with `x-ratelimit-remaining: 0`, until `x-ratelimit-reset` (plus one
 * second, as Octokit's throttling plugin counts it); else at least a minute. Null for an answer that is no
 * rate limit: a 429 always is one; a 403 is one when the limit is spent or its message names a rate limit.
 */
function rateLimitWaitMs(status: number, headers: Headers | undefined, message: unknown, now = Date.now()): number | null {
  const spent = String(headers?.["x-ratelimit-remaining"]) === "0";
  if (status !== 429 && !(status === 403 && (spent || /rate limit/i.test(String(message))))) return null;
  const retryAfter = Number(headers?.["retry-after"] ?? Number.NaN);
  if (Number.isFinite(retryAfter) && retryAfter >= 0) return Math.ceil(retryAfter * 1000);
  const reset = Number(headers?.["x-ratelimit-reset"] ?? Number.NaN);
  if (spent && Number.isFinite(reset)) return Math.max(reset * 1000 - now, 0) + 1000;
  return 60_000;
}
