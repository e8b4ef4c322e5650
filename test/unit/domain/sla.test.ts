import { describe, expect, it } from "vitest";
import { pushRoot, withTransition, type Obligation, type PatchRoot } from "../../../shared/domain/campaign.js";
import {
  clockFor,
  formatDuration,
  inQuietHours,
  isOpenObligation,
  isTimeZone,
  parseDuration,
  predictDoneAt,
  predictionSourceOf,
  quietHoursEndAfter,
  slaRuleFor,
  slaStatusOf,
  slaSubjectOf,
  stuckReason,
  type SlaRules,
} from "../../../shared/domain/sla.js";
import { PENDING_OBLIGATION } from "./obligation-fixture.js";

const H = 3_600_000;
const rules: SlaRules = {
  defaultMs: 72 * H,
  dependents: [{ match: "contoso/payments/**", budgetMs: 4 * H }, { match: "contoso.azurecr.io/apps/*", budgetMs: 24 * H }],
  bases: [{ image: "docker.io/library/alpine", budgetMs: 48 * H }],
};

describe("durations", () => {
  it.each([
    ["48h", 48 * H],
    ["90m", 90 * 60_000],
    ["2d", 48 * H],
    ["1w", 168 * H],
    ["1d12h", 36 * H],
    ["30s", 30_000],
    ["1.5h", 1.5 * H],
    ["48", null],
    ["h", null],
    ["-2h", null],
    ["0h", null],
    ["2 h", null],
  ])("parses %j as %j ms", (text, ms) => {
    expect(parseDuration(text)).toEqual(ms);
  });

  it.each([
    [0, "0 s"],
    [45_000, "45 s"],
    [5 * H + 12 * 60_000 + 5_000, "5 h 12 min"],
    [2 * 86_400_000 + 4 * H, "2 d 4 h"],
    [-40 * 60_000, "40 min"],
  ])("formats %j ms as %j", (ms, text) => {
    expect(formatDuration(ms)).toEqual(text);
  });
});

describe("the clock", () => {
  const upstreamRoot: PatchRoot = { base: "docker.io/library/alpine:3.20", digest: "sha256:1", availableAt: "2026-03-01T10:00:00.000Z", source: "upstream-first-seen", created: null };

  it.each([
    ["a matching repository file", "file:contoso/payments:deploy/app.yaml:3", { id: "dependent:contoso/payments/**", budgetMs: 4 * H }],
    ["a matching image (tag ignored)", "contoso.azurecr.io/apps/web:1.2", { id: "dependent:contoso.azurecr.io/apps/*", budgetMs: 24 * H }],
    ["an image of the base's cascade", "contoso.azurecr.io/tools/cli:1", { id: "base:docker.io/library/alpine", budgetMs: 48 * H }],
  ])("takes the most specific rule for %s", (_, key, rule) => {
    expect(slaRuleFor(rules, key, ["contoso.azurecr.io/base/company:1", "docker.io/library/alpine:3.20"])).toEqual(rule);
  });

  it("falls back to the default", () => {
    expect(slaRuleFor(rules, "contoso.azurecr.io/tools/cli:1", ["contoso.azurecr.io/base/company:1"])).toEqual({ id: "default", budgetMs: 72 * H });
  });

  it("starts two levels down at the root's availability, not at its own base's rebuild", () => {
    // The company base was rebuilt at 14:00; the image built on it is due by the upstream root's clock.
    expect(clockFor(rules, "contoso.azurecr.io/tools/cli:1", "contoso.azurecr.io/base/company:1", upstreamRoot)).toEqual({
      startedAt: "2026-03-01T10:00:00.000Z",
      startSource: "upstream-first-seen",
      dueAt: "2026-03-03T10:00:00.000Z",
      budgetMs: 48 * H,
      rule: "base:docker.io/library/alpine",
    });
  });

  it("starts at the registry's push time for a base built in-house", () => {
    const root = pushRoot("contoso.azurecr.io/base/company:1", "sha256:2", "2026-03-01T14:00:00.000Z", null);
    expect(clockFor(rules, "contoso.azurecr.io/apps/web:1", "contoso.azurecr.io/base/company:1", root)).toEqual({
      startedAt: "2026-03-01T14:00:00.000Z",
      startSource: "registry-push",
      dueAt: "2026-03-02T14:00:00.000Z",
      budgetMs: 24 * H,
      rule: "dependent:contoso.azurecr.io/apps/*",
    });
  });
});

