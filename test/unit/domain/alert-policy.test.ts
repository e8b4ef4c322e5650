import { describe, expect, it } from "vitest";
import { decideAlert, type AlertItemKey, type AlertPolicy, type AlertState } from "../../../shared/domain/alert-policy.js";

const M = 60_000;
const policy: AlertPolicy = { renotifyMs: 60 * M, escalateAfterMs: 30 * M, quietHours: { timeZone: "UTC", from: "22:00", to: "07:00" } };
const at = (time: string) => new Date(`2026-03-02T${time}:00.000Z`);
const iso = (time: string) => at(time).toISOString();
const risk: AlertItemKey = { dependentKey: "r/a:1", status: "at-risk", step: "rebuild running" };
const failed: AlertItemKey = { dependentKey: "r/b:1", status: "failed", step: "rebuild failed: exit 1" };

function run(steps: ReadonlyArray<{ at: string; items: AlertItemKey[]; settled?: boolean }>) {
  let state: AlertState | null = null;
  return steps.map((step) => {
    const decision = decideAlert(state, step.items, step.settled ?? false, at(step.at), policy);
    state = decision.next;
    return { at: step.at, deliveries: decision.deliveries.map((delivery) => `${delivery.action}:${delivery.route}`), level: state?.level ?? null, status: state?.status ?? null, sequence: state?.sequence ?? 0 };
  });
}

