/** The status page: open campaigns by SLA risk, counts by status, and time to patch. Pure. */
import { formatDuration } from "../domain/sla.js";
import { openTimingOf } from "../use-cases/campaign-view.js";
import type { OpenCampaignView, StatusView, TimeToPatch } from "../use-cases/status-view.js";
import { badge, html, layout, time, type Html, type PageLinks } from "./layout.js";

/** The whole HTML document of the status page. */
export function renderStatusPage(view: StatusView, links: PageLinks): string {
  const counts = Object.entries(view.counts);
  const body = html`<h1>Patch status</h1>
<p class="muted">Read ${time(view.at)}</p>
<section id="counts"><h2>Open obligations</h2>
${counts.length === 0 ? html`<p>Nothing open: every dependent is on its patched base.</p>` : html`<p>${counts.map(([status, count]) => html`${badge(status)} ${count} `)}</p>`}
</section>
<section id="campaigns"><h2>Open campaigns (${view.campaigns.length})</h2>
${view.campaigns.length === 0 ? html`<p>No open campaigns.</p>` : view.campaigns.map((campaign) => campaignCard(campaign, links))}
</section>
${timeToPatch(view.timeToPatch)}`;
  return layout({ title: "Patch status", links, body });
}

function campaignCard(campaign: OpenCampaignView, links: PageLinks): Html {
  const page = `${links.campaigns}/${encodeURIComponent(campaign.campaignId)}`;
  const { worst } = campaign;
  return html`<article class="card">
<h3><a href="${page}">${campaign.base}</a></h3>
<p>${campaign.open} open: ${Object.entries(campaign.counts).map(([status, count]) => html`${badge(status)} ${count} `)}</p>
<p>Most urgent: <a href="${page}#${worst.anchor}">${worst.label}</a> ${badge(worst.waived ? "waived" : (worst.attention ?? worst.status))}
${openTimingOf(worst.lateByMs)}, due ${time(worst.dueAt)} — ${worst.step}</p>
</article>`;
}

function timeToPatch(figures: TimeToPatch): Html {
  const duration = (ms: number | null): string => (ms === null ? "—" : formatDuration(ms));
  return html`<section id="time-to-patch"><h2>Time to patch, last ${figures.days} days</h2>
<p class="muted">Campaigns opened in the window with every obligation closed: from the root's clock start to the last obligation done.</p>
<dl>
<dt>Campaigns</dt><dd>${figures.count}</dd>
<dt>Median</dt><dd>${duration(figures.medianMs)}</dd>
<dt>95th percentile</dt><dd>${duration(figures.p95Ms)}</dd>
<dt>Longest</dt><dd>${duration(figures.maxMs)}</dd>
</dl></section>`;
}
