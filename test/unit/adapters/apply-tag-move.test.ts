import { afterEach, describe, expect, it, vi } from "vitest";
import { applyTagMove } from "../../../shared/adapters/state-rules/apply-tag-move.js";
import { MAX_EVENT_CLOCK_SKEW_MS } from "../../../shared/domain/registry-event.js";
import type { TagState } from "../../../shared/ports/state-store.js";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const C = `sha256:${"c".repeat(64)}`;
const TARGET = { registry: "ripplebase.azurecr.io", repository: "base/alpine", tag: "3.20" };
const NOW = Date.parse("2026-11-26T10:00:00.000Z");
const WITHIN_SKEW = new Date(NOW + MAX_EVENT_CLOCK_SKEW_MS).toISOString();
const BEYOND_SKEW = new Date(NOW + MAX_EVENT_CLOCK_SKEW_MS + 1).toISOString();

function tagAt(digest: string | null, at: string): TagState {
  return { ...TARGET, digest, at, history: digest === null ? [] : [{ digest, at }] };
}

describe("applyTagMove ordering", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each<[string, TagState | null, string | null, string, { applied: boolean; at: string | null }]>([
    ["a first move", null, B, "2026-11-26T09:00:00Z", { applied: true, at: "2026-11-26T09:00:00Z" }],
    ["a newer move", tagAt(A, "2026-11-26T09:00:00Z"), B, "2026-11-26T09:30:00Z", { applied: true, at: "2026-11-26T09:30:00Z" }],
    ["an older move (a reordered delivery)", tagAt(A, "2026-11-26T09:30:00Z"), B, "2026-11-26T09:00:00Z", { applied: false, at: null }],
    ["a replay at the same time", tagAt(A, "2026-11-26T09:30:00Z"), B, "2026-11-26T09:30:00Z", { applied: false, at: null }],
    // Issue #10, defect 2: a move recorded with a time no receiver would accept must not freeze the tag.
    ["a real move after one recorded in year 9999", tagAt(A, "9999-01-01T00:00:00.000Z"), B, "2026-11-26T09:59:00Z", { applied: true, at: "2026-11-26T09:59:00Z" }],
    ["a real delete after one recorded just beyond the skew", tagAt(A, BEYOND_SKEW), null, "2026-11-26T09:59:00Z", { applied: true, at: "2026-11-26T09:59:00Z" }],
    // A move within the skew is a registry whose clock runs a little fast: its order stands.
    ["an older move after one recorded within the skew", tagAt(A, WITHIN_SKEW), B, "2026-11-26T09:59:00Z", { applied: false, at: null }],
    // Two impossible times are ordered by time, and never outrank a real move (see above).
    ["a later future move over a recorded future one", tagAt(A, "9000-01-01T00:00:00.000Z"), B, "9999-01-01T00:00:00.000Z", { applied: true, at: "9999-01-01T00:00:00.000Z" }],
    ["an earlier future move over a recorded future one", tagAt(A, "9999-01-01T00:00:00.000Z"), B, "9000-01-01T00:00:00.000Z", { applied: false, at: null }],
  ])("%s", (_name, recorded, digest, at, expected) => {
    const { next, move } = applyTagMove(recorded, TARGET, digest, at, NOW);
    expect({ applied: move.applied, at: next?.at ?? null }).toEqual(expected);
  });

  it("replaces a year-9999 move with the next real one and keeps ordering from there", () => {
    const frozen = applyTagMove(null, TARGET, A, "9999-01-01T00:00:00.000Z", NOW).next!;
    const moved = applyTagMove(frozen, TARGET, B, "2026-11-26T09:59:00.000Z", NOW);
    expect(moved).toEqual({
      next: { ...TARGET, digest: B, at: "2026-11-26T09:59:00.000Z", history: [{ digest: A, at: "9999-01-01T00:00:00.000Z" }, { digest: B, at: "2026-11-26T09:59:00.000Z" }] },
      move: { applied: true, previous: A, current: B },
    });
    // The real move now orders as usual: an older one changes nothing, a newer one applies.
    expect(applyTagMove(moved.next, TARGET, C, "2026-11-26T09:58:00.000Z", NOW)).toEqual({ next: null, move: { applied: false, previous: B, current: B } });
    expect(applyTagMove(moved.next, TARGET, C, "2026-11-26T10:00:00.000Z", NOW).move).toEqual({ applied: true, previous: B, current: C });
  });

  it("reads the wall clock when the store gives no `now` (both state stores call it with four arguments)", () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const frozen = tagAt(A, "9999-01-01T00:00:00.000Z");
    expect(applyTagMove(frozen, TARGET, B, "2026-11-26T09:59:00.000Z").move).toEqual({ applied: true, previous: A, current: B });
  });
});
