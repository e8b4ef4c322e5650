import { AppError, ValidationError } from "../../errors.js";

// A string property may hold 64 KiB of UTF-16 (32 768 code units); stay well below it.
const PART_LENGTH = 30_000;
// An entity may hold 1 MiB in all; 15 parts of 60 KB leave room for keys and the other columns.
const MAX_PARTS = 15;

/** The columns a JSON value is stored in: `parts` plus `json0` … `json<parts-1>`. */
export type JsonColumns = Record<string, string | number>;

/**
 * Serializes `value` into string columns small enough for Table Storage's 64 KiB property limit.
 * Splits never fall inside a surrogate pair. Throws ValidationError when the value cannot fit in
 * one entity.
 */
export function packJson(value: unknown): JsonColumns {
  const text = JSON.stringify(value);
  const columns: JsonColumns = {};
  let index = 0;
  let start = 0;
  do {
    let end = Math.min(start + PART_LENGTH, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    columns[`json${index}`] = text.slice(start, end);
    index += 1;
    start = end;
  } while (start < text.length);
  if (index > MAX_PARTS) throw new ValidationError(`value too large for one table entity (${text.length} characters of JSON)`);
  columns.parts = index;
  return columns;
}

/** Reads back what {@link packJson} wrote. Throws a non-retryable AppError for a damaged entity. */
export function unpackJson(entity: Record<string, unknown>): unknown {
  const parts = entity.parts;
  if (typeof parts !== "number" || !Number.isInteger(parts) || parts < 1) {
    throw new AppError("state_corrupt", "stored entity has no JSON columns");
  }
  let text = "";
  for (let index = 0; index < parts; index += 1) {
    const part = entity[`json${index}`];
    if (typeof part !== "string") throw new AppError("state_corrupt", `stored entity misses JSON column ${index}`);
    text += part;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError("state_corrupt", "stored entity holds invalid JSON", { cause: error });
  }
}
