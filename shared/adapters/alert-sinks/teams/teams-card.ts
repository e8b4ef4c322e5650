/**
 * The Adaptive Card a Teams Workflows webhook posts for an alert, sized to fit Teams' message limit: items
 * lose their links first, then whole items go from the end, replaced by one "and N more" line.
 */
import type { AlertItem, AlertMessage } from "../../../ports/alert-sink.js";
import { RESOLVED_LINE, alertSubtitle, alertTitle, clip, describeTiming, formatDue, moreItemsLine } from "../alert-text.js";

/** Teams refuses a message over about 28 KB ("Request Entity Too Large", HTTP 413). */
export const TEAMS_MESSAGE_LIMIT_BYTES = 28 * 1024;

/**
 * What a card is kept under: the documented limit counts the whole message as Teams stores it, which is
 * more than the JSON we send, so the card leaves a margin rather than ending on the edge.
 */
export const TEAMS_CARD_BUDGET_BYTES = 24 * 1024;

export const ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";
export const ADAPTIVE_CARD_VERSION = "1.4";

type CardElement = Readonly<Record<string, unknown>>;

/** The body a Workflows "Send webhook alerts to a channel" flow takes: a message with one Adaptive Card. */
export interface TeamsWebhookMessage {
  readonly type: "message";
  readonly attachments: ReadonlyArray<{
    readonly contentType: typeof ADAPTIVE_CARD_CONTENT_TYPE;
    readonly contentUrl: null;
    readonly content: CardElement;
  }>;
}

interface Layout {
  /** How many of the message's items are shown, from the first. */
  readonly shown: number;
  readonly itemLinks: boolean;
}

/**
 * Renders the message as a Workflows webhook body of at most `maxBytes` (UTF-8 JSON). Pure.
 * Fits whenever the card with no item does: then it holds only the clipped title and subtitle and two links.
 */
export function renderTeamsMessage(message: AlertMessage, maxBytes: number = TEAMS_CARD_BUDGET_BYTES): TeamsWebhookMessage {
  const count = message.items.length;
  const render = (layout: Layout): TeamsWebhookMessage => envelope(renderCard(message, layout));
  const fits = (candidate: TeamsWebhookMessage): boolean => Buffer.byteLength(JSON.stringify(candidate), "utf8") <= maxBytes;
  for (const itemLinks of [true, false]) {
    const whole = render({ shown: count, itemLinks });
    if (fits(whole)) return whole;
  }
  // Fewer items never make a card bigger, so the largest count that fits is found by bisection.
  let low = 0;
  let high = count - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (fits(render({ shown: middle, itemLinks: false }))) low = middle;
    else high = middle - 1;
  }
  return render({ shown: low, itemLinks: false });
}

function envelope(card: CardElement): TeamsWebhookMessage {
  return { type: "message", attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, contentUrl: null, content: card }] };
}

function renderCard(message: AlertMessage, layout: Layout): CardElement {
  const omitted = message.items.length - layout.shown;
  const body: CardElement[] = [
    { type: "TextBlock", text: clip(alertTitle(message), 1000), size: "Medium", weight: "Bolder", color: titleColor(message), wrap: true },
    { type: "TextBlock", text: clip(alertSubtitle(message), 500), isSubtle: true, spacing: "None", wrap: true },
    ...message.items.slice(0, layout.shown).map((item) => renderItem(item, layout.itemLinks)),
  ];
  if (omitted > 0) body.push({ type: "TextBlock", text: moreItemsLine(omitted), isSubtle: true, separator: true, wrap: true });
  if (message.items.length === 0 && message.action === "resolve") body.push({ type: "TextBlock", text: RESOLVED_LINE, wrap: true });
  return {
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: ADAPTIVE_CARD_VERSION,
    body,
    actions: [
      { type: "Action.OpenUrl", title: "Campaign page", url: message.campaignUrl },
      { type: "Action.OpenUrl", title: "Runbook", url: message.runbookUrl },
    ],
    msteams: { width: "Full" },
  };
}

function renderItem(item: AlertItem, withLinks: boolean): CardElement {
  const items: CardElement[] = [
    { type: "TextBlock", text: clip(item.dependent, 300), weight: "Bolder", wrap: true },
    { type: "TextBlock", text: `${item.status} · ${item.kind} · ${describeTiming(item)} · due ${formatDue(item.dueAt)}`, isSubtle: true, spacing: "None", wrap: true },
    { type: "TextBlock", text: clip(item.step, 500), spacing: "None", wrap: true },
  ];
  if (withLinks && item.links.length > 0) {
    const links = item.links.map((link) => `[${clip(link.label, 100)}](${link.url})`).join(" · ");
    items.push({ type: "TextBlock", text: links, spacing: "None", wrap: true });
  }
  return { type: "Container", separator: true, items };
}

function titleColor(message: AlertMessage): "Good" | "Attention" | "Warning" {
  if (message.action === "resolve") return "Good";
  return message.severity === "critical" ? "Attention" : "Warning";
}
