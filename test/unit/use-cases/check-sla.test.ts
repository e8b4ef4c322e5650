import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { createdTransition, pushRoot, type Campaign, type Obligation } from "../../../shared/domain/campaign.js";
import { clockFor } from "../../../shared/domain/sla.js";
import { slaRulesOf } from "../../../shared/config.js";
import type { AlertMessage, AlertSink, RippleEvent, RippleEventPublisher } from "../../../shared/ports/alert-sink.js";
import type { AlertJob } from "../../../shared/ports/work-queue.js";
import type { OpenObligationCounts, SlaMetrics } from "../../../shared/ports/sla-metrics.js";
import { UpstreamError } from "../../../shared/errors.js";
import { checkSla } from "../../../shared/use-cases/check-sla.js";
import { deliverAlert } from "../../../shared/use-cases/deliver-alert.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { createRecordingQueue } from "./pipeline-helpers.js";
import { stableOffsetMs } from "../../../shared/domain/spread.js";

const config = parseConfig(`
version: 1
registries: [{ host: registry.test, kind: distribution }]
bases: [{ image: registry.test/base, tags: ["1"], sla: 4h }]
sla: { stuck: { pending: 30m, run: 3h, pullRequest: 24h } }
alerts:
  renotify: 2h
  escalateAfter: 1h
  sinks:
    - { id: pd, kind: pagerduty, routingKeySetting: PD }
    - { id: lead, kind: teams, route: escalation, webhookUrlSetting: TEAMS }
`);
const START = Date.parse("2026-03-02T08:00:00.000Z");
const at = (minutes: number) => new Date(START + minutes * 60_000);
const links = { pageUrl: "https://ripple.test", runbookUrl: "https://ripple.test/api/runbook" };

function fixture(publishers: RippleEventPublisher[] = [], settings = config) {
  const store = createMemoryStateStore();
  const queue = createRecordingQueue();
  let now = at(0);
  const sent: Array<{ sink: string; action: string; sequence: number; items: string[]; previous: string | null }> = [];
  const failures = new Map<string, Error>();
  const sink = (id: string): AlertSink => ({
    id,
    kind: "test",
    async deliver(message: AlertMessage, previous) {
      const failure = failures.get(id);
      if (failure !== undefined) throw failure;
      sent.push({ sink: id, action: message.action, sequence: message.sequence, items: message.items.map((item) => `${item.dependent} ${item.status}: ${item.step}`), previous });
      return `${id}-ref`;
    },
  });
  const sinks = new Map([["pd", sink("pd")], ["lead", sink("lead")]]);
  const deps = { store, queue, config: settings, now: () => now, links, publishers, sinkFor: (id: string) => sinks.get(id) ?? null };
  return {
    store,
    queue,
    sent,
    failures,
    setTime: (minutes: number) => (now = at(minutes)),
    tick: () => checkSla(deps),
    /** Delivers every queued alert job, each twice (a redelivered message). */
    async deliverAll() {
      const jobs = queue.take("alerts") as AlertJob[];
      const outcomes = [];
      for (const job of [...jobs, ...jobs]) outcomes.push(await deliverAlert(deps, job).catch((error: Error) => ({ outcome: "threw", why: error.message })));
      return outcomes;
    },
  };
}

/** Campaign c1: base registry.test/base:1 moved from sha256:1 to sha256:2 at minute 0 (its root). */
function campaignC1(): Campaign {
  const root = pushRoot("registry.test/base:1", "sha256:2", at(0).toISOString(), null);
  return { id: "c1", base: "registry.test/base:1", fromDigest: "sha256:1", toDigest: "sha256:2", openedAt: at(0).toISOString(), trigger: "t", jobsQueuedAt: null, root };
}

/** A pending obligation of `campaign` as opening it makes one: its clock from the root, its creation in the history. */
function pendingObligation(campaign: Campaign, dependentKey: string, dependent: Obligation["dependent"], kind: Obligation["kind"]): Obligation {
  if (campaign.root === undefined) throw new Error("campaign without a root");
  return {
    campaignId: campaign.id,
    dependentKey,
    dependent,
    kind,
    state: "pending",
    fromDigest: "sha256:1",
    reason: null,
    runId: null,
    createdAt: at(0).toISOString(),
    updatedAt: at(0).toISOString(),
    clock: clockFor(slaRulesOf(config), dependentKey, campaign.base, campaign.root),
    history: [createdTransition(at(0).toISOString(), "campaign opened")],
  };
}

