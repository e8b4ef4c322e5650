/**
 * The one HTTP exchange every alert sink makes: a JSON (or other) POST to a secret URL, with the error
 * mapping of the ports (network, 408, 429 and 5xx retryable; `Retry-After` as `details.retryAfterMs`; other
 * 4xx permanent) and never the URL, a key or a token in an error message.
 */
import { ConfigError, UpstreamError } from "../../errors.js";
import { parseRetryAfter } from "../oci/registry-content-client.js";

export interface SinkRequest {
  /** The sink's name in messages (`pagerduty sink oncall-pd`). */
  readonly service: string;
  readonly url: string;
  readonly method?: "POST" | "PUT" | "PATCH" | "GET";
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as is; a non-string is sent as JSON with `content-type: application/json`. */
  readonly body?: unknown;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
  /** A fetch to use instead of the global one (tests, a proxy). */
  readonly fetch?: typeof fetch;
}

export interface SinkResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body as text (empty for none). */
  readonly text: string;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * A sink URL must be https; plain http is allowed to loopback only (the local stack's receivers).
 * @throws ConfigError naming the setting (never the value) when it is not.
 */
export function checkSinkUrl(url: string, setting: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${setting}: not a URL`);
  }
  if (parsed.protocol === "https:" || (parsed.protocol === "http:" && LOOPBACK.has(parsed.hostname))) return parsed;
  throw new ConfigError(`${setting}: must be an https URL (http only to loopback)`);
}

/**
 * Sends one request and returns the answer when it is 2xx.
 * @throws UpstreamError: retryable for network failures and timeouts (status null), 408, 429 and 5xx, with
 *   `details.retryAfterMs` from `Retry-After`; permanent for other statuses. The message names the service,
 *   the status and at most 200 characters of the answer, never the URL.
 */
export async function sendToSink(request: SinkRequest): Promise<SinkResponse> {
  const headers: Record<string, string> = { ...request.headers };
  let body: string | undefined;
  if (typeof request.body === "string") body = request.body;
  else if (request.body !== undefined) {
    body = JSON.stringify(request.body);
    headers["content-type"] ??= "application/json";
  }
  let response: Response;
  try {
    response = await (request.fetch ?? fetch)(request.url, {
      method: request.method ?? "POST",
      headers,
      body,
      redirect: "error",
      signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
    });
  } catch (error) {
    const reason = error instanceof Error && error.name === "TimeoutError" ? "timed out" : "network failure";
    throw new UpstreamError(request.service, `request failed: ${reason}`, { status: null });
  }
  const text = await response.text().catch(() => "");
  if (response.ok) return { status: response.status, headers: response.headers, text };
  const error = new UpstreamError(request.service, `answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`, { status: response.status });
  const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
  if (retryAfterMs !== null) error.details["retryAfterMs"] = retryAfterMs;
  throw error;
}
