import { describe, expect, it } from "vitest";
import {
  campaignId,
  campaignIdPrefix,
  createdTransition,
  earliestRoot,
  HISTORY_LIMIT,
  obligationKindOf,
  pushRoot,
  scheduledAtOf,
  withTransition,
  type Obligation,
  type ObligationTransition,
  type PatchRoot,
} from "../../../shared/domain/campaign.js";
import { PENDING_OBLIGATION } from "./obligation-fixture.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("campaign ids", () => {
  it("read as the base tag and the new digest, and start with the base's prefix", () => {
    const id = campaignId("127.0.0.1:5000/ripple/busybox:1", DIGEST);
    expect(id).toMatch(/^127\.0\.0\.1-5000-ripple-busybox-1-[0-9a-f]{8}--abababababababab$/);
    expect(id.startsWith(campaignIdPrefix("127.0.0.1:5000/ripple/busybox:1"))).toBe(true);
  });

  it.each([
    ["r.io/a/b:1", "r.io/a-b:1"],
    ["r.io/repo:base-8", "r.io/repo-base:8"],
  ])("differ for bases that read alike: %s and %s", (first, second) => {
    expect(campaignId(first, DIGEST)).not.toBe(campaignId(second, DIGEST));
  });

  it("is stable across releases: the hash is 32-bit FNV-1a of the base tag (stored ids must keep matching)", () => {
    expect(campaignId("docker.io/library/alpine:3.20", DIGEST)).toBe("docker.io-library-alpine-3.20-8a340742--abababababababab");
  });

  it.each([
    // A run of characters that are not safe becomes one dash; letters keep their case, dots and dashes stay.
    ["a run of unsafe characters as one dash, case kept", "R.io/Team__App:1-rc", DIGEST, "R.io-Team-App-1-rc-3d5028cb--abababababababab"],
    // The hash is always 8 hex digits, zero-padded (this one is 0x2956ce).
    ["a small hash zero-padded", "r.io/app:623", DIGEST, "r.io-app-623-002956ce--abababababababab"],
    ["a digest without an algorithm taken whole", "r.io/app:1", "0123456789abcdef0123", "r.io-app-1-090d1a54--0123456789abcdef"],
    ["a short digest kept as it is", "r.io/app:1", "sha256:12ab", "r.io-app-1-090d1a54--12ab"],
  ])("reads %s", (_, base, digest, id) => {
    expect(campaignId(base, digest)).toEqual(id);
  });
});

describe("patch roots", () => {
  const root = (availableAt: string, digest: string): PatchRoot => ({ base: "r.io/base:1", digest, availableAt, source: "upstream-first-seen", created: null });

  it("roots a campaign opened by a push at the push", () => {
    expect(pushRoot("r.io/base:1", "sha256:1", "2026-03-01T10:00:00.000Z", "2026-02-28T00:00:00.000Z")).toEqual({
      base: "r.io/base:1",
      digest: "sha256:1",
      availableAt: "2026-03-01T10:00:00.000Z",
      source: "registry-push",
      created: "2026-02-28T00:00:00.000Z",
    });
  });

  it.each([
    ["nothing known", [], null],
    ["only unknowns", [null, undefined], null],
    ["the earliest, skipping unknowns", [null, root("2026-03-02T00:00:00.000Z", "late"), undefined, root("2026-03-01T00:00:00.000Z", "early"), null], "early"],
    // As text the second sorts first; as instants it is an hour later.
    ["by instant, not by text", [root("2026-03-01T01:00:00+02:00", "first"), root("2026-03-01T00:00:00.000Z", "second")], "first"],
    ["the first of two at the same instant", [root("2026-03-01T00:00:00.000Z", "first"), root("2026-03-01T01:00:00+01:00", "second")], "first"],
  ])("takes %s", (_, roots, digest) => {
    expect(earliestRoot(roots)?.digest ?? null).toEqual(digest);
  });
});