describe("decideAlert", () => {
  it("opens a warning, updates it to critical, re-notifies, escalates once, then resolves to every route it reached", () => {
    expect(run([
      { at: "10:00", items: [risk] },
      { at: "10:05", items: [risk] },
      { at: "10:10", items: [risk, failed] },
      { at: "10:39", items: [risk, failed] },
      { at: "10:40", items: [risk, failed] },
      { at: "11:10", items: [risk, failed] },
      { at: "11:41", items: [risk, failed] },
      { at: "12:00", items: [], settled: true },
      { at: "12:05", items: [], settled: true },
    ])).toEqual([
      { at: "10:00", deliveries: ["trigger:primary"], level: "warning", status: "open", sequence: 1 },
      { at: "10:05", deliveries: [], level: "warning", status: "open", sequence: 1 },
      { at: "10:10", deliveries: ["update:primary"], level: "critical", status: "open", sequence: 2 },
      { at: "10:39", deliveries: [], level: "critical", status: "open", sequence: 2 },
      { at: "10:40", deliveries: ["escalate:escalation"], level: "critical", status: "open", sequence: 3 },
      { at: "11:10", deliveries: ["renotify:primary", "renotify:escalation"], level: "critical", status: "open", sequence: 4 },
      { at: "11:41", deliveries: [], level: "critical", status: "open", sequence: 4 },
      { at: "12:00", deliveries: ["resolve:primary", "resolve:escalation"], level: "critical", status: "resolved", sequence: 5 },
      { at: "12:05", deliveries: [], level: "critical", status: "resolved", sequence: 5 },
    ]);
  });

  it("holds a warning back in quiet hours, but never a critical", () => {
    expect(run([
      { at: "23:00", items: [risk] },
      { at: "23:30", items: [risk, failed] },
    ])).toEqual([
      { at: "23:00", deliveries: [], level: null, status: null, sequence: 0 },
      { at: "23:30", deliveries: ["trigger:primary"], level: "critical", status: "open", sequence: 1 },
    ]);
  });

  it("delivers a warning held back in quiet hours once they end", () => {
    expect(run([
      { at: "21:00", items: [risk] },
      { at: "22:30", items: [risk, { ...risk, dependentKey: "r/c:1" }] },
      { at: "07:00", items: [risk, { ...risk, dependentKey: "r/c:1" }] },
    ])).toEqual([
      { at: "21:00", deliveries: ["trigger:primary"], level: "warning", status: "open", sequence: 1 },
      { at: "22:30", deliveries: [], level: "warning", status: "open", sequence: 1 },
      { at: "07:00", deliveries: ["update:primary"], level: "warning", status: "open", sequence: 2 },
    ]);
  });

  it("opens nothing when nothing is late, or when everything is already settled", () => {
    expect([decideAlert(null, [], false, at("10:00"), policy), decideAlert(null, [failed], true, at("10:00"), policy)]).toEqual([
      { next: null, deliveries: [] },
      { next: null, deliveries: [] },
    ]);
  });

  it("opens a new alert (a higher sequence) when a resolved campaign turns late again", () => {
    const resolved: AlertState = { status: "resolved", level: "critical", openedAt: iso("09:00"), notifiedAt: iso("09:00"), criticalSince: iso("09:00"), escalatedAt: null, resolvedAt: iso("09:30"), items: [], sequence: 4 };
    expect(decideAlert(resolved, [failed], false, at("10:00"), policy)).toEqual({
      next: { status: "open", level: "critical", openedAt: iso("10:00"), notifiedAt: iso("10:00"), criticalSince: iso("10:00"), escalatedAt: null, resolvedAt: null, items: [failed], sequence: 5 },
      deliveries: [{ action: "trigger", route: "primary" }],
    });
  });

  it("treats the same items in another order as unchanged, and a changed step as a change", () => {
    const open = decideAlert(null, [risk, failed], false, at("10:00"), policy).next;
    expect([
      decideAlert(open, [failed, risk], false, at("10:01"), policy).deliveries,
      decideAlert(open, [{ ...failed, step: "rebuild failed: exit 2" }, risk], false, at("10:01"), policy).deliveries,
    ]).toEqual([[], [{ action: "update", route: "primary" }]]);
  });

  it("counts the escalation delay from the start of the current critical spell, not an earlier one", () => {
    expect(run([
      { at: "10:00", items: [failed] },
      { at: "10:05", items: [risk] },
      { at: "11:00", items: [risk, failed] },
      { at: "11:29", items: [risk, failed] },
      { at: "11:30", items: [risk, failed] },
    ]).map((step) => `${step.at} ${step.deliveries.join(",")}`)).toEqual([
      "10:00 trigger:primary",
      "10:05 update:primary",
      "11:00 update:primary",
      "11:29 ",
      "11:30 escalate:escalation",
    ]);
  });

  it("resolves when nothing is left to report even if obligations stay open", () => {
    const open = decideAlert(null, [failed], false, at("10:00"), policy).next;
    expect(decideAlert(open, [], false, at("10:05"), policy).deliveries).toEqual([{ action: "resolve", route: "primary" }]);
  });

  it("never escalates without an escalation time, and never re-notifies with renotify 0", () => {
    const quietless: AlertPolicy = { renotifyMs: 0, escalateAfterMs: null, quietHours: null };
    const open = decideAlert(null, [failed], false, at("10:00"), quietless).next;
    expect(decideAlert(open, [failed], false, at("20:00"), quietless).deliveries).toEqual([]);
  });
});