async function openCampaign(store: ReturnType<typeof createMemoryStateStore>, dependents: string[]): Promise<Campaign> {
  const campaign = campaignC1();
  const obligations = dependents.map((name) =>
    pendingObligation(campaign, `registry.test/${name}:1`, { kind: "image", registry: "registry.test", repository: name, tag: "1", digest: "sha256:9" }, "rebuild"));
  await store.openCampaign(campaign, obligations);
  return campaign;
}

const update = (store: ReturnType<typeof createMemoryStateStore>, name: string, minutes: number, change: Partial<Obligation>) =>
  store.updateObligation("c1", `registry.test/${name}:1`, (current) => ({ ...current, ...change, updatedAt: at(minutes).toISOString() }));

describe("the SLA monitor and alert delivery", () => {
  it("pages once for a failure, updates it, escalates it and resolves it — never twice per sink and sequence", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app", "web"]);
    await update(f.store, "app", 1, { state: "scheduled", runId: "run-1" });
    await update(f.store, "web", 1, { state: "scheduled", runId: "run-2" });
    f.setTime(2);
    const quiet = await f.tick();
    await update(f.store, "app", 10, { state: "failed", reason: "exit status 1" });
    f.setTime(11);
    const failed = await f.tick();
    const again = await f.tick();
    const firstDeliveries = await f.deliverAll();
    f.setTime(190);
    await f.tick(); // 3 h 10 min: web at risk (75 % of 4 h) and its run stuck; escalation after 1 h critical
    await f.deliverAll();
    f.setTime(200);
    await update(f.store, "app", 200, { state: "done", doneWith: "sha256:a" });
    await update(f.store, "web", 200, { state: "done", doneWith: "sha256:b" });
    f.setTime(201);
    const resolved = await f.tick();
    await f.deliverAll();
    f.setTime(202);
    const after = await f.tick();
    expect({ quiet, failed, again, firstDeliveries, resolved, after, sent: f.sent, open: await f.store.listOpenCampaigns() }).toEqual({
      quiet: { open: 1, evaluated: 1, settled: 0, deliveries: 0, publishFailures: 0 },
      failed: { open: 1, evaluated: 1, settled: 0, deliveries: 1, publishFailures: 0 },
      // Nothing changed: the campaign is not even evaluated, and nothing is queued.
      again: { open: 1, evaluated: 0, settled: 0, deliveries: 0, publishFailures: 0 },
      firstDeliveries: [{ outcome: "delivered", sequence: 1, ref: "pd-ref" }, { outcome: "skipped", why: "already delivered" }],
      resolved: { open: 1, evaluated: 1, settled: 0, deliveries: 2, publishFailures: 0 },
      after: { open: 1, evaluated: 1, settled: 1, deliveries: 0, publishFailures: 0 },
      sent: [
        { sink: "pd", action: "trigger", sequence: 1, items: ["registry.test/app:1 failed: rebuild failed: exit status 1"], previous: null },
        { sink: "pd", action: "update", sequence: 2, items: ["registry.test/app:1 failed: rebuild failed: exit status 1", "registry.test/web:1 stuck: rebuild run not moving for 3 h 9 min"], previous: "pd-ref" },
        { sink: "lead", action: "escalate", sequence: 2, items: ["registry.test/app:1 failed: rebuild failed: exit status 1", "registry.test/web:1 stuck: rebuild run not moving for 3 h 9 min"], previous: null },
        { sink: "pd", action: "resolve", sequence: 3, items: [], previous: "pd-ref" },
        { sink: "lead", action: "resolve", sequence: 3, items: [], previous: "lead-ref" },
      ],
      open: [],
    });
  });

  it("resolves an alert when the late dependent is waived, and shows the waiver's expiry", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "failed", reason: "no recipe" });
    f.setTime(2);
    await f.tick();
    await f.deliverAll();
    await f.store.putWaiver({ id: "w1", campaignId: "c1", dependent: null, until: at(120).toISOString(), reason: "fixed upstream next week", by: "oncall@contoso.test", createdAt: at(3).toISOString() });
    await f.store.touchOpenCampaign("c1", at(3).toISOString());
    f.setTime(4);
    await f.tick();
    await f.deliverAll();
    f.setTime(6);
    await f.tick();
    const waived = (await f.store.listOpenCampaigns()).map((entry) => entry.nextCheckAt);
    f.setTime(121);
    await f.tick();
    await f.deliverAll();
    expect({ actions: f.sent.map((entry) => `${entry.sink} ${entry.action} ${entry.sequence}`), waived }).toEqual({
      // Waived: resolved; the waiver expires at 120 min and the still-failed dependent pages again.
      actions: ["pd trigger 1", "pd resolve 2", "pd trigger 3"],
      // Kept in the index while waived (the safety ceiling — 15 minutes less c1's stable offset of up to 7.5 — comes before the expiry at 120 min).
      waived: [new Date(at(21).getTime() - stableOffsetMs("c1", 7.5 * 60_000)).toISOString()],
    });
  });

  it("keeps a permanent sink failure on the alert and does not queue it again; retries a transient one", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "failed", reason: "exit status 1" });
    f.setTime(2);
    f.failures.set("pd", new UpstreamError("pagerduty sink pd", "answered 400: invalid event", { status: 400 }));
    await f.tick();
    const permanent = await f.deliverAll();
    f.setTime(5);
    await f.store.touchOpenCampaign("c1", at(5).toISOString());
    const requeued = await f.tick();
    const record = await f.store.getAlert("c1");
    expect({ permanent, requeued: requeued.deliveries, delivery: record?.deliveries["pd"] }).toEqual({
      permanent: [{ outcome: "skipped", why: "given up" }, { outcome: "skipped", why: "given up" }],
      requeued: 0,
      delivery: { sinkId: "pd", delivered: 0, ref: null, deliveredAt: null, sendingUntil: null, attempts: 1, lastError: "pagerduty sink pd: answered 400: invalid event", failedSequence: 1 },
    });
  });

  it("rethrows a transient failure and delivers on the next attempt", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "failed", reason: "exit status 1" });
    f.setTime(2);
    await f.tick();
    const jobs = f.queue.take("alerts") as AlertJob[];
    f.failures.set("pd", new UpstreamError("pagerduty sink pd", "answered 503", { status: 503 }));
    const deps = { store: f.store, sinkFor: () => null, now: () => at(2) };
    const first = await deliverAlert({ ...deps, sinkFor: () => ({ id: "pd", kind: "test", deliver: () => Promise.reject(f.failures.get("pd")) }) }, jobs[0]!).catch((error: Error) => error.message);
    const second = await deliverAlert({ ...deps, sinkFor: () => ({ id: "pd", kind: "test", deliver: async () => "ref" }) }, jobs[0]!);
    expect({ first, second, delivery: (await f.store.getAlert("c1"))?.deliveries["pd"] }).toEqual({
      first: "pagerduty sink pd: answered 503",
      second: { outcome: "delivered", sequence: 1, ref: "ref" },
      delivery: { sinkId: "pd", delivered: 1, ref: "ref", deliveredAt: at(2).toISOString(), sendingUntil: null, attempts: 0, lastError: null, failedSequence: null },
    });
  });
});

