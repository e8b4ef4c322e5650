/**
 * The words every chat sink (Teams, Slack) shows for an alert: what the delivery is, how late an item is,
 * and the line that stands for items left out. Plain text; each sink adds its own markup and escaping.
 */
import type { AlertAction, AlertItem, AlertMessage } from "../../ports/alert-sink.js";

const ACTION_LABELS: Readonly<Record<AlertAction, string>> = {
  trigger: "Late patch",
  update: "Updated",
  renotify: "Reminder",
  escalate: "Escalated",
  resolve: "Resolved",
};

/** The title of a delivery: a chat message cannot be edited by a webhook, so each one says what it is. */
export function alertTitle(message: Pick<AlertMessage, "action" | "summary" | "severity">): string {
  // A warning's first page is about a patch at risk, not yet late.
  const label = message.action === "trigger" && message.severity === "warning" ? "Patch at risk" : ACTION_LABELS[message.action];
  return `${label}: ${message.summary}`;
}

/** The line under the title: severity, how many are late, and the base digests. */
export function alertSubtitle(message: AlertMessage): string {
  const digests = `${shortDigest(message.fromDigest)} → ${shortDigest(message.toDigest)}`;
  if (message.action === "resolve") return `Resolved · ${message.base} ${digests}`;
  return `${message.severity} · ${message.late} of ${message.total} late · ${message.base} ${digests}`;
}

/** `late by 5 h 12 min` or `2 h left`. */
export function describeTiming(item: Pick<AlertItem, "lateByMs">): string {
  return item.lateByMs >= 0 ? `late by ${formatDuration(item.lateByMs)}` : `${formatDuration(-item.lateByMs)} left`;
}

/** `2026-11-26 08:00 UTC` for an ISO 8601 time; anything else as it is. */
export function formatDue(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** The line that replaces the items a message had no room for. */
export function moreItemsLine(count: number): string {
  return `and ${count} more — see the campaign page`;
}

/** What a resolved alert shows where its items were. */
export const RESOLVED_LINE = "Every obligation is done or waived.";

/** Whole days, hours and minutes, two units at most: `3 d 4 h`, `5 h 12 min`, `45 min`, `< 1 min`. */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return "< 1 min";
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return rest > 0 ? `${hours} h ${rest} min` : `${hours} h`;
  return `${rest} min`;
}

/** At most `max` characters, with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

function shortDigest(digest: string | null): string {
  if (digest === null) return "(unknown)";
  const at = digest.indexOf(":");
  return at < 0 ? clip(digest, 19) : `${digest.slice(0, at + 1)}${digest.slice(at + 1, at + 13)}`;
}