describe("obligations", () => {
  const obligation: Obligation = PENDING_OBLIGATION;
  const { history: _history, ...withoutHistory } = obligation;
  const entry = (at: string, to: ObligationTransition["to"], runId: string | null = null): ObligationTransition => ({ at, from: "pending", to, why: null, runId });

  it("start with a creation entry", () => {
    expect(createdTransition("2026-03-01T00:00:00.000Z", "campaign opened")).toEqual({ at: "2026-03-01T00:00:00.000Z", from: null, to: "pending", why: "campaign opened", runId: null });
  });

  it("keep their history through an update that changes neither state nor run, even one whose patch dropped it", () => {
    expect([
      withTransition(obligation, { ...obligation, reason: "still waiting", history: [] }),
      withTransition(obligation, { ...withoutHistory, reason: "still waiting" }),
      withTransition(withoutHistory, { ...withoutHistory, reason: "still waiting" }),
      withTransition(withoutHistory, { ...withoutHistory, reason: "still waiting", history: [] }),
    ]).toEqual([
      { ...obligation, reason: "still waiting" },
      { ...obligation, reason: "still waiting" },
      { ...withoutHistory, reason: "still waiting" },
      { ...withoutHistory, reason: "still waiting", history: [] },
    ]);
  });

  it("start a history at the first change of one recorded before histories were kept", () => {
    expect(withTransition(withoutHistory, { ...withoutHistory, state: "failed", reason: "build failed", updatedAt: "2026-03-01T01:00:00.000Z" })).toEqual({
      ...withoutHistory,
      state: "failed",
      reason: "build failed",
      updatedAt: "2026-03-01T01:00:00.000Z",
      history: [{ at: "2026-03-01T01:00:00.000Z", from: "pending", to: "failed", why: "build failed", runId: null }],
    });
  });

  it("record a change of run alone", () => {
    const scheduled = { ...obligation, state: "scheduled" as const, runId: "cb1" };
    expect(withTransition(scheduled, { ...scheduled, runId: null, updatedAt: "2026-03-01T02:00:00.000Z" }).history).toEqual([
      ...obligation.history!,
      { at: "2026-03-01T02:00:00.000Z", from: "scheduled", to: "scheduled", why: null, runId: null },
    ]);
  });

  it("keep every entry up to the limit", () => {
    const full = Array.from({ length: HISTORY_LIMIT - 1 }, (_, n) => entry(`2026-03-01T00:00:${String(n % 60).padStart(2, "0")}.000Z`, "pending", `run-${n}`));
    const next = withTransition({ ...obligation, history: full }, { ...obligation, state: "scheduled", runId: "last", updatedAt: "2026-03-02T00:00:00.000Z" });
    expect({ length: next.history?.length, first: next.history?.[0], last: next.history?.at(-1) }).toEqual({
      length: HISTORY_LIMIT,
      first: full[0],
      last: { at: "2026-03-02T00:00:00.000Z", from: "pending", to: "scheduled", why: null, runId: "last" },
    });
  });

  it.each([
    ["never scheduled", [createdTransition("2026-03-01T00:00:00.000Z", "opened")], null],
    ["recorded before histories were kept", undefined, null],
    [
      "scheduled twice",
      [createdTransition("2026-03-01T00:00:00.000Z", "opened"), entry("2026-03-01T01:00:00.000Z", "scheduled"), entry("2026-03-01T02:00:00.000Z", "failed"), entry("2026-03-01T03:00:00.000Z", "scheduled"), entry("2026-03-01T04:00:00.000Z", "done")],
      "2026-03-01T03:00:00.000Z",
    ],
    ["scheduled in its only entry", [entry("2026-03-01T01:00:00.000Z", "scheduled")], "2026-03-01T01:00:00.000Z"],
  ])("were last scheduled: %s", (_, history, at) => {
    expect(scheduledAtOf({ ...withoutHistory, ...(history === undefined ? {} : { history }) })).toEqual(at);
  });

  it("are rebuilds for images and pull requests for pinned files", () => {
    expect([
      obligationKindOf({ kind: "image", registry: "r", repository: "a", tag: "1", digest: "sha256:0" }),
      obligationKindOf({ kind: "file-pin", repo: "o/r", path: "Dockerfile", line: 1, digest: "sha256:0" }),
    ]).toEqual(["rebuild", "pull-request"]);
  });
});
