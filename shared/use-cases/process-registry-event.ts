import { isTrackedBaseTag, type RippleConfig } from "../config.js";
import { campaignId, obligationKindOf, type Campaign, type Obligation } from "../domain/campaign.js";
import { dependentKey, type DependencyEdge, type Dependent } from "../domain/dependency.js";
import { finalBaseImage } from "../domain/dockerfile.js";
import {
  BASE_DIGEST_ANNOTATION,
  BASE_NAME_ANNOTATION,
  DOCKERFILE_LABEL,
  formatPlatform,
  REVISION_ANNOTATION,
  SOURCE_ANNOTATION,
  type ImageManifestFacts,
  type ManifestFacts,
} from "../domain/image-facts.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import type { RegistryEvent } from "../domain/registry-event.js";
import { AppError, isRetryable } from "../errors.js";
import type { ImageRegistry } from "../ports/image-registry.js";
import type { SourceRepositories } from "../ports/source-repository.js";
import type { StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";
import type { BaseLayerCatalog } from "./base-layer-catalog.js";

export interface ProcessDeps {
  readonly store: StateStore;
  readonly queue: WorkQueue;
  readonly config: RippleConfig;
  /** The adapter for a configured registry host; null for any other host (never contacted). */
  readonly registryFor: (host: string) => ImageRegistry | null;
  readonly layers: BaseLayerCatalog;
  /** Where the Dockerfiles of configured repositories are read from. */
  readonly sources: SourceRepositories;
  readonly now: () => Date;
}

export type ProcessOutcome =
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string }
  | {
      readonly kind: "processed";
      readonly summary: string;
      readonly tagMoved: boolean;
      readonly edges: readonly DependencyEdge[];
      readonly campaign: { readonly id: string; readonly created: boolean; readonly obligations: number } | null;
    };

/**
 * Processes one recorded registry event: reads the pushed manifest (and an index's children and
 * configs), moves the tag if the event is newer than the recorded move, re-infers the image's base
 * edges (OCI base annotations, else layer-prefix matching against tracked bases, plus configured
 * dependencies), and when a tracked base tag (or any tag with dependents) moved from A to B, opens the
 * campaign (base tag, B) with one obligation per direct dependent and queues one job per obligation.
 * Idempotent: re-processing an event changes nothing and queues only jobs not queued before.
 * @throws the retryable errors of the registry, store or queue (the queue trigger redelivers);
 * non-retryable failures are recorded on the event and returned as `failed`.
 */
