import { describe, expect, it } from "vitest";
import { createLayerIndex, type LayerChainEntry, type LayerMatch, type LayerMatchAll } from "../../../shared/domain/layer-index.js";

const ALPINE = "docker.io/library/alpine:3.20";
const COMPANY = "acr.example.io/company-base:1";
const COMPANY_LTS = "acr.example.io/company-base:lts";
const NODE = "acr.example.io/node-base:20";

const layer = (name: string): string => `sha256:${name}`;
const chain = (...names: string[]): string[] => names.map(layer);

const alpineAmd: LayerChainEntry = { base: ALPINE, digest: "sha256:alpine-amd64", platform: "linux/amd64", layers: chain("a1") };
const alpineArm: LayerChainEntry = { base: ALPINE, digest: "sha256:alpine-arm64", platform: "linux/arm64", layers: chain("a1-arm") };
const company: LayerChainEntry = { base: COMPANY, digest: "sha256:company", platform: "linux/amd64", layers: chain("a1", "c1") };
// Another tag of the same manifest: the same chain under a base key that sorts later.
const companyLts: LayerChainEntry = { base: COMPANY_LTS, digest: "sha256:company", platform: "linux/amd64", layers: chain("a1", "c1") };
const node: LayerChainEntry = { base: NODE, digest: "sha256:node", platform: null, layers: chain("a1", "c1", "n1", "n2") };

const entries = [node, companyLts, alpineArm, company, alpineAmd];

describe("match", () => {
  const cases: Array<[string, string[], string | null, { exclude?: string; excludeBase?: string }, LayerMatch | null]> = [
    ["the longest known chain wins", chain("a1", "c1", "n1", "n2", "app"), "linux/amd64", {}, { entry: node, sharedLayers: 4 }],
    ["a chain that leaves a longer base part-way", chain("a1", "c1", "n1", "x"), "linux/amd64", {}, { entry: company, sharedLayers: 2 }],
    ["only a proper prefix: equal layers are the base itself", chain("a1", "c1"), "linux/amd64", {}, { entry: alpineAmd, sharedLayers: 1 }],
    ["the platform must agree", chain("a1-arm", "x"), "linux/arm64", {}, { entry: alpineArm, sharedLayers: 1 }],
    ["another platform's chain does not match", chain("a1-arm", "x"), "linux/amd64", {}, null],
    ["an image with no platform matches any", chain("a1-arm", "x"), null, {}, { entry: alpineArm, sharedLayers: 1 }],
    ["a base with no platform matches any", chain("a1", "c1", "n1", "n2", "x"), "linux/s390x", {}, { entry: node, sharedLayers: 4 }],
    ["ties go to the base tag that sorts first", chain("a1", "c1", "x"), "linux/amd64", {}, { entry: company, sharedLayers: 2 }],
    ["exclude the image's own digest, falling back to a shorter chain", chain("a1", "c1", "x"), "linux/amd64", { exclude: "sha256:company" }, { entry: alpineAmd, sharedLayers: 1 }],
    ["exclude an unrelated digest changes nothing", chain("a1", "c1", "x"), "linux/amd64", { exclude: "sha256:node" }, { entry: company, sharedLayers: 2 }],
    ["exclude the image's own tag: another tag of the same chain wins", chain("a1", "c1", "x"), "linux/amd64", { excludeBase: COMPANY }, { entry: companyLts, sharedLayers: 2 }],
    ["exclude the image's own tag (an earlier digest of it), falling back to a shorter chain", chain("a1", "c1", "n1", "n2", "x"), "linux/amd64", { excludeBase: NODE }, { entry: company, sharedLayers: 2 }],
    ["no shared first layer", chain("z", "a1", "c1"), "linux/amd64", {}, null],
    ["a single layer has no proper prefix", chain("a1"), "linux/amd64", {}, null],
    ["no layers", [], null, {}, null],
  ];

  it.each(cases)("%s", (_name, layers, platform, options, expected) => {
    expect(createLayerIndex(entries).match(layers, platform, options)).toEqual(expected);
  });
});