describe("status", () => {
  const clock = { startedAt: "2026-03-01T00:00:00.000Z", startSource: "registry-push" as const, dueAt: "2026-03-01T04:00:00.000Z", budgetMs: 4 * H, rule: "default" };
  it.each([
    ["pending", "2026-03-01T00:00:00.000Z", "2026-03-01T02:59:59.000Z", "on-track"],
    ["scheduled", "2026-03-01T00:00:00.000Z", "2026-03-01T03:00:00.000Z", "at-risk"],
    ["failed", "2026-03-01T00:00:00.000Z", "2026-03-01T04:00:00.001Z", "overdue"],
    ["done", "2026-03-01T04:00:00.000Z", "2026-03-09T00:00:00.000Z", "met"],
    ["done", "2026-03-01T04:00:00.001Z", "2026-03-01T04:00:00.002Z", "missed"],
    ["superseded", "2026-03-01T05:00:00.000Z", "2026-03-01T06:00:00.000Z", "superseded"],
  ] as const)("%s, updated %s, at %s: %s", (state, updatedAt, now, status) => {
    expect(slaStatusOf({ state, updatedAt }, clock, new Date(now), 0.75)).toEqual(status);
  });
});

describe("stuck work and predictions", () => {
  const stuck = { pendingMs: 30 * 60_000, runMs: 2 * H, pullRequestMs: 24 * H };
  const base = { createdAt: "2026-03-01T00:00:00.000Z", updatedAt: "2026-03-01T00:00:00.000Z" };
  it.each([
    ["pending, never scheduled", { ...base, state: "pending", kind: "rebuild" }, null, "2026-03-01T00:45:00.000Z", { kind: "pending", text: "pending for 45 min, never scheduled" }],
    ["pending, not yet", { ...base, state: "pending", kind: "rebuild" }, null, "2026-03-01T00:29:00.000Z", null],
    ["a run not moving", { ...base, state: "scheduled", kind: "rebuild" }, "2026-03-01T00:00:00.000Z", "2026-03-01T02:30:00.000Z", { kind: "run", text: "rebuild run not moving for 2 h 30 min" }],
    ["a pull request unmerged", { ...base, state: "scheduled", kind: "pull-request" }, "2026-03-01T00:00:00.000Z", "2026-03-02T06:00:00.000Z", { kind: "pull-request", text: "pull request unmerged for 1 d 6 h" }],
    ["a failed one (alerted as failed, not stuck)", { ...base, state: "failed", kind: "rebuild" }, null, "2026-03-05T00:00:00.000Z", null],
  ] as const)("%s", (_, obligation, scheduledAt, now, reason) => {
    expect(stuckReason(obligation, scheduledAt, new Date(now), stuck)).toEqual(reason);
  });

  it("predicts from the median of the dependent's own past durations", () => {
    expect([
      predictDoneAt("2026-03-01T00:00:00.000Z", [3 * H, 1 * H, 2 * H]),
      predictDoneAt("2026-03-01T00:00:00.000Z", [1 * H, 3 * H]),
      predictDoneAt("2026-03-01T00:00:00.000Z", []),
      predictDoneAt(null, [H]),
    ]).toEqual(["2026-03-01T02:00:00.000Z", "2026-03-01T02:00:00.000Z", null, null]);
  });

  it("predicts a pull request from its repository's merge latencies and a rebuild from its dependent's build durations", () => {
    const pin = { kind: "pull-request", dependentKey: "file:contoso/deploy:apps/web.yaml:7", dependent: { kind: "file-pin", repo: "contoso/deploy", path: "apps/web.yaml", line: 7, digest: "sha256:1" } } as const;
    const image = { kind: "rebuild", dependentKey: "r.test/app:1", dependent: { kind: "image", registry: "r.test", repository: "app", tag: "1", digest: "sha256:1" } } as const;
    expect([predictionSourceOf(pin), predictionSourceOf(image)]).toEqual([
      { kind: "merge-latency", repository: "contoso/deploy" },
      { kind: "build-duration", dependentKey: "r.test/app:1" },
    ]);
  });
});