describe("what on-call is told as time passes", () => {
  it("does not page again every minute while a run stays stuck (its step's duration grows, the step does not change)", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 0, { state: "scheduled", runId: "run-1" });
    const actions: string[] = [];
    for (let minute = 181; minute <= 200; minute += 1) {
      f.setTime(minute);
      await f.tick();
      await f.deliverAll();
    }
    actions.push(...f.sent.map((entry) => `${entry.sink} ${entry.action} ${entry.sequence}`));
    expect(actions).toEqual(["pd trigger 1"]);
  });

  it("resolves once nothing is left to report (a failed rebuild replayed and on track again), and pages anew if it fails again", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app", "web"]);
    await update(f.store, "app", 1, { state: "failed", reason: "exit status 1" });
    f.setTime(2);
    await f.tick();
    await f.deliverAll();
    await update(f.store, "app", 3, { state: "pending", reason: "replayed" });
    f.setTime(4);
    await f.tick();
    await f.deliverAll();
    await update(f.store, "app", 5, { state: "failed", reason: "exit status 2" });
    f.setTime(6);
    await f.tick();
    await f.deliverAll();
    expect(f.sent.map((entry) => `${entry.sink} ${entry.action} ${entry.sequence} ${entry.items.join("; ")}`)).toEqual([
      "pd trigger 1 registry.test/app:1 failed: rebuild failed: exit status 1",
      "pd resolve 2 ",
      "pd trigger 3 registry.test/app:1 failed: rebuild failed: exit status 2",
    ]);
  });

  it("queues nothing for a sink removed from the configuration, and lets the campaign settle", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "failed", reason: "exit status 1" });
    f.setTime(2);
    await f.tick();
    f.queue.take("alerts");
    const shrunk = parseConfig(`
version: 1
registries: [{ host: registry.test, kind: distribution }]
bases: [{ image: registry.test/base, tags: ["1"], sla: 4h }]
`);
    await update(f.store, "app", 3, { state: "done", doneWith: "sha256:a" });
    const deps = { store: f.store, queue: f.queue, config: shrunk, now: () => at(4), links };
    const first = await checkSla(deps);
    const second = await checkSla({ ...deps, now: () => at(6) });
    expect({ first, second, queued: f.queue.take("alerts"), open: await f.store.listOpenCampaigns() }).toEqual({
      first: { open: 1, evaluated: 1, settled: 1, deliveries: 0, publishFailures: 0 },
      second: { open: 0, evaluated: 0, settled: 0, deliveries: 0, publishFailures: 0 },
      queued: [],
      open: [],
    });
  });

  it("keeps looking for a campaign whose header is not written yet, and lets a long-gone one go", async () => {
    const f = fixture();
    await f.store.touchOpenCampaign("half-open", at(0).toISOString());
    f.setTime(1);
    const young = await f.tick();
    f.setTime(120);
    const old = await f.tick();
    expect({ young, old, open: await f.store.listOpenCampaigns() }).toEqual({
      young: { open: 1, evaluated: 1, settled: 0, deliveries: 0, publishFailures: 0 },
      old: { open: 1, evaluated: 1, settled: 1, deliveries: 0, publishFailures: 0 },
      open: [],
    });
  });
});

