import { splitTagKey } from "../domain/image-ref.js";
import type { StateStore } from "../ports/state-store.js";

/**
 * The tag of `registry/repository` that points (or pointed) at `digest`, itself or as an index child:
 * the current holder first, else the newest past one. Null when no tag ever held it.
 */
export async function tagHolding(store: StateStore, registry: string, repository: string, digest: string): Promise<string | null> {
  const tags = await store.listTags({ registry, repository });
  const holds = async (candidate: string): Promise<boolean> => {
    if (candidate === digest) return true;
    const stored = await store.getManifest(registry, candidate);
    return stored?.facts.kind === "index" && stored.facts.children.some((child) => child.digest === digest);
  };
  for (const tag of tags) if (tag.digest !== null && (await holds(tag.digest))) return tag.tag;
  let best: { tag: string; at: string } | null = null;
  for (const tag of tags) {
    for (const entry of tag.history) {
      if ((best === null || entry.at > best.at) && (await holds(entry.digest))) best = { tag: tag.tag, at: entry.at };
    }
  }
  return best?.tag ?? null;
}

/**
 * A per-platform base digest (what buildah writes in a multi-platform build) resolved to the digest
 * the base tag pointed at (its index), so it compares with the tag's history.
 */
export async function resolveTagDigest(store: StateStore, base: string, digest: string): Promise<string> {
  const parts = splitTagKey(base);
  if (parts === null) return digest;
  const state = await store.getTag(parts.registry, parts.repository, parts.tag);
  if (state === null) return digest;
  for (const entry of [...state.history].reverse()) {
    if (entry.digest === digest) return digest;
    const stored = await store.getManifest(parts.registry, entry.digest);
    if (stored?.facts.kind === "index" && stored.facts.children.some((child) => child.digest === digest)) return entry.digest;
  }
  return digest;
}
