/** The text of a campaign's alert: what every sink renders, built from the standings the monitor read. */
import type { Campaign } from "../domain/campaign.js";
import type { AlertDeliveryAction, AlertItemStatus, AlertState } from "../domain/alert-policy.js";
import { formatDuration } from "../domain/sla.js";
import type { AlertItem, AlertLink, AlertMessage } from "../ports/alert-sink.js";
import type { ObligationStanding } from "./sla-standing.js";

/** Where the links of an alert point. */
export interface AlertLinks {
  /** The app's public root (`https://ripple.contoso.com`); campaign pages are under `/api/campaigns/{id}`. */
  readonly pageUrl: string;
  /** The runbook; a section anchor per failure kind is appended. */
  readonly runbookUrl: string;
}

/** The runbook section (anchor in docs/runbook.md) for each kind of trouble. */
export const RUNBOOK_SECTIONS: Readonly<Record<string, string>> = {
  "rebuild-failed": "rebuild-failed",
  "pull-request-failed": "pull-request-failed",
  "stuck-pending": "pending-never-scheduled",
  "stuck-rebuild": "rebuild-not-moving",
  "stuck-pull-request": "pull-request-unmerged",
  overdue: "overdue",
  "at-risk": "at-risk-or-predicted-breach",
};

const ORDER: readonly AlertItemStatus[] = ["failed", "overdue", "stuck", "predicted-breach", "at-risk"];

/** The runbook section for one item: by its status and its obligation's kind and state. */
export function runbookSectionOf(standing: ObligationStanding): string {
  const { obligation, alert } = standing;
  if (alert === "failed") return RUNBOOK_SECTIONS[obligation.kind === "rebuild" ? "rebuild-failed" : "pull-request-failed"]!;
  if (alert === "stuck") {
    if (obligation.state === "pending") return RUNBOOK_SECTIONS["stuck-pending"]!;
    return RUNBOOK_SECTIONS[obligation.kind === "rebuild" ? "stuck-rebuild" : "stuck-pull-request"]!;
  }
  return RUNBOOK_SECTIONS[alert === "overdue" ? "overdue" : "at-risk"]!;
}

/** `contoso.azurecr.io/apps/web:1` for an image; `contoso/deploy: k8s/app.yaml line 12` for a pinned file. */
export function dependentLabel(dependentKey: string): string {
  if (!dependentKey.startsWith("file:")) return dependentKey;
  const parts = dependentKey.split(":");
  return `${parts[1]}: ${parts.slice(2, -1).join(":")} line ${parts.at(-1)}`;
}

/** The app's link to an obligation's build log (`GET /api/logs`, which signs a link when it is read). */
export function logsUrlOf(campaignUrl: string, campaignId: string, dependentKey: string): string {
  const root = campaignUrl.slice(0, campaignUrl.indexOf("/api/campaigns/"));
  return `${root}/api/logs?campaign=${encodeURIComponent(campaignId)}&dependent=${encodeURIComponent(dependentKey)}`;
}

function linksOf(standing: ObligationStanding, campaignUrl: string, runbookUrl: string): AlertLink[] {
  const { obligation } = standing;
  const links: AlertLink[] = [];
  if (obligation.kind === "pull-request" && obligation.runId?.startsWith("http")) links.push({ label: "pull request", url: obligation.runId });
  if (obligation.kind === "rebuild" && obligation.runId !== null) links.push({ label: `build log (run ${obligation.runId})`, url: logsUrlOf(campaignUrl, obligation.campaignId, obligation.dependentKey) });
  links.push({ label: "runbook", url: `${runbookUrl}#${runbookSectionOf(standing)}` });
  return links;
}

function dependents(count: number): string {
  return `${count} dependent${count === 1 ? "" : "s"}`;
}

/**
 * The first line: which base moved, how many dependents are late (failed or overdue) out of how many, and
 * by how much (`… patched (a → b): 2 of 14 dependents late (1 failed, 1 overdue by 5 h 12 min)`).
 */
export function alertSummary(campaign: Campaign, standings: readonly ObligationStanding[]): string {
  const failed = standings.filter((standing) => standing.alert === "failed");
  const overdue = standings.filter((standing) => standing.alert === "overdue");
  const attention = standings.filter((standing) => standing.alert !== null);
  const head = `${campaign.base} patched (${short(campaign.fromDigest)} → ${short(campaign.toDigest)})`;
  const late = failed.length + overdue.length;
  if (late > 0) {
    const parts: string[] = [];
    if (failed.length > 0) parts.push(`${failed.length} failed`);
    if (overdue.length > 0) parts.push(`${overdue.length} overdue by up to ${formatDuration(Math.max(...overdue.map((standing) => standing.lateByMs)))}`);
    else parts.push(`the first due ${dueText(Math.max(...failed.map((standing) => standing.lateByMs)))}`);
    return `${head}: ${late} of ${dependents(standings.length)} late (${parts.join(", ")})`;
  }
  if (attention.length > 0) {
    const soonest = Math.max(...attention.map((standing) => standing.lateByMs));
    return `${head}: 0 of ${dependents(standings.length)} late; ${attention.length} need${attention.length === 1 ? "s" : ""} attention, the first due ${dueText(soonest)}`;
  }
  return `${head}: all ${dependents(standings.length)} done or waived`;
}

/** `in 2 h` for time left, `2 h ago` for a due time passed. */
function dueText(lateByMs: number): string {
  return lateByMs < 0 ? `in ${formatDuration(-lateByMs)}` : `${formatDuration(lateByMs)} ago`;
}

function short(digest: string | null): string {
  if (digest === null) return "new";
  const hex = digest.slice(digest.indexOf(":") + 1);
  return hex.slice(0, 12);
}

/** The message of one alert decision. `action` is the primary route's; a sink's own action comes with its job. */
export function buildAlertMessage(campaign: Campaign, standings: readonly ObligationStanding[], state: AlertState, action: AlertDeliveryAction, at: Date, links: AlertLinks): AlertMessage {
  const campaignUrl = `${links.pageUrl.replace(/\/+$/, "")}/api/campaigns/${encodeURIComponent(campaign.id)}`;
  const flagged = standings
    .filter((standing) => standing.alert !== null)
    .sort((a, b) => ORDER.indexOf(a.alert!) - ORDER.indexOf(b.alert!) || b.lateByMs - a.lateByMs);
  const items: AlertItem[] = action === "resolve" ? [] : flagged.map((standing) => ({
    dependent: dependentLabel(standing.obligation.dependentKey),
    kind: standing.obligation.kind,
    status: standing.alert!,
    step: standing.step,
    dueAt: standing.clock.dueAt,
    lateByMs: standing.lateByMs,
    links: linksOf(standing, campaignUrl, links.runbookUrl),
  }));
  const worst = flagged[0];
  return {
    dedupeKey: `ripple-${campaign.id}`,
    action,
    severity: state.level,
    summary: alertSummary(campaign, standings),
    campaignId: campaign.id,
    base: campaign.base,
    fromDigest: campaign.fromDigest,
    toDigest: campaign.toDigest,
    total: standings.length,
    late: standings.filter((standing) => standing.alert === "overdue" || standing.alert === "failed").length,
    items,
    campaignUrl,
    runbookUrl: worst === undefined ? links.runbookUrl : `${links.runbookUrl}#${runbookSectionOf(worst)}`,
    at: at.toISOString(),
    sequence: state.sequence,
  };
}
