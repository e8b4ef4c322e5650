/** Where to read the build log of one rebuild obligation: a link signed now, or the local log file. */
import type { StateStore } from "../ports/state-store.js";
import type { ImageBuilder } from "../ports/image-builder.js";
import { runKey } from "../ports/state-store.js";

export type RunLogs =
  | { readonly kind: "link"; readonly url: string }
  | { readonly kind: "file"; readonly path: string };

export interface RunLogsDeps {
  readonly store: StateStore;
  readonly builderFor: (registry: string) => { readonly builder: ImageBuilder } | null;
}

/**
 * The log of the rebuild that answers the obligation (campaign, dependent): the run of (image, the
 * campaign's new base digest), its durable log reference, and the builder's link made now (ACR: a short-
 * lived SAS link, never stored) or the local file. Null when there is no such campaign, run or log.
 * @throws the store's and the builder's retryable errors.
 */
export async function runLogs(deps: RunLogsDeps, campaignId: string, dependentKey: string): Promise<RunLogs | null> {
  const [obligation, campaign] = await Promise.all([deps.store.getObligation(campaignId, dependentKey), deps.store.getCampaign(campaignId)]);
  if (obligation === null || campaign === null || obligation.dependent.kind !== "image") return null;
  const registry = obligation.dependent.registry;
  const run = await deps.store.getRun(registry, runKey(dependentKey, campaign.campaign.toDigest));
  if (run === null || run.logsUrl === null) return null;
  const builder = deps.builderFor(registry)?.builder;
  const link = builder === undefined ? null : await builder.signLogs(run.logsUrl);
  if (link === null) return null;
  return /^https:\/\//.test(link) ? { kind: "link", url: link } : { kind: "file", path: link };
}
