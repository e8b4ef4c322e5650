import { describe, expect, it } from "vitest";
import { campaignView, type CampaignView } from "../../../shared/use-cases/campaign-view.js";
import { renderCampaignPage, renderMissingCampaign } from "../../../shared/web/campaign-page.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { HOSTILE, NOW, PULL_REQUEST, at, campaignOf, config, seedCampaign } from "./campaign-fixture.js";

const links = { status: "../status", runbook: "../runbook", campaigns: "../campaigns", logs: "../logs" };
const H = 3_600_000;

async function seededView(): Promise<CampaignView> {
  const store = createMemoryStateStore();
  await seedCampaign(store);
  return (await campaignView({ store, config, now: () => NOW }, "c1"))!;
}

const clock = { startedAt: at(0), startSource: "registry-push", dueAt: at(24), rule: "default", budget: "1 d" } as const;

describe("campaignView", () => {
  it("reads the campaign, its standings by risk, waiver and alert into one plain model", async () => {
    expect(await seededView()).toEqual({
      at: NOW.toISOString(),
      campaign: { id: "c1", base: "registry.test/base:1", fromDigest: "sha256:old", toDigest: "sha256:new", openedAt: at(0), trigger: "event-c1", jobsQueuedAt: at(0) },
      root: { base: "registry.test/base:1", digest: "sha256:new", availableAt: at(0), source: "registry-push", created: null },
      counts: { overdue: 3, met: 1 },
      obligations: [
        {
          anchor: "registry.test%2Fapps%2Fapi%3A1", dependentKey: "registry.test/apps/api:1", label: "registry.test/apps/api:1", kind: "rebuild", state: "failed",
          status: "overdue", attention: "failed", step: "rebuild failed: exit status 1", clock, timing: "overdue by 6 h", lateByMs: 6 * H, sinceStartMs: 30 * H, sinceScheduledMs: 29 * H,
          runId: "run-1", pullRequestUrl: null, doneWith: null, predictedDoneAt: null, runbookSection: "rebuild-failed", waiver: null,
          history: [
            { at: at(0), from: null, to: "pending", why: "campaign opened", runId: null },
            { at: at(1), from: "pending", to: "scheduled", why: null, runId: "run-1" },
            { at: at(2), from: "scheduled", to: "failed", why: "exit status 1", runId: "run-1" },
          ],
        },
        {
          anchor: "file%3Acontoso%2Fdeploy%3Ak8s%2Fapp.yaml%3A12", dependentKey: "file:contoso/deploy:k8s/app.yaml:12", label: "contoso/deploy: k8s/app.yaml line 12", kind: "pull-request", state: "scheduled",
          status: "overdue", attention: "overdue", step: `pull request unmerged for 1 d 4 h (${PULL_REQUEST})`, clock, timing: "overdue by 6 h", lateByMs: 6 * H, sinceStartMs: 30 * H, sinceScheduledMs: 28 * H,
          runId: null, pullRequestUrl: PULL_REQUEST, doneWith: null, predictedDoneAt: null, runbookSection: "overdue", waiver: null,
          history: [
            { at: at(0), from: null, to: "pending", why: "campaign opened", runId: null },
            { at: at(2), from: "pending", to: "scheduled", why: null, runId: PULL_REQUEST },
          ],
        },
        {
          anchor: "registry.test%2Fapps%2Fweb%3A1", dependentKey: "registry.test/apps/web:1", label: "registry.test/apps/web:1", kind: "rebuild", state: "done",
          status: "met", attention: null, step: "done with sha256:web2", clock, timing: "met 19 h before due", lateByMs: -19 * H, sinceStartMs: 5 * H, sinceScheduledMs: 4 * H,
          runId: "run-3", pullRequestUrl: null, doneWith: "sha256:web2", predictedDoneAt: null, runbookSection: null, waiver: null,
          history: [
            { at: at(0), from: null, to: "pending", why: "campaign opened", runId: null },
            { at: at(1), from: "pending", to: "scheduled", why: null, runId: "run-3" },
            { at: at(5), from: "scheduled", to: "done", why: null, runId: "run-3" },
          ],
        },
        {
          anchor: encodeURIComponent(HOSTILE), dependentKey: HOSTILE, label: HOSTILE, kind: "rebuild", state: "scheduled",
          status: "overdue", attention: null, step: "rebuild run not moving for 1 d 5 h", clock, timing: "overdue by 6 h", lateByMs: 6 * H, sinceStartMs: 30 * H, sinceScheduledMs: 29 * H,
          runId: "run-2", pullRequestUrl: null, doneWith: null, predictedDoneAt: null, runbookSection: null,
          waiver: { by: "oncall@example.com", reason: "vendor <b>fix</b> due Friday", until: at(54), via: null },
          history: [
            { at: at(0), from: null, to: "pending", why: "campaign opened", runId: null },
            { at: at(1), from: "pending", to: "scheduled", why: null, runId: "run-2" },
          ],
        },
      ],
      alert: {
        status: "open", level: "critical", sequence: 3, openedAt: at(2), notifiedAt: at(26), escalatedAt: null, resolvedAt: null, summary: null,
        items: [
          { dependentKey: "file:contoso/deploy:k8s/app.yaml:12", anchor: "file%3Acontoso%2Fdeploy%3Ak8s%2Fapp.yaml%3A12", status: "overdue", step: `pull request unmerged for 1 d (${PULL_REQUEST})` },
          { dependentKey: "registry.test/apps/api:1", anchor: "registry.test%2Fapps%2Fapi%3A1", status: "failed", step: "rebuild failed: exit status 1" },
        ],
        deliveries: [
          { sinkId: "pd", delivered: 3, deliveredAt: at(26), wanted: { sequence: 3, action: "update" }, attempts: 1, lastError: null, failedSequence: null },
          { sinkId: "slack", delivered: 2, deliveredAt: at(24), wanted: { sequence: 3, action: "update" }, attempts: 4, lastError: "slack: 404 channel_not_found", failedSequence: 3 },
        ],
      },
    });
  });

  it("answers null for an unknown campaign, and no alert before one was raised", async () => {
    const store = createMemoryStateStore();
    const { campaign, obligations } = campaignOf("c2", [{ kind: "image", registry: "registry.test", repository: "apps/x", tag: "1", digest: "sha256:old" }], at(0));
    await store.openCampaign(campaign, obligations);
    const view = await campaignView({ store, config, now: () => new Date(Date.parse(at(1))) }, "c2");
    expect({ missing: await campaignView({ store, config, now: () => NOW }, "nope"), alert: view?.alert, counts: view?.counts, steps: view?.obligations.map((o) => [o.step, o.timing, o.attention]) }).toEqual({
      missing: null,
      alert: null,
      counts: { "on-track": 1 },
      steps: [["pending for 1 h, never scheduled", "23 h left", "stuck"]],
    });
  });
});