describe("due times and predictions", () => {
  it("warns when the dependent's own past durations predict a breach, turns critical when the due time passes, and resolves when done", async () => {
    const f = fixture();
    // Its last three rebuilds took 5 h from scheduling to done: past this campaign's 4 h SLA.
    for (const n of [1, 2, 3]) await f.store.addDuration("registry.test/app:1", `old-${n}|registry.test/app:1`, 5 * 60 * 60_000);
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "scheduled", runId: "run-1" });
    const steps: string[] = [];
    for (const [minute, change] of [[2, null], [241, null], [250, "done"]] as const) {
      if (change === "done") await update(f.store, "app", minute, { state: "done", doneWith: "sha256:a" });
      f.setTime(minute + 1);
      await f.tick();
      await f.deliverAll();
      const alert = await f.store.getAlert("c1");
      steps.push(`${minute + 1}: ${alert?.state.status} ${alert?.state.level} [${alert?.state.items.map((item) => item.status).join(",")}]`);
    }
    expect({ steps, sent: f.sent.filter((entry) => entry.sink === "pd").map((entry) => `${entry.action} ${entry.sequence}`) }).toEqual({
      steps: ["3: open warning [predicted-breach]", "242: open critical [overdue]", "251: resolved critical []"],
      sent: ["trigger 1", "update 2", "resolve 3"],
    });
  });

  it("records each done obligation's scheduled-to-done duration once, for the next prediction", async () => {
    const f = fixture();
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "scheduled", runId: "run-1" });
    await update(f.store, "app", 61, { state: "done", doneWith: "sha256:a" });
    for (const minute of [62, 63]) {
      f.setTime(minute);
      await f.tick();
      await f.deliverAll();
    }
    expect(await f.store.getDurations("registry.test/app:1")).toEqual({ dependentKey: "registry.test/app:1", samples: [{ obligation: "c1|registry.test/app:1", ms: 60 * 60_000 }] });
  });

  /** A campaign of one pull-request obligation pinning the base in `contoso/deploy`. */
  async function openPinCampaign(store: ReturnType<typeof createMemoryStateStore>, path: string): Promise<string> {
    const campaign = campaignC1();
    const dependentKey = `file:contoso/deploy:${path}:3`;
    await store.openCampaign(campaign, [pendingObligation(campaign, dependentKey, { kind: "file-pin", repo: "contoso/deploy", path, line: 3, digest: "sha256:1" }, "pull-request")]);
    return dependentKey;
  }

  const updatePin = (store: ReturnType<typeof createMemoryStateStore>, key: string, minutes: number, change: Partial<Obligation>) =>
    store.updateObligation("c1", key, (current) => ({ ...current, ...change, updatedAt: at(minutes).toISOString() }));

  const alertAfterTick = async (f: ReturnType<typeof fixture>, minute: number) => {
    f.setTime(minute);
    await f.tick();
    const alert = await f.store.getAlert("c1");
    return alert === null ? null : `${alert.state.status} ${alert.state.level} [${alert.state.items.map((item) => `${item.dependentKey} ${item.status}`).join(", ")}]`;
  };

  it("records a merged pull request's opened-to-merged time as its repository's merge latency, not as a build duration", async () => {
    const f = fixture();
    const key = await openPinCampaign(f.store, "apps/web.yaml");
    await updatePin(f.store, key, 1, { state: "scheduled", runId: "https://github.test/contoso/deploy/pull/7" });
    await updatePin(f.store, key, 91, { state: "done", doneWith: "sha256:2" });
    for (const minute of [92, 93]) await alertAfterTick(f, minute);
    expect({ merge: await f.store.getMergeLatencies("contoso/deploy"), durations: await f.store.getDurations(key) }).toEqual({
      merge: { repository: "contoso/deploy", samples: [{ obligation: `c1|${key}`, ms: 90 * 60_000 }] },
      durations: null,
    });
  });

  it("warns of a predicted breach when the repository's past merge latency lands an open pull request after its due time", async () => {
    const f = fixture();
    // Other files' pull requests in this repository took 5 h to be merged: past this campaign's 4 h SLA.
    for (const n of [1, 2, 3]) await f.store.addMergeLatency("contoso/deploy", `old-${n}|file:contoso/deploy:other-${n}.yaml:1`, 5 * 60 * 60_000);
    const key = await openPinCampaign(f.store, "apps/web.yaml");
    await updatePin(f.store, key, 1, { state: "scheduled", runId: "https://github.test/contoso/deploy/pull/7" });
    expect(await alertAfterTick(f, 2)).toEqual(`open warning [${key} predicted-breach]`);
  });

  it("predicts a pending rebuild from now with its dependent's build durations, and warns once that lands after the due time", async () => {
    const f = fixture();
    // 3 h 50 min builds against a 4 h SLA: pending at minute 5 it still fits; from minute 10 it no longer does.
    for (const n of [1, 2, 3]) await f.store.addDuration("registry.test/app:1", `old-${n}|registry.test/app:1`, 230 * 60_000);
    await openCampaign(f.store, ["app"]);
    const early = await alertAfterTick(f, 5);
    const nextCheckAt = (await f.store.listOpenCampaigns())[0]?.nextCheckAt;
    const late = await alertAfterTick(f, 11);
    expect({ early, nextCheckAt, late }).toEqual({
      early: null,
      // The moment the prediction crosses the due time (4 h − 3 h 50 min after the clock started), sooner than the 15-minute ceiling.
      nextCheckAt: at(10).toISOString(),
      late: "open warning [registry.test/app:1 predicted-breach]",
    });
  });
});

