/**
 * Text that remembers, for each character, the offset in the Dockerfile it was read from, so that a
 * rewriter can find a reference's digest in the source after quotes, escapes and variables are resolved.
 */

/** Text with, for each character, the source offset it was read from (-1 when it was not read from the source). */
export interface Traced {
  readonly text: string;
  readonly origins: readonly number[];
}

/** Text read from nowhere in the source. */
export function untraced(text: string): Traced {
  return { text, origins: Array.from({ length: text.length }, () => -1) };
}

/** Appends pieces of `from` (by index) or whole traced texts, keeping each character's origin. */
export function createTracedBuilder(from: Traced): { take(start: number, end: number): void; append(piece: Traced): void; build(): Traced } {
  const source = from.text;
  let text = "";
  const origins: number[] = [];
  return {
    take(start, end) {
      text += source.slice(start, end);
      for (let index = start; index < Math.min(end, source.length); index += 1) origins.push(from.origins[index] ?? -1);
    },
    append(piece) {
      text += piece.text;
      origins.push(...piece.origins);
    },
    build: () => ({ text, origins }),
  };
}

export function sliceTraced(traced: Traced, start: number, end?: number): Traced {
  return { text: traced.text.slice(start, end), origins: traced.origins.slice(start, end) };
}

export function trimTraced(traced: Traced): Traced {
  return sliceTraced(traced, traced.text.length - traced.text.trimStart().length, traced.text.trimEnd().length);
}
