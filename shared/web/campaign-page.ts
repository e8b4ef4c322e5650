/** The campaign page: the base move, the alert, and every obligation with its SLA clock and history. Pure. */
import type { PatchRoot } from "../domain/campaign.js";
import { formatDuration } from "../domain/sla.js";
import type { AlertView, CampaignView, ObligationView } from "../use-cases/campaign-view.js";
import { badge, html, layout, time, type Html, type PageLinks } from "./layout.js";

const ROOT_SOURCES: Readonly<Record<PatchRoot["source"], string>> = {
  "registry-push": "the registry's time of the root push (a base built in-house)",
  "upstream-first-seen": "the watcher's first sighting of the upstream digest",
};

/** The whole HTML document of one campaign. */
export function renderCampaignPage(view: CampaignView, links: PageLinks): string {
  const body = html`<h1>${view.campaign.base}</h1>
<p class="muted">Campaign <code>${view.campaign.id}</code> · read ${time(view.at)}</p>
${baseMove(view)}
${summary(view)}
${alertSection(view.alert, links)}
<h2 id="obligations">Obligations (${view.obligations.length})</h2>
${view.obligations.map((obligation) => obligationCard(obligation, links, view.campaign.id))}`;
  return layout({ title: view.campaign.base, links, body });
}

function baseMove(view: CampaignView): Html {
  const { campaign, root } = view;
  return html`<section id="base-move"><h2>Base move</h2><dl>
<dt>Base tag</dt><dd><code>${campaign.base}</code></dd>
<dt>From</dt><dd><code>${campaign.fromDigest ?? "(new tag)"}</code></dd>
<dt>To</dt><dd><code>${campaign.toDigest}</code></dd>
<dt>Opened</dt><dd>${time(campaign.openedAt)} by event <code>${campaign.trigger}</code></dd>
<dt>Jobs queued</dt><dd>${campaign.jobsQueuedAt === null ? "not yet" : time(campaign.jobsQueuedAt)}</dd>
${rootRows(root)}
</dl></section>`;
}

function rootRows(root: PatchRoot | null): Html {
  if (root === null) return html`<dt>Cascade root</dt><dd>not recorded (an older campaign): clocks start when it opened</dd>`;
  return html`<dt>Cascade root</dt><dd><code>${root.base}</code> at <code>${root.digest}</code></dd>
<dt>Clock started</dt><dd>${time(root.availableAt)}, by ${ROOT_SOURCES[root.source]}</dd>
${root.created !== null && html`<dt>Root image created</dt><dd>${time(root.created)}</dd>`}`;
}

function summary(view: CampaignView): Html {
  const entries = Object.entries(view.counts);
  return html`<p id="summary">${entries.map(([status, count]) => html`${badge(status)} ${count} `)}</p>`;
}

function alertSection(alert: AlertView | null, links: PageLinks): Html {
  if (alert === null) return html`<section id="alert"><h2>Alert</h2><p>No alert has been raised for this campaign.</p></section>`;
  return html`<section id="alert"><h2>Alert</h2>
<p>${badge(alert.status)} ${badge(alert.level)} sequence ${alert.sequence}</p>
${alert.summary !== null && html`<p>${alert.summary}</p>`}
<dl>
<dt>Opened</dt><dd>${time(alert.openedAt)}</dd>
<dt>Last notified</dt><dd>${time(alert.notifiedAt)}</dd>
<dt>Escalated</dt><dd>${time(alert.escalatedAt)}</dd>
<dt>Resolved</dt><dd>${time(alert.resolvedAt)}</dd>
</dl>
${alert.items.length > 0 && html`<ul>${alert.items.map((item) => html`<li>${badge(item.status)} <a href="#${item.anchor}">${item.dependentKey}</a>: ${item.step}</li>`)}</ul>`}
${deliveryTable(alert, links)}
</section>`;
}

