import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type Agent } from "node:https";
import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import { ConfigError } from "../../errors.js";

/** Octokit with the retry and throttling plugins, as {@link createGitHubOctokit} builds it. */
const RippleOctokit = Octokit.plugin(retry, throttling);
export type GitHubOctokit = InstanceType<typeof RippleOctokit>;

export interface GitHubOctokitOptions {
  /** The GitHub App's id (or client id). */
  readonly appId: number | string;
  /** The App's private key, PEM (PKCS#1 as GitHub hands it out, or PKCS#8). */
  readonly privateKey: string;
  /** The installation whose access token the client uses for every API call. */
  readonly installationId: number;
  /** REST root, default `https://api.github.com` (GitHub Enterprise: `https://host/api/v3`). */
  readonly baseUrl?: string;
  /**
   * An `https.Agent` for every request, e.g. one carrying a private CA (`new Agent({ ca })`). The client
   * then sends requests through `node:https` instead of the global `fetch`. Exclusive with `fetch`.
   */
  readonly agent?: Agent;
  /** A fetch implementation to use instead of the global one. Exclusive with `agent`. */
  readonly fetch?: typeof fetch;
  /** Retries of a 5xx or network failure, waiting 1 s, 4 s, 9 s, … (default 2). */
  readonly retries?: number;
  /** Retries after a primary or secondary rate limit, each after GitHub's `retry-after` / reset (default 2). */
  readonly rateLimitRetries?: number;
  /**
   * The longest rate-limit wait worth sitting out in-process (default 10 s). A longer one is not waited:
   * the request fails retryable with `details.retryAfterMs`, so a queue job is handed back instead of
   * holding a function for minutes.
   */
  readonly maxRateLimitWaitSeconds?: number;
  /** Per-request socket idle timeout of the agent transport (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * Octokit's logger (default: warnings and errors to the console). Octokit never logs headers. The
   * request log's line for a 304 (an unchanged rescan, the usual answer) goes to `info`, not `error`.
   */
  readonly log?: OctokitLog;
}

type OctokitLog = { debug(message: string): void; info(message: string): void; warn(message: string): void; error(message: string): void };

const CONSOLE_LOG: OctokitLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message) => console.warn(message),
  error: (message) => console.error(message),
};

/**
 * Builds the Octokit the GitHub forge uses: GitHub App installation authentication (`@octokit/auth-app`
 * mints and caches installation tokens, signing its JWT with `privateKey`), the retry plugin for 5xx and
 * network failures, and the throttling plugin, which queues writes one second apart and, for a 403 or 429
 * that is a primary limit (`x-ratelimit-remaining: 0`) or a secondary one (GitHub's "secondary rate limit"
 * message), computes the wait (to `x-ratelimit-reset` for a primary limit; `retry-after`, else a minute,
 * for a secondary one) and retries when `onRateLimit` / `onSecondaryRateLimit` say so: here at most
 * `rateLimitRetries` times and only when the wait is at most `maxRateLimitWaitSeconds`. 429 is left to
 * the throttling plugin alone so that a rate-limited request is never retried on the retry plugin's clock.
 *
 * @throws ConfigError when both `agent` and `fetch` are given or a number is out of range.
 */
export function createGitHubOctokit(options: GitHubOctokitOptions): GitHubOctokit {
  if (options.agent !== undefined && options.fetch !== undefined) {
    throw new ConfigError("createGitHubOctokit: give either agent or fetch, not both", [{ path: "agent", message: "exclusive with fetch" }]);
  }
  const retries = checkCount("retries", options.retries ?? 2);
  const rateLimitRetries = checkCount("rateLimitRetries", options.rateLimitRetries ?? 2);
  const maxWait = checkCount("maxRateLimitWaitSeconds", options.maxRateLimitWaitSeconds ?? 10);
  const fetchImplementation = options.agent === undefined ? options.fetch : createAgentFetch(options.agent, options.timeoutMs ?? 30_000);

  const onLimit = (kind: string) => (retryAfter: number, request: { method: string; url: string }, octokit: { log: { warn(message: string): void } }, retryCount: number): boolean => {
    const retrying = retryCount < rateLimitRetries && retryAfter <= maxWait;
    // Method and URL template only: never headers, which hold the installation token.
    octokit.log.warn(`github ${kind} rate limit on ${request.method} ${request.url}: ${retrying ? `retrying after ${retryAfter}s` : "giving up"} (retry ${retryCount + 1} of ${rateLimitRetries})`);
    return retrying;
  };

  return new RippleOctokit({
    authStrategy: createAppAuth,
    auth: { appId: options.appId, privateKey: options.privateKey, installationId: options.installationId },
    ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl.replace(/\/+$/, "") }),
    ...(fetchImplementation === undefined ? {} : { request: { fetch: fetchImplementation } }),
    log: quietNotModified(options.log ?? CONSOLE_LOG),
    retry: { retries, doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451] },
    throttle: { onRateLimit: onLimit("primary"), onSecondaryRateLimit: onLimit("secondary") },
  });
}

/** `log` with Octokit's request-log line for a 304 Not Modified (reported as a failed request) sent to `info`. */
function quietNotModified(log: OctokitLog): OctokitLog {
  return {
    debug: (message) => log.debug(message),
    info: (message) => log.info(message),
    warn: (message) => log.warn(message),
    error: (message) => (/ - 304 with id /.test(message) ? log.info(message) : log.error(message)),
  };
}

function checkCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`createGitHubOctokit: ${name} must be a non-negative integer`, [{ path: name, message: "not a non-negative integer" }]);
  return value;
}

const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * A `fetch` for Octokit over `node:https` with `agent`, so a private CA is trusted in-process without
 * `NODE_EXTRA_CA_CERTS` (read only at start-up) and without depending on undici, which Node bundles but
 * does not expose as a package. Supports what Octokit sends: a string or byte body, headers, an abort
 * signal; follows same-origin redirects of GET and HEAD (a cross-origin one is returned as is, so the
 * installation token never leaves the origin). Bodies are read whole: GitHub REST answers are JSON.
 */
export function createAgentFetch(agent: Agent, timeoutMs = 30_000): typeof fetch {
  const send = (url: URL, init: RequestInit): Promise<{ response: IncomingMessage; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
        reject(new TypeError("agent fetch: only string and byte bodies are supported"));
        return;
      }
      const requestOptions = { method: init.method ?? "GET", headers, signal: init.signal ?? undefined };
      const onResponse = (response: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ response, body: Buffer.concat(chunks) }));
        response.on("error", reject);
      };
      const request = url.protocol === "https:" ? httpsRequest(url, { ...requestOptions, agent }, onResponse) : httpRequest(url, requestOptions, onResponse);
      request.setTimeout(timeoutMs, () => request.destroy(Object.assign(new Error(`request timed out after ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
      request.on("error", reject);
      request.end(body ?? undefined);
    });

  return async (input, init = {}) => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init.method ?? "GET").toUpperCase();
    for (let redirects = 0; ; redirects += 1) {
      const { response, body } = await send(url, init);
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      const next = location === undefined ? undefined : new URL(location, url);
      const follow = REDIRECT_STATUSES.has(status) && (method === "GET" || method === "HEAD") && init.redirect !== "manual" && next?.origin === url.origin;
      if (follow && next !== undefined && redirects < MAX_REDIRECTS) {
        url = next;
        continue;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, item);
      }
      const result = new Response(NULL_BODY_STATUSES.has(status) || method === "HEAD" ? null : body, { status, statusText: response.statusMessage ?? "", headers });
      Object.defineProperty(result, "url", { value: url.href });
      return result;
    }
  };
}