describe("quiet hours", () => {
  const berlin = { timeZone: "Europe/Berlin", from: "22:00", to: "07:00" };
  it.each([
    ["21:59 local in winter (UTC+1)", "2026-01-15T20:59:00.000Z", false],
    ["22:00 local in winter", "2026-01-15T21:00:00.000Z", true],
    ["06:59 local in winter", "2026-01-16T05:59:00.000Z", true],
    ["07:00 local in winter", "2026-01-16T06:00:00.000Z", false],
    ["22:00 local in summer (UTC+2)", "2026-07-15T20:00:00.000Z", true],
    ["21:00 UTC in summer is 23:00 local", "2026-07-15T21:00:00.000Z", true],
    ["05:30 UTC on the DST change night is 07:30 local (summer time began at 02:00)", "2026-03-29T05:30:00.000Z", false],
    ["04:30 UTC on the DST change night is 06:30 local", "2026-03-29T04:30:00.000Z", true],
  ])("%s → %s", (_, at, quiet) => {
    expect(inQuietHours(berlin, new Date(at))).toEqual(quiet);
  });

  // Berlin leaves summer time on 2026-10-25: at 03:00 CEST (01:00 UTC) clocks go back to 02:00 CET, so
  // local 02:00–02:59 happens twice.
  it("lives through the repeated autumn hour in quiet hours and ends them at local 07:00, an hour more of UTC later than the wall clock says", () => {
    const at = (utc: string) => new Date(utc);
    expect({
      firstPass: [inQuietHours(berlin, at("2026-10-25T00:30:00.000Z")), quietHoursEndAfter(berlin, at("2026-10-25T00:30:00.000Z"))?.toISOString()],
      secondPass: [inQuietHours(berlin, at("2026-10-25T01:30:00.000Z")), quietHoursEndAfter(berlin, at("2026-10-25T01:30:00.000Z"))?.toISOString()],
      lastQuietMinute: inQuietHours(berlin, at("2026-10-25T05:59:00.000Z")),
      after: [inQuietHours(berlin, at("2026-10-25T06:00:00.000Z")), quietHoursEndAfter(berlin, at("2026-10-25T06:00:00.000Z"))],
    }).toEqual({
      // 02:30 CEST and 02:30 CET: both quiet, both end at 07:00 CET (06:00 UTC), not 4 h 30 min of wall clock later (05:00 UTC).
      firstPass: [true, "2026-10-25T06:00:00.000Z"],
      secondPass: [true, "2026-10-25T06:00:00.000Z"],
      lastQuietMinute: true,
      after: [false, null],
    });
  });

  it.each([
    // Ends inside the repeated hour: at its first 02:30 (CEST); by the wall-clock rule its second pass, 02:00–02:29 CET, is quiet again.
    ["ending in the repeated autumn hour", { timeZone: "Europe/Berlin", from: "22:00", to: "02:30" }, "2026-10-24T21:00:00.000Z", "2026-10-25T00:30:00.000Z"],
    ["ending in the repeated autumn hour, on its second pass", { timeZone: "Europe/Berlin", from: "22:00", to: "02:30" }, "2026-10-25T01:10:00.000Z", "2026-10-25T01:30:00.000Z"],
    // Ends inside the hour spring skips (02:00 CET jumps to 03:00 CEST at 01:00 UTC): at the jump.
    ["ending in the skipped spring hour", { timeZone: "Europe/Berlin", from: "22:00", to: "02:30" }, "2026-03-28T22:00:00.000Z", "2026-03-29T01:00:00.000Z"],
    ["with no change of time, from mid-minute", { timeZone: "America/New_York", from: "12:00", to: "13:00" }, "2026-07-01T16:30:45.500Z", "2026-07-01T17:00:00.000Z"],
  ])("ends quiet hours %s", (_, quiet, now, end) => {
    expect(quietHoursEndAfter(quiet, new Date(now))?.toISOString()).toEqual(end);
  });

  it("handles a window that does not wrap midnight, and none", () => {
    const lunch = { timeZone: "America/New_York", from: "12:00", to: "13:00" };
    expect([inQuietHours(lunch, new Date("2026-07-01T16:30:00.000Z")), inQuietHours(lunch, new Date("2026-07-01T17:30:00.000Z")), inQuietHours(null, new Date())]).toEqual([true, false, false]);
  });
});