function deliveryTable(alert: AlertView, links: PageLinks): Html {
  if (alert.deliveries.length === 0) return html`<p class="muted">No sink has been sent this alert.</p>`;
  const rows = alert.deliveries.map((delivery) => html`<tr><td><code>${delivery.sinkId}</code></td><td>${delivery.delivered}</td><td>${time(delivery.deliveredAt)}</td>
<td>${delivery.wanted === null ? "—" : `${delivery.wanted.action} #${delivery.wanted.sequence}`}</td><td>${delivery.attempts}</td>
<td>${delivery.lastError ?? "—"}${delivery.failedSequence !== null && html` <strong>(gave up on #${delivery.failedSequence})</strong>`}</td></tr>`);
  return html`<table><thead><tr><th>Sink</th><th>Delivered #</th><th>At</th><th>Wanted</th><th>Attempts</th><th>Last error</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="muted">A sink failing? See <a href="${links.runbook}#alerts-not-delivered">alerts not delivered</a>.</p>`;
}

function obligationCard(obligation: ObligationView, links: PageLinks, campaignId: string): Html {
  return html`<article class="card" id="${obligation.anchor}">
<h3><a href="#${obligation.anchor}">${obligation.label}</a> ${badge(obligation.status)} ${obligation.attention !== null && obligation.attention !== obligation.status && badge(obligation.attention)} ${obligation.waiver !== null && badge("waived")}</h3>
<p><strong>${obligation.step}</strong></p>
<dl>
<dt>SLA</dt><dd>${obligation.timing}: due ${time(obligation.clock.dueAt)} (rule <code>${obligation.clock.rule}</code>, ${obligation.clock.budget})</dd>
<dt>Clock</dt><dd>started ${time(obligation.clock.startedAt)}; ${formatDuration(obligation.sinceStartMs)} elapsed${obligation.sinceScheduledMs !== null ? html`, ${formatDuration(obligation.sinceScheduledMs)} since last scheduled` : ", never scheduled"}</dd>
<dt>Kind</dt><dd>${obligation.kind === "rebuild" ? "rebuild" : "pull request"} · state ${obligation.state}</dd>
${runRows(obligation, links, campaignId)}
${obligation.predictedDoneAt !== null && html`<dt>Predicted done</dt><dd>${time(obligation.predictedDoneAt)}</dd>`}
${obligation.waiver !== null && html`<dt>Waiver</dt><dd>by ${obligation.waiver.by}${obligation.waiver.via === "function-key" ? " (via function key)" : ""} until ${time(obligation.waiver.until)}: ${obligation.waiver.reason}</dd>`}
${obligation.runbookSection !== null && html`<dt>Runbook</dt><dd><a href="${links.runbook}#${obligation.runbookSection}">${obligation.runbookSection}</a></dd>`}
</dl>
${timeline(obligation)}
</article>`;
}

function runRows(obligation: ObligationView, links: PageLinks, campaignId: string): Html {
  const pullRequest = obligation.pullRequestUrl;
  const logs = `${links.logs}?campaign=${encodeURIComponent(campaignId)}&dependent=${encodeURIComponent(obligation.dependentKey)}`;
  return html`${obligation.runId !== null && html`<dt>Run</dt><dd><code>${obligation.runId}</code>${obligation.kind === "rebuild" && html` · <a href="${logs}">build log</a>`}</dd>`}
${pullRequest !== null && html`<dt>Pull request</dt><dd>${/^https?:\/\//.test(pullRequest) ? html`<a href="${pullRequest}">${pullRequest}</a>` : html`<code>${pullRequest}</code>`}</dd>`}
${obligation.doneWith !== null && html`<dt>Done with</dt><dd><code>${obligation.doneWith}</code></dd>`}`;
}

function timeline(obligation: ObligationView): Html {
  if (obligation.history.length === 0) return html`<p class="muted">No history recorded.</p>`;
  return html`<ol class="timeline">${obligation.history.map(
    (entry) => html`<li>${time(entry.at)} ${entry.from === null ? "created" : `${entry.from} → ${entry.to}`}${entry.why !== null && html`: ${entry.why}`}${entry.runId !== null && html` <span class="muted">(${entry.runId})</span>`}</li>`,
  )}</ol>`;
}

/** The page for a campaign id that is not recorded. */
export function renderMissingCampaign(id: string, links: PageLinks): string {
  return layout({ title: "No such campaign", links, body: html`<h1>No such campaign</h1><p>No campaign <code>${id}</code> is recorded. See the <a href="${links.status}">status page</a> for open ones.</p>` });
}
