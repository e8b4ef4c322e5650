/**
 * The patch SLA: when an obligation's clock starts, when it is due and by which rule, how it stands
 * (on-track, at-risk, overdue; met or missed once closed), whether it is stuck or predicted to breach, and
 * what the one alert of its campaign should do next. Pure: every function takes `now`.
 */
import picomatch from "picomatch";
import type { Obligation, ObligationClock, ObligationState, PatchRoot } from "./campaign.js";

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Milliseconds of a duration written as `48h`, `90m`, `2d`, `1w`, `30s`, or a sum of them (`1d12h`).
 * Returns null for anything else (no bare numbers: a unit is always given).
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (!/^(?:\d+(?:\.\d+)?[smhdw])+$/.test(trimmed)) return null;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) total += Number(amount) * UNITS[unit!]!;
  return total > 0 ? Math.round(total) : null;
}

/** `2 d 4 h`, `5 h 12 min`, `40 min`, `30 s`: the two largest units of a duration, for people. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  const parts: Array<[number, string]> = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "min"], [1_000, "s"]];
  const out: string[] = [];
  let rest = abs;
  for (const [size, unit] of parts) {
    const count = Math.floor(rest / size);
    if (count > 0 || (out.length > 0 && out.length < 2)) {
      if (count > 0) out.push(`${count} ${unit}`);
      rest -= count * size;
    }
    if (out.length === 2) break;
  }
  return out.length === 0 ? "0 s" : out.join(" ");
}

/** One SLA rule: a budget for dependents (image or repository globs) or for a base, or the default. */
export interface SlaRule {
  /** Recorded on the obligation: `dependent:<glob>`, `base:<image>` or `default`. */
  readonly id: string;
  readonly budgetMs: number;
}

export interface SlaRules {
  readonly defaultMs: number;
  /** Most specific first: the first whose glob matches the dependent wins. */
  readonly dependents: ReadonlyArray<{ readonly match: string; readonly budgetMs: number }>;
  /** Per base image (without tag, as configured), matched against the root base and the campaign's base. */
  readonly bases: ReadonlyArray<{ readonly image: string; readonly budgetMs: number }>;
}

/**
 * The name a dependent is matched by in `sla.dependents[].match`: an image as `registry/repository:tag`,
 * a pinned file as `owner/repo/path` (so `contoso/*` or `contoso/deploy/**` match repositories).
 */
export function slaSubjectOf(dependentKey: string): string {
  if (!dependentKey.startsWith("file:")) return dependentKey;
  const [, repo, ...rest] = dependentKey.split(":");
  const path = rest.slice(0, -1).join(":");
  return `${repo}/${path}`;
}

function imageOfTagKey(tagKey: string): string {
  const slash = tagKey.lastIndexOf("/");
  const colon = tagKey.lastIndexOf(":");
  return colon > slash ? tagKey.slice(0, colon) : tagKey;
}

/**
 * The rule that applies to `dependentKey` in a campaign of `bases` (the campaign's base tag, then the
 * cascade's root base tag): per dependent, then per base, then the default.
 */
export function slaRuleFor(rules: SlaRules, dependentKey: string, bases: readonly string[]): SlaRule {
  const subject = slaSubjectOf(dependentKey);
  for (const rule of rules.dependents) {
    if (picomatch.isMatch(subject, rule.match, { dot: true }) || picomatch.isMatch(subject.replace(/:[^:/]+$/, ""), rule.match, { dot: true })) {
      return { id: `dependent:${rule.match}`, budgetMs: rule.budgetMs };
    }
  }
  for (const base of bases) {
    const image = imageOfTagKey(base);
    const rule = rules.bases.find((candidate) => candidate.image === image);
    if (rule !== undefined) return { id: `base:${rule.image}`, budgetMs: rule.budgetMs };
  }
  return { id: "default", budgetMs: rules.defaultMs };
}

/** The clock of a new obligation: it starts at the cascade root's availability, never at its own base's rebuild. */
export function clockFor(rules: SlaRules, dependentKey: string, campaignBase: string, root: PatchRoot): ObligationClock {
  const rule = slaRuleFor(rules, dependentKey, [campaignBase, root.base]);
  const start = Date.parse(root.availableAt);
  return { startedAt: root.availableAt, startSource: root.source, dueAt: new Date(start + rule.budgetMs).toISOString(), budgetMs: rule.budgetMs, rule: rule.id };
}

export type OpenSlaStatus = "on-track" | "at-risk" | "overdue";
export type SlaStatus = OpenSlaStatus | "met" | "missed" | "superseded";

const OPEN_STATES: ReadonlySet<ObligationState> = new Set(["pending", "scheduled", "failed"]);

/** Whether an obligation still needs doing (`failed` is open: it needs a person until done or waived). */
export function isOpenObligation(state: ObligationState): boolean {
  return OPEN_STATES.has(state);
}

/**
 * Where an obligation stands against its clock at `now`: open ones `on-track`, `at-risk` (at least
 * `atRiskShare` of the budget spent) or `overdue`; done ones `met` or `missed` by when they were done.
 */
export function slaStatusOf(obligation: Pick<Obligation, "state" | "updatedAt">, clock: ObligationClock, now: Date, atRiskShare: number): SlaStatus {
  const due = Date.parse(clock.dueAt);
  if (obligation.state === "superseded") return "superseded";
  if (obligation.state === "done") return Date.parse(obligation.updatedAt) <= due ? "met" : "missed";
  const at = now.getTime();
  if (at > due) return "overdue";
  return at >= Date.parse(clock.startedAt) + clock.budgetMs * atRiskShare ? "at-risk" : "on-track";
}

