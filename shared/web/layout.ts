/**
 * The pages' shared shell and their one way to write HTML: the `html` template escapes every value it
 * interpolates (through {@link escapeHtml}, the only escape helper) unless the value is already {@link Html}.
 * No JavaScript: every page reads the same with scripts off.
 */

/** Markup that is already safe: built by {@link html} (or {@link escapeHtml}'d), never from raw input. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** What may be interpolated: text (escaped), numbers, markup, lists of them; null, undefined and false render nothing. */
export type HtmlValue = string | number | Html | null | undefined | false | readonly HtmlValue[];

const ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character]!);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/** A tagged template: the literal parts are markup, every `${value}` is escaped unless it is {@link Html}. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let index = 0; index < values.length; index += 1) out += render(values[index]!) + strings[index + 1]!;
  return new Html(out);
}

/** Where the pages link to each other (relative to the page, or absolute when configured). */
export interface PageLinks {
  readonly status: string;
  /** The runbook; a section is `${runbook}#${slug}`. */
  readonly runbook: string;
  /** Campaign pages are `${campaigns}/${encodeURIComponent(id)}`. */
  readonly campaigns: string;
  /** A rebuild's build log is `${logs}?campaign=<id>&dependent=<key>` (signed when it is opened). */
  readonly logs: string;
}

/** `2026-03-02 08:00 UTC` in a `<time>` element carrying the exact instant. */
export function time(iso: string | null): Html {
  if (iso === null) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace("T", " ")} UTC</time>`;
}

/** A status badge (`overdue`, `met`, `failed`, …), coloured by the class of the same name. */
export function badge(text: string): Html {
  return html`<span class="badge ${text.replace(/[^a-z-]/g, "")}">${text}</span>`;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5b636d;--line:#d6dbe1;--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#14171b;--muted:#9aa3ad;--line:#333a42;--card:#1c2026}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:.75rem 1rem}main{overflow-wrap:anywhere}th,td{overflow-wrap:normal}header{border-bottom:1px solid var(--line)}
nav a{margin-right:1rem}a{color:#0b63c5}h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.25rem;margin-top:2rem}h3{font-size:1.05rem;margin:0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;overflow-wrap:anywhere}
pre{background:var(--card);padding:.75rem;overflow-x:auto;border-radius:6px}
dl{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.25rem 1rem;margin:.5rem 0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.muted{color:var(--muted)}.card{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;margin:.75rem 0;background:var(--card)}
.card:target{outline:3px solid #0b63c5}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;font-size:.8rem;border:1px solid var(--line);white-space:nowrap}
.overdue,.failed,.missed,.critical{background:#b42318;color:#fff}.at-risk,.stuck,.predicted-breach,.warning{background:#b54708;color:#fff}
.on-track,.met,.resolved{background:#067647;color:#fff}.superseded,.waived{background:#475467;color:#fff}
ol.timeline{list-style:none;padding-left:1rem;border-left:2px solid var(--line);margin:.5rem 0}ol.timeline li{margin:.25rem 0}
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
@media (max-width:40rem){dl{grid-template-columns:1fr}dt{margin-top:.25rem}}
`;

/** The HTML document around a page's body: title, navigation, inline style, no scripts, not indexed. */
export function layout(options: { readonly title: string; readonly links: PageLinks; readonly body: Html }): string {
  const { title, links, body } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · Ripple</title>
<style>${new Html(STYLE)}</style>
</head>
<body>
<header><nav><strong>Ripple</strong> <a href="${links.status}">Status</a><a href="${links.runbook}">Runbook</a></nav></header>
<main>
${body}
</main>
</body>
</html>
`.text;
}

/** Headers of every page: HTML, no scripts or outside resources, never cached, varies by `Accept`. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  vary: "Accept",
};
