import { describe, expect, it } from "vitest";
import { classifySighting, expandTagPatterns, firstCheckAt, isDue, isListingDue, isTagGlob, keepNewest, nextCheckAt } from "../../../shared/domain/upstream-watch.js";

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const NOW = new Date("2026-11-26T12:00:00.000Z");

describe("tag patterns", () => {
  it.each([
    ["3.*", true],
    ["3.2?", true],
    ["{3,4}", true],
    ["3.20", false],
    ["latest", false],
    ["8.0-bookworm-slim", false],
  ])("%s is a glob: %s", (pattern, glob) => {
    expect(isTagGlob(pattern)).toBe(glob);
  });

  it("keeps literal tags without a listing and expands globs from it", () => {
    expect(expandTagPatterns(["3.*", "edge"], null)).toEqual(["edge"]);
    expect(expandTagPatterns(["3.*", "edge"], ["3.19", "3.20", "3.21", "4.0", "edge", "3.20-slim"])).toEqual(["3.19", "3.20", "3.20-slim", "3.21", "edge"]);
    expect(expandTagPatterns(["3.2?", "3.20"], ["3.20", "3.21", "3.2", "3.200"])).toEqual(["3.20", "3.21"]);
  });
});

describe("schedule", () => {
  it("spreads first checks over the interval by tag, the same way every time", () => {
    const offsets = Array.from({ length: 1000 }, (_, n) => firstCheckAt(`docker.io/library/alpine:3.${n}`, NOW, 60_000).getTime() - NOW.getTime());
    expect(offsets.every((offset) => offset >= 0 && offset < 60_000)).toBe(true);
    // No burst: no second of the minute holds more than 3 % of the tags (a uniform spread gives ~1.7 %).
    const perSecond = new Map<number, number>();
    for (const offset of offsets) perSecond.set(Math.floor(offset / 1000), (perSecond.get(Math.floor(offset / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(30);
    expect(firstCheckAt("docker.io/library/alpine:3.20", NOW, 60_000)).toEqual(firstCheckAt("docker.io/library/alpine:3.20", NOW, 60_000));
  });

  it.each([
    ["a good check: one interval", 0, null, 0.5, 60_000],
    ["jitter at its low end: -5 %", 0, null, 0, 57_000],
    ["jitter at its high end: +5 %", 0, null, 0.999999, 63_000],
    ["one failure: doubled", 1, null, 0.5, 120_000],
    ["three failures: 8 intervals", 3, null, 0.5, 480_000],
    ["many failures: capped", 12, null, 0.5, 900_000],
    ["Retry-After beyond the back-off", 1, 300_000, 0.5, 300_000],
    ["Retry-After is never undercut by jitter", 0, 61_000, 0, 61_000],
    ["Retry-After beyond the ceiling counts up to the ceiling", 1, 86_400_000, 0.5, 900_000],
  ])("%s", (_, errors, retryAfterMs, random, delay) => {
    const next = nextCheckAt({ now: NOW, intervalMs: 60_000, errors, retryAfterMs, maxBackoffMs: 900_000, random });
    expect(next.getTime() - NOW.getTime()).toBe(delay);
  });

  it("is due at its time, not before", () => {
    expect(isDue("2026-11-26T12:00:00.000Z", NOW)).toBe(true);
    expect(isDue("2026-11-26T12:00:00.001Z", NOW)).toBe(false);
  });

  it("lists tags again only after the listing interval", () => {
    expect(isListingDue(null, NOW, 900_000)).toBe(true);
    expect(isListingDue("2026-11-26T11:45:00.001Z", NOW, 900_000)).toBe(false);
    expect(isListingDue("2026-11-26T11:45:00.000Z", NOW, 900_000)).toBe(true);
  });
});

describe("classifySighting", () => {
  const at = "2026-11-26T11:00:00.000Z";
  const record = (current: number | null, seen: Array<number | null>) => ({
    digest: current === null ? null : digest(current),
    history: seen.map((n) => ({ digest: n === null ? null : digest(n), firstSeenAt: at, created: null })),
  });
  it.each([
    ["a tag never seen, still absent", null, null, "unchanged"],
    ["a tag seen for the first time", null, 1, "first"],
    ["a recorded tag that was never found, now found", record(null, []), 1, "first"],
    ["a recorded tag only ever seen absent, now found", record(null, [null, null]), 1, "first"],
    ["the same digest", record(1, [1]), 1, "unchanged"],
    ["a new digest", record(1, [1]), 2, "moved"],
    ["back to an older digest", record(2, [1, 2]), 1, "rolled-back"],
    ["a deleted tag", record(2, [1, 2]), null, "deleted"],
    ["a deleted tag still deleted", record(null, [1, null]), null, "unchanged"],
    ["a deleted tag back on a new digest", record(null, [1, null]), 3, "moved"],
    ["a deleted tag back on its old digest", record(null, [1, null]), 1, "rolled-back"],
  ] as const)("%s", (_, stored, seen, expected) => {
    expect(classifySighting(stored, seen === null ? null : digest(seen))).toBe(expected);
  });
});

describe("keepNewest", () => {
  it("keeps the newest entries, oldest first", () => {
    expect(keepNewest([1, 2, 3], 4, 3)).toEqual([2, 3, 4]);
    expect(keepNewest([], 1)).toEqual([1]);
  });
});

describe("schedule on a grid", () => {
  const input = { intervalMs: 1_000, errors: 0, maxBackoffMs: 900_000, random: 0.5 };
  it("counts the next interval from when the check was due, so a timer ticking every interval never slips", () => {
    const next = nextCheckAt({ ...input, now: new Date("2026-11-26T12:00:01.005Z"), scheduledAt: new Date("2026-11-26T12:00:01.000Z") });
    expect(next.toISOString()).toBe("2026-11-26T12:00:02.000Z");
  });
  it("counts from now when the due time is an interval or more behind (a check that waited long)", () => {
    const next = nextCheckAt({ ...input, now: new Date("2026-11-26T12:00:05.000Z"), scheduledAt: new Date("2026-11-26T12:00:01.000Z") });
    expect(next.toISOString()).toBe("2026-11-26T12:00:06.000Z");
  });
  it("backs off from now after a failure, whatever the grid", () => {
    const next = nextCheckAt({ ...input, errors: 1, now: new Date("2026-11-26T12:00:01.005Z"), scheduledAt: new Date("2026-11-26T12:00:01.000Z") });
    expect(next.toISOString()).toBe("2026-11-26T12:00:03.005Z");
  });
});

describe("schedule, at its edges", () => {
  it("expands nothing from a listing when every pattern is a literal tag", () => {
    expect(expandTagPatterns(["edge", "3.20"], ["3.20", "4.0", "edge-slim"])).toEqual(["3.20", "edge"]);
  });

  it("counts from now when the due time is exactly an interval behind", () => {
    const next = nextCheckAt({ intervalMs: 1_000, errors: 0, maxBackoffMs: 900_000, random: 0.5, now: new Date("2026-11-26T12:00:02.000Z"), scheduledAt: new Date("2026-11-26T12:00:01.000Z") });
    expect(next.toISOString()).toBe("2026-11-26T12:00:03.000Z");
  });

  it("counts from now when it knows no due time", () => {
    const next = nextCheckAt({ intervalMs: 1_000, errors: 0, maxBackoffMs: 900_000, random: 0.5, now: new Date("2026-11-26T12:00:02.500Z"), scheduledAt: null });
    expect(next.toISOString()).toBe("2026-11-26T12:00:03.500Z");
  });

  it.each([
    // The interval is longer than the back-off ceiling: Retry-After counts up to the interval, and jitter never undercuts it.
    ["Retry-After capped at an interval longer than the ceiling", 1, 100_000, 0, 60_000],
    ["a failure with an interval longer than the ceiling waits an interval", 1, null, 0.5, 60_000],
  ])("%s", (_, errors, retryAfterMs, random, delay) => {
    const next = nextCheckAt({ now: NOW, intervalMs: 60_000, errors, retryAfterMs, maxBackoffMs: 30_000, random });
    expect(next.getTime() - NOW.getTime()).toBe(delay);
  });

  it("keeps the newest 50 entries by default", () => {
    const history = Array.from({ length: 50 }, (_, n) => n);
    expect(keepNewest(history, 50)).toEqual(Array.from({ length: 50 }, (_, n) => n + 1));
  });
});
