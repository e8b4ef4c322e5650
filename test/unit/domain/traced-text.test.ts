import { describe, expect, it } from "vitest";
import { contiguousSpan, createTracedBuilder, originAt, sliceTraced, tracedAt, trimTraced, untraced, type Traced } from "../../../shared/domain/traced-text.js";

/** The origins one number per character, as the runs stand for them. */
function originsOf(traced: Traced): number[] {
  return traced.runs.flatMap((run) => Array.from({ length: run.length }, (_, index) => (run.origin < 0 ? -1 : run.origin + index)));
}

/** A text read from two places of the source, with two characters read from nowhere between them. */
const sample: Traced = { text: "FROM alpine", runs: [{ origin: 10, length: 5 }, { origin: -1, length: 2 }, { origin: 40, length: 4 }] };

describe("traced text", () => {
  // Each case builds its text inside the test, so that mutation testing knows which tests run which code.
  it.each([
    ["untraced", () => untraced("abc"), { text: "abc", runs: [{ origin: -1, length: 3 }] }],
    ["untraced, empty", () => untraced(""), { text: "", runs: [] }],
    ["traced at an offset", () => tracedAt("abc", 7), { text: "abc", runs: [{ origin: 7, length: 3 }] }],
    ["traced, empty", () => tracedAt("", 7), { text: "", runs: [] }],
  ])("builds %s", (_, build, expected) => {
    expect(build()).toEqual(expected);
  });

  it.each([
    [0, 10], [4, 14], [5, -1], [6, -1], [7, 40], [10, 43], [11, undefined], [-1, undefined],
  ])("tells the origin of character %s", (index, origin) => {
    expect(originAt(sample, index)).toBe(origin);
  });

  it.each([
    [0, 5, { text: "FROM ", runs: [{ origin: 10, length: 5 }] }],
    [3, 9, { text: "M alpi", runs: [{ origin: 13, length: 2 }, { origin: -1, length: 2 }, { origin: 40, length: 2 }] }],
    [-4, undefined, { text: "pine", runs: [{ origin: 40, length: 4 }] }],
    [6, 6, { text: "", runs: [] }],
    [9, 100, { text: "ne", runs: [{ origin: 42, length: 2 }] }],
    [20, undefined, { text: "", runs: [] }],
    [-100, 4, { text: "FROM", runs: [{ origin: 10, length: 4 }] }],
    [4, -8, { text: "", runs: [] }],
    [6, -2, { text: "lpi", runs: [{ origin: -1, length: 1 }, { origin: 40, length: 2 }] }],
  ])("slices from %s to %s", (start, end, expected) => {
    expect(sliceTraced(sample, start, end)).toEqual(expected);
  });

  it("trims white space with its origins", () => {
    expect(trimTraced(tracedAt("  ab ", 3))).toEqual({ text: "ab", runs: [{ origin: 5, length: 2 }] });
  });

  it("gathers adjacent takes and merges runs that continue each other, whatever their order of arrival", () => {
    const builder = createTracedBuilder(sample);
    for (let index = 0; index < 5; index += 1) builder.take(index, index + 1);
    builder.append(tracedAt("xy", 15));
    builder.append(untraced("!"));
    builder.take(5, 7);
    builder.take(7, 99);
    expect(builder.build()).toEqual({ text: "FROM xy!alpine", runs: [{ origin: 10, length: 7 }, { origin: -1, length: 3 }, { origin: 40, length: 4 }] });
  });

  it("tells text read at offset 0 from text read from nowhere", () => {
    const builder = createTracedBuilder(tracedAt("abc", 0));
    builder.take(0, 3);
    builder.append(untraced("x"));
    builder.append(tracedAt("yz", 0));
    expect(builder.build()).toEqual({ text: "abcxyz", runs: [{ origin: 0, length: 3 }, { origin: -1, length: 1 }, { origin: 0, length: 2 }] });
  });

  it("ignores an empty or reversed take", () => {
    const builder = createTracedBuilder(sample);
    builder.take(5, 3);
    builder.take(3, 4);
    builder.take(20, 30);
    expect(builder.build()).toEqual({ text: "M", runs: [{ origin: 13, length: 1 }] });
  });

  it("keeps each character's origin as one number per character would (random takes and appends)", () => {
    let seed = 7;
    const random = (limit: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % limit;
    };
    for (let round = 0; round < 200; round += 1) {
      const builder = createTracedBuilder(sample);
      let text = "";
      const origins: number[] = [];
      for (let step = 0; step < 6; step += 1) {
        if (random(3) === 0) {
          const piece = random(2) === 0 ? untraced("ab") : tracedAt("cd", random(60));
          builder.append(piece);
          text += piece.text;
          origins.push(...originsOf(piece));
        } else {
          const start = random(sample.text.length + 1);
          const end = start + random(4);
          builder.take(start, end);
          text += sample.text.slice(start, end);
          origins.push(...originsOf(sample).slice(start, end));
        }
      }
      const built = builder.build();
      expect({ text: built.text, origins: originsOf(built) }).toEqual({ text, origins });
      expect(built.runs.every((run, index) => run.length > 0 && (index === 0 || !continues(built.runs[index - 1]!, run)))).toBe(true);
    }
  });

  it.each([
    ["read in one piece", () => tracedAt("abc", 4), { start: 4, end: 7 }],
    ["read at the very start of the source", () => tracedAt("abc", 0), { start: 0, end: 3 }],
    ["read from two places", () => sliceTraced(sample, 0, 6), null],
    ["read from nowhere", () => untraced("abc"), null],
    ["empty", () => untraced(""), null],
  ])("finds the source span of a text %s", (_, build, span) => {
    expect(contiguousSpan(build())).toEqual(span);
  });
});

function continues(before: { origin: number; length: number }, after: { origin: number }): boolean {
  return before.origin < 0 ? after.origin < 0 : after.origin === before.origin + before.length;
}
