/** Patch campaigns: one base tag moving from digest A to B, with one obligation per direct dependent. */
import type { Dependent } from "./dependency.js";

export type ObligationState = "pending" | "scheduled" | "done" | "failed" | "superseded";
export type ObligationKind = "rebuild" | "pull-request";

/**
 * Where a cascade started: the base whose patch every campaign of the cascade carries, and when that
 * patch became available. The SLA clock of every obligation below it starts at `availableAt`.
 */
export interface PatchRoot {
  /** The root base tag (the upstream tag for a watched base, else the tag pushed in-house). */
  readonly base: string;
  readonly digest: string;
  /** When the patch became available. */
  readonly availableAt: string;
  /**
   * Which rule set `availableAt`: the upstream digest's first sighting by the watcher, or the registry's
   * time of the root push (a base built in-house).
   */
  readonly source: "upstream-first-seen" | "registry-push";
  /** The root image config's `created` time, when known (beside the first sighting, for auditors). */
  readonly created: string | null;
}

/** The root a campaign of `base` opened by a push at `pushedAt` carries when nothing earlier is known. */
export function pushRoot(base: string, digest: string, pushedAt: string, created: string | null): PatchRoot {
  return { base, digest, availableAt: pushedAt, source: "registry-push", created };
}

/** Of several candidate roots (a rebuilt image may settle campaigns of several bases), the earliest available. */
export function earliestRoot(roots: ReadonlyArray<PatchRoot | null | undefined>): PatchRoot | null {
  let earliest: PatchRoot | null = null;
  for (const root of roots) {
    if (root === null || root === undefined) continue;
    if (earliest === null || Date.parse(root.availableAt) < Date.parse(earliest.availableAt)) earliest = root;
  }
  return earliest;
}

/** The clock of one obligation: where it starts, when it is due, and which rule said so. */
export interface ObligationClock {
  readonly startedAt: string;
  /** Which fact set the start (see {@link PatchRoot.source}). */
  readonly startSource: PatchRoot["source"];
  readonly dueAt: string;
  readonly budgetMs: number;
  /** The rule that set the budget: `dependent:<glob>`, `base:<image>` or `default`. */
  readonly rule: string;
}

export interface Campaign {
  /** Deterministic: derived from (base tag, new digest) by {@link campaignId}. */
  readonly id: string;
  readonly base: string;
  readonly fromDigest: string | null;
  readonly toDigest: string;
  readonly openedAt: string;
  /** The event that moved the tag (its dedupe key), kept as evidence. */
  readonly trigger: string;
  /**
   * When every obligation's job was on its queue; null until then. A campaign re-opened after a crash
   * with this still null queues its pending jobs again (workers are idempotent).
   */
  readonly jobsQueuedAt: string | null;
  /** The cascade's root and its clock start; absent on campaigns recorded before roots were kept. */
  readonly root?: PatchRoot;
}

export interface Obligation {
  readonly campaignId: string;
  readonly dependentKey: string;
  readonly dependent: Dependent;
  readonly kind: ObligationKind;
  readonly state: ObligationState;
  /** The base digest the dependent was on when the campaign opened. */
  readonly fromDigest: string;
  readonly reason: string | null;
  readonly runId: string | null;
  /** The dependent's digest that completed it (`done` only; absent on obligations recorded before it was kept). */
  readonly doneWith?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Its SLA clock (start, due time, rule); absent on obligations recorded before clocks were kept. */
  readonly clock?: ObligationClock;
  /** Every change of state or run, oldest first (append-only; see {@link withTransition}). */
  readonly history?: readonly ObligationTransition[];
}

/** One change of an obligation: from, to, when, why, and the run or pull request it concerned. */
export interface ObligationTransition {
  readonly at: string;
  /** Null for the first entry (the obligation was created). */
  readonly from: ObligationState | null;
  readonly to: ObligationState;
  readonly why: string | null;
  /** The run id (rebuild) or pull-request URL at that moment. */
  readonly runId: string | null;
}

/**
 * History entries kept per obligation: the first (creation) and the newest ones. An obligation changes a
 * handful of times (scheduled, retried, done); 500 covers weeks of hourly retries and stays far under the
 * storage entity's size limit.
 */
export const HISTORY_LIMIT = 500;

/** The first history entry of a new obligation. */
export function createdTransition(at: string, why: string): ObligationTransition {
  return { at, from: null, to: "pending", why, runId: null };
}

/**
 * `next` with its change from `current` appended to its history when the state or the run changed (the
 * stores call it on every update, so no change goes unrecorded). Entries a patch dropped are restored:
 * the history only grows, up to {@link HISTORY_LIMIT} (the creation entry and the newest).
 */
export function withTransition(current: Obligation, next: Obligation): Obligation {
  const history = current.history ?? [];
  if (next.state === current.state && next.runId === current.runId) return current.history === next.history ? next : { ...next, history: current.history ?? [] };
  const entry: ObligationTransition = { at: next.updatedAt, from: current.state, to: next.state, why: next.reason, runId: next.runId };
  const grown = [...history, entry];
  return { ...next, history: grown.length <= HISTORY_LIMIT ? grown : [grown[0]!, ...grown.slice(grown.length - HISTORY_LIMIT + 1)] };
}

/** When an obligation was last scheduled, from its history (null if never, or before history was kept). */
export function scheduledAtOf(obligation: Obligation): string | null {
  const history = obligation.history ?? [];
  for (let index = history.length - 1; index >= 0; index -= 1) if (history[index]!.to === "scheduled") return history[index]!.at;
  return null;
}

/** Stable, URL- and table-key-safe id for (base tag, new digest): {@link campaignIdPrefix} + 16 hex digits. */
export function campaignId(base: string, toDigest: string): string {
  const hex = toDigest.includes(":") ? toDigest.slice(toDigest.indexOf(":") + 1) : toDigest;
  return `${campaignIdPrefix(base)}${hex.slice(0, 16)}`;
}

/**
 * What every campaign id of `base` starts with: the readable base tag, then a hash of its exact text
 * (`127.0.0.1-5000-ripple-busybox-1-0c5fa8d2--`), so bases that read alike (`a/b:1`, `a-b:1`) never share
 * ids. A lookup by prefix still compares `Campaign.base`.
 */
export function campaignIdPrefix(base: string): string {
  return `${base.replace(/[^A-Za-z0-9.-]+/g, "-")}-${fnv1a(base)}--`;
}

/** 32-bit FNV-1a of the UTF-16 code units, as 8 hex digits: cheap, stable, not for security. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

export function obligationKindOf(dependent: Dependent): ObligationKind {
  return dependent.kind === "image" ? "rebuild" : "pull-request";
}
