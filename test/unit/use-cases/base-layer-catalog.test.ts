import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { createBaseLayerCatalog } from "../../../shared/use-cases/base-layer-catalog.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { REGISTRY, image } from "./pipeline-helpers.js";

describe("the base layer catalog", () => {
  it("loads the layer chains of a mirrored base's tags from its mirror repository", async () => {
    const config = parseConfig(JSON.stringify({
      version: 1,
      registries: [{ host: REGISTRY, kind: "distribution" }],
      upstream: { registries: [{ host: "docker.io" }] },
      bases: [{ image: "docker.io/library/busybox", tags: ["1"], mirror: `${REGISTRY}/mirror/busybox` }],
    }));
    const store = createMemoryStateStore();
    const busybox = image("busybox", ["b1", "b2"]);
    const other = image("other", ["o1"]);
    await store.putManifest({ registry: REGISTRY, repository: "mirror/busybox", facts: busybox });
    await store.moveTag(REGISTRY, "mirror/busybox", "1", busybox.digest, "2026-11-26T12:00:00Z");
    // A tag no pattern names stays out of the index.
    await store.putManifest({ registry: REGISTRY, repository: "mirror/busybox", facts: other });
    await store.moveTag(REGISTRY, "mirror/busybox", "edge", other.digest, "2026-11-26T12:00:00Z");
    const index = await createBaseLayerCatalog({ store, config }).index();
    const derived = image("derived", ["b1", "b2", "d1"]);
    expect(index.matchAll(derived.diffIds, "linux/amd64", { exclude: derived.digest })?.entries.map((entry) => [entry.base, entry.digest])).toEqual([[`${REGISTRY}/mirror/busybox:1`, busybox.digest]]);
    expect(index.matchAll(image("x", ["o1", "x1"]).diffIds, "linux/amd64", {})).toBeNull();
  });
});
