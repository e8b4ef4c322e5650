import { isTrackedBaseTag, type RippleConfig } from "../config.js";
import type { ImageManifestFacts } from "../domain/image-facts.js";
import { formatPlatform } from "../domain/image-facts.js";
import { tagKey } from "../domain/image-ref.js";
import { createLayerIndex, type LayerChainEntry, type LayerIndex } from "../domain/layer-index.js";
import { isScratchTag } from "../domain/scratch-tag.js";
import type { StateStore, TagState } from "../ports/state-store.js";

/**
 * The layer chains of every tagged image Ripple has seen in the configured registries, as a
 * {@link LayerIndex}: the current digest of every tag, plus every digest a tracked base tag or a tag with
 * dependents has pointed at. Any tag can be a base (a company base built on a tracked one is found by its
 * layers alone, without OCI base annotations), so matching an image costs O(its layers) whatever the
 * number of tags. Loaded from the state store once (one scan of the tags and one of the edges, then the
 * stored manifests of the digests kept), then kept current in memory as tags are pushed; reloaded after
 * `maxAgeMs` so several instances converge. Per-platform scratch tags are never indexed.
 */
export interface BaseLayerCatalog {
  /** The index, loading it from the store when missing or stale. */
  index(): Promise<LayerIndex>;
  /** Adds the platform manifests of one digest of a tag (`registry/repository:tag`). Idempotent. */
  add(base: string, digest: string, manifests: readonly ImageManifestFacts[]): void;
}

export function entriesFor(base: string, digest: string, manifests: readonly ImageManifestFacts[]): LayerChainEntry[] {
  return manifests
    .filter((manifest) => manifest.diffIds.length > 0)
    .map((manifest) => ({ base, digest, platform: formatPlatform(manifest.platform), layers: manifest.diffIds }));
}

/** How many tags' manifests are read at once while loading. */
const LOAD_CONCURRENCY = 16;

export function createBaseLayerCatalog(deps: { store: StateStore; config: RippleConfig; maxAgeMs?: number; now?: () => number }): BaseLayerCatalog {
  const maxAgeMs = deps.maxAgeMs ?? 60_000;
  const now = deps.now ?? Date.now;
  let loaded: { index: LayerIndex; at: number } | null = null;
  let loading: Promise<LayerIndex> | null = null;
  const pending: LayerChainEntry[] = [];

  /**
   * The digests of a tag worth indexing: its whole history when it is a tracked base or already has
   * dependents (a late dependent may be built on an older digest), else only its current digest.
   */
  function digestsToIndex(tag: TagState, withDependents: ReadonlySet<string>): string[] {
    const key = tagKey(tag.registry, tag.repository, tag.tag);
    const keepHistory = isTrackedBaseTag(deps.config, tag.registry, tag.repository, tag.tag) !== null || withDependents.has(key);
    const digests = keepHistory ? tag.history.map((entry) => entry.digest) : [];
    if (tag.digest !== null) digests.push(tag.digest);
    return [...new Set(digests)];
  }

  async function entriesOfTag(tag: TagState, withDependents: ReadonlySet<string>): Promise<LayerChainEntry[]> {
    const base = tagKey(tag.registry, tag.repository, tag.tag);
    const entries: LayerChainEntry[] = [];
    for (const digest of digestsToIndex(tag, withDependents)) {
      entries.push(...entriesFor(base, digest, await platformManifestsOf(deps.store, tag.registry, digest)));
    }
    return entries;
  }

  async function load(): Promise<LayerIndex> {
    const index = createLayerIndex();
    const registries = new Set(deps.config.registries.map((registry) => registry.host));
    const tags = (await deps.store.listTags()).filter((tag) => registries.has(tag.registry) && !isScratchTag(tag.tag));
    const withDependents = new Set((await deps.store.listEdges()).map((edge) => edge.base));
    for (let start = 0; start < tags.length; start += LOAD_CONCURRENCY) {
      const batch = tags.slice(start, start + LOAD_CONCURRENCY);
      for (const entries of await Promise.all(batch.map((tag) => entriesOfTag(tag, withDependents)))) {
        for (const entry of entries) index.add(entry);
      }
    }
    return index;
  }

  return {
    async index() {
      if (loaded === null || now() - loaded.at > maxAgeMs) {
        // One load at a time: concurrent events on a stale cache share it.
        loading ??= load().finally(() => {
          loading = null;
        });
        const index = await loading;
        if (loaded === null || loaded.index !== index) {
          loaded = { index, at: now() };
          for (const entry of pending.splice(0)) index.add(entry);
        }
      }
      return loaded.index;
    },
    add(base, digest, manifests) {
      if (isScratchTag(base.slice(base.lastIndexOf(":") + 1))) return;
      const entries = entriesFor(base, digest, manifests);
      if (loaded === null) pending.push(...entries);
      else for (const entry of entries) loaded.index.add(entry);
    },
  };
}

/** The single-platform manifests of a stored digest: itself, or an index's stored children. */
export async function platformManifestsOf(store: StateStore, registry: string, digest: string): Promise<ImageManifestFacts[]> {
  const stored = await store.getManifest(registry, digest);
  if (stored === null) return [];
  if (stored.facts.kind === "image") return [stored.facts];
  const children: ImageManifestFacts[] = [];
  for (const child of stored.facts.children) {
    const childManifest = await store.getManifest(registry, child.digest);
    if (childManifest?.facts.kind === "image") children.push(childManifest.facts);
  }
  return children;
}