describe("decideAlert, state by state", () => {
  const other: AlertItemKey = { dependentKey: "r/c:1", status: "at-risk", step: "rebuild running" };
  const warningAt10: AlertState = { status: "open", level: "warning", openedAt: iso("10:00"), notifiedAt: iso("10:00"), criticalSince: null, escalatedAt: null, resolvedAt: null, items: [risk, other], sequence: 3 };

  it("opens with its items sorted by dependent key and counts the sequence from nothing", () => {
    expect(decideAlert(null, [other, failed, risk], false, at("10:00"), policy)).toEqual({
      next: { status: "open", level: "critical", openedAt: iso("10:00"), notifiedAt: iso("10:00"), criticalSince: iso("10:00"), escalatedAt: null, resolvedAt: null, items: [risk, failed, other], sequence: 1 },
      deliveries: [{ action: "trigger", route: "primary" }],
    });
  });

  it("opens a warning outside quiet hours with no critical time", () => {
    expect(decideAlert(null, [risk], false, at("12:00"), policy).next).toEqual({ status: "open", level: "warning", openedAt: iso("12:00"), notifiedAt: iso("12:00"), criticalSince: null, escalatedAt: null, resolvedAt: null, items: [risk], sequence: 1 });
  });

  it.each([
    ["an item's status", [risk, { ...other, status: "predicted-breach" as const }]],
    ["an item's dependent", [risk, { ...other, dependentKey: "r/d:1" }]],
    ["an item fewer", [risk]],
    ["an item more", [risk, other, { ...other, dependentKey: "r/d:1" }]],
  ])("updates on a change of %s, keeping what it has not changed", (_, items) => {
    expect(decideAlert(warningAt10, items, false, at("10:30"), policy)).toEqual({
      next: { ...warningAt10, items, notifiedAt: iso("10:30"), sequence: 4 },
      deliveries: [{ action: "update", route: "primary" }],
    });
  });

  it("keeps an unchanged warning as it is until the renotify time", () => {
    expect(decideAlert(warningAt10, [other, risk], false, at("10:59"), policy)).toEqual({ next: warningAt10, deliveries: [] });
  });

  it("holds a warning's renotification and its changes in quiet hours, keeping the delivered items", () => {
    const late = { ...warningAt10, notifiedAt: iso("20:00") };
    expect([decideAlert(late, [risk, other], false, at("23:30"), policy), decideAlert(late, [risk], false, at("23:30"), policy)]).toEqual([
      { next: late, deliveries: [] },
      { next: late, deliveries: [] },
    ]);
  });

  it("renotifies a critical alert in quiet hours", () => {
    const critical: AlertState = { ...warningAt10, level: "critical", items: [failed], notifiedAt: iso("21:30"), criticalSince: iso("21:00"), escalatedAt: iso("21:30") };
    expect(decideAlert(critical, [failed], false, at("22:30"), policy)).toEqual({
      next: { ...critical, notifiedAt: iso("22:30"), sequence: 4 },
      deliveries: [
        { action: "renotify", route: "primary" },
        { action: "renotify", route: "escalation" },
      ],
    });
  });

  it("updates both routes once escalated, and starts the critical count over back at a warning", () => {
    const escalated: AlertState = { ...warningAt10, level: "critical", items: [failed], criticalSince: iso("10:00"), escalatedAt: iso("10:30") };
    expect(decideAlert(escalated, [risk], false, at("10:45"), policy)).toEqual({
      next: { ...escalated, level: "warning", items: [risk], notifiedAt: iso("10:45"), criticalSince: null, sequence: 4 },
      deliveries: [
        { action: "update", route: "primary" },
        { action: "update", route: "escalation" },
      ],
    });
  });

  it("escalates a critical alert that became critical before it was opened, when nothing else is delivered", () => {
    const critical: AlertState = { ...warningAt10, level: "critical", items: [failed], criticalSince: iso("10:00") };
    expect(decideAlert(critical, [failed], false, at("10:30"), policy)).toEqual({
      next: { ...critical, escalatedAt: iso("10:30"), sequence: 4 },
      deliveries: [{ action: "escalate", route: "escalation" }],
    });
  });

  it("counts a critical spell from now when the record lacks its start", () => {
    const critical: AlertState = { ...warningAt10, level: "critical", items: [failed], criticalSince: null };
    expect([decideAlert(critical, [failed], false, at("10:30"), policy), decideAlert(critical, [failed], false, at("10:30"), { ...policy, escalateAfterMs: 0 })]).toEqual([
      { next: { ...critical, criticalSince: iso("10:30") }, deliveries: [] },
      { next: { ...critical, criticalSince: iso("10:30"), escalatedAt: iso("10:30"), sequence: 4 }, deliveries: [{ action: "escalate", route: "escalation" }] },
    ]);
  });

  it("resolves with the resolution time, no items and the next sequence", () => {
    expect(decideAlert(warningAt10, [risk], true, at("11:00"), policy)).toEqual({
      next: { ...warningAt10, status: "resolved", resolvedAt: iso("11:00"), items: [], sequence: 4 },
      deliveries: [{ action: "resolve", route: "primary" }],
    });
  });
});
