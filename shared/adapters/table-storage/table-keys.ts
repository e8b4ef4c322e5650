import { createHash } from "node:crypto";
import { ConfigError } from "../../errors.js";

/** The tables the state store uses, before the prefix. */
export const TABLES = ["events", "tags", "manifests", "edges", "campaigns", "runs", "scans", "pulls", "upstream", "sla"] as const;
export type TableKind = (typeof TABLES)[number];

const KEEP = /^[A-Za-z0-9._-]$/;
// Leaves room for a separator and a suffix inside the 1 KiB PartitionKey / RowKey limit.
const MAX_ESCAPED = 400;

/**
 * Makes any string safe as (part of) a PartitionKey or RowKey: letters, digits, `.`, `_` and `-` are
 * kept; every other UTF-8 byte becomes `~XX` (uppercase hex). `~` is itself always escaped, so the
 * mapping is injective, and `|` never appears in the output, so it can separate escaped parts.
 * Longer results keep their first 400 characters plus `~~` and a SHA-256 of the input (`~~` never
 * occurs in a normal escape); the original value is always stored in the entity itself.
 */
export function escapeKey(value: string): string {
  let escaped = "";
  for (const char of value) {
    if (KEEP.test(char)) {
      escaped += char;
      continue;
    }
    for (const byte of Buffer.from(char, "utf8")) escaped += `~${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (escaped.length <= MAX_ESCAPED) return escaped;
  return `${escaped.slice(0, MAX_ESCAPED)}~~${createHash("sha256").update(value, "utf8").digest("hex")}`;
}

/**
 * `${prefix}${table}`, checked against Azure's table naming rules (alphanumeric, starts with a letter,
 * 3–63 characters). Throws ConfigError for a prefix that cannot produce a valid name.
 */
export function tableNameFor(prefix: string, table: TableKind): string {
  const name = `${prefix}${table}`;
  if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(name)) {
    throw new ConfigError(`table prefix "${prefix}" gives an invalid table name "${name}"`, [
      { path: "tablePrefix", message: "must be alphanumeric, start with a letter, and leave the name at most 63 characters" },
    ]);
  }
  return name;
}