describe("renderCampaignPage", () => {
  it("escapes every recorded value: a hostile dependent name and waiver reason never appear raw", async () => {
    const page = renderCampaignPage(await seededView(), links);
    expect({ script: page.includes("<script"), bold: page.includes("<b>"), escapedName: page.includes("registry.test/apps/&lt;script&gt;alert(1)&lt;/script&gt;:1"), escapedReason: page.includes("vendor &lt;b&gt;fix&lt;/b&gt; due Friday") }).toEqual({
      script: false,
      bold: false,
      escapedName: true,
      escapedReason: true,
    });
  });

  it("gives each obligation its anchor, status, step, clock, links and timeline", async () => {
    const page = renderCampaignPage(await seededView(), links);
    const ids = [...page.matchAll(/<article class="card" id="([^"]+)">/g)].map((match) => match[1]);
    expect(ids).toEqual(["registry.test%2Fapps%2Fapi%3A1", "file%3Acontoso%2Fdeploy%3Ak8s%2Fapp.yaml%3A12", "registry.test%2Fapps%2Fweb%3A1", encodeURIComponent(HOSTILE)]);
    const expected = [
      '<meta name="robots" content="noindex">',
      "<code>sha256:old</code>",
      "<code>sha256:new</code>",
      "by the registry&#39;s time of the root push (a base built in-house)",
      '<span class="badge overdue">overdue</span>',
      '<span class="badge met">met</span>',
      '<span class="badge waived">waived</span>',
      "<strong>rebuild failed: exit status 1</strong>",
      "overdue by 6 h: due <time datetime=\"2026-03-03T08:00:00.000Z\">2026-03-03 08:00 UTC</time> (rule <code>default</code>, 1 d)",
      `<a href="${PULL_REQUEST}">${PULL_REQUEST}</a>`,
      '<a href="../runbook#rebuild-failed">rebuild-failed</a>',
      '<time datetime="2026-03-02T10:00:00.000Z">2026-03-02 10:00 UTC</time> scheduled → failed: exit status 1 <span class="muted">(run-1)</span>',
      "by oncall@example.com until",
      "slack: 404 channel_not_found <strong>(gave up on #3)</strong>",
      '<a href="#registry.test%2Fapps%2Fapi%3A1">registry.test/apps/api:1</a>',
    ];
    expect(expected.filter((fragment) => !page.includes(fragment))).toEqual([]);
  });

  it("says when a waiver came through the API's function key with nobody signed in (who asked is then the caller's word)", async () => {
    const store = createMemoryStateStore();
    await seedCampaign(store);
    await store.putWaiver({ id: "w-key", campaignId: "c1", dependent: "registry.test/apps/api:1", until: at(60), reason: "patched by hand", by: "ci-bot", createdAt: at(30), via: "function-key" });
    const view = (await campaignView({ store, config, now: () => NOW }, "c1"))!;
    const api = view.obligations.find((obligation) => obligation.dependentKey === "registry.test/apps/api:1");
    expect({ waiver: api?.waiver, shown: renderCampaignPage(view, links).includes("by ci-bot (via function key) until") }).toEqual({
      waiver: { by: "ci-bot", reason: "patched by hand", until: at(60), via: "function-key" },
      shown: true,
    });
  });

  it("renders a small campaign page's content as before", async () => {
    const store = createMemoryStateStore();
    const { campaign, obligations } = campaignOf("small", [{ kind: "image", registry: "registry.test", repository: "apps/one", tag: "1", digest: "sha256:old" }], at(0));
    await store.openCampaign(campaign, obligations);
    await store.updateObligation("small", "registry.test/apps/one:1", (current) => ({ ...current, state: "scheduled", runId: "run-9", updatedAt: at(1) }));
    const view = await campaignView({ store, config, now: () => new Date(Date.parse(at(2))) }, "small");
    const page = renderCampaignPage(view!, links);
    expect(page.slice(page.indexOf("<main>"), page.indexOf("</main>") + "</main>".length)).toMatchSnapshot();
  });

  it("renders a page for an unknown campaign with the id escaped", () => {
    expect(renderMissingCampaign("<x>", links)).toContain("No campaign <code>&lt;x&gt;</code> is recorded.");
  });

  it("renders the page of a campaign of 1,000 obligations in well under 200 ms", async () => {
    const store = createMemoryStateStore();
    const dependents = Array.from({ length: 1000 }, (_, index) => ({ kind: "image" as const, registry: "registry.test", repository: `apps/a${String(index).padStart(4, "0")}`, tag: "1", digest: "sha256:old" }));
    const { campaign, obligations } = campaignOf("big", dependents, at(0));
    const withHistory = obligations.map((obligation, index) => ({
      ...obligation,
      state: index % 3 === 0 ? ("failed" as const) : ("scheduled" as const),
      runId: `run-${index}`,
      reason: index % 3 === 0 ? "exit status 1" : null,
      history: [...obligation.history!, { at: at(1), from: "pending" as const, to: "scheduled" as const, why: null, runId: `run-${index}` }, { at: at(2), from: "scheduled" as const, to: "failed" as const, why: "exit status 1", runId: `run-${index}` }],
    }));
    await store.openCampaign(campaign, withHistory);
    const deps = { store, config, now: () => NOW };
    const view = (await campaignView(deps, "big"))!;
    renderCampaignPage(view, links); // warm up the code paths once
    const started = performance.now();
    const page = renderCampaignPage(view, links);
    const elapsed = performance.now() - started;
    process.stderr.write(`campaign page of 1,000 obligations rendered in ${elapsed.toFixed(1)} ms, ${(page.length / 1024).toFixed(0)} KiB\n`);
    expect({ articles: page.split('<article class="card"').length - 1, fast: elapsed < 200 }).toEqual({ articles: 1000, fast: true });
  });
});
