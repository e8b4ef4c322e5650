import { AppError, UpstreamError } from "../errors.js";

/** Node and Azure SDK error codes of a request that never got an HTTP answer. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "REQUEST_SEND_ERROR",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** What an adapter was doing, for the error message: `reading manifest team/app:1.0`. */
export interface FailureContext {
  readonly service: string;
  readonly action: string;
}

/** The HTTP status of an Azure SDK `RestError` (or any error carrying `statusCode`), else null. */
export function readStatus(error: unknown): number | null {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : null;
}

/**
 * Error codes the service put in its response body: `errors[].code` (OCI distribution, ACR),
 * `error.code` (ARM, storage) or `code`, as the SDK exposes them in `RestError.details` or `code`.
 */
export function readServiceErrorCodes(error: unknown): string[] {
  if (typeof error !== "object" || error === null) return [];
  const codes = new Set<string>();
  const { details, code } = error as { details?: unknown; code?: unknown };
  const body = typeof details === "object" && details !== null && "body" in details ? (details as { body: unknown }).body : details;
  if (typeof body === "object" && body !== null) {
    const { errors, error: single } = body as { errors?: unknown; error?: unknown };
    for (const entry of Array.isArray(errors) ? errors : [single]) {
      const entryCode = (entry as { code?: unknown } | null)?.code;
      if (typeof entryCode === "string") codes.add(entryCode);
    }
  }
  if (typeof code === "string" && readStatus(error) !== null) codes.add(code);
  return [...codes];
}

/** Whether the error is an HTTP 404, or names one of `notFoundCodes` (e.g. `MANIFEST_UNKNOWN`) in its body. */
export function isNotFoundError(error: unknown, notFoundCodes: readonly string[] = []): boolean {
  if (readStatus(error) === 404) return true;
  return readServiceErrorCodes(error).some((code) => notFoundCodes.includes(code));
}

/** Whether the error is a failure to reach the service at all (refused, reset, timed out, DNS). */
export function isNetworkError(error: unknown): boolean {
  if (typeof error !== "object" || error === null || readStatus(error) !== null) return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  return (typeof code === "string" && NETWORK_CODES.has(code)) || name === "AbortError" || name === "TimeoutError";
}

/**
 * Whether the error is a failure to get an Entra ID token that may pass: the managed identity endpoint
 * (IMDS) not answering or timing out (`CredentialUnavailableError`, with no HTTP status), every
 * credential of a chain unavailable, or the token service answering 408, 429 or 5xx. A token service
 * refusing the identity (400/401/403) is not transient.
 */
export function isTransientCredentialError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { name } = error as { name?: unknown };
  if (name === "CredentialUnavailableError" || name === "AggregateAuthenticationError") return true;
  if (name !== "AuthenticationError") return false;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status !== "number" || status === 408 || status === 429 || status >= 500;
}

/**
 * The UpstreamError for a failure to get the app's token: retryable when it may pass (see
 * {@link isTransientCredentialError}), not when the token service refused the identity; null for any
 * other error. Only the error's name and status travel on.
 */
export function credentialFailure(error: unknown, service: string, action: string): UpstreamError | null {
  if (isTransientCredentialError(error)) {
    return new UpstreamError(service, `${action} failed: no token for the app's identity yet (${(error as Error).name}); retried`, { status: null, retryable: true });
  }
  if (typeof error === "object" && error !== null && (error as { name?: unknown }).name === "AuthenticationError") {
    const status = (error as { statusCode?: number }).statusCode ?? null;
    return new UpstreamError(service, `${action} failed: the token service refused the app's identity (HTTP ${status}); check the identity and its role assignments`, { status, retryable: false });
  }
  return null;
}

/**
 * Turns an Azure SDK failure into an {@link UpstreamError}: retryable for network errors, 408, 429 and
 * 5xx, not for other statuses or unexpected client-side failures. An {@link AppError} passes through.
 * The message names the action, the status and the service's error codes, never request headers,
 * tokens or response bodies, and the SDK error is not kept as `cause` because it holds the request.
 */
export function toUpstreamError(error: unknown, context: FailureContext): AppError {
  if (error instanceof AppError) return error;
  const credential = credentialFailure(error, context.service, context.action);
  if (credential !== null) return credential;
  const status = readStatus(error);
  if (status !== null) {
    const codes = readServiceErrorCodes(error);
    return new UpstreamError(context.service, `${context.action} failed with HTTP ${status}${codes.length > 0 ? ` (${codes.join(", ")})` : ""}`, { status });
  }
  if (isNetworkError(error)) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    return new UpstreamError(context.service, `${context.action} failed: network error ${typeof code === "string" ? code : String(name)}`, { status: null, retryable: true });
  }
  // Client-side failures (a missing header, a bad challenge) carry the SDK's own text, never request data.
  const summary = error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : typeof error;
  return new UpstreamError(context.service, `${context.action} failed: ${summary}`, { status: null, retryable: false });
}
