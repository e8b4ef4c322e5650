/**
 * Benchmarks of the dependency graph and the layer-prefix index on synthetic data at the planned scale
 * (100k images, 1k bases, chains 4 deep). Deterministic: every run builds the same data from a fixed seed.
 */
import { pathToFileURL } from "node:url";
import type { DependencyEdge, Evidence } from "../../shared/domain/dependency.js";
import { buildDependencyGraph } from "../../shared/domain/graph.js";
import { createLayerIndex, type LayerChainEntry } from "../../shared/domain/layer-index.js";
import { createRandom } from "./random.js";

const REGISTRY = "acr.example.io";
const BASE_COUNT = 1_000;
/** Images per level of depth 1..4: 100,000 in all. */
const LEVEL_SIZES = [40_000, 30_000, 20_000, 10_000] as const;
const MANIFEST_COUNT = 100_000;
const PLATFORMS = ["linux/amd64", "linux/arm64"] as const;


/** An index below `count`, skewed towards 0 so that a few picks are very popular. */
function pickSkewed(random: () => number, count: number, skew: number): number {
  return Math.min(count - 1, Math.floor(count * random() ** skew));
}

function createDigest(random: () => number): string {
  let hex = "";
  for (let part = 0; part < 8; part += 1) hex += Math.floor(random() * 4_294_967_296).toString(16).padStart(8, "0");
  return `sha256:${hex}`;
}

function percentile(samples: readonly number[], fraction: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * fraction) - 1)] ?? 0;
}

/** Collects garbage left by data generation so it is not charged to the timed section (needs `--expose-gc`). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

interface SyntheticGraph {
  readonly edges: DependencyEdge[];
  readonly currentDigests: Map<string, string>;
  readonly bases: string[];
  readonly levelOne: string[];
}

/**
 * Bases at level 0; each image picks a skewed primary base from the level above it, a fifth of them a
 * second base from any earlier level (diamonds), a third record one edge per platform, and a tenth carry a
 * weaker Dockerfile edge next to the annotation, as ingest would record them.
 */
function generateGraph(seed: number): SyntheticGraph {
  const random = createRandom(seed);
  const bases = Array.from({ length: BASE_COUNT }, (_, index) => `${REGISTRY}/base-${index}:1`);
  const currentDigests = new Map(bases.map((base) => [base, createDigest(random)] as const));
  const levels: string[][] = [bases];
  const edges: DependencyEdge[] = [];
  const evidence: readonly Evidence[] = ["annotation", "layer-prefix", "dockerfile", "config"];
  let imageNumber = 0;
  for (const size of LEVEL_SIZES) {
    const above = levels[levels.length - 1]!;
    const level: string[] = [];
    for (let index = 0; index < size; index += 1) {
      const repository = `team-${imageNumber % 97}/app-${imageNumber}`;
      imageNumber += 1;
      const dependent = { kind: "image", registry: REGISTRY, repository, tag: "1", digest: createDigest(random) } as const;
      const chosen = [above[pickSkewed(random, above.length, 3)]!];
      if (random() < 0.2) {
        const earlier = levels[Math.floor(random() * levels.length)]!;
        chosen.push(earlier[pickSkewed(random, earlier.length, 2)]!);
      }
      const platforms = random() < 0.33 ? PLATFORMS : [null];
      for (const base of chosen) {
        const baseDigest = random() < 0.5 ? (currentDigests.get(base) ?? createDigest(random)) : createDigest(random);
        const kind = evidence[Math.floor(random() * 2)]!;
        for (const platform of platforms) {
          edges.push({ dependent, base, baseDigest, evidence: kind, detail: base, platform, recordedAt: "2024-05-01T10:00:00Z" });
        }
        if (random() < 0.1) {
          edges.push({ dependent, base, baseDigest, evidence: "dockerfile", detail: `FROM ${base}`, platform: null, recordedAt: "2024-04-01T10:00:00Z" });
        }
      }
      const key = `${REGISTRY}/${repository}:1`;
      level.push(key);
      currentDigests.set(key, dependent.digest);
    }
    levels.push(level);
  }
  return { edges, currentDigests, bases, levelOne: levels[1]! };
}

