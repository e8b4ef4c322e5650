import { isBeyondClockSkew } from "../../domain/registry-event.js";
import { ValidationError } from "../../errors.js";
import type { TagMove, TagState } from "../../ports/state-store.js";

/** Tag history keeps the newest moves only (about 12 KB of JSON, far below the 64 KiB property limit). */
export const TAG_HISTORY_LIMIT = 100;

const INSTANT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Compares two ISO 8601 instants at full precision (registries send nanoseconds; `Date` keeps
 * milliseconds). Negative when `a` is earlier, 0 when equal, positive when later. Throws
 * ValidationError for text that is not an ISO 8601 date-time with a zone.
 */
export function compareInstants(a: string, b: string): number {
  const left = parseInstant(a);
  const right = parseInstant(b);
  if (left.ms !== right.ms) return left.ms - right.ms;
  const width = Math.max(left.subMs.length, right.subMs.length);
  const subLeft = left.subMs.padEnd(width, "0");
  const subRight = right.subMs.padEnd(width, "0");
  return subLeft < subRight ? -1 : subLeft > subRight ? 1 : 0;
}

/** Milliseconds since the epoch of an ISO 8601 instant; throws ValidationError when invalid. */
export function instantMs(text: string): number {
  return parseInstant(text).ms;
}

/** Throws ValidationError unless `text` is an ISO 8601 date-time with a zone. */
export function assertInstant(text: string): void {
  parseInstant(text);
}

function parseInstant(text: string): { ms: number; subMs: string } {
  const match = INSTANT.exec(text);
  const fraction = match?.[2] ?? "";
  const ms = match ? Date.parse(`${match[1]}.${fraction.slice(0, 3).padEnd(3, "0")}${match[3]}`) : Number.NaN;
  if (Number.isNaN(ms)) throw new ValidationError(`"${text}" is not an ISO 8601 date-time`, [{ path: "at", message: "invalid date-time" }]);
  return { ms, subMs: fraction.slice(3) };
}

/**
 * The tag-move rule both state stores share. A move applies only when `at` is strictly newer than
 * the recorded move (an equal time keeps what is recorded, so replays change nothing). A deletion
 * (`digest` null) is recorded as a tombstone, so an older push delivered late cannot resurrect the
 * tag. History lists applied moves to a digest, oldest first, capped at {@link TAG_HISTORY_LIMIT};
 * a move to the digest the tag already points at updates `at` without a new history entry.
 * `next` is null when nothing is to be written.
 *
 * One event's clock never outranks the registry's own order for good: a recorded move dated beyond
 * `now` plus `MAX_EVENT_CLOCK_SKEW_MS` (which the receiver refuses, so it predates that check or came
 * from a clock gone wrong) does not block a move dated within it; the first such move replaces it.
 */
export function applyTagMove(
  recorded: TagState | null,
  target: { registry: string; repository: string; tag: string },
  digest: string | null,
  at: string,
  now: Date | number = Date.now(),
): { next: TagState | null; move: TagMove } {
  assertInstant(at);
  if (recorded !== null && !outranks(at, recorded.at, now)) {
    return { next: null, move: { applied: false, previous: recorded.digest, current: recorded.digest } };
  }
  const previous = recorded?.digest ?? null;
  const history = recorded?.history ?? [];
  const nextHistory =
    digest !== null && digest !== previous ? [...history, { digest, at }].slice(-TAG_HISTORY_LIMIT) : [...history];
  return {
    next: { registry: target.registry, repository: target.repository, tag: target.tag, digest, at, history: nextHistory },
    move: { applied: true, previous, current: digest },
  };
}

/** Whether a move at `at` replaces one recorded at `recordedAt`: it is newer, or the recorded one is dated impossibly far ahead and it is not. */
function outranks(at: string, recordedAt: string, now: Date | number): boolean {
  if (isBeyondClockSkew(recordedAt, now) && !isBeyondClockSkew(at, now)) return true;
  return compareInstants(at, recordedAt) > 0;
}
