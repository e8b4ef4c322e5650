import { AppError, ConflictError, UpstreamError } from "../../errors.js";
import { credentialFailure } from "../azure-errors.js";

const SERVICE = "table-storage";

interface RestErrorLike {
  readonly name: string;
  readonly statusCode?: number;
  readonly code?: string;
}

function isRestError(error: unknown): error is RestErrorLike {
  return error instanceof Error && error.name === "RestError";
}

/** The HTTP status of an SDK error, or null (network failure, or not an SDK error). */
export function statusOf(error: unknown): number | null {
  return isRestError(error) && typeof error.statusCode === "number" ? error.statusCode : null;
}

/**
 * Maps an SDK failure to Ripple's errors: 412 → ConflictError; network, 408, 429, 5xx and a token the
 * app's identity cannot get yet (IMDS timeout, `CredentialUnavailableError`) → retryable
 * UpstreamError; other statuses → non-retryable UpstreamError. The message names only the operation,
 * the status and the service's error code, and the cause keeps only those fields, so no request
 * header or key can reach a log. AppErrors and non-SDK errors (bugs) pass through unchanged.
 */
export function toStorageError(error: unknown, operation: string): unknown {
  const credential = credentialFailure(error, SERVICE, operation);
  if (credential !== null) return credential;
  if (error instanceof AppError || !isRestError(error)) return error;
  const status = typeof error.statusCode === "number" ? error.statusCode : null;
  const code = typeof error.code === "string" ? error.code : null;
  const cause = { name: error.name, statusCode: status, code };
  if (status === 412) return new ConflictError(`${SERVICE}: ${operation} lost an ETag race`, cause);
  const what = status === null ? `network error${code ? ` ${code}` : ""}` : `status ${status}${code ? ` ${code}` : ""}`;
  return new UpstreamError(SERVICE, `${operation} failed (${what})`, { status, cause });
}
