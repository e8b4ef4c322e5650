import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { RUNBOOK_SECTIONS } from "../../../shared/use-cases/alert-message.js";
import { escapeHtml, html } from "../../../shared/web/layout.js";
import { readRunbook } from "../../../shared/web/runbook-file.js";
import { parseBlocks, renderMarkdown, renderRunbookPage, slugOf } from "../../../shared/web/runbook-page.js";

const links = { status: "status", runbook: "runbook", campaigns: "campaigns", logs: "logs" };

describe("the runbook page", () => {
  it("has a section for every runbook anchor alerts link to, plus waivers and undelivered alerts", async () => {
    const page = renderRunbookPage(await readRunbook(), links);
    const ids = [...page.matchAll(/<h2 id="([^"]+)">/g)].map((match) => match[1]);
    expect(ids).toEqual([
      "rebuild-failed",
      "pull-request-failed",
      "pending-never-scheduled",
      "rebuild-not-moving",
      "pull-request-unmerged",
      "overdue",
      "at-risk-or-predicted-breach",
      "waivers",
      "alerts-not-delivered",
    ]);
    expect(Object.values(RUNBOOK_SECTIONS).filter((section) => !ids.includes(section))).toEqual([]);
  });

  it("reads the same file the repository holds", async () => {
    expect(await readRunbook()).toBe(await readFile(new URL("../../../docs/runbook.md", import.meta.url), "utf8"));
  });

  it.each([
    ["Rebuild failed", "rebuild-failed"],
    ["Pending, never scheduled", "pending-never-scheduled"],
    ["At risk or predicted breach", "at-risk-or-predicted-breach"],
    ["What's `new`?", "whats-new"],
  ])("slugs %j as GitHub does: %s", (heading, slug) => {
    expect(slugOf(heading)).toBe(slug);
  });

  it("parses headings, paragraphs, lists with continuation lines and fenced code", () => {
    expect(parseBlocks("# Title\n\nOne\ntwo.\n\n1. first\n   more\n2. second\n- a\n\n```\n<code> & more\n```\n")).toEqual([
      { kind: "heading", level: 1, text: "Title" },
      { kind: "paragraph", text: "One two." },
      { kind: "list", ordered: true, items: ["first more", "second"] },
      { kind: "list", ordered: false, items: ["a"] },
      { kind: "code", text: "<code> & more" },
    ]);
  });

  it("renders inline code, bold and safe links, and escapes everything else", () => {
    const rendered = renderMarkdown("## A <b>\n\nRun `ripple sla <x>`, **now**, see [waivers](#waivers), [docs](https://example.com/a?b=1&c=2), [bad](javascript:void0).\n\n```\n<script>\n```").text;
    expect(rendered).toBe(
      '<h2 id="a-b">A &lt;b&gt; <a class="muted" href="#a-b" aria-label="link to this section">#</a></h2>\n' +
        '<p>Run <code>ripple sla &lt;x&gt;</code>, <strong>now</strong>, see <a href="#waivers">waivers</a>, <a href="https://example.com/a?b=1&amp;c=2">docs</a>, bad.</p>\n' +
        "<pre><code>&lt;script&gt;</code></pre>\n",
    );
  });
});

describe("html", () => {
  it("escapes interpolated text and attributes through escapeHtml, and keeps markup it built", () => {
    const inner = html`<em>${"a & b"}</em>`;
    expect(html`<p title="${`"x" 'y'`}">${inner} ${["<i>", 2, null, false, undefined]}</p>`.text).toBe('<p title="&quot;x&quot; &#39;y&#39;"><em>a &amp; b</em> &lt;i&gt;2</p>');
    expect(escapeHtml(`<>&"'`)).toBe("&lt;&gt;&amp;&quot;&#39;");
  });
});
