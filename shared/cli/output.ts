/** Printing for the CLI: JSON for machines, aligned text for people, errors without stack traces. */
import { AppError } from "../errors.js";

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes the items of a JSON array one at a time, as they come; see {@link createJsonArrayPrinter}. */
export interface JsonArrayPrinter {
  push(item: unknown): void;
  end(): void;
}

/**
 * Prints an array exactly as {@link printJson} prints it, but an item at a time, so that a long batch need not
 * be kept in memory until its end. Output is gathered into chunks of about `chunkSize` characters before it is
 * written. Nothing is printed before the first `push` or `end`.
 */
export function createJsonArrayPrinter(write: (text: string) => void = (text) => void process.stdout.write(text), chunkSize = 64 * 1024): JsonArrayPrinter {
  let pending = "";
  let count = 0;
  const flushIfFull = (): void => {
    if (pending.length < chunkSize) return;
    write(pending);
    pending = "";
  };
  return {
    push(item) {
      // Stringified inside an array of its own, the item comes out indented as in the whole array: "[\n  …\n]".
      pending += `${count === 0 ? "[\n" : ",\n"}${JSON.stringify([item], null, 2).slice(2, -2)}`;
      count += 1;
      flushIfFull();
    },
    end() {
      write(`${pending}${count === 0 ? "[]" : "\n]"}\n`);
      pending = "";
    },
  };
}

export function printTable(rows: readonly (readonly string[])[], header?: readonly string[]): void {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  for (const row of all) process.stdout.write(`${row.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join("  ").trimEnd()}\n`);
}

export function shortDigest(digest: string | null): string {
  if (digest === null) return "-";
  const hex = digest.slice(digest.indexOf(":") + 1);
  return `${digest.slice(0, digest.indexOf(":") + 1)}${hex.slice(0, 12)}`;
}

/** The one line (plus validation issues) a user sees for a failure; exit code 2 for bad input, 1 otherwise. */
export function reportError(error: unknown): number {
  if (error instanceof AppError) {
    process.stderr.write(`ripple: ${error.message}\n`);
    const issues = error.details["issues"];
    // The message names the first issue; list the others under it.
    if (Array.isArray(issues)) {
      for (const issue of (issues as { path: string; message: string }[]).slice(1)) process.stderr.write(`  also ${issue.path}: ${issue.message}\n`);
    }
    return error.code === "validation_failed" || error.code === "config_invalid" || error.code === "usage" ? 2 : 1;
  }
  process.stderr.write(`ripple: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

export class UsageError extends AppError {
  constructor(message: string) {
    super("usage", `${message} (see ripple --help)`);
  }
}