describe("obligation history", () => {
  const obligation: Obligation = PENDING_OBLIGATION;

  it("appends a change of state or run, keeps a patch from rewriting it, and ignores other changes", () => {
    const scheduled = withTransition(obligation, { ...obligation, state: "scheduled", runId: "cb1", updatedAt: "2026-03-01T00:01:00.000Z" });
    const rescheduled = withTransition(scheduled, { ...scheduled, runId: "cb2", reason: "retry 2", updatedAt: "2026-03-01T00:02:00.000Z", history: [] });
    const touched = withTransition(rescheduled, { ...rescheduled, reason: "still running", updatedAt: "2026-03-01T00:03:00.000Z" });
    expect(touched.history).toEqual([
      { at: "2026-03-01T00:00:00.000Z", from: null, to: "pending", why: "campaign opened", runId: null },
      { at: "2026-03-01T00:01:00.000Z", from: "pending", to: "scheduled", why: null, runId: "cb1" },
      { at: "2026-03-01T00:02:00.000Z", from: "scheduled", to: "scheduled", why: "retry 2", runId: "cb2" },
    ]);
  });

  it("keeps the creation entry and the newest entries beyond the limit", () => {
    let current = obligation;
    for (let n = 1; n <= 650; n += 1) current = withTransition(current, { ...current, runId: `run-${n}`, updatedAt: new Date(Date.UTC(2026, 2, 1, 0, n)).toISOString() });
    expect({ length: current.history?.length, first: current.history?.[0]?.why, second: current.history?.[1]?.runId, last: current.history?.at(-1)?.runId }).toEqual({ length: 500, first: "campaign opened", second: "run-152", last: "run-650" });
  });
});

describe("durations, at their edges", () => {
  it.each([
    [" 48h ", 48 * H],
    ["1.0005s", 1_001],
    ["1.25h", 1.25 * H],
    ["48hx", null],
    ["x48h", null],
    ["", null],
  ])("parses %j as %j ms", (text, ms) => {
    expect(parseDuration(text)).toEqual(ms);
  });

  it.each([
    [500, "0 s"],
    [59_999, "59 s"],
    [61_000, "1 min 1 s"],
    [2 * 86_400_000 + 5 * 60_000 + 7_000, "2 d 5 min"],
    [3 * 86_400_000, "3 d"],
    [H + 59 * 60_000 + 59_999, "1 h 59 min"],
  ])("formats %j ms as %j", (ms, text) => {
    expect(formatDuration(ms)).toEqual(text);
  });
});