describe("the safety-net re-check", () => {
  it("spreads campaigns evaluated together over 7.5 to 15 minutes, so they do not all come due in one tick", async () => {
    const f = fixture();
    const campaigns = Array.from({ length: 60 }, (_, n) => `c${n}`);
    for (const id of campaigns) {
      const campaign = { ...campaignC1(), id };
      await f.store.openCampaign(campaign, [pendingObligation(campaign, `registry.test/${id}:1`, { kind: "image", registry: "registry.test", repository: id, tag: "1", digest: "sha256:9" }, "rebuild")]);
    }
    f.setTime(1);
    await f.tick();
    const offsets = (await f.store.listOpenCampaigns()).map((entry) => Date.parse(entry.nextCheckAt!) - at(1).getTime());
    const perMinute = new Map<number, number>();
    for (const offset of offsets) perMinute.set(Math.floor(offset / 60_000), (perMinute.get(Math.floor(offset / 60_000)) ?? 0) + 1);
    expect({
      count: offsets.length,
      inWindow: offsets.every((offset) => offset > 7.5 * 60_000 && offset <= 15 * 60_000),
      busiestMinute: Math.max(...perMinute.values()) <= 20,
      minutes: perMinute.size >= 6,
    }).toEqual({ count: 60, inWindow: true, busiestMinute: true, minutes: true });
  });
});

