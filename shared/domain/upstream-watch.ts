/**
 * Rules of the upstream watch: which tags of a watched base are checked, when each is next due, and what
 * a check that saw a digest means. Pure: times are passed in, randomness is a parameter.
 */
import picomatch from "picomatch";
import { stableOffsetMs } from "./spread.js";

/** A tag pattern is a glob when it has glob characters (`3.*`, `1.2?`, `{3,4}`); otherwise it is a literal tag. */
export function isTagGlob(pattern: string): boolean {
  return picomatch.scan(pattern).isGlob;
}

/** The tags named by `patterns`: literal ones as given, plus each listed tag a glob matches. Sorted, unique. */
export function expandTagPatterns(patterns: readonly string[], listed: readonly string[] | null): string[] {
  const tags = new Set(patterns.filter((pattern) => !isTagGlob(pattern)));
  const globs = patterns.filter(isTagGlob);
  if (listed !== null && globs.length > 0) {
    const matches = picomatch(globs);
    for (const tag of listed) if (matches(tag)) tags.add(tag);
  }
  return [...tags].sort();
}

/**
 * When a tag seen for the first time is first checked: `now` plus a stable offset within one interval,
 * taken from the tag key, so a thousand tags added at once are spread over the interval instead of
 * checked in one burst.
 */
export function firstCheckAt(key: string, now: Date, intervalMs: number): Date {
  return new Date(now.getTime() + stableOffsetMs(key, intervalMs));
}

export interface NextCheckInput {
  readonly now: Date;
  readonly intervalMs: number;
  /** Failed checks in a row, counting the one just made (0 after a good check). */
  readonly errors: number;
  /** The registry's `Retry-After` of the last answer, when it sent one. */
  readonly retryAfterMs?: number | null;
  readonly maxBackoffMs: number;
  /** A number in [0, 1): the jitter (±5 % of the delay) that keeps checks from lining up again. */
  readonly random: number;
  /**
   * When the check just made was due. After a good check the next one is due one interval after that,
   * not after the check itself, so a timer that ticks as often as the interval never slips a tick (a tag
   * checked at 1.005 s must be due again at 2.0 s, not 2.005 s); never earlier than `now` though.
   */
  readonly scheduledAt?: Date | null;
}

/**
 * When a tag is due again: one interval after a good check was due; after failures, the interval doubled
 * per failure (from now) up to `maxBackoffMs`, and never before the registry's `Retry-After` (itself
 * capped at `maxBackoffMs`). ±5 % jitter either way.
 */
export function nextCheckAt(input: NextCheckInput): Date {
  const backoff = input.errors <= 0 ? input.intervalMs : Math.min(input.maxBackoffMs, input.intervalMs * 2 ** Math.min(input.errors, 30));
  // A registry asking for a day's pause must not silence a tag for a day: Retry-After counts up to the ceiling.
  const retryAfterMs = Math.min(input.retryAfterMs ?? 0, Math.max(input.maxBackoffMs, input.intervalMs));
  const base = Math.max(backoff, retryAfterMs, input.intervalMs);
  const jitter = base * 0.05 * (input.random * 2 - 1);
  const delay = Math.max(retryAfterMs, Math.round(base + jitter));
  const scheduled = input.scheduledAt?.getTime();
  const onGrid = input.errors <= 0 && scheduled !== undefined && scheduled + delay > input.now.getTime();
  return new Date((onGrid ? scheduled : input.now.getTime()) + delay);
}

/** Whether a check of `nextCheckAt` is due at `now`. */
export function isDue(nextCheck: string, now: Date): boolean {
  return Date.parse(nextCheck) <= now.getTime();
}

/** Whether a repository's tags must be listed again (glob expansion) at `now`. */
export function isListingDue(listedAt: string | null, now: Date, listEveryMs: number): boolean {
  return listedAt === null || now.getTime() - Date.parse(listedAt) >= listEveryMs;
}

/**
 * What a check found, against what the record holds:
 * - `unchanged`: the same digest (nothing else is read);
 * - `first`: the first digest ever seen for the tag: recorded as the baseline, never a patch;
 * - `moved`: a digest the tag has not pointed at before;
 * - `rolled-back`: a digest the tag pointed at earlier (handled like a move: recorded, ordered, and the
 *   campaign for that digest is the one opened before, never a second one);
 * - `deleted`: the tag is gone (recorded; nothing is deleted downstream).
 */
export type Sighting = "unchanged" | "first" | "moved" | "rolled-back" | "deleted";

export function classifySighting(
  record: { readonly digest: string | null; readonly history: ReadonlyArray<{ readonly digest: string | null }> } | null,
  seen: string | null,
): Sighting {
  const known = record?.history.some((entry) => entry.digest !== null) ?? false;
  if (seen === null) return record === null || record.digest === null ? "unchanged" : "deleted";
  if (record !== null && record.digest === seen) return "unchanged";
  if (!known) return "first";
  return record!.history.some((entry) => entry.digest === seen) ? "rolled-back" : "moved";
}

/** The newest `max` entries of a history, oldest first. */
export function keepNewest<T>(history: readonly T[], entry: T, max = 50): T[] {
  return [...history, entry].slice(-max);
}