describe("the rule of a dependent", () => {
  it.each([
    ["an image", "contoso.azurecr.io/apps/web:1.2", "contoso.azurecr.io/apps/web:1.2"],
    ["a pinned file, as owner/repo/path", "file:contoso/deploy:apps/web.yaml:7", "contoso/deploy/apps/web.yaml"],
    ["a pinned file whose path holds a colon", "file:contoso/deploy:apps/a:b.yaml:12", "contoso/deploy/apps/a:b.yaml"],
  ])("matches %s by its name", (_, key, subject) => {
    expect(slaSubjectOf(key)).toEqual(subject);
  });

  const exact: SlaRules = {
    defaultMs: 72 * H,
    dependents: [
      { match: "localhost:5000/apps/web", budgetMs: 1 * H },
      { match: "r.io/*/cli:2", budgetMs: 4 * H },
      { match: "r.io/*/cli", budgetMs: 2 * H },
      { match: "contoso/deploy/**", budgetMs: 3 * H },
    ],
    bases: [
      { image: "127.0.0.1:5000/ripple/busybox", budgetMs: 5 * H },
      { image: "docker.io/library/alpine", budgetMs: 48 * H },
      { image: "contoso.azurecr.io/base/company", budgetMs: 6 * H },
      { image: "busybox", budgetMs: 7 * H },
    ],
  };
  it.each([
    ["an image by its repository, without the tag, behind a registry port", "localhost:5000/apps/web:1.2", [], { id: "dependent:localhost:5000/apps/web", budgetMs: 1 * H }],
    ["an image under a dot directory", "r.io/.tools/cli:1", [], { id: "dependent:r.io/*/cli", budgetMs: 2 * H }],
    ["an image under a dot directory, by a glob that names the tag", "r.io/.tools/cli:2", [], { id: "dependent:r.io/*/cli:2", budgetMs: 4 * H }],
    ["a pinned file under a dot directory", "file:contoso/deploy:.github/workflows/ci.yaml:4", [], { id: "dependent:contoso/deploy/**", budgetMs: 3 * H }],
    ["the campaign's base (with a registry port) before the root's", "r.io/app:1", ["127.0.0.1:5000/ripple/busybox:1", "docker.io/library/alpine:3.20"], { id: "base:127.0.0.1:5000/ripple/busybox", budgetMs: 5 * H }],
    ["the root's base when the campaign's has no rule", "r.io/app:1", ["r.io/base:1", "contoso.azurecr.io/base/company:1"], { id: "base:contoso.azurecr.io/base/company", budgetMs: 6 * H }],
    ["a base named without a tag", "r.io/app:1", ["contoso.azurecr.io/base/company"], { id: "base:contoso.azurecr.io/base/company", budgetMs: 6 * H }],
    ["a base named without a registry or a tag", "r.io/app:1", ["busybox"], { id: "base:busybox", budgetMs: 7 * H }],
    ["the default when no base has a rule", "r.io/app:1", ["docker.io/library/debian:12"], { id: "default", budgetMs: 72 * H }],
  ])("takes %s", (_, key, bases, rule) => {
    expect(slaRuleFor(exact, key, bases)).toEqual(rule);
  });

  it("times the clock by the campaign's base rule before the root's", () => {
    const root: PatchRoot = { base: "docker.io/library/alpine:3.20", digest: "sha256:1", availableAt: "2026-03-01T10:00:00+01:00", source: "upstream-first-seen", created: null };
    expect(clockFor(exact, "r.io/app:1", "contoso.azurecr.io/base/company:1", root)).toEqual({
      startedAt: "2026-03-01T10:00:00+01:00",
      startSource: "upstream-first-seen",
      dueAt: "2026-03-01T15:00:00.000Z",
      budgetMs: 6 * H,
      rule: "base:contoso.azurecr.io/base/company",
    });
  });
});

describe("status, at its edges", () => {
  const clock = { startedAt: "2026-03-01T00:00:00.000Z", startSource: "registry-push" as const, dueAt: "2026-03-01T04:00:00.000Z", budgetMs: 4 * H, rule: "default" };
  it.each([
    ["open at the due time itself", "pending", "2026-03-01T04:00:00.000Z", 0.75, "at-risk"],
    ["open with no share at risk", "scheduled", "2026-03-01T00:00:00.000Z", 0, "at-risk"],
    ["open just before the whole budget as the share at risk", "failed", "2026-03-01T03:59:59.999Z", 1, "on-track"],
    ["done, whatever the time now", "done", "2026-03-09T00:00:00.000Z", 0.75, "met"],
  ] as const)("%s", (_, state, now, share, status) => {
    expect(slaStatusOf({ state, updatedAt: "2026-03-01T01:00:00.000Z" }, clock, new Date(now), share)).toEqual(status);
  });

  it.each([
    ["pending", true],
    ["scheduled", true],
    ["failed", true],
    ["done", false],
    ["superseded", false],
  ] as const)("%s is open: %s", (state, open) => {
    expect(isOpenObligation(state)).toEqual(open);
  });
});