describe("quiet hours", () => {
  it("looks again when quiet hours end, sooner than the 15-minute ceiling, and sends the held warning then", async () => {
    // 08:00–08:07 UTC is 09:00–09:07 in Berlin in March.
    const quietConfig = parseConfig(`
version: 1
registries: [{ host: registry.test, kind: distribution }]
bases: [{ image: registry.test/base, tags: ["1"], sla: 4h }]
sla: { stuck: { pending: 30m, run: 3h, pullRequest: 24h } }
alerts:
  quietHours: { timeZone: Europe/Berlin, from: "09:00", to: "09:07" }
  sinks:
    - { id: pd, kind: pagerduty, routingKeySetting: PD }
`);
    const f = fixture([], quietConfig);
    for (const n of [1, 2, 3]) await f.store.addDuration("registry.test/app:1", `old-${n}|registry.test/app:1`, 5 * 60 * 60_000);
    await openCampaign(f.store, ["app"]);
    await update(f.store, "app", 1, { state: "scheduled", runId: "run-1" });
    f.setTime(3);
    await f.tick();
    const held = { alert: await f.store.getAlert("c1"), nextCheckAt: (await f.store.listOpenCampaigns())[0]?.nextCheckAt };
    f.setTime(7);
    const atEnd = await f.tick();
    await f.deliverAll();
    expect({ held, atEnd, sent: f.sent.map((entry) => `${entry.sink} ${entry.action} ${entry.sequence}`) }).toEqual({
      held: { alert: null, nextCheckAt: at(7).toISOString() },
      atEnd: { open: 1, evaluated: 1, settled: 0, deliveries: 1, publishFailures: 0 },
      sent: ["pd trigger 1"],
    });
  });
});

describe("SLA metrics", () => {
  it("observes the open obligations of every open campaign by status each tick, and records each settled campaign's time to patch once", async () => {
    const f = fixture();
    const observed: OpenObligationCounts[] = [];
    const times: Array<{ seconds: number; base: string; met: boolean }> = [];
    const metrics: SlaMetrics = { observeOpen: (counts) => observed.push(counts), recordTimeToPatch: (seconds, attributes) => times.push({ seconds, ...attributes }), flush: async () => undefined };
    await openCampaign(f.store, ["app", "web", "api"]);
    await update(f.store, "app", 1, { state: "failed", reason: "exit status 1" });
    const deps = { store: f.store, queue: f.queue, config, links, metrics, now: () => at(190) };
    for (const minute of [190, 191]) {
      await checkSla({ ...deps, now: () => at(minute) });
      await f.deliverAll();
    }
    await update(f.store, "app", 200, { state: "done" });
    await update(f.store, "web", 210, { state: "done" });
    await update(f.store, "api", 300, { state: "done" });
    for (const minute of [301, 302, 303]) {
      await checkSla({ ...deps, now: () => at(minute) });
      await f.deliverAll();
    }
    expect({ observed, times }).toEqual({
      observed: [
        { onTrack: 0, atRisk: 2, overdue: 0, failed: 1, waived: 0 },
        { onTrack: 0, atRisk: 2, overdue: 0, failed: 1, waived: 0 },
        // Done: the resolve is queued (the campaign stays until it is delivered), then it settles.
        { onTrack: 0, atRisk: 0, overdue: 0, failed: 0, waived: 0 },
        { onTrack: 0, atRisk: 0, overdue: 0, failed: 0, waived: 0 },
        { onTrack: 0, atRisk: 0, overdue: 0, failed: 0, waived: 0 },
      ],
      // The last one was done 5 h after the root's push: past its 4 h SLA.
      times: [{ seconds: 300 * 60, base: "registry.test/base:1", met: false }],
    });
  });
});

describe("Ripple lifecycle events", () => {
  it("publishes the opening and each done or failed obligation once, and tries again after a failed publish", async () => {
    const published: string[] = [];
    let down = false;
    const publisher: RippleEventPublisher = {
      async publish(events: readonly RippleEvent[]) {
        if (down) throw new UpstreamError("event-grid", "answered 503", { status: 503 });
        published.push(...events.map((event) => `${event.type} ${event.id}`));
      },
    };
    const f = fixture([publisher]);
    await openCampaign(f.store, ["app", "web"]);
    f.setTime(1);
    const first = await f.tick();
    await update(f.store, "app", 2, { state: "done", doneWith: "sha256:a" });
    down = true;
    f.setTime(3);
    const failed = await f.tick();
    down = false;
    f.setTime(4);
    await f.tick();
    await update(f.store, "web", 5, { state: "failed", reason: "exit status 1" });
    f.setTime(6);
    await f.tick();
    expect({ first: first.publishFailures, failed: failed.publishFailures, published }).toEqual({
      first: 0,
      failed: 1,
      published: [
        "Ripple.Campaign.Opened c1:opened",
        `Ripple.Obligation.Done c1|registry.test/app:1:done@${at(2).toISOString()}`,
        `Ripple.Obligation.Failed c1|registry.test/web:1:failed@${at(5).toISOString()}`,
      ],
    });
  });
});
