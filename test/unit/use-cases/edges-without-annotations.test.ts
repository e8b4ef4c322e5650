import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { dedupeKey } from "../../../shared/domain/registry-event.js";
import { createBaseLayerCatalog } from "../../../shared/use-cases/base-layer-catalog.js";
import { processRegistryEvent } from "../../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../../shared/use-cases/receive-notification.js";
import { createDeps, image, pushEvent, REGISTRY } from "./pipeline-helpers.js";

// Only busybox is configured: the company base is found by its layers, as when a builder (ACR Tasks,
// buildah --format docker) writes no org.opencontainers.image.base.* annotations.
const config = parseConfig(JSON.stringify({
  version: 1,
  registries: [{ host: REGISTRY, kind: "distribution" }],
  bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["1"] }],
}));

async function deliver(env: ReturnType<typeof createDeps>, event: ReturnType<typeof pushEvent>) {
  await recordEvents(env.deps, [event], 0);
  return processRegistryEvent(env.deps, dedupeKey(event));
}

async function edgesOf(env: ReturnType<typeof createDeps>) {
  return (await env.store.listEdges())
    .map((edge) => [edge.dependent.kind === "image" ? `${edge.dependent.repository}:${edge.dependent.tag}` : "", edge.base, edge.baseDigest, edge.evidence])
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe("edges without base annotations", () => {
  const busyboxA = image("busybox-a", ["l1"]);
  const busyboxB = image("busybox-b", ["l1-patched"]);
  const company = image("company", ["l1", "l2"]);
  const web = image("web", ["l1", "l2", "l3"]);

  async function seeded() {
    const env = createDeps(config);
    for (const [repository, facts] of [["ripple/busybox", busyboxA], ["ripple/busybox", busyboxB], ["company/base", company], ["apps/web", web]] as const) env.registry.put(repository, facts);
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
    await deliver(env, pushEvent("company/base", "1", company.digest, "2026-11-23T09:01:00Z"));
    await deliver(env, pushEvent("apps/web", "1", web.digest, "2026-11-23T09:02:00Z"));
    return env;
  }

  it("links an image to an untracked company base by its layers", async () => {
    const env = await seeded();
    expect(await edgesOf(env)).toEqual([
      ["apps/web:1", `${REGISTRY}/company/base:1`, company.digest, "layer-prefix"],
      ["company/base:1", `${REGISTRY}/ripple/busybox:1`, busyboxA.digest, "layer-prefix"],
    ]);
  });

  it("forms the second wave: the rebuilt company base opens a campaign for the image built on it", async () => {
    const env = await seeded();
    const rebuilt = image("company-rebuilt", ["l1-patched", "l2"]);
    env.registry.put("company/base", rebuilt);
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    await deliver(env, pushEvent("company/base", "1", rebuilt.digest, "2026-11-23T09:11:00Z"));
    const campaigns = await env.store.listCampaigns();
    expect(campaigns.map((campaign) => campaign.base).sort()).toEqual([`${REGISTRY}/company/base:1`, `${REGISTRY}/ripple/busybox:1`]);
    const second = campaigns.find((campaign) => campaign.base === `${REGISTRY}/company/base:1`)!;
    expect((await env.store.getCampaign(second.id))!.obligations.map((obligation) => obligation.dependentKey)).toEqual([`${REGISTRY}/apps/web:1`]);
  });

  it("never links an image to its own tag, even when it extends the tag's earlier digest", async () => {
    const env = await seeded();
    const grown = image("web-grown", ["l1", "l2", "l3", "l4"]);
    env.registry.put("apps/web", grown);
    const outcome = await deliver(env, pushEvent("apps/web", "1", grown.digest, "2026-11-23T09:05:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map((edge) => [edge.base, edge.baseDigest, edge.evidence])).toEqual([[`${REGISTRY}/company/base:1`, company.digest, "layer-prefix"]]);
  });

  it("prefers a tracked base over another tag with the same layers", async () => {
    const env = createDeps(config);
    const retagged = image("busybox-copy", ["l1"]);
    const tool = image("tool", ["l1", "t1"]);
    for (const [repository, facts] of [["ripple/busybox", busyboxA], ["apps/copy", retagged], ["apps/tool", tool]] as const) env.registry.put(repository, facts);
    await deliver(env, pushEvent("apps/copy", "1", retagged.digest, "2026-11-23T09:00:00Z"));
    await deliver(env, pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:01:00Z"));
    const outcome = await deliver(env, pushEvent("apps/tool", "1", tool.digest, "2026-11-23T09:02:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map((edge) => [edge.base, edge.evidence])).toEqual([[`${REGISTRY}/ripple/busybox:1`, "layer-prefix"]]);
  });

  it("links an image pushed after its company base moved to the old digest, after a reload from the store", async () => {
    const env = await seeded();
    const moved = image("company-moved", ["l1-patched", "l2"]);
    const late = image("late", ["l1", "l2", "late"]);
    env.registry.put("company/base", moved);
    env.registry.put("apps/late", late);
    await deliver(env, pushEvent("company/base", "1", moved.digest, "2026-11-23T09:20:00Z"));
    const reloaded = { ...env, deps: { ...env.deps, layers: createBaseLayerCatalog({ store: env.store, config }) } };
    const outcome = await deliver(reloaded, pushEvent("apps/late", "1", late.digest, "2026-11-23T09:21:00Z"));
    expect(outcome.kind === "processed" && outcome.edges.map((edge) => [edge.base, edge.baseDigest, edge.evidence])).toEqual([[`${REGISTRY}/company/base:1`, company.digest, "layer-prefix"]]);
  });
});