describe("stuck work, at its edges", () => {
  const stuck = { pendingMs: 30 * 60_000, runMs: 2 * H, pullRequestMs: 24 * H };
  const base = { createdAt: "2026-03-01T00:00:00.000Z", updatedAt: "2026-03-01T00:00:00.000Z" };
  it.each([
    ["pending exactly as long as allowed", { ...base, state: "pending", kind: "pull-request" }, null, "2026-03-01T00:30:00.000Z", { kind: "pending", text: "pending for 30 min, never scheduled" }],
    ["a run not moving exactly as long as allowed", { ...base, state: "scheduled", kind: "rebuild" }, null, "2026-03-01T02:00:00.000Z", { kind: "run", text: "rebuild run not moving for 2 h" }],
    ["a run not moving, not yet", { ...base, state: "scheduled", kind: "rebuild" }, null, "2026-03-01T01:59:59.000Z", null],
    // A run is timed from its last change, not from when it was scheduled.
    ["a run changed since it was scheduled", { ...base, state: "scheduled", kind: "rebuild", updatedAt: "2026-03-01T01:00:00.000Z" }, "2026-03-01T00:00:00.000Z", "2026-03-01T02:30:00.000Z", null],
    // A pull request is timed from when it was scheduled, not from its last change.
    ["a pull request updated since it was opened", { ...base, state: "scheduled", kind: "pull-request", updatedAt: "2026-03-01T23:00:00.000Z" }, "2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z", { kind: "pull-request", text: "pull request unmerged for 1 d" }],
    ["a pull request opened later than its record changed", { ...base, state: "scheduled", kind: "pull-request" }, "2026-03-01T12:00:00.000Z", "2026-03-02T06:00:00.000Z", null],
    ["a pull request with no history, from its last change", { ...base, state: "scheduled", kind: "pull-request" }, null, "2026-03-02T00:00:00.000Z", { kind: "pull-request", text: "pull request unmerged for 1 d" }],
    ["a pull request, not yet", { ...base, state: "scheduled", kind: "pull-request" }, null, "2026-03-01T23:59:59.000Z", null],
    ["done work", { ...base, state: "done", kind: "rebuild" }, null, "2026-03-09T00:00:00.000Z", null],
    ["superseded work", { ...base, state: "superseded", kind: "pull-request" }, null, "2026-03-09T00:00:00.000Z", null],
  ] as const)("%s", (_, obligation, scheduledAt, now, reason) => {
    expect(stuckReason(obligation, scheduledAt, new Date(now), stuck)).toEqual(reason);
  });

  it("takes the median by value, whatever the order of the past durations", () => {
    // Sorted as text, 10 s would come first; left unsorted, 10 s is in the middle.
    expect([predictDoneAt("2026-03-01T00:00:00.000Z", [2_000, 10_000, 3_000]), predictDoneAt("2026-03-01T00:00:00.000Z", [10_000, 2_000, 3_000, 9_000])]).toEqual([
      "2026-03-01T00:00:03.000Z",
      "2026-03-01T00:00:06.000Z",
    ]);
  });

  it("predicts from build durations whatever lacks a pinned file's repository", () => {
    const imageByPullRequest = { kind: "pull-request", dependentKey: "r.test/app:1", dependent: { kind: "image", registry: "r.test", repository: "app", tag: "1", digest: "sha256:1" } } as const;
    const pinByRebuild = { kind: "rebuild", dependentKey: "file:contoso/deploy:apps/web.yaml:7", dependent: { kind: "file-pin", repo: "contoso/deploy", path: "apps/web.yaml", line: 7, digest: "sha256:1" } } as const;
    expect([predictionSourceOf(imageByPullRequest), predictionSourceOf(pinByRebuild)]).toEqual([
      { kind: "build-duration", dependentKey: "r.test/app:1" },
      { kind: "build-duration", dependentKey: "file:contoso/deploy:apps/web.yaml:7" },
    ]);
  });
});