export async function processRegistryEvent(deps: ProcessDeps, eventKey: string): Promise<ProcessOutcome> {
  const record = await deps.store.getEvent(eventKey);
  if (record === null || record.event === null) return { kind: "skipped", reason: `no recorded event ${eventKey}` };
  if (record.status !== "accepted") return { kind: "skipped", reason: `event already ${record.status}` };
  try {
    const outcome = record.event.action === "push" ? await processPush(deps, record.event, eventKey) : await processDelete(deps, record.event);
    await deps.store.setEventStatus(eventKey, "processed", outcome.summary);
    return outcome;
  } catch (error) {
    if (isRetryable(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    await deps.store.setEventStatus(eventKey, "failed", reason);
    return { kind: "failed", reason };
  }
}

async function processPush(deps: ProcessDeps, event: RegistryEvent, eventKey: string): Promise<Extract<ProcessOutcome, { kind: "processed" }>> {
  const digest = event.digest;
  if (event.tag === null || digest === null) {
    return { kind: "processed", summary: "untagged push: read with its tagged index or image", tagMoved: false, edges: [], campaign: null };
  }
  const registry = deps.registryFor(event.registry);
  if (registry === null) throw new AppError("registry_not_configured", `registry ${event.registry} is not configured`);

  const { root, platforms } = await readAndStore(deps, registry, event.repository, digest);
  const key = tagKey(event.registry, event.repository, event.tag);
  const move = await deps.store.moveTag(event.registry, event.repository, event.tag, root.digest, event.occurredAt);
  if (!move.applied) {
    return { kind: "processed", summary: `not applied: ${key} has a newer recorded move`, tagMoved: false, edges: [], campaign: null };
  }
  if (isTrackedBaseTag(deps.config, event.registry, event.repository, event.tag) !== null) {
    deps.layers.add(key, root.digest, platforms);
  }

  const dependent: Dependent = { kind: "image", registry: event.registry, repository: event.repository, tag: event.tag, digest: root.digest };
  const edges = await inferEdges(deps, dependent, platforms);
  await deps.store.removeEdgesOf(key);
  for (const edge of edges) await deps.store.putEdge(edge);

  let campaign: Extract<ProcessOutcome, { kind: "processed" }>["campaign"] = null;
  if (move.previous !== null && move.previous !== root.digest) {
    const tracked = isTrackedBaseTag(deps.config, event.registry, event.repository, event.tag) !== null;
    const dependents = await deps.store.listDependents(key);
    if (tracked || dependents.length > 0) {
      campaign = await openCampaign(deps, { base: key, fromDigest: move.previous, toDigest: root.digest, trigger: eventKey }, dependents);
    }
  }
  const moved = move.previous === root.digest ? "unchanged" : `${move.previous ?? "(new)"} -> ${root.digest}`;
  const summary = `${key} ${moved}; ${edges.length} base edge(s)${campaign ? `; campaign ${campaign.id} (${campaign.obligations} obligation(s))` : ""}`;
  return { kind: "processed", summary, tagMoved: move.previous !== root.digest, edges, campaign };
}

async function processDelete(deps: ProcessDeps, event: RegistryEvent): Promise<Extract<ProcessOutcome, { kind: "processed" }>> {
  const tags = event.tag !== null
    ? [event.tag]
    : (await deps.store.listTags())
        .filter((tag) => tag.registry === event.registry && tag.repository === event.repository && tag.digest === event.digest)
        .map((tag) => tag.tag);
  for (const tag of tags) await deps.store.moveTag(event.registry, event.repository, tag, null, event.occurredAt);
  return { kind: "processed", summary: `deleted ${tags.length} tag(s)`, tagMoved: tags.length > 0, edges: [], campaign: null };
}

async function readManifest(registry: ImageRegistry, repository: string, reference: string): Promise<ManifestFacts> {
  const facts = await registry.readManifest(repository, reference);
  if (facts === null) throw new AppError("manifest_unknown", `${registry.host}/${repository}@${reference} does not exist (deleted since the push?)`);
  return facts;
}

/** Reads a manifest and, for an index, each child; stores them all by digest. */
async function readAndStore(deps: ProcessDeps, registry: ImageRegistry, repository: string, digest: string) {
  const root = await readManifest(registry, repository, digest);
  await deps.store.putManifest({ registry: registry.host, repository, facts: root });
  if (root.kind === "image") return { root, platforms: [root] };
  const platforms: ImageManifestFacts[] = [];
  for (const child of root.children) {
    const facts = await readManifest(registry, repository, child.digest);
    if (facts.kind !== "image") continue;
    const withPlatform = facts.platform === null ? { ...facts, platform: child.platform } : facts;
    await deps.store.putManifest({ registry: registry.host, repository, facts: withPlatform });
    platforms.push(withPlatform);
  }
  return { root, platforms };
}

async function inferEdges(deps: ProcessDeps, dependent: Extract<Dependent, { kind: "image" }>, platforms: readonly ImageManifestFacts[]): Promise<DependencyEdge[]> {
  const self = dependentKey(dependent);
  const recordedAt = deps.now().toISOString();
  const edges: DependencyEdge[] = [];
  const index = await deps.layers.index();
  for (const manifest of platforms) {
    const platform = formatPlatform(manifest.platform);
    const baseName = manifest.annotations[BASE_NAME_ANNOTATION];
    const baseDigest = manifest.annotations[BASE_DIGEST_ANNOTATION];
    if (baseName && baseDigest) {
      const ref = parseImageRef(baseName);
      if (ref.ok) {
        const base = tagKey(ref.value.registry, ref.value.repository, ref.value.tag ?? "latest");
        if (base !== self) {
          const resolved = await resolveTagDigest(deps.store, base, ref.value.registry, baseDigest);
          const detail = `${BASE_NAME_ANNOTATION}=${baseName} ${BASE_DIGEST_ANNOTATION}=${baseDigest}`;
          edges.push({ dependent, base, baseDigest: resolved, evidence: "annotation", detail, platform, recordedAt });
          continue;
        }
      }
    }
    const match = index.matchAll(manifest.diffIds, platform, { exclude: manifest.digest });
    const entry = match?.entries.find((candidate) => candidate.base !== self);
    if (match && entry) {
      const detail = `first ${match.sharedLayers} of ${manifest.diffIds.length} layers match ${entry.base}@${entry.digest}`;
      edges.push({ dependent, base: entry.base, baseDigest: entry.digest, evidence: "layer-prefix", detail, platform, recordedAt });
    }
  }
  const fromDockerfile = await dockerfileEdge(deps, dependent, platforms, edges, recordedAt);
  if (fromDockerfile !== null) edges.push(fromDockerfile);
  for (const configured of deps.config.dependencies) {
    const image = parseImageRef(configured.image);
    const base = parseImageRef(configured.base);
    if (!image.ok || !base.ok || tagKey(image.value.registry, image.value.repository, image.value.tag ?? "latest") !== self) continue;
    const baseKey = tagKey(base.value.registry, base.value.repository, base.value.tag ?? "latest");
    const state = await deps.store.getTag(base.value.registry, base.value.repository, base.value.tag ?? "latest");
    if (state?.digest) {
      edges.push({ dependent, base: baseKey, baseDigest: state.digest, evidence: "config", detail: `dependencies: ${configured.image} on ${configured.base}`, platform: null, recordedAt });
    }
  }
  return edges;
}

/**
 * Where the image's Dockerfile lives: its build recipe in the configuration, else its own
 * `org.opencontainers.image.source` / `.revision` annotations (or labels) and Ripple's Dockerfile label.
 * Only configured repositories are ever read.
 */
function dockerfileLocation(deps: ProcessDeps, key: string, manifest: ImageManifestFacts | undefined): { repository: string; revision: string; path: string } | null {
  for (const recipe of deps.config.recipes) {
    if (!("repository" in recipe)) continue;
    const ref = parseImageRef(recipe.image);
    if (ref.ok && tagKey(ref.value.registry, ref.value.repository, ref.value.tag ?? "latest") === key) {
      return { repository: recipe.repository, revision: recipe.revision, path: recipe.dockerfile };
    }
  }
  const read = (name: string): string | undefined => manifest?.annotations[name] ?? manifest?.labels[name];
  const source = read(SOURCE_ANNOTATION);
  if (source === undefined || !deps.config.repositories.some((repository) => repository.url === source)) return null;
  return { repository: source, revision: read(REVISION_ANNOTATION) ?? "HEAD", path: read(DOCKERFILE_LABEL) ?? "Dockerfile" };
}

/** An edge from the final stage's `FROM` of the image's Dockerfile, with the digest it pins or was built on. */
async function dockerfileEdge(
  deps: ProcessDeps,
  dependent: Extract<Dependent, { kind: "image" }>,
  platforms: readonly ImageManifestFacts[],
  inferred: readonly DependencyEdge[],
  recordedAt: string,
): Promise<DependencyEdge | null> {
  const location = dockerfileLocation(deps, dependentKey(dependent), platforms[0]);
  if (location === null || !deps.sources.canRead(location.repository)) return null;
  const text = await deps.sources.readFile(location.repository, location.revision, location.path);
  if (text === null) return null;
  const from = finalBaseImage(text);
  if (from === null || from.unresolved) return null;
  const ref = parseImageRef(from.name);
  if (!ref.ok) return null;
  const base = tagKey(ref.value.registry, ref.value.repository, from.tag ?? "latest");
  const state = await deps.store.getTag(ref.value.registry, ref.value.repository, from.tag ?? "latest");
  const baseDigest = from.digest !== null
    ? await resolveTagDigest(deps.store, base, ref.value.registry, from.digest)
    : (inferred.find((edge) => edge.base === base)?.baseDigest ?? state?.digest ?? null);
  if (baseDigest === null) return null;
  const detail = `${location.repository}@${location.revision}:${location.path}:${from.line} FROM ${from.name}${from.tag ? `:${from.tag}` : ""}${from.digest ? `@${from.digest}` : ""}`;
  return { dependent, base, baseDigest, evidence: "dockerfile", detail, platform: null, recordedAt };
}

/**
 * A per-platform base digest (what buildah writes in a multi-platform build) resolved to the digest
 * the base tag pointed at (its index), so it compares with the tag's history.
 */
async function resolveTagDigest(store: StateStore, base: string, registry: string, digest: string): Promise<string> {
  const colon = base.lastIndexOf(":");
  const slash = base.indexOf("/");
  const state = await store.getTag(registry, base.slice(slash + 1, colon), base.slice(colon + 1));
  if (state === null) return digest;
  for (const entry of [...state.history].reverse()) {
    if (entry.digest === digest) return digest;
    const stored = await store.getManifest(registry, entry.digest);
    if (stored?.facts.kind === "index" && stored.facts.children.some((child) => child.digest === digest)) return entry.digest;
  }
  return digest;
}

async function openCampaign(
  deps: ProcessDeps,
  move: { base: string; fromDigest: string; toDigest: string; trigger: string },
  edges: readonly DependencyEdge[],
) {
  const now = deps.now().toISOString();
  const campaign: Campaign = { id: campaignId(move.base, move.toDigest), base: move.base, fromDigest: move.fromDigest, toDigest: move.toDigest, openedAt: now, trigger: move.trigger };
  const byDependent = new Map<string, DependencyEdge>();
  for (const edge of edges) {
    if (edge.baseDigest === move.toDigest) continue;
    const key = dependentKey(edge.dependent);
    if (!byDependent.has(key)) byDependent.set(key, edge);
  }
  const obligations: Obligation[] = [...byDependent.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, edge]) => ({
    campaignId: campaign.id,
    dependentKey: key,
    dependent: edge.dependent,
    kind: obligationKindOf(edge.dependent),
    state: "pending",
    fromDigest: edge.baseDigest,
    reason: null,
    runId: null,
    createdAt: now,
    updatedAt: now,
    enqueuedAt: null,
  }));
  const opened = await deps.store.openCampaign(campaign, obligations);
  for (const obligation of opened.obligations) {
    if (obligation.enqueuedAt !== null || obligation.state !== "pending") continue;
    await deps.queue.enqueue(obligation.kind, {
      v: 1,
      campaignId: obligation.campaignId,
      dependentKey: obligation.dependentKey,
      base: campaign.base,
      fromDigest: obligation.fromDigest,
      toDigest: campaign.toDigest,
    });
    await deps.store.updateObligation(obligation.campaignId, obligation.dependentKey, (current) => ({ ...current, enqueuedAt: deps.now().toISOString() }));
  }
  return { id: opened.campaign.id, created: opened.created, obligations: opened.obligations.length };
}