/** The impact-query figures, with the context needed to read them. */
export function measureImpactQuery(): {
  impact_query_ms: number;
  graph_build_s: number;
  edges: number;
  queries: number;
  largest_impact_nodes: number;
  median_query_ms: number;
  max_query_ms: number;
} {
  const data = generateGraph(20_240_501);
  collectGarbage();
  const buildStart = performance.now();
  const graph = buildDependencyGraph(data.edges, data.currentDigests);
  const graphBuildSeconds = (performance.now() - buildStart) / 1000;

  const directCount = new Map<string, number>();
  for (const edge of data.edges) directCount.set(edge.base, (directCount.get(edge.base) ?? 0) + 1);
  const busiest = [...data.bases].sort((a, b) => (directCount.get(b) ?? 0) - (directCount.get(a) ?? 0)).slice(0, 10);
  const random = createRandom(7);
  const others = Array.from({ length: 20 }, () => data.bases[Math.floor(random() * data.bases.length)]!);
  const images = Array.from({ length: 10 }, () => data.levelOne[Math.floor(random() * data.levelOne.length)]!);
  const keys = [...busiest, ...others, ...images];

  let largest = 0;
  for (const key of keys) {
    const impact = graph.impact(key);
    largest = Math.max(largest, impact.waves.reduce((total, wave) => total + wave.length, 0));
  }
  const samples: number[] = [];
  collectGarbage();
  for (let repeat = 0; repeat < 5; repeat += 1) {
    for (const key of keys) {
      const start = performance.now();
      graph.impact(key);
      samples.push(performance.now() - start);
    }
  }
  return {
    impact_query_ms: round(percentile(samples, 0.95), 3),
    graph_build_s: round(graphBuildSeconds, 3),
    edges: data.edges.length,
    queries: samples.length,
    largest_impact_nodes: largest,
    median_query_ms: round(percentile(samples, 0.5), 3),
    max_query_ms: round(Math.max(...samples), 3),
  };
}

/**
 * Builds a synthetic graph of 100,000 images on 1,000 bases, 4 deep, then reports the p95 in milliseconds
 * of impact queries on the 10 busiest bases, 20 other bases and 10 images (5 rounds after a warm-up).
 */
export function benchImpactQuery(): { impact_query_ms: number } {
  return { impact_query_ms: measureImpactQuery().impact_query_ms };
}

/**
 * A forest of manifests: 50 OS roots of 1–3 layers, and every later manifest extends a skewed pick of an
 * earlier one by 1–3 layers (more when needed to reach 3), never past 12, on its parent's platform.
 */
function generateManifests(seed: number): LayerChainEntry[] {
  const random = createRandom(seed);
  const manifests: LayerChainEntry[] = [];
  for (let index = 0; index < MANIFEST_COUNT; index += 1) {
    let layers: string[] = [];
    let platform: string | null = PLATFORMS[index % 2]!;
    if (index >= 50) {
      let parent = manifests[pickSkewed(random, manifests.length, 3)]!;
      while (parent.layers.length > 11) parent = manifests[Math.floor(random() * 50)]!;
      layers = [...parent.layers];
      platform = parent.platform;
    }
    const target = Math.min(12, Math.max(3, layers.length + 1 + Math.floor(random() * 3)));
    const grow = index < 50 ? 1 + Math.floor(random() * 3) : target - layers.length;
    for (let added = 0; added < grow; added += 1) layers.push(createDigest(random));
    manifests.push({ base: `${REGISTRY}/image-${index}:1`, digest: createDigest(random), platform, layers });
  }
  return manifests;
}

/** The layer-index figures, with the context needed to read them. */
export function measureLayerIndex(): { layer_index_build_s: number; layer_index_match_s: number; manifests: number; layers: number; matched: number } {
  const manifests = generateManifests(20_240_502);
  collectGarbage();
  const buildStart = performance.now();
  const index = createLayerIndex(manifests);
  const buildSeconds = (performance.now() - buildStart) / 1000;

  let matched = 0;
  collectGarbage();
  const matchStart = performance.now();
  for (const manifest of manifests) {
    if (index.match(manifest.layers, manifest.platform, { exclude: manifest.digest }) !== null) matched += 1;
  }
  const matchSeconds = (performance.now() - matchStart) / 1000;
  return {
    layer_index_build_s: round(buildSeconds, 3),
    layer_index_match_s: round(matchSeconds, 3),
    manifests: index.size(),
    layers: manifests.reduce((total, manifest) => total + manifest.layers.length, 0),
    matched,
  };
}

/** Indexes 100,000 synthetic manifests of 3–12 layers sharing base prefixes, then matches every one of them. */
export function benchLayerIndexBuild(): { layer_index_build_s: number; layer_index_match_s: number } {
  const { layer_index_build_s, layer_index_match_s } = measureLayerIndex();
  return { layer_index_build_s, layer_index_match_s };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify({ ...measureImpactQuery(), ...measureLayerIndex() }, null, 2));
}
