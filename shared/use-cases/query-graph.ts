import { dependentKey } from "../domain/dependency.js";
import { buildDependencyGraph, type DependencyGraph, type Impact, type Lineage, type OutdatedEntry } from "../domain/graph.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import { ValidationError } from "../errors.js";
import type { StateStore } from "../ports/state-store.js";

/** The graph as stored: every edge and every tag's current digest. Reads the whole edge table. */
export async function loadDependencyGraph(store: StateStore): Promise<{ graph: DependencyGraph; current: Map<string, string> }> {
  const [edges, tags] = await Promise.all([store.listEdges(), store.listTags()]);
  const current = new Map<string, string>();
  for (const tag of tags) if (tag.digest !== null) current.set(tagKey(tag.registry, tag.repository, tag.tag), tag.digest);
  return { graph: buildDependencyGraph(edges, current), current };
}

/** Normalizes an image argument (`alpine:3.20`, `127.0.0.1:5000/apps/web:1`) to its graph key. */
export function imageKeyOf(text: string): string {
  const parsed = parseImageRef(text);
  if (!parsed.ok) throw new ValidationError(`image: ${parsed.reason}`, [{ path: "image", message: parsed.reason }]);
  return tagKey(parsed.value.registry, parsed.value.repository, parsed.value.tag ?? "latest");
}

export interface GraphReport {
  readonly tags: { key: string; digest: string }[];
  readonly edges: { dependent: string; base: string; baseDigest: string; evidence: string; detail: string; platform: string | null; upToDate: boolean }[];
  readonly cycles: string[][];
}

/** The whole graph for `ripple graph`: tags with their digests, edges with evidence, cycles. */
export async function describeGraph(store: StateStore): Promise<GraphReport> {
  const edges = await store.listEdges();
  const { graph, current } = await loadDependencyGraph(store);
  return {
    tags: [...current.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, digest]) => ({ key, digest })),
    edges: edges
      .map((edge) => ({
        dependent: dependentKey(edge.dependent),
        base: edge.base,
        baseDigest: edge.baseDigest,
        evidence: edge.evidence,
        detail: edge.detail,
        platform: edge.platform,
        upToDate: current.get(edge.base) === edge.baseDigest,
      }))
      .sort((a, b) => (a.dependent + a.base + (a.platform ?? "") < b.dependent + b.base + (b.platform ?? "") ? -1 : 1)),
    cycles: graph.cycles(),
  };
}

export async function impactOf(store: StateStore, image: string): Promise<{ base: string; currentDigest: string | null; impact: Impact }> {
  const key = imageKeyOf(image);
  const { graph, current } = await loadDependencyGraph(store);
  return { base: key, currentDigest: current.get(key) ?? null, impact: graph.impact(key) };
}

export async function lineageOf(store: StateStore, image: string): Promise<{ image: string; digest: string | null; lineage: Lineage }> {
  const key = imageKeyOf(image);
  const { graph, current } = await loadDependencyGraph(store);
  return { image: key, digest: current.get(key) ?? null, lineage: graph.lineage(key) };
}

export async function outdatedImages(store: StateStore): Promise<OutdatedEntry[]> {
  const { graph } = await loadDependencyGraph(store);
  return graph.outdated();
}
