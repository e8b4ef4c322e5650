/**
 * The Block Kit message Slack shows for an alert, kept inside Slack's limits: 50 blocks a message, 150
 * characters a header, 3,000 a section; items past the room left are replaced by one "and N more" line.
 */
import type { AlertItem, AlertMessage } from "../../../ports/alert-sink.js";
import { RESOLVED_LINE, alertSubtitle, alertTitle, clip, describeTiming, formatDue, moreItemsLine } from "../alert-text.js";

/** Slack refuses a message with more blocks (`invalid_blocks`). */
export const SLACK_MAX_BLOCKS = 50;
export const SLACK_MAX_HEADER_CHARS = 150;
export const SLACK_MAX_SECTION_CHARS = 3000;
/**
 * Slack also refuses messages whose blocks hold too much text together (`msg_blocks_too_long`, seen at
 * about 13,000 characters, undocumented): the items share this budget.
 */
export const SLACK_BLOCKS_TEXT_BUDGET = 12_000;

export type SlackBlock = Readonly<Record<string, unknown>>;

/** `text` is the notification fallback; `blocks` what the channel shows. */
export interface SlackMessageContent {
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
}

/** Renders the alert as a Slack message within the limits above. Pure. */
export function renderSlackMessage(message: AlertMessage): SlackMessageContent {
  const title = alertTitle(message);
  const intro = title.length > SLACK_MAX_HEADER_CHARS ? `*${escapeMrkdwn(message.summary)}*\n${escapeMrkdwn(alertSubtitle(message))}` : escapeMrkdwn(alertSubtitle(message));
  const head: SlackBlock[] = [
    { type: "header", text: { type: "plain_text", text: clip(title, SLACK_MAX_HEADER_CHARS), emoji: true } },
    section(intro),
  ];
  const links = context(`${link(message.campaignUrl, "Campaign page")} · ${link(message.runbookUrl, "Runbook")}`);
  const items = fitItems(message.items, SLACK_BLOCKS_TEXT_BUDGET - textLength([...head, links]));
  const tail: SlackBlock[] = [];
  if (items.length < message.items.length) tail.push(context(escapeMrkdwn(moreItemsLine(message.items.length - items.length))));
  if (message.items.length === 0 && message.action === "resolve") tail.push(section(RESOLVED_LINE));
  return { text: escapeMrkdwn(message.summary), blocks: [...head, ...items, ...tail, links] };
}

/** The text of a threaded reply that notifies the channel of a reminder or an escalation. */
export function renderSlackReply(message: AlertMessage): SlackMessageContent {
  const text = `${escapeMrkdwn(alertTitle(message))} · ${link(message.campaignUrl, "campaign page")}`;
  return { text, blocks: [section(clip(text, SLACK_MAX_SECTION_CHARS))] };
}

/** Slack's mrkdwn control characters, escaped as Slack asks (`&`, `<`, `>`). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One section per item, as many as the block limit and the text budget allow, in order. */
function fitItems(items: readonly AlertItem[], budget: number): SlackBlock[] {
  // header, intro and links are always there; a "more" line takes one more block when items are left out.
  const fixedBlocks = 3;
  const room = items.length + fixedBlocks <= SLACK_MAX_BLOCKS ? items.length : SLACK_MAX_BLOCKS - fixedBlocks - 1;
  const blocks: SlackBlock[] = [];
  let left = budget;
  for (const item of items.slice(0, room)) {
    const block = section(itemText(item));
    left -= textLength([block]);
    if (left < 0) break;
    blocks.push(block);
  }
  return blocks;
}

function itemText(item: AlertItem): string {
  const lines = [
    `*${escapeMrkdwn(clip(item.dependent, 300))}*`,
    `${item.status} · ${item.kind} · ${describeTiming(item)} · due ${formatDue(item.dueAt)}`,
    escapeMrkdwn(clip(item.step, 500)),
  ];
  if (item.links.length > 0) lines.push(item.links.map((entry) => link(entry.url, entry.label)).join(" · "));
  return clip(lines.join("\n"), SLACK_MAX_SECTION_CHARS);
}

function section(text: string): SlackBlock {
  return { type: "section", text: { type: "mrkdwn", text } };
}

function context(text: string): SlackBlock {
  return { type: "context", elements: [{ type: "mrkdwn", text }] };
}

/** `<url|label>`; a `|` or `>` in the URL would end the link early, so those are percent-encoded. */
function link(url: string, label: string): string {
  const safeUrl = url.replace(/\|/g, "%7C").replace(/>/g, "%3E").replace(/</g, "%3C");
  return `<${safeUrl}|${escapeMrkdwn(clip(label, 100)).replace(/\|/g, "¦")}>`;
}

/** The blocks' JSON length: an upper bound of their text, cheap and on the safe side of the budget. */
function textLength(blocks: readonly SlackBlock[]): number {
  return blocks.reduce((sum, block) => sum + JSON.stringify(block).length, 0);
}
