import { campaignId, earliestRoot, pushRoot, type PatchRoot } from "../domain/campaign.js";
import type { DependencyEdge } from "../domain/dependency.js";
import { tagKey } from "../domain/image-ref.js";
import type { StateStore } from "../ports/state-store.js";

/** The tag move whose campaign needs a root. */
export interface RootedMove {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  /** The registry's time of the push. */
  readonly pushedAt: string;
  /** The pushed image's config `created` time, when known. */
  readonly created: string | null;
}

/**
 * The root the campaign of a base tag moving to `move.digest` carries, by the first rule that applies:
 * 1. the digest is a patch brought in from upstream (a mirror push, or the upstream tag itself): its
 *    first sighting by the watcher;
 * 2. the pushed image is a rebuild a campaign asked for: a campaign of one of its base edges has an
 *    obligation for this image that this digest completed (or that is still open): the earliest root of
 *    those, so a cascade never restarts the clock. An image rebuilt by hand on a base whose campaign it
 *    had nothing to do with keeps its own clock;
 * 3. otherwise the registry's time of this push (a base built in-house).
 * Read only; deterministic for a replayed event.
 */
export async function patchRootOf(store: StateStore, move: RootedMove, edges: readonly DependencyEdge[]): Promise<PatchRoot> {
  const origin = await store.getPatchOrigin(move.registry, move.repository, move.digest);
  if (origin !== null) {
    return { base: origin.upstream, digest: move.digest, availableAt: origin.firstSeenAt, source: "upstream-first-seen", created: origin.created };
  }
  const self = tagKey(move.registry, move.repository, move.tag);
  const seen = new Set<string>();
  const inherited: Array<PatchRoot | undefined> = [];
  for (const edge of edges) {
    const id = campaignId(edge.base, edge.baseDigest);
    if (seen.has(id)) continue;
    seen.add(id);
    const found = await store.getCampaign(id);
    const obligation = found?.obligations.find((candidate) => candidate.dependentKey === self);
    const asked = obligation !== undefined && (obligation.state === "pending" || obligation.state === "scheduled" || (obligation.state === "done" && obligation.doneWith === move.digest));
    if (asked) inherited.push(found?.campaign.root);
  }
  return earliestRoot(inherited) ?? pushRoot(self, move.digest, move.pushedAt, move.created);
}