describe("matchAll", () => {
  const cases: Array<[string, string[], string | null, { exclude?: string; excludeBase?: string }, LayerMatchAll | null]> = [
    ["every tag of the longest chain, sorted by base", chain("a1", "c1", "x"), "linux/amd64", {}, { entries: [company, companyLts], sharedLayers: 2 }],
    ["one entry", chain("a1", "c1", "n1", "n2", "x"), "linux/amd64", {}, { entries: [node], sharedLayers: 4 }],
    ["excluded entries are left out", chain("a1", "c1", "x"), "linux/amd64", { exclude: "sha256:company" }, { entries: [alpineAmd], sharedLayers: 1 }],
    ["the excluded tag's entries are left out, its other tags kept", chain("a1", "c1", "x"), "linux/amd64", { excludeBase: COMPANY }, { entries: [companyLts], sharedLayers: 2 }],
    ["nothing", chain("q", "r"), null, {}, null],
  ];

  it.each(cases)("%s", (_name, layers, platform, options, expected) => {
    expect(createLayerIndex(entries).matchAll(layers, platform, options)).toEqual(expected);
  });

  it("lists the platforms of one base on one chain, null platform first", () => {
    const any: LayerChainEntry = { base: ALPINE, digest: "sha256:any", platform: null, layers: chain("m") };
    const arm: LayerChainEntry = { base: ALPINE, digest: "sha256:arm", platform: "linux/arm64", layers: chain("m") };
    const amd: LayerChainEntry = { base: ALPINE, digest: "sha256:amd", platform: "linux/amd64", layers: chain("m") };
    const index = createLayerIndex([arm, amd, any]);
    expect({ all: index.matchAll(chain("m", "x"), null), arm: index.matchAll(chain("m", "x"), "linux/arm64") }).toEqual({
      all: { entries: [any, amd, arm], sharedLayers: 1 },
      arm: { entries: [any, arm], sharedLayers: 1 },
    });
  });
});

describe("add and size", () => {
  it("re-adding the same base, digest and platform is a no-op", () => {
    const index = createLayerIndex(entries);
    index.add({ ...company, layers: chain("other") });
    index.add(company);
    expect({ size: index.size(), match: index.matchAll(chain("a1", "c1", "x"), "linux/amd64") }).toEqual({
      size: 5,
      match: { entries: [company, companyLts], sharedLayers: 2 },
    });
  });

  it("counts the same digest on another platform or tag as a new entry, and an empty chain that never matches", () => {
    const index = createLayerIndex();
    index.add(company);
    index.add({ ...company, platform: null });
    index.add(companyLts);
    index.add({ base: "acr.example.io/scratch:1", digest: "sha256:empty", platform: null, layers: [] });
    expect({ size: index.size(), match: index.match(chain("x"), null) }).toEqual({ size: 4, match: null });
  });

  it("an entry added after a longer one sharing its prefix is found", () => {
    const index = createLayerIndex([node]);
    index.add(company);
    expect(index.match(chain("a1", "c1", "n1", "x"), "linux/amd64")).toEqual({ entry: company, sharedLayers: 2 });
  });
});

describe("many bases", () => {
  const count = 2_000;
  const bases = Array.from(
    { length: count },
    (_, index): LayerChainEntry => ({
      base: `acr.example.io/base-${String(index).padStart(4, "0")}:1`,
      digest: `sha256:base-${index}`,
      platform: "linux/amd64",
      layers: chain("os", `lib-${index % 40}`, `base-${index}`),
    }),
  );
  const index = createLayerIndex(bases);

  it.each([
    ["a base's own chain extended", chain("os", "lib-7", "base-1207", "app"), { entry: bases[1207], sharedLayers: 3 }],
    ["a library layer shared by 50 bases, none of which is a prefix", chain("os", "lib-7", "other", "app"), null],
    ["a base with the right layers under another library", chain("os", "lib-8", "base-1207", "app"), null],
  ])("%s", (_name, layers, expected) => {
    expect(index.match(layers, "linux/amd64")).toEqual(expected);
  });

  it("matches every base's extension to that base", () => {
    const matched = bases.map((entry) => index.match([...entry.layers, layer("app")], "linux/amd64")?.entry.base ?? null);
    expect({ size: index.size(), matched }).toEqual({ size: count, matched: bases.map((entry) => entry.base) });
  });
});

