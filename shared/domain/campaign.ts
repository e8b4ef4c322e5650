/** Patch campaigns: one base tag moving from digest A to B, with one obligation per direct dependent. */
import type { Dependent } from "./dependency.js";

export type ObligationState = "pending" | "scheduled" | "done" | "failed" | "superseded";
export type ObligationKind = "rebuild" | "pull-request";

export interface Campaign {
  /** Deterministic: derived from (base tag, new digest) by {@link campaignId}. */
  readonly id: string;
  readonly base: string;
  readonly fromDigest: string | null;
  readonly toDigest: string;
  readonly openedAt: string;
  /** The event that moved the tag (its dedupe key), kept as evidence. */
  readonly trigger: string;
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
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Set once the job message is on its queue; a campaign re-opened after a crash enqueues the rest. */
  readonly enqueuedAt: string | null;
}

/** Stable, URL- and table-key-safe id for (base tag, new digest). */
export function campaignId(base: string, toDigest: string): string {
  const hex = toDigest.includes(":") ? toDigest.slice(toDigest.indexOf(":") + 1) : toDigest;
  const safeBase = base.replace(/[^A-Za-z0-9.-]+/g, "-");
  return `${safeBase}--${hex.slice(0, 16)}`;
}

export function obligationKindOf(dependent: Dependent): ObligationKind {
  return dependent.kind === "image" ? "rebuild" : "pull-request";
}
