import type { z } from "zod";
import { ValidationError } from "./errors.js";

/** One validation problem: where (a dotted path, `(root)` for the whole value) and why. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/** The path of the whole value in an issue. */
export const ROOT_PATH = "(root)";

/** Joins a path such as `["events", 0, "target", "digest"]` into `events.0.target.digest`. */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  return path.length === 0 ? ROOT_PATH : path.map(String).join(".");
}

/**
 * Flattens a zod error into `{ path, message }` pairs, in zod's order: the path joined with dots
 * (`events.0.target.digest`), `(root)` when the value itself is wrong.
 */
export function formatZodIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: formatIssuePath(issue.path), message: issue.message }));
}

/** Where a value sits inside a larger document, so issues name the full path. */
export interface ParseWithOptions {
  readonly at?: ReadonlyArray<PropertyKey>;
}

/**
 * Validates `value` with `schema` and returns the parsed value.
 *
 * A missing field reads "required" rather than zod's "expected string, received undefined"
 * (schemas with their own messages keep them).
 * With `options.at`, issue paths are prefixed so they point into the enclosing document.
 *
 * @throws ValidationError whose message is one line, `${what}: ${path}: ${message}` for the first
 *   issue, and whose `issues` list every issue.
 */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string, options: ParseWithOptions = {}): T {
  const result = schema.safeParse(value, {
    error: (issue) => (issue.input === undefined ? "required" : undefined),
  });
  if (result.success) return result.data;
  const at = options.at ?? [];
  const issues = result.error.issues.map((issue) => ({
    path: formatIssuePath([...at, ...issue.path]),
    message: issue.message,
  }));
  throw validationFailure(what, issues);
}

/** A ValidationError whose message names the first issue: `${what}: ${path}: ${message}`. */
export function validationFailure(what: string, issues: ReadonlyArray<ValidationIssue>): ValidationError {
  const first = issues[0] ?? { path: ROOT_PATH, message: "invalid" };
  return new ValidationError(`${what}: ${first.path}: ${first.message}`, issues);
}
