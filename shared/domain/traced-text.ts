/**
 * Text that remembers where in the Dockerfile each character was read from, so that a rewriter can find a
 * reference's digest in the source after quotes, escapes and variables are resolved.
 *
 * Origins are kept as runs of characters read in one piece rather than one number per character: a
 * Dockerfile word is read from one or a few places, and `extract`, which never needs them, then pays little.
 */

/** `length` characters read from source offset `origin` on, in order; `origin` is -1 when not read from the source. */
export interface OriginRun {
  readonly origin: number;
  readonly length: number;
}

/**
 * Text with the source offsets its characters were read from, as consecutive runs covering the whole text.
 * Runs are canonical: none is empty, and no run continues the one before it (both untraced, or the second
 * starting where the first ends in the source), so a text read in one piece has exactly one run.
 */
export interface Traced {
  readonly text: string;
  readonly runs: readonly OriginRun[];
}

/** Text read from nowhere in the source. */
export function untraced(text: string): Traced {
  return { text, runs: text.length === 0 ? [] : [{ origin: -1, length: text.length }] };
}

/** Text read in one piece from source offset `origin` on. */
export function tracedAt(text: string, origin: number): Traced {
  return { text, runs: text.length === 0 ? [] : [{ origin, length: text.length }] };
}

/** Adds a run to `runs`, merging it into the last one when it continues it. */
function pushRun(runs: OriginRun[], origin: number, length: number): void {
  if (length <= 0) return;
  const last = runs[runs.length - 1];
  if (last !== undefined && (last.origin < 0 ? origin < 0 : origin === last.origin + last.length)) {
    runs[runs.length - 1] = { origin: last.origin, length: last.length + length };
  } else runs.push({ origin: origin < 0 ? -1 : origin, length });
}

/** Appends to `into` the runs of `runs` covering characters `[start, end)`. */
function pushRunsBetween(into: OriginRun[], runs: readonly OriginRun[], start: number, end: number): void {
  let at = 0;
  for (const run of runs) {
    const runEnd = at + run.length;
    if (runEnd > start && at < end) {
      const from = Math.max(start, at);
      const to = Math.min(end, runEnd);
      pushRun(into, run.origin < 0 ? -1 : run.origin + (from - at), to - from);
    }
    if (runEnd >= end) break;
    at = runEnd;
  }
}

/** Builds a text from pieces of `from` (by index) and whole traced texts, keeping each character's origin. */
export interface TracedBuilder {
  take(start: number, end: number): void;
  append(piece: Traced): void;
  build(): Traced;
}

/**
 * A {@link TracedBuilder}; consecutive `take`s of adjacent characters (the common case, one character at a
 * time) are gathered and copied at once.
 */
export function createTracedBuilder(from: Traced): TracedBuilder {
  const source = from.text;
  let text = "";
  const runs: OriginRun[] = [];
  let pendingStart = 0;
  let pendingEnd = 0;
  const flush = (): void => {
    if (pendingEnd <= pendingStart) return;
    text += source.slice(pendingStart, pendingEnd);
    pushRunsBetween(runs, from.runs, pendingStart, pendingEnd);
    pendingStart = pendingEnd;
  };
  return {
    take(start, end) {
      const clampedEnd = Math.min(end, source.length);
      if (clampedEnd <= start) return;
      if (start !== pendingEnd) {
        flush();
        pendingStart = start;
      }
      pendingEnd = clampedEnd;
    },
    append(piece) {
      flush();
      text += piece.text;
      for (const run of piece.runs) pushRun(runs, run.origin, run.length);
    },
    build() {
      flush();
      return { text, runs: [...runs] };
    },
  };
}

export function sliceTraced(traced: Traced, start: number, end?: number): Traced {
  const text = traced.text.slice(start, end);
  const length = traced.text.length;
  const from = start < 0 ? Math.max(length + start, 0) : Math.min(start, length);
  const runs: OriginRun[] = [];
  pushRunsBetween(runs, traced.runs, from, from + text.length);
  return { text, runs };
}

export function trimTraced(traced: Traced): Traced {
  return sliceTraced(traced, traced.text.length - traced.text.trimStart().length, traced.text.trimEnd().length);
}

/** The source offset character `index` was read from: -1 when from nowhere, undefined when there is no such character. */
export function originAt(traced: Traced, index: number): number | undefined {
  if (index < 0) return undefined;
  let at = 0;
  for (const run of traced.runs) {
    if (index < at + run.length) return run.origin < 0 ? -1 : run.origin + (index - at);
    at += run.length;
  }
  return undefined;
}

/** The source span `[start, end)` the whole text was read from, when it was read in one piece, in order; else null. */
export function contiguousSpan(traced: Traced): { start: number; end: number } | null {
  const [run, ...others] = traced.runs;
  if (run === undefined || run.origin < 0 || others.length > 0) return null;
  return { start: run.origin, end: run.origin + run.length };
}