describe("order and identity of entries on one chain", () => {
  const on = (base: string, digest: string, platform: string | null): LayerChainEntry => ({ base, digest, platform, layers: chain("m") });
  const image = chain("m", "x");

  it.each([
    ["bases added from the one that sorts last", [on(ALPINE, "sha256:1", null), on(COMPANY, "sha256:1", null), on(NODE, "sha256:1", null)]],
    ["bases added from the middle one", [on(NODE, "sha256:1", null), on(COMPANY, "sha256:1", null), on(ALPINE, "sha256:1", null)]],
    ["bases added from the one that sorts first", [on(COMPANY, "sha256:1", null), on(NODE, "sha256:1", null), on(ALPINE, "sha256:1", null)]],
  ])("sorts by base: %s", (_, added) => {
    expect(createLayerIndex(added).matchAll(image, null)?.entries.map((entry) => entry.base)).toEqual([COMPANY, NODE, ALPINE]);
  });

  it.each([
    ["platforms added in order", [null, "linux/amd64", "linux/arm64"]],
    ["platforms added in reverse", ["linux/arm64", "linux/amd64", null]],
  ])("sorts one base by platform, none first: %s", (_, platforms) => {
    const added = platforms.map((platform) => on(ALPINE, `sha256:${platform ?? "any"}`, platform));
    expect(createLayerIndex(added).matchAll(image, null)?.entries.map((entry) => entry.platform)).toEqual([null, "linux/amd64", "linux/arm64"]);
  });

  it.each([
    ["without a platform", null],
    ["on one platform", "linux/amd64"],
  ])("sorts one base's digests %s by digest", (_, platform) => {
    const added = ["sha256:1", "sha256:2", "sha256:3"].map((digest) => on(ALPINE, digest, platform));
    expect([added, [...added].reverse()].map((entries) => createLayerIndex(entries).matchAll(image, null)?.entries.map((entry) => entry.digest))).toEqual([
      ["sha256:1", "sha256:2", "sha256:3"],
      ["sha256:1", "sha256:2", "sha256:3"],
    ]);
  });

  it("counts one digest of one base on two platforms as two entries", () => {
    const index = createLayerIndex([on(ALPINE, "sha256:1", "linux/amd64"), on(ALPINE, "sha256:1", "linux/arm64")]);
    expect({ size: index.size(), platforms: index.matchAll(image, null)?.entries.map((entry) => entry.platform) }).toEqual({ size: 2, platforms: ["linux/amd64", "linux/arm64"] });
  });
});

describe("chains that only share layers out of order", () => {
  it.each([
    ["a known layer first that starts no chain", chain("c1", "a1", "x")],
    ["a base's layers in another order", chain("c1", "a1", "n1", "n2", "x")],
  ])("match nothing: %s", (_, layers) => {
    expect(createLayerIndex(entries).match(layers, "linux/amd64")).toBeNull();
  });

  it("keeps every chain through the growth of its tables", () => {
    const many = Array.from({ length: 3_000 }, (_, index): LayerChainEntry => ({ base: `acr.example.io/b-${index}:1`, digest: `sha256:${index}`, platform: null, layers: chain("root", `l-${index}`) }));
    const index = createLayerIndex(many);
    expect(many.map((entry) => index.match([...entry.layers, layer("app")], null)?.entry.base ?? null)).toEqual(many.map((entry) => entry.base));
  });
});
