import { expect } from "vitest";
import { AppError } from "../../../shared/errors.js";

/** The fields of an AppError that contract tests compare whole. */
export interface ErrorShape {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
  details: Record<string, unknown>;
}

/**
 * The AppError a promise rejects with, as an {@link ErrorShape}. Fails when it resolves, and — with
 * `secret` — when the message, details or cause name it. Other errors are rethrown.
 */
export async function rejection(promise: Promise<unknown>, options: { secret?: string } = {}): Promise<ErrorShape> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    if (options.secret !== undefined) expect(`${error.message} ${JSON.stringify(error.details)} ${String(error.cause)}`).not.toContain(options.secret);
    return { name: error.name, code: error.code, message: error.message, retryable: error.retryable, details: error.details };
  }
  throw new Error("expected a rejection");
}