describe("quiet hours, at their edges", () => {
  it("are never in force when they start and end at the same minute", () => {
    const none = { timeZone: "UTC", from: "08:00", to: "08:00" };
    expect([inQuietHours(none, new Date("2026-03-01T07:59:00.000Z")), inQuietHours(none, new Date("2026-03-01T08:00:00.000Z")), quietHoursEndAfter(none, new Date("2026-03-01T08:00:00.000Z"))]).toEqual([false, false, null]);
  });

  it("hold from their first minute up to their last in a window that does not wrap midnight", () => {
    const lunch = { timeZone: "America/New_York", from: "12:00", to: "13:00" };
    expect(["2026-07-01T15:59:00.000Z", "2026-07-01T16:00:00.000Z", "2026-07-01T16:59:59.000Z", "2026-07-01T17:00:00.000Z"].map((at) => inQuietHours(lunch, new Date(at)))).toEqual([false, true, true, false]);
  });

  // Berlin enters summer time on 2026-03-29: at 02:00 CET (01:00 UTC) clocks jump to 03:00 CEST.
  it.each([
    ["from their first minute", "2026-03-29T00:45:00.000Z"],
    ["from a later minute", "2026-03-29T00:50:00.000Z"],
  ])("end a short window the spring change cuts off at the jump, %s", (_, now) => {
    const short = { timeZone: "Europe/Berlin", from: "01:45", to: "02:30" };
    expect(quietHoursEndAfter(short, new Date(now))?.toISOString()).toEqual("2026-03-29T01:00:00.000Z");
  });

  it.each([
    ["UTC, from 22:00 to 06:30", { timeZone: "UTC", from: "22:00", to: "06:30" }, "2026-03-01T23:15:00.000Z", "2026-03-02T06:30:00.000Z"],
    ["UTC, in their last minute", { timeZone: "UTC", from: "22:00", to: "06:30" }, "2026-03-02T06:29:59.000Z", "2026-03-02T06:30:00.000Z"],
    ["UTC, in their first minute", { timeZone: "UTC", from: "22:00", to: "06:30" }, "2026-03-01T22:00:00.000Z", "2026-03-02T06:30:00.000Z"],
    ["Tokyo (UTC+9), ending at 09:05 local", { timeZone: "Asia/Tokyo", from: "20:00", to: "09:05" }, "2026-03-01T12:00:00.000Z", "2026-03-02T00:05:00.000Z"],
    ["Kolkata (UTC+5:30), ending at 07:00 local", { timeZone: "Asia/Kolkata", from: "23:00", to: "07:00" }, "2026-03-01T20:00:00.000Z", "2026-03-02T01:30:00.000Z"],
    // New York leaves summer time on 2026-11-01 at 02:00 EDT (06:00 UTC): 07:00 EST is 12:00 UTC.
    ["across the autumn change in New York", { timeZone: "America/New_York", from: "22:00", to: "07:00" }, "2026-11-01T03:00:00.000Z", "2026-11-01T12:00:00.000Z"],
    // New York enters summer time on 2026-03-08 at 02:00 EST (07:00 UTC): 07:00 EDT is 11:00 UTC.
    ["across the spring change in New York", { timeZone: "America/New_York", from: "22:00", to: "07:00" }, "2026-03-08T04:00:00.000Z", "2026-03-08T11:00:00.000Z"],
  ])("end %s", (_, quiet, now, end) => {
    expect(quietHoursEndAfter(quiet, new Date(now))?.toISOString()).toEqual(end);
  });

  it("end never for no quiet hours, and not at all outside them", () => {
    expect([quietHoursEndAfter(null, new Date("2026-03-01T23:00:00.000Z")), quietHoursEndAfter({ timeZone: "UTC", from: "22:00", to: "06:30" }, new Date("2026-03-01T12:00:00.000Z"))]).toEqual([null, null]);
  });

  it.each([
    ["Europe/Berlin", true],
    ["UTC", true],
    ["Mars/Olympus_Mons", false],
    ["", false],
  ])("%j is a time zone: %j", (text, known) => {
    expect(isTimeZone(text)).toEqual(known);
  });
});
