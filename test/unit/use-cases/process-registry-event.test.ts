import { describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { AppError, UpstreamError } from "../../../shared/errors.js";
import { campaignId, pushRoot } from "../../../shared/domain/campaign.js";
import { dedupeKey } from "../../../shared/domain/registry-event.js";
import { processRecordedEvents, processRegistryEvent } from "../../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../../shared/use-cases/receive-notification.js";
import { createDeps, digestOf, image, index, pushEvent, REGISTRY } from "./pipeline-helpers.js";

const BASE_NAME = "org.opencontainers.image.base.name";
const BASE_DIGEST = "org.opencontainers.image.base.digest";

async function deliver(env: ReturnType<typeof createDeps>, event: ReturnType<typeof pushEvent>) {
  await recordEvents(env.deps, [event], 0);
  return processRegistryEvent(env.deps, dedupeKey(event));
}

describe("processRegistryEvent", () => {
  const busyboxA = image("busybox-a", ["l1"]);
  const busyboxB = image("busybox-b", ["l1-patched"]);
  const company = image("company", ["l1", "l2"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: busyboxA.digest });
  const web = image("web", ["l1", "l2", "l3"]);

  async function seeded() {
    const env = createDeps();
    env.registry.put("ripple/busybox", busyboxA);
    env.registry.put("ripple/busybox", busyboxB);
    env.registry.put("ripple/company", company);
    env.registry.put("apps/web", web);
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
    await deliver(env, pushEvent("ripple/company", "1", company.digest, "2026-11-23T09:01:00Z"));
    await deliver(env, pushEvent("apps/web", "1", web.digest, "2026-11-23T09:02:00Z"));
    return env;
  }

  it("infers edges from base annotations and from layer prefixes, with their evidence", async () => {
    const env = await seeded();
    const edges = (await env.store.listEdges()).map((edge) => ({ dependent: edge.dependent, base: edge.base, baseDigest: edge.baseDigest, evidence: edge.evidence, detail: edge.detail, platform: edge.platform }));
    expect(edges.sort((a, b) => a.base.localeCompare(b.base))).toEqual([
      {
        dependent: { kind: "image", registry: REGISTRY, repository: "ripple/company", tag: "1", digest: company.digest },
        base: `${REGISTRY}/ripple/busybox:1`,
        baseDigest: busyboxA.digest,
        evidence: "annotation",
        detail: `${BASE_NAME}=${REGISTRY}/ripple/busybox:1 ${BASE_DIGEST}=${busyboxA.digest}`,
        platform: "linux/amd64",
      },
      {
        dependent: { kind: "image", registry: REGISTRY, repository: "apps/web", tag: "1", digest: web.digest },
        base: `${REGISTRY}/ripple/company:1`,
        baseDigest: company.digest,
        evidence: "layer-prefix",
        detail: `first 2 of 3 layers match ${REGISTRY}/ripple/company:1@${company.digest}`,
        platform: "linux/amd64",
      },
    ]);
    expect(await env.store.listCampaigns()).toEqual([]);
  });

  it("opens one campaign with one obligation per direct dependent and queues its job, once", async () => {
    const env = await seeded();
    const move = pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z");
    const outcome = await deliver(env, move);
    expect(outcome).toMatchObject({ kind: "processed", tagMoved: true, campaign: { created: true, obligations: 1 } });
    const [campaign] = await env.store.listCampaigns();
    expect(campaign).toEqual({
      id: campaignId(`${REGISTRY}/ripple/busybox:1`, busyboxB.digest),
      base: `${REGISTRY}/ripple/busybox:1`,
      fromDigest: busyboxA.digest,
      toDigest: busyboxB.digest,
      openedAt: expect.any(String),
      trigger: dedupeKey(move),
      jobsQueuedAt: expect.any(String),
      root: pushRoot(`${REGISTRY}/ripple/busybox:1`, busyboxB.digest, "2026-11-23T09:10:00Z", null),
    });
    const stored = await env.store.getCampaign(campaign!.id);
    expect(stored!.obligations.map(({ dependentKey, kind, state, fromDigest }) => ({ dependentKey, kind, state, fromDigest }))).toEqual([
      { dependentKey: `${REGISTRY}/ripple/company:1`, kind: "rebuild", state: "pending", fromDigest: busyboxA.digest },
    ]);
    const jobs = env.queue.messages.filter((message) => message.queue === "rebuild");
    expect(jobs).toEqual([
      {
        queue: "rebuild",
        message: { v: 1, campaignId: campaign!.id, dependentKey: `${REGISTRY}/ripple/company:1`, base: `${REGISTRY}/ripple/busybox:1`, fromDigest: busyboxA.digest, toDigest: busyboxB.digest },
      },
    ]);

    // The same delivery again, and the same message processed again: nothing new.
    await deliver(env, move);
    expect(await processRegistryEvent(env.deps, dedupeKey(move))).toEqual({ kind: "skipped", reason: "event already processed" });
    expect(env.queue.messages.filter((message) => message.queue === "rebuild")).toHaveLength(1);
    expect(await env.store.listCampaigns()).toHaveLength(1);
  });

  it("does not apply a tag move older than the recorded one", async () => {
    const env = await seeded();
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const stale = await deliver(env, pushEvent("ripple/busybox", "1", digestOf("never"), "2026-11-23T08:00:00Z"));
    expect(stale).toEqual({ kind: "failed", reason: `${REGISTRY}/ripple/busybox@${digestOf("never")} does not exist (deleted since the push?)` });
    env.registry.put("ripple/busybox", image("older", ["l0"]));
    const older = await deliver(env, pushEvent("ripple/busybox", "1", digestOf("older"), "2026-11-23T08:30:00Z"));
    expect(older).toEqual({ kind: "processed", summary: `not applied: ${REGISTRY}/ripple/busybox:1 has a newer recorded move`, tagMoved: false, edges: [], campaign: null });
    expect((await env.store.getTag(REGISTRY, "ripple/busybox", "1"))?.digest).toBe(busyboxB.digest);
  });

  it("resolves a per-platform base digest to the base's index digest (multi-arch)", async () => {
    const env = createDeps();
    const amd = image("base-amd", ["b1"]);
    const arm = image("base-arm", ["b1-arm"], {}, { os: "linux", architecture: "arm64", variant: null });
    const baseIndex = index("base-index", [amd, arm]);
    for (const facts of [amd, arm, baseIndex]) env.registry.put("ripple/busybox", facts);
    await deliver(env, pushEvent("ripple/busybox", "1", baseIndex.digest, "2026-11-23T09:00:00Z"));
    const appAmd = image("app-amd", ["b1", "a1"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: amd.digest });
    const appArm = image("app-arm", ["b1-arm", "a1"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: arm.digest }, { os: "linux", architecture: "arm64", variant: null });
    const appIndex = index("app-index", [appAmd, appArm]);
    for (const facts of [appAmd, appArm, appIndex]) env.registry.put("apps/multi", facts);
    const outcome = await deliver(env, pushEvent("apps/multi", "1", appIndex.digest, "2026-11-23T09:01:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map((edge) => [edge.platform, edge.baseDigest, edge.evidence])).toEqual([
      ["linux/amd64", baseIndex.digest, "annotation"],
      ["linux/arm64", baseIndex.digest, "annotation"],
    ]);
  });

  it("opens the next campaign when a rebuilt derived base is pushed (the cascade)", async () => {
    const env = await seeded();
    const rebuilt = image("company-rebuilt", ["l1-patched", "l2"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: busyboxB.digest });
    env.registry.put("ripple/company", rebuilt);
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    await deliver(env, pushEvent("ripple/company", "1", rebuilt.digest, "2026-11-23T09:11:00Z"));
    const campaigns = (await env.store.listCampaigns()).map((campaign) => campaign.base).sort();
    expect(campaigns).toEqual([`${REGISTRY}/ripple/busybox:1`, `${REGISTRY}/ripple/company:1`]);
    const companyCampaign = (await env.store.listCampaigns()).find((campaign) => campaign.base.endsWith("company:1"))!;
    expect((await env.store.getCampaign(companyCampaign.id))!.obligations.map((obligation) => obligation.dependentKey)).toEqual([`${REGISTRY}/apps/web:1`]);
    expect((await env.store.listBasesOf(`${REGISTRY}/ripple/company:1`)).map((edge) => edge.baseDigest)).toEqual([busyboxB.digest]);
  });

  it("records a push from an unconfigured registry as ignored and never reads it", async () => {
    const env = createDeps();
    const event = pushEvent("evil/app", "1", digestOf("x"), "2026-11-23T09:00:00Z", "attacker.example:443");
    expect(await recordEvents(env.deps, [event], 0)).toMatchObject({ kind: "recorded", accepted: 0, ignored: 1 });
    expect(await env.store.getEvent(dedupeKey(event))).toMatchObject({ status: "ignored", reason: "registry attacker.example:443 is not in the configuration" });
    expect(await processRegistryEvent(env.deps, dedupeKey(event))).toEqual({ kind: "skipped", reason: "event already ignored" });
    expect(env.registry.reads).toBe(0);
    expect(env.queue.messages).toEqual([]);
  });

  it("adds a dockerfile edge from the image's build recipe", async () => {
    const config = parseConfig(JSON.stringify({
      version: 1,
      registries: [{ host: REGISTRY, kind: "distribution" }],
      bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["*"] }],
      recipes: [{ image: `${REGISTRY}/apps/tool:1`, repository: "/src/tool", revision: "main", dockerfile: "build/Dockerfile" }],
    }));
    const env = createDeps(config);
    env.sources.files["/src/tool@main:build/Dockerfile"] = `FROM golang AS build\nFROM ${REGISTRY}/ripple/busybox:1@${busyboxA.digest} AS run\nCOPY --from=build /t /t\n`;
    env.registry.put("ripple/busybox", busyboxA);
    const tool = image("tool", ["other"]);
    env.registry.put("apps/tool", tool);
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
    const outcome = await deliver(env, pushEvent("apps/tool", "1", tool.digest, "2026-11-23T09:01:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map(({ base, baseDigest, evidence, detail, platform }) => ({ base, baseDigest, evidence, detail, platform }))).toEqual([
      { base: `${REGISTRY}/ripple/busybox:1`, baseDigest: busyboxA.digest, evidence: "dockerfile", detail: `/src/tool@main:build/Dockerfile:2 FROM ${REGISTRY}/ripple/busybox:1@${busyboxA.digest}`, platform: null },
    ]);
  });

  it("reads a Dockerfile named by the image's source annotation only for a configured repository", async () => {
    const annotated = image("annotated", ["z"], { "org.opencontainers.image.source": "/src/app", "org.opencontainers.image.revision": "abc123", "dev.ripple.dockerfile": "Containerfile" });
    const run = async (repositories: { url: string }[]) => {
      const env = createDeps(parseConfig(JSON.stringify({ version: 1, registries: [{ host: REGISTRY, kind: "distribution" }], repositories })));
      env.sources.files["/src/app@abc123:Containerfile"] = `FROM ${REGISTRY}/ripple/busybox:1\n`;
      env.registry.put("ripple/busybox", busyboxA);
      env.registry.put("apps/annotated", annotated);
      await deliver(env, pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
      const outcome = await deliver(env, pushEvent("apps/annotated", "1", annotated.digest, "2026-11-23T09:01:00Z"));
      return outcome.kind === "processed" ? outcome.edges.map((edge) => [edge.evidence, edge.baseDigest]) : outcome;
    };
    expect(await run([{ url: "/src/app" }])).toEqual([["dockerfile", busyboxA.digest]]);
    expect(await run([])).toEqual([]);
  });

  it("ignores a base digest annotation that is not a digest and falls back to the layers", async () => {
    const env = await seeded();
    const odd = image("odd", ["l1", "o"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: "latest" });
    env.registry.put("apps/odd", odd);
    const outcome = await deliver(env, pushEvent("apps/odd", "1", odd.digest, "2026-11-23T09:03:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map((edge) => [edge.base, edge.baseDigest, edge.evidence])).toEqual([[`${REGISTRY}/ripple/busybox:1`, busyboxA.digest, "layer-prefix"]]);
  });

  it("does not let an older move's campaign supersede the campaign of the digest the tag points at", async () => {
    const env = await seeded();
    const busyboxC = image("busybox-c", ["l1-c"]);
    env.registry.put("ripple/busybox", busyboxC);
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxC.digest, "2026-11-23T09:11:00Z"));
    // Replay B's campaign opening late (as a slow worker would): the tag is at C, so nothing of C's is superseded.
    const { openCampaign } = await import("../../../shared/use-cases/open-campaign.js");
    const root = pushRoot(`${REGISTRY}/ripple/busybox:1`, busyboxB.digest, "2026-11-23T09:10:00Z", null);
    await openCampaign(env.deps, { base: `${REGISTRY}/ripple/busybox:1`, fromDigest: busyboxA.digest, toDigest: busyboxB.digest, trigger: "late", root }, await env.store.listDependents(`${REGISTRY}/ripple/busybox:1`));
    const campaigns = await env.store.listCampaigns();
    const states = async (digest: string) => (await env.store.getCampaign(campaigns.find((campaign) => campaign.toDigest === digest)!.id))!.obligations.map((obligation) => obligation.state);
    expect(await states(busyboxC.digest)).toEqual(["pending"]);
    expect(await states(busyboxB.digest)).toEqual(["superseded"]);
  });

  it("lets one of two concurrent processors of an event do the work", async () => {
    const env = await seeded();
    const move = pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z");
    await recordEvents(env.deps, [move], 0);
    const outcomes = await Promise.allSettled([processRegistryEvent(env.deps, dedupeKey(move)), processRegistryEvent(env.deps, dedupeKey(move))]);
    expect(outcomes.map((outcome) => (outcome.status === "fulfilled" ? outcome.value.kind : (outcome.reason as AppError).code)).sort()).toEqual(["event_busy", "processed"]);
    // The loser's message is not acknowledged: event_busy is retryable, so the queue redelivers it.
    expect(outcomes.find((outcome) => outcome.status === "rejected")).toMatchObject({ reason: { retryable: true } });
    expect(env.queue.messages.filter((message) => message.queue === "rebuild")).toHaveLength(1);
  });

  it("says when to look again at an event another worker holds, so its queued copy waits instead of spending its redeliveries", async () => {
    const env = await seeded();
    const move = pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z");
    await recordEvents(env.deps, [move], 0);
    // A worker leased the event and died: its lease runs 20 s past the deps' clock.
    const clock = env.deps.now().getTime();
    expect(await env.store.leaseEvent(dedupeKey(move), new Date(clock + 20_000).toISOString(), new Date(clock).toISOString())).toBe(true);
    const error = await processRegistryEvent(env.deps, dedupeKey(move)).then(() => null, (reason: unknown) => reason as AppError);
    expect(error).toMatchObject({ code: "event_busy", retryable: true });
    // Every 5 s while the lease runs (a live holder is usually done by then)…
    expect(error!.details["retryAfterMs"]).toBe(5_000);
    expect(error!.message).toContain(new Date(clock + 20_000).toISOString());
    // …and just after it ends: 2 s left (the clock ticks 1 s per read) plus a second's margin.
    await env.store.updateEvent(dedupeKey(move), (current) => ({ ...current, leaseUntil: new Date(clock + 4_000).toISOString() }));
    const late = await processRegistryEvent(env.deps, dedupeKey(move)).then(() => null, (reason: unknown) => reason as AppError);
    expect(late!.details["retryAfterMs"]).toBe(3_000);
    expect(env.queue.messages.filter((message) => message.queue === "rebuild")).toHaveLength(0);
  });

  it("gives the lease back when processing fails with a retryable error, so the redelivery can retry at once", async () => {
    const env = await seeded();
    const move = pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z");
    await recordEvents(env.deps, [move], 0);
    const readManifest = env.registry.readManifest;
    env.registry.readManifest = async () => {
      throw new UpstreamError("registry", "503 Service Unavailable", { status: 503 });
    };
    await expect(processRegistryEvent(env.deps, dedupeKey(move))).rejects.toMatchObject({ retryable: true });
    expect((await env.store.getEvent(dedupeKey(move)))?.leaseUntil).toBeNull();
    env.registry.readManifest = readManifest;
    expect(await processRegistryEvent(env.deps, dedupeKey(move))).toMatchObject({ kind: "processed", tagMoved: true });
  });

  it("finishes the work of an attempt that crashed after moving the tag", async () => {
    const env = await seeded();
    const move = pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z");
    await recordEvents(env.deps, [move], 0);
    // The crashed attempt got as far as the tag move.
    await env.store.moveTag(REGISTRY, "ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z");
    const outcome = await processRegistryEvent(env.deps, dedupeKey(move));
    expect(outcome).toMatchObject({ kind: "processed", tagMoved: true, campaign: { created: true, obligations: 1 } });
    expect((await env.store.listCampaigns()).map((campaign) => [campaign.fromDigest, campaign.toDigest])).toEqual([[busyboxA.digest, busyboxB.digest]]);
  });

  it("resolves a base annotation without a tag (a FROM pinned by digest) to the tag holding that digest", async () => {
    const env = await seeded();
    const pinned = image("pinned", ["l1", "p"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox@${busyboxA.digest}`, [BASE_DIGEST]: busyboxA.digest });
    env.registry.put("apps/pinned", pinned);
    const outcome = await deliver(env, pushEvent("apps/pinned", "1", pinned.digest, "2026-11-23T09:03:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map((edge) => [edge.base, edge.baseDigest, edge.evidence])).toEqual([[`${REGISTRY}/ripple/busybox:1`, busyboxA.digest, "annotation"]]);
  });

  it("removes a deleted tag", async () => {
    const env = await seeded();
    const deletion = { ...pushEvent("apps/web", "1", web.digest, "2026-11-23T09:20:00Z"), action: "delete" as const, tag: null };
    await deliver(env, deletion);
    expect(await env.store.getTag(REGISTRY, "apps/web", "1")).toMatchObject({ digest: null });
    // A deleted image is nobody's dependent any more: the next base patch does not rebuild it.
    expect(await env.store.listBasesOf(`${REGISTRY}/apps/web:1`)).toEqual([]);
  });

  describe("the root every campaign of a cascade carries (where the SLA clock starts)", () => {
    const companyB = image("company-b", ["l1-patched", "l2"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: busyboxB.digest });
    const rootOf = async (env: ReturnType<typeof createDeps>, base: string, digest: string) => (await env.store.getCampaign(campaignId(base, digest)))?.campaign.root;

    it("is the registry's time of the push for a base built in-house", async () => {
      const env = await seeded();
      await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
      expect(await rootOf(env, `${REGISTRY}/ripple/busybox:1`, busyboxB.digest)).toEqual(pushRoot(`${REGISTRY}/ripple/busybox:1`, busyboxB.digest, "2026-11-23T09:10:00Z", null));
    });

    it("is the first sighting upstream when the pushed digest was brought in by the watcher", async () => {
      const env = await seeded();
      await env.store.putPatchOrigin({ registry: REGISTRY, repository: "ripple/busybox", digest: busyboxB.digest, upstream: "docker.io/library/busybox:1", firstSeenAt: "2026-11-23T09:09:30.000Z", created: "2026-11-23T08:00:00Z", recordedAt: "2026-11-23T09:09:31.000Z" });
      await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
      expect(await rootOf(env, `${REGISTRY}/ripple/busybox:1`, busyboxB.digest)).toEqual({
        base: "docker.io/library/busybox:1",
        digest: busyboxB.digest,
        availableAt: "2026-11-23T09:09:30.000Z",
        source: "upstream-first-seen",
        created: "2026-11-23T08:00:00Z",
      });
    });

    it("is inherited by the next wave: a rebuilt base's campaign keeps the root's clock", async () => {
      const env = await seeded();
      await env.store.putPatchOrigin({ registry: REGISTRY, repository: "ripple/busybox", digest: busyboxB.digest, upstream: "docker.io/library/busybox:1", firstSeenAt: "2026-11-23T09:09:30.000Z", created: null, recordedAt: "2026-11-23T09:09:31.000Z" });
      await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
      env.registry.put("ripple/company", companyB);
      await deliver(env, pushEvent("ripple/company", "1", companyB.digest, "2026-11-23T09:20:00Z"));
      const root = await rootOf(env, `${REGISTRY}/ripple/busybox:1`, busyboxB.digest);
      expect(root?.availableAt).toBe("2026-11-23T09:09:30.000Z");
      expect(await rootOf(env, `${REGISTRY}/ripple/company:1`, companyB.digest)).toEqual(root);
    });

    it("is this push's own for a rebuild by hand after the campaign's own rebuild completed it", async () => {
      const env = await seeded();
      await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
      env.registry.put("ripple/company", companyB);
      await deliver(env, pushEvent("ripple/company", "1", companyB.digest, "2026-11-23T09:20:00Z"));
      // Months later, someone rebuilds the company base on the same busybox digest.
      const companyLater = image("company-later", ["l1-patched", "l2-later"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: busyboxB.digest });
      env.registry.put("ripple/company", companyLater);
      await deliver(env, pushEvent("ripple/company", "1", companyLater.digest, "2027-06-01T00:00:00Z"));
      expect(await rootOf(env, `${REGISTRY}/ripple/company:1`, companyLater.digest)).toEqual(pushRoot(`${REGISTRY}/ripple/company:1`, companyLater.digest, "2027-06-01T00:00:00Z", null));
    });

    it("is this push's own when the pushed image's base moved in no campaign (a manual rebuild)", async () => {
      const env = await seeded();
      // The company base rebuilt by hand on the digest it was already on: no campaign of busybox A exists.
      const companyAgain = image("company-again", ["l1", "l2-rebuilt"], { [BASE_NAME]: `${REGISTRY}/ripple/busybox:1`, [BASE_DIGEST]: busyboxA.digest });
      env.registry.put("ripple/company", companyAgain);
      await deliver(env, pushEvent("ripple/company", "1", companyAgain.digest, "2026-11-23T09:40:00Z"));
      expect(await rootOf(env, `${REGISTRY}/ripple/company:1`, companyAgain.digest)).toEqual(pushRoot(`${REGISTRY}/ripple/company:1`, companyAgain.digest, "2026-11-23T09:40:00Z", null));
    });
  });

  it("opens a campaign for a base deleted and pushed again with new content, from the digest it had before", async () => {
    const env = await seeded();
    const deletion = { ...pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:05:00Z"), action: "delete" as const, id: "delete-1" };
    await deliver(env, deletion);
    expect((await env.store.getTag(REGISTRY, "ripple/busybox", "1"))?.digest).toBeNull();
    const outcome = await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    expect(outcome).toMatchObject({ kind: "processed", campaign: { created: true } });
    expect((await env.store.listCampaigns()).map((campaign) => [campaign.fromDigest, campaign.toDigest])).toEqual([[busyboxA.digest, busyboxB.digest]]);
  });

  it("opens no campaign for a base deleted and pushed again on the same digest", async () => {
    const env = await seeded();
    await deliver(env, { ...pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:05:00Z"), action: "delete" as const, id: "delete-1" });
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:10:00Z"));
    expect(await env.store.listCampaigns()).toEqual([]);
  });

  it("treats a multi-platform rebuild's per-platform scratch tag as no image of its own", async () => {
    const env = await seeded();
    const platformImage = image("web-arm64", ["l1", "l2", "l3-arm"]);
    env.registry.put("apps/web", platformImage);
    const outcome = await deliver(env, pushEvent("apps/web", "ripple-platform-0123456789abcdef-linux-arm64", platformImage.digest, "2026-11-23T09:30:00Z"));
    expect(outcome).toMatchObject({ kind: "processed", tagMoved: false, edges: [], campaign: null });
    expect(await env.store.getTag(REGISTRY, "apps/web", "ripple-platform-0123456789abcdef-linux-arm64")).toBeNull();
    expect((await env.store.listEdges()).some((edge) => edge.dependent.kind === "image" && edge.dependent.tag.startsWith("ripple-platform-"))).toBe(false);
  });

  describe("processRecordedEvents (the inline fast path)", () => {
    it("reads nothing upstream once its budget is spent: the event still running goes back to its queued copy", async () => {
      const env = createDeps();
      // An index: its children are read after it, so the event needs more than one read.
      const arm64 = image("busybox-arm64", ["l1-arm"], {}, { os: "linux", architecture: "arm64", variant: null });
      const multi = index("busybox-multi", [busyboxA, arm64]);
      for (const facts of [busyboxA, arm64, multi]) env.registry.put("ripple/busybox", facts);
      const events = [pushEvent("ripple/busybox", "1", multi.digest, "2026-11-23T09:00:00Z"), pushEvent("ripple/busybox", "2", multi.digest, "2026-11-23T09:00:01Z")];
      await recordEvents(env.deps, events, 0);
      // The first read outlasts the budget; the event's later reads would come after the answer.
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const reads: string[] = [];
      const slow = { ...env.registry, readManifest: async (repository: string, reference: string) => {
        reads.push(reference);
        if (reads.length === 1) await gate;
        return env.registry.readManifest(repository, reference);
      } };
      const deps = { ...env.deps, registryFor: (host: string) => (host === REGISTRY ? slow : null) };
      const outcome = await processRecordedEvents(deps, events.map(dedupeKey), { budgetMs: 20 });
      expect(outcome).toMatchObject({ processed: 0, leftQueued: 1, timedOut: true });
      release();
      // The cut-off event runs to its end: its next read is refused and it gives its lease back.
      await vi.waitFor(async () => expect(await env.store.getEvent(dedupeKey(events[0]!))).toMatchObject({ status: "accepted", leaseUntil: null }));
      expect(reads).toEqual([multi.digest]);
      expect((await env.store.getEvent(dedupeKey(events[1]!)))?.status).toBe("accepted");
      expect(await env.store.listCampaigns()).toEqual([]);
    });
  });
});
