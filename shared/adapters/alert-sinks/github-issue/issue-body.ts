/**
 * The Markdown of a Ripple alert issue: the summary first, a table of the late items, the campaign page
 * and runbook links, and two hidden HTML comments: the alert's marker (how the sink finds its issue again)
 * and the sequence of the delivery the body shows (how a redelivered or out-of-order message is dropped).
 */
import { formatDuration } from "../../../domain/sla.js";
import type { AlertItem, AlertMessage } from "../../../ports/alert-sink.js";

/** GitHub refuses an issue title over 256 characters. */
const MAX_TITLE = 256;
/** GitHub refuses an issue body over 65,536 characters; the table is cut before that, the links and markers kept. */
const MAX_BODY = 65_536;
const SEQUENCE = /<!-- ripple-alert-sequence: (\d+) -->/;

/** The hidden line that ties an issue to one alert: `<!-- ripple-alert: <dedupeKey> -->`. */
export function alertMarker(dedupeKey: string): string {
  // GitHub's Markdown ends an HTML comment at the first `-->` only: a key keeps its `--`, but never a `>`.
  return `<!-- ripple-alert: ${dedupeKey.replace(/>/g, "&gt;")} -->`;
}

/** Whether an issue body carries the marker of the alert `dedupeKey` (exactly: another alert's key never matches). */
export function hasAlertMarker(body: string | null | undefined, dedupeKey: string): boolean {
  return (body ?? "").split("\n").some((line) => line.trim() === alertMarker(dedupeKey));
}

/** The sequence of the delivery an issue body shows, or -1 for a body without one. */
export function shownSequence(body: string | null | undefined): number {
  const match = SEQUENCE.exec(body ?? "");
  return match === null ? -1 : Number(match[1]);
}

/** The issue title: the summary, prefixed with the severity and, once resolved, `Resolved:`. */
export function renderIssueTitle(message: AlertMessage): string {
  const prefix = message.action === "resolve" ? "[Ripple] Resolved: " : `[Ripple ${message.severity}] `;
  const title = `${prefix}${oneLine(message.summary)}`;
  return title.length <= MAX_TITLE ? title : `${title.slice(0, MAX_TITLE - 1)}…`;
}

/** The issue body for `message`, as Markdown. Pure: the same message always renders the same text. */
export function renderIssueBody(message: AlertMessage): string {
  const head = [
    oneLine(message.summary),
    "",
    `**Base** \`${message.base}\`: ${message.fromDigest === null ? "(first seen)" : `\`${message.fromDigest}\``} → \`${message.toDigest}\``,
    `**Late** ${message.late} of ${message.total} · **severity** ${message.severity} · **as of** ${message.at}`,
    "",
  ];
  const tail = [
    "",
    `[Campaign page](${message.campaignUrl}) · [Runbook](${message.runbookUrl})`,
    "",
    alertMarker(message.dedupeKey),
    `<!-- ripple-alert-sequence: ${message.sequence} -->`,
    "",
  ];
  const table = message.items.length === 0 ? [message.action === "resolve" ? "Resolved: every dependent is done or waived." : "No late items."] : renderTable(message.items);
  const budget = MAX_BODY - [...head, ...tail].join("\n").length - 200;
  return [...head, ...fitTable(table, budget), ...tail].join("\n");
}

function renderTable(items: readonly AlertItem[]): string[] {
  const rows = items.map((item) => {
    const links = item.links.map((link) => `[${cell(link.label)}](${link.url})`).join(" · ");
    return `| \`${cell(item.dependent)}\` | ${item.status} | ${cell(item.step)} | ${lateBy(item.lateByMs)} | ${item.dueAt} | ${links} |`;
  });
  return ["| Dependent | Status | Step | Late by | Due | Links |", "| --- | --- | --- | --- | --- | --- |", ...rows];
}

/** The table lines that fit in `budget` characters, with a line saying how many rows were left out. */
function fitTable(lines: readonly string[], budget: number): string[] {
  let used = 0;
  const kept: string[] = [];
  for (const line of lines) {
    if (used + line.length + 1 > budget) {
      kept.push("", `… and ${lines.length - kept.length} more (see the campaign page)`);
      return kept;
    }
    kept.push(line);
    used += line.length + 1;
  }
  return kept;
}

function lateBy(ms: number): string {
  return ms >= 0 ? formatDuration(ms) : `due in ${formatDuration(-ms)}`;
}

/** Text safe inside one Markdown table cell: no line breaks, pipes escaped. */
function cell(text: string): string {
  return oneLine(text).replace(/\|/g, "\\|");
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}
