import { describe, expect, it } from "vitest";
import { parseConfig, type RippleConfig } from "../../../shared/config.js";
import type { ImageManifestFacts } from "../../../shared/domain/image-facts.js";
import type { LayerIndex } from "../../../shared/domain/layer-index.js";
import type { StateStore } from "../../../shared/ports/state-store.js";
import { createBaseLayerCatalog } from "../../../shared/use-cases/base-layer-catalog.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { REGISTRY, image } from "./pipeline-helpers.js";

const config = parseConfig(JSON.stringify({
  version: 1,
  registries: [{ host: REGISTRY, kind: "distribution" }],
  bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["1"] }],
}));

/** A memory store that counts the reads the catalog's load makes. */
function countingStore() {
  const store = createMemoryStateStore();
  const reads = { listTags: [] as unknown[], getManifest: 0 };
  const counting: StateStore = {
    ...store,
    listTags: async (filter) => {
      reads.listTags.push(filter);
      return store.listTags(filter);
    },
    getManifest: async (registry, digest) => {
      reads.getManifest += 1;
      return store.getManifest(registry, digest);
    },
  };
  return { store: counting, reads };
}

async function push(store: StateStore, repository: string, tag: string, facts: ImageManifestFacts, at: string) {
  await store.putManifest({ registry: REGISTRY, repository, facts });
  await store.moveTag(REGISTRY, repository, tag, facts.digest, at);
}

/** The (tag, digest) pairs an image with these layers (plus one of its own) matches. */
async function basesOf(catalog: { index(): Promise<LayerIndex> }, layers: string[]) {
  const derived = image(`derived-${layers.join("-")}`, [...layers, "own"]);
  const match = (await catalog.index()).matchAll(derived.diffIds, "linux/amd64", { exclude: derived.digest });
  return match?.entries.map((entry) => [entry.base, entry.digest]) ?? null;
}

