/**
 * The runbook page: `docs/runbook.md` as HTML. A small renderer for the Markdown the runbook uses —
 * ATX headings (with GitHub's anchor slugs, so alert links work here and on GitHub), paragraphs, `-` and
 * `1.` lists, fenced code, and inline code, bold and links. Pure; every text is escaped.
 */
import { html, layout, type Html, type PageLinks } from "./layout.js";

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

type Block =
  | { readonly kind: "heading"; readonly level: number; readonly text: string }
  | { readonly kind: "paragraph"; readonly text: string }
  | { readonly kind: "list"; readonly ordered: boolean; readonly items: readonly string[] }
  | { readonly kind: "code"; readonly text: string };

const LIST_ITEM = /^\s*(?:([-*])|(\d+)\.)\s+(.*)$/;

/** Splits Markdown into blocks; a list item's indented continuation lines join the item. */
export function parseBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index]!;
    if (line.trim() === "") {
      index += 1;
    } else if (line.startsWith("```")) {
      const end = lines.findIndex((candidate, at) => at > index && candidate.startsWith("```"));
      const stop = end === -1 ? lines.length : end;
      blocks.push({ kind: "code", text: lines.slice(index + 1, stop).join("\n") });
      index = stop + 1;
    } else if (/^#{1,6}\s/.test(line)) {
      const [, hashes, text] = /^(#{1,6})\s+(.*?)\s*#*$/.exec(line)!;
      blocks.push({ kind: "heading", level: hashes!.length, text: text! });
      index += 1;
    } else if (LIST_ITEM.test(line)) {
      index = parseList(lines, index, blocks);
    } else {
      const start = index;
      while (index < lines.length && lines[index]!.trim() !== "" && !/^(#{1,6}\s|```)/.test(lines[index]!) && !LIST_ITEM.test(lines[index]!)) index += 1;
      blocks.push({ kind: "paragraph", text: lines.slice(start, index).join(" ") });
    }
  }
  return blocks;
}

function parseList(lines: readonly string[], start: number, blocks: Block[]): number {
  const ordered = LIST_ITEM.exec(lines[start]!)![2] !== undefined;
  const items: string[] = [];
  let index = start;
  while (index < lines.length) {
    const item = LIST_ITEM.exec(lines[index]!);
    if (item !== null && (item[2] !== undefined) === ordered) items.push(item[3]!);
    else if (item === null && /^\s+\S/.test(lines[index]!) && items.length > 0) items[items.length - 1] += ` ${lines[index]!.trim()}`;
    else break;
    index += 1;
  }
  blocks.push({ kind: "list", ordered, items });
  return index;
}

/** Links the page may carry: http(s), or relative without a scheme (never `javascript:` and the like). */
const SAFE_URL = /^(?:https?:\/\/|[^:/?#]*(?:[/?#]|$))/i;

/** Inline Markdown: `code`, **bold**, [text](url) (http, https, relative or `#anchor` only). */
export function renderInline(text: string): Html {
  const parts: Html[] = [];
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(html`${text.slice(last, match.index)}`);
    const [, code, bold, label, url] = match;
    if (code !== undefined) parts.push(html`<code>${code}</code>`);
    else if (bold !== undefined) parts.push(html`<strong>${renderInline(bold)}</strong>`);
    else parts.push(SAFE_URL.test(url!) ? html`<a href="${url!}">${renderInline(label!)}</a>` : html`${label!}`);
    last = match.index + match[0].length;
  }
  parts.push(html`${text.slice(last)}`);
  return html`${parts}`;
}

function renderBlock(block: Block): Html {
  switch (block.kind) {
    case "heading": {
      const id = slugOf(block.text.replace(/`/g, ""));
      return html`<h${block.level} id="${id}">${renderInline(block.text)} <a class="muted" href="#${id}" aria-label="link to this section">#</a></h${block.level}>\n`;
    }
    case "paragraph":
      return html`<p>${renderInline(block.text)}</p>\n`;
    case "list":
      return block.ordered
        ? html`<ol>${block.items.map((item) => html`<li>${renderInline(item)}</li>`)}</ol>\n`
        : html`<ul>${block.items.map((item) => html`<li>${renderInline(item)}</li>`)}</ul>\n`;
    case "code":
      return html`<pre><code>${block.text}</code></pre>\n`;
  }
}

/** Renders Markdown to HTML (the body only). */
export function renderMarkdown(markdown: string): Html {
  return html`${parseBlocks(markdown).map(renderBlock)}`;
}

/** The whole HTML document of the runbook. */
export function renderRunbookPage(markdown: string, links: PageLinks): string {
  return layout({ title: "Runbook", links, body: renderMarkdown(markdown) });
}
