/** Printing for the CLI: JSON for machines, aligned text for people, errors without stack traces. */
import { AppError } from "../errors.js";

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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
