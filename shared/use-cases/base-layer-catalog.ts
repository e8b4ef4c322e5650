import { isTrackedBaseTag, type RippleConfig } from "../config.js";
import type { ImageManifestFacts } from "../domain/image-facts.js";
import { formatPlatform } from "../domain/image-facts.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import { createLayerIndex, type LayerChainEntry, type LayerIndex } from "../domain/layer-index.js";
import type { StateStore } from "../ports/state-store.js";

/**
 * The layer chains of every digest every tracked base tag has pointed at, as a {@link LayerIndex}.
 * Loaded from the state store once, then kept current in memory as tracked bases are pushed; reloaded
 * after `maxAgeMs` so several instances converge.
 */
export interface BaseLayerCatalog {
  /** The index, loading it from the store when missing or stale. */
  index(): Promise<LayerIndex>;
  /** Adds the platform manifests of one digest of a tracked base tag. Idempotent. */
  add(base: string, digest: string, manifests: readonly ImageManifestFacts[]): void;
}

export function entriesFor(base: string, digest: string, manifests: readonly ImageManifestFacts[]): LayerChainEntry[] {
  return manifests
    .filter((manifest) => manifest.diffIds.length > 0)
    .map((manifest) => ({ base, digest, platform: formatPlatform(manifest.platform), layers: manifest.diffIds }));
}

export function createBaseLayerCatalog(deps: { store: StateStore; config: RippleConfig; maxAgeMs?: number; now?: () => number }): BaseLayerCatalog {
  const maxAgeMs = deps.maxAgeMs ?? 60_000;
  const now = deps.now ?? Date.now;
  let loaded: { index: LayerIndex; at: number } | null = null;
  let loading: Promise<LayerIndex> | null = null;
  const pending: LayerChainEntry[] = [];

  /** The tags of the tracked bases' (and their mirrors') repositories: one partition read each, not a table scan. */
  async function trackedTags() {
    const repositories = new Map<string, { registry: string; repository: string }>();
    // A mirrored base's tags are tracked in its mirror repository too.
    for (const image of deps.config.bases.flatMap((base) => (base.mirror === undefined ? [base.image] : [base.image, base.mirror]))) {
      const ref = parseImageRef(image, { defaultTag: false });
      if (ref.ok) repositories.set(`${ref.value.registry}/${ref.value.repository}`, { registry: ref.value.registry, repository: ref.value.repository });
    }
    const tags = [];
    for (const filter of repositories.values()) tags.push(...(await deps.store.listTags(filter)));
    return tags;
  }

  async function load(): Promise<LayerIndex> {
    const index = createLayerIndex();
    for (const tag of await trackedTags()) {
      if (isTrackedBaseTag(deps.config, tag.registry, tag.repository, tag.tag) === null) continue;
      const base = tagKey(tag.registry, tag.repository, tag.tag);
      for (const { digest } of tag.history) {
        const manifests = await platformManifestsOf(deps.store, tag.registry, digest);
        for (const entry of entriesFor(base, digest, manifests)) index.add(entry);
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