describe("the base layer catalog", () => {
  it("loads the layer chains of a mirrored base's tags from its mirror repository, and of its other tags", async () => {
    const mirrored: RippleConfig = parseConfig(JSON.stringify({
      version: 1,
      registries: [{ host: REGISTRY, kind: "distribution" }],
      upstream: { registries: [{ host: "docker.io" }] },
      bases: [{ image: "docker.io/library/busybox", tags: ["1"], mirror: `${REGISTRY}/mirror/busybox` }],
    }));
    const store = createMemoryStateStore();
    const busybox = image("busybox", ["b1", "b2"]);
    const other = image("other", ["o1"]);
    await push(store, "mirror/busybox", "1", busybox, "2026-11-26T12:00:00Z");
    // A tag no pattern names is no tracked base, but it may still be the base of something.
    await push(store, "mirror/busybox", "edge", other, "2026-11-26T12:00:00Z");
    const catalog = createBaseLayerCatalog({ store, config: mirrored });
    expect(await basesOf(catalog, ["b1", "b2"])).toEqual([[`${REGISTRY}/mirror/busybox:1`, busybox.digest]]);
    expect(await basesOf(catalog, ["o1"])).toEqual([[`${REGISTRY}/mirror/busybox:edge`, other.digest]]);
  });

  it("indexes the current digest of every tag, tracked or not, so a company base is found by its layers", async () => {
    const store = createMemoryStateStore();
    const busybox = image("busybox", ["b1"]);
    const company = image("company", ["b1", "c1"]);
    await push(store, "ripple/busybox", "1", busybox, "2026-11-26T12:00:00Z");
    await push(store, "company/base", "1", company, "2026-11-26T12:01:00Z");
    const catalog = createBaseLayerCatalog({ store, config });
    expect(await basesOf(catalog, ["b1", "c1"])).toEqual([[`${REGISTRY}/company/base:1`, company.digest]]);
    expect(await basesOf(catalog, ["b1"])).toEqual([[`${REGISTRY}/ripple/busybox:1`, busybox.digest]]);
  });

  it("keeps the history of tracked bases and of tags with dependents, and reads only the current digest of the others, from one tag scan", async () => {
    const { store, reads } = countingStore();
    const [busyboxA, busyboxB] = [image("busybox-a", ["b1"]), image("busybox-b", ["b1p"])];
    const [companyA, companyB] = [image("company-a", ["b1", "c1"]), image("company-b", ["b1p", "c1"])];
    const [toolA, toolB] = [image("tool-a", ["b1", "t1"]), image("tool-b", ["b1", "t2"])];
    const web = image("web", ["b1", "c1", "w1"]);
    await push(store, "ripple/busybox", "1", busyboxA, "2026-11-26T12:00:00Z");
    await push(store, "ripple/busybox", "1", busyboxB, "2026-11-26T12:10:00Z");
    await push(store, "company/base", "1", companyA, "2026-11-26T12:01:00Z");
    await push(store, "company/base", "1", companyB, "2026-11-26T12:11:00Z");
    await push(store, "apps/tool", "1", toolA, "2026-11-26T12:02:00Z");
    await push(store, "apps/tool", "1", toolB, "2026-11-26T12:12:00Z");
    await push(store, "apps/web", "1", web, "2026-11-26T12:03:00Z");
    await store.putEdge({
      dependent: { kind: "image", registry: REGISTRY, repository: "apps/web", tag: "1", digest: web.digest },
      base: `${REGISTRY}/company/base:1`, baseDigest: companyA.digest, evidence: "layer-prefix", detail: "", platform: "linux/amd64", recordedAt: "2026-11-26T12:03:00Z",
    });
    const catalog = createBaseLayerCatalog({ store, config });
    // A late dependent built on the company base's old digest still finds it; a tool's old digest is forgotten.
    expect(await basesOf(catalog, ["b1", "c1"])).toEqual([[`${REGISTRY}/company/base:1`, companyA.digest]]);
    expect(await basesOf(catalog, ["b1p", "c1"])).toEqual([[`${REGISTRY}/company/base:1`, companyB.digest]]);
    expect(await basesOf(catalog, ["b1"])).toEqual([[`${REGISTRY}/ripple/busybox:1`, busyboxA.digest]]);
    expect(await basesOf(catalog, ["b1", "t1"])).toEqual([[`${REGISTRY}/ripple/busybox:1`, busyboxA.digest]]);
    expect(await basesOf(catalog, ["b1", "t2"])).toEqual([[`${REGISTRY}/apps/tool:1`, toolB.digest]]);
    // busybox 2 + company 2 + tool 1 + web 1 manifests.
    expect(reads).toEqual({ listTags: [undefined], getManifest: 6 });
  });

  it("never indexes a multi-platform rebuild's per-platform scratch tag", async () => {
    const store = createMemoryStateStore();
    const scratch = image("web-arm64", ["b1", "w1"]);
    await push(store, "apps/web", "ripple-platform-0123456789abcdef-linux-arm64", scratch, "2026-11-26T12:00:00Z");
    const catalog = createBaseLayerCatalog({ store, config });
    catalog.add(`${REGISTRY}/apps/web:ripple-platform-fedcba9876543210-linux-amd64`, scratch.digest, [scratch]);
    expect(await basesOf(catalog, ["b1", "w1"])).toBeNull();
    catalog.add(`${REGISTRY}/apps/web:ripple-platform-fedcba9876543210-linux-amd64`, scratch.digest, [scratch]);
    expect(await basesOf(catalog, ["b1", "w1"])).toBeNull();
  });

  it("ignores tags of a registry that is not configured", async () => {
    const store = createMemoryStateStore();
    const elsewhere = image("elsewhere", ["e1"]);
    await store.putManifest({ registry: "other.test", repository: "x", facts: elsewhere });
    await store.moveTag("other.test", "x", "1", elsewhere.digest, "2026-11-26T12:00:00Z");
    expect(await basesOf(createBaseLayerCatalog({ store, config }), ["e1"])).toBeNull();
  });
});
