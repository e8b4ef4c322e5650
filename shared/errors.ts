/**
 * The one error type Ripple throws across layers. `code` is stable and machine-readable; `retryable`
 * tells an entry point whether to rethrow (so the platform redelivers) or to acknowledge after logging.
 */
export class AppError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** Input that can never be processed: a 400 over HTTP, a non-zero exit in the CLI, never retried. */
export class ValidationError extends AppError {
  readonly issues: ReadonlyArray<{ path: string; message: string }>;
  constructor(message: string, issues: ReadonlyArray<{ path: string; message: string }> = []) {
    super("validation_failed", message, { retryable: false, details: { issues } });
    this.issues = issues;
  }
}

/** A failure of a system we call (registry, storage, ARM, GitHub). Retryable for network errors, 429 and 5xx. */
export class UpstreamError extends AppError {
  readonly service: string;
  readonly status: number | null;
  constructor(service: string, message: string, options: { status?: number | null; cause?: unknown; retryable?: boolean } = {}) {
    const status = options.status ?? null;
    const retryable = options.retryable ?? (status === null || status === 408 || status === 429 || status >= 500);
    super("upstream_failed", `${service}: ${message}`, { retryable, cause: options.cause, details: { service, status } });
    this.service = service;
    this.status = status;
  }
}

/** Bad settings or configuration file: fatal at start-up, reported with the path of the bad value. */
export class ConfigError extends AppError {
  constructor(message: string, issues: ReadonlyArray<{ path: string; message: string }> = []) {
    super("config_invalid", message, { retryable: false, details: { issues } });
  }
}

/** A guarded write lost a race (ETag mismatch). Retryable: re-read and apply again. */
export class ConflictError extends AppError {
  constructor(message: string, cause?: unknown) {
    super("conflict", message, { retryable: true, cause });
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof AppError ? error.retryable : true;
}