export interface StuckRules {
  /** Pending and never scheduled for this long. */
  readonly pendingMs: number;
  /** A rebuild run with no change for this long. */
  readonly runMs: number;
  /** A pull request open (unmerged) for this long. */
  readonly pullRequestMs: number;
}

/** Why an open obligation is stuck: a stable `kind` (what an alert compares) and the words with how long (what people read). */
export interface StuckReason {
  readonly kind: "pending" | "run" | "pull-request";
  readonly text: string;
}

/**
 * Why an open obligation counts as stuck at `now`, or null: pending and never scheduled, a run that has not
 * moved, a pull request left unmerged. `scheduledAt` is when it was last scheduled (from its history).
 */
export function stuckReason(obligation: Pick<Obligation, "state" | "kind" | "updatedAt" | "createdAt">, scheduledAt: string | null, now: Date, rules: StuckRules): StuckReason | null {
  const at = now.getTime();
  if (obligation.state === "pending") {
    const since = Date.parse(obligation.updatedAt);
    return at - since >= rules.pendingMs ? { kind: "pending", text: `pending for ${formatDuration(at - since)}, never scheduled` } : null;
  }
  if (obligation.state !== "scheduled") return null;
  if (obligation.kind === "pull-request") {
    const since = Date.parse(scheduledAt ?? obligation.updatedAt);
    return at - since >= rules.pullRequestMs ? { kind: "pull-request", text: `pull request unmerged for ${formatDuration(at - since)}` } : null;
  }
  const since = Date.parse(obligation.updatedAt);
  return at - since >= rules.runMs ? { kind: "run", text: `rebuild run not moving for ${formatDuration(at - since)}` } : null;
}

/**
 * When an open obligation is expected to be done: `from` (when its work started — scheduling, or `now` for
 * work not yet started) plus the median of its past durations (a rebuild's own build durations, a pull
 * request's repository merge latencies). Null without history or without a start.
 */
export function predictDoneAt(from: string | null, pastDurationsMs: readonly number[]): string | null {
  if (from === null || pastDurationsMs.length === 0) return null;
  const sorted = [...pastDurationsMs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return new Date(Date.parse(from) + median).toISOString();
}

/** Whose history predicts an obligation: a repository's merge latencies, or a dependent's build durations. */
export type PredictionSource = { readonly kind: "merge-latency"; readonly repository: string } | { readonly kind: "build-duration"; readonly dependentKey: string };

/**
 * Where an obligation's breach prediction reads its history: a pull request's repository (the merge
 * latencies of Ripple's pull requests there: reviews and merges are the repository's habit, not the
 * file's), else the dependent itself (its build durations).
 */
export function predictionSourceOf(obligation: Pick<Obligation, "kind" | "dependent" | "dependentKey">): PredictionSource {
  if (obligation.kind === "pull-request" && obligation.dependent.kind === "file-pin") return { kind: "merge-latency", repository: obligation.dependent.repo };
  return { kind: "build-duration", dependentKey: obligation.dependentKey };
}

/** Quiet hours in an IANA time zone, `from` to `to` as `HH:MM` local time (may wrap past midnight). */
export interface QuietHours {
  readonly timeZone: string;
  readonly from: string;
  readonly to: string;
}

/** One formatter per zone: building one costs far more than using it, and the end of quiet hours asks many times. */
const LOCAL_TIME_FORMATS = new Map<string, Intl.DateTimeFormat>();

/** Minutes since local midnight of `at` in `timeZone`. */
function localMinutesOf(timeZone: string, at: Date): number {
  let format = LOCAL_TIME_FORMATS.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    LOCAL_TIME_FORMATS.set(timeZone, format);
  }
  const parts = format.formatToParts(at);
  return Number(parts.find((part) => part.type === "hour")?.value) * 60 + Number(parts.find((part) => part.type === "minute")?.value);
}

function minutesOf(text: string): number {
  return Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));
}

/** Whether `now` falls in the quiet hours, by the zone's own local time (daylight saving included). */
export function inQuietHours(quiet: QuietHours | null, now: Date): boolean {
  if (quiet === null) return false;
  const local = localMinutesOf(quiet.timeZone, now);
  const from = minutesOf(quiet.from);
  const to = minutesOf(quiet.to);
  return from <= to ? local >= from && local < to : local >= from || local < to;
}

/**
 * When the quiet hours `now` falls in end: the first whole minute after `now` outside them, by the zone's
 * local time — so a repeated hour (autumn) is lived through twice before the end, and a skipped one
 * (spring) ends them at the jump if the end falls inside it. Null when `now` is not in quiet hours.
 */
export function quietHoursEndAfter(quiet: QuietHours | null, now: Date): Date | null {
  if (quiet === null || !inQuietHours(quiet, now)) return null;
  const minute = Math.floor(now.getTime() / 60_000) * 60_000;
  const wallMinutes = (minutesOf(quiet.to) - localMinutesOf(quiet.timeZone, now) + 1440) % 1440;
  const guess = minute + wallMinutes * 60_000;
  // Most nights have no change of time: the wall-clock guess is the end.
  if (!inQuietHours(quiet, new Date(guess)) && (guess - 60_000 <= now.getTime() || inQuietHours(quiet, new Date(guess - 60_000)))) return new Date(guess);
  // A daylight-saving change in between moves the end by up to an hour from the wall-clock guess; quiet
  // hours hold from now to their end, so the first minute outside them near the guess is the end.
  for (let at = Math.max(minute + 60_000, guess - 61 * 60_000); at <= guess + 61 * 60_000; at += 60_000) {
    if (!inQuietHours(quiet, new Date(at))) return new Date(at);
  }
  return new Date(guess);
}

/** Whether a text names an IANA time zone this runtime knows. */
export function isTimeZone(text: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: text });
    return true;
  } catch {
    return false;
  }
}
