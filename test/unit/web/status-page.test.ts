import { describe, expect, it } from "vitest";
import { patchDurationOf, statusView, timeToPatchOf } from "../../../shared/use-cases/status-view.js";
import { renderStatusPage } from "../../../shared/web/status-page.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { HOSTILE, NOW, at, campaignOf, config, seedCampaign } from "./campaign-fixture.js";

const links = { status: "status", runbook: "runbook", campaigns: "campaigns", logs: "logs" };
const H = 3_600_000;
const dependent = (repository: string) => ({ kind: "image" as const, registry: "registry.test", repository, tag: "1", digest: "sha256:old" });

/** The seeded campaign, plus closed ones: two in the 30-day window (4 h and 10 h to patch), one older, one all superseded. */
async function seededStore() {
  const store = createMemoryStateStore();
  await seedCampaign(store);
  const closed = [
    { id: "done-4h", openedAt: -48, doneAt: [-46, -44], state: "done" as const },
    { id: "done-10h", openedAt: -100, doneAt: [-90], state: "done" as const },
    { id: "too-old", openedAt: -24 * 40, doneAt: [-24 * 40 + 1], state: "done" as const },
    { id: "superseded", openedAt: -10, doneAt: [-9], state: "superseded" as const },
  ];
  for (const entry of closed) {
    const { campaign, obligations } = campaignOf(entry.id, entry.doneAt.map((_, index) => dependent(`apps/${entry.id}-${index}`)), at(entry.openedAt), `registry.test/${entry.id}:1`);
    await store.openCampaign(campaign, obligations);
    for (const [index, doneAt] of entry.doneAt.entries()) {
      await store.updateObligation(entry.id, obligations[index]!.dependentKey, (current) => ({ ...current, state: entry.state, updatedAt: at(doneAt) }));
    }
  }
  return store;
}

describe("statusView", () => {
  it("lists open campaigns by risk with counts, and time to patch over 30 days", async () => {
    const view = await statusView({ store: await seededStore(), config, now: () => NOW });
    expect(view).toEqual({
      at: NOW.toISOString(),
      counts: { failed: 1, overdue: 1, waived: 1 },
      campaigns: [
        {
          campaignId: "c1",
          base: "registry.test/base:1",
          open: 3,
          counts: { failed: 1, overdue: 1, waived: 1 },
          worst: {
            dependentKey: "registry.test/apps/api:1",
            label: "registry.test/apps/api:1",
            anchor: "registry.test%2Fapps%2Fapi%3A1",
            status: "overdue",
            attention: "failed",
            step: "rebuild failed: exit status 1",
            dueAt: at(24),
            lateByMs: 6 * H,
            waived: false,
          },
        },
      ],
      timeToPatch: { days: 30, count: 2, medianMs: 7 * H, p95Ms: 10 * H, maxMs: 10 * H },
    });
  });

  it.each([
    [[], { days: 30, count: 0, medianMs: null, p95Ms: null, maxMs: null }],
    [[5], { days: 30, count: 1, medianMs: 5, p95Ms: 5, maxMs: 5 }],
    [[3, 1, 2], { days: 30, count: 3, medianMs: 2, p95Ms: 3, maxMs: 3 }],
    [Array.from({ length: 20 }, (_, index) => index + 1), { days: 30, count: 20, medianMs: 10.5, p95Ms: 19, maxMs: 20 }],
  ])("figures time to patch of %j", (durations, expected) => {
    expect(timeToPatchOf(durations)).toEqual(expected);
  });

  it("counts a campaign only once every obligation is closed and one is done", () => {
    const { campaign, obligations } = campaignOf("x", [dependent("a"), dependent("b")], at(0));
    const done = { ...obligations[0]!, state: "done" as const, updatedAt: at(3) };
    expect([
      patchDurationOf(campaign, [done, obligations[1]!]),
      patchDurationOf(campaign, [done, { ...obligations[1]!, state: "superseded", updatedAt: at(9) }]),
      patchDurationOf(campaign, [{ ...done, state: "superseded" }]),
    ]).toEqual([null, 3 * H, null]);
  });
});

describe("renderStatusPage", () => {
  it("shows counts, the open campaign linked to its most urgent row, and time to patch", async () => {
    const page = renderStatusPage(await statusView({ store: await seededStore(), config, now: () => NOW }), links);
    const expected = [
      '<meta name="robots" content="noindex">',
      '<span class="badge failed">failed</span> 1',
      '<span class="badge waived">waived</span> 1',
      '<a href="campaigns/c1">registry.test/base:1</a>',
      '<a href="campaigns/c1#registry.test%2Fapps%2Fapi%3A1">registry.test/apps/api:1</a> <span class="badge failed">failed</span>',
      "overdue by 6 h, due",
      "<dt>Campaigns</dt><dd>2</dd>",
      "<dt>Median</dt><dd>7 h</dd>",
      "<dt>95th percentile</dt><dd>10 h</dd>",
    ];
    expect({ missing: expected.filter((fragment) => !page.includes(fragment)), raw: page.includes(HOSTILE) }).toEqual({ missing: [], raw: false });
  });

  it("says so when nothing is open", async () => {
    const page = renderStatusPage(await statusView({ store: createMemoryStateStore(), config, now: () => NOW }), links);
    expect(["Nothing open: every dependent is on its patched base.", "No open campaigns.", "<dt>Median</dt><dd>—</dd>"].filter((fragment) => !page.includes(fragment))).toEqual([]);
  });
});
