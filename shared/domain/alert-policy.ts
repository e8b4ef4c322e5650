/**
 * The one alert of a campaign: when it is opened, updated, re-notified, escalated and resolved. Pure: the
 * SLA monitor gives it the previous alert state, the campaign's current items and `now`, and gets back the
 * next state and the deliveries to make.
 */
import { inQuietHours, type QuietHours } from "./sla.js";

export type AlertItemStatus = "at-risk" | "predicted-breach" | "stuck" | "overdue" | "failed";
export type AlertLevel = "warning" | "critical";
export type AlertRoute = "primary" | "escalation";
export type AlertDeliveryAction = "trigger" | "update" | "renotify" | "escalate" | "resolve";

/** What the policy needs to know of one item (the monitor keeps the rest). */
export interface AlertItemKey {
  readonly dependentKey: string;
  readonly status: AlertItemStatus;
  /**
   * The item's step as a stable key (the state, the kind of stuck, the failure reason, the run — never a
   * growing duration): a change of step is a change of the alert, the clock ticking is not.
   */
  readonly step: string;
}

export interface AlertPolicy {
  /** Re-notify an unresolved alert this often (0: never). */
  readonly renotifyMs: number;
  /** Escalate an unresolved critical alert to the escalation route after this long (null: never). */
  readonly escalateAfterMs: number | null;
  readonly quietHours: QuietHours | null;
}

export interface AlertState {
  readonly status: "open" | "resolved";
  readonly level: AlertLevel;
  readonly openedAt: string;
  /** When the primary route was last notified (trigger, update or renotify). */
  readonly notifiedAt: string;
  /** When it became critical (escalation counts from here); null while a warning. */
  readonly criticalSince: string | null;
  readonly escalatedAt: string | null;
  readonly resolvedAt: string | null;
  /** Items as of the last delivery (sorted by dependent key). */
  readonly items: readonly AlertItemKey[];
  /** Increases with every decision that delivers something. */
  readonly sequence: number;
}

export interface AlertDecision {
  /** Null when there is no alert and none is due (nothing late, or a warning held back by quiet hours). */
  readonly next: AlertState | null;
  readonly deliveries: ReadonlyArray<{ readonly action: AlertDeliveryAction; readonly route: AlertRoute }>;
}

const CRITICAL: ReadonlySet<AlertItemStatus> = new Set(["overdue", "failed"]);

/** Critical when an item is overdue or failed, else a warning. */
export function alertLevelOf(items: readonly AlertItemKey[]): AlertLevel {
  return items.some((item) => CRITICAL.has(item.status)) ? "critical" : "warning";
}

function sameItems(a: readonly AlertItemKey[], b: readonly AlertItemKey[]): boolean {
  return a.length === b.length && a.every((item, index) => item.dependentKey === b[index]!.dependentKey && item.status === b[index]!.status && item.step === b[index]!.step);
}

function sorted(items: readonly AlertItemKey[]): AlertItemKey[] {
  return [...items].sort((a, b) => (a.dependentKey < b.dependentKey ? -1 : a.dependentKey > b.dependentKey ? 1 : 0));
}

/**
 * The next state of a campaign's alert and what to deliver.
 * - `settled` (every obligation done, superseded or waived), or nothing left to report (no item: the failed
 *   one was replayed and is on track again): an open alert resolves, to every route it reached. If items
 *   come back later, a new alert opens (a higher sequence).
 * - No open alert and items: `trigger` on the primary route — unless it is only a warning in quiet hours,
 *   which is held back until they end (a critical one never is).
 * - An open alert whose items or level changed: `update` (to the escalation route too once escalated).
 * - Unchanged for `renotifyMs` since the last notification: `renotify` (warnings held in quiet hours).
 * - Critical for `escalateAfterMs`: `escalate` once to the escalation route.
 */
export function decideAlert(previous: AlertState | null, itemsIn: readonly AlertItemKey[], settled: boolean, now: Date, policy: AlertPolicy): AlertDecision {
  const at = now.toISOString();
  const items = sorted(itemsIn);
  const open = previous !== null && previous.status === "open" ? previous : null;
  if (open === null) {
    if (settled || items.length === 0) return { next: previous, deliveries: [] };
    const level = alertLevelOf(items);
    if (level === "warning" && inQuietHours(policy.quietHours, now)) return { next: previous, deliveries: [] };
    const next: AlertState = { status: "open", level, openedAt: at, notifiedAt: at, criticalSince: level === "critical" ? at : null, escalatedAt: null, resolvedAt: null, items, sequence: (previous?.sequence ?? 0) + 1 };
    return { next, deliveries: [{ action: "trigger", route: "primary" }] };
  }
  const routes: AlertRoute[] = open.escalatedAt === null ? ["primary"] : ["primary", "escalation"];
  if (settled || items.length === 0) {
    const next: AlertState = { ...open, status: "resolved", resolvedAt: at, items: [], sequence: open.sequence + 1 };
    return { next, deliveries: routes.map((route) => ({ action: "resolve", route })) };
  }
  const level = alertLevelOf(items);
  // Escalation counts from the start of the current critical spell: back to a warning, the count starts over.
  const criticalSince = level === "critical" ? (open.criticalSince ?? at) : null;
  const quiet = level === "warning" && inQuietHours(policy.quietHours, now);
  const changed = !sameItems(open.items, items) || level !== open.level;
  const deliveries: Array<{ action: AlertDeliveryAction; route: AlertRoute }> = [];
  let notifiedAt = open.notifiedAt;
  if (changed && !quiet) {
    deliveries.push(...routes.map((route) => ({ action: "update" as const, route })));
    notifiedAt = at;
  } else if (!changed && !quiet && policy.renotifyMs > 0 && now.getTime() - Date.parse(open.notifiedAt) >= policy.renotifyMs) {
    deliveries.push(...routes.map((route) => ({ action: "renotify" as const, route })));
    notifiedAt = at;
  }
  let escalatedAt = open.escalatedAt;
  if (escalatedAt === null && level === "critical" && policy.escalateAfterMs !== null && criticalSince !== null && now.getTime() - Date.parse(criticalSince) >= policy.escalateAfterMs) {
    deliveries.push({ action: "escalate", route: "escalation" });
    escalatedAt = at;
  }
  // Held-back changes are kept out of `items`, so they are delivered once the quiet hours end.
  const next: AlertState = deliveries.length === 0
    ? { ...open, criticalSince }
    : { ...open, level, items, notifiedAt, criticalSince, escalatedAt, sequence: open.sequence + 1 };
  return { next, deliveries };
}
