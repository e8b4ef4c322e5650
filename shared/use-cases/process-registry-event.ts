import { isTrackedBaseTag, type RippleConfig } from "../config.js";
import { dependentKey, type DependencyEdge, type Dependent } from "../domain/dependency.js";
import { finalBaseImage } from "../domain/dockerfile.js";
import {
  BASE_DIGEST_ANNOTATION,
  BASE_NAME_ANNOTATION,
  formatPlatform,
  type ImageManifestFacts,
  type ManifestFacts,
} from "../domain/image-facts.js";
import { isDigest, parseImageRef, tagKey } from "../domain/image-ref.js";
import type { RegistryEvent } from "../domain/registry-event.js";
import { AppError, isRetryable } from "../errors.js";
import type { ImageRegistry } from "../ports/image-registry.js";
import type { SourceRepositories } from "../ports/source-repository.js";
import type { StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";
import type { LayerIndex } from "../domain/layer-index.js";
import type { BaseLayerCatalog } from "./base-layer-catalog.js";
import { openCampaign, settleRebuiltImage } from "./open-campaign.js";
import { resolveTagDigest, tagHolding } from "./tag-lookup.js";
import { resolveBuildRecipe } from "./resolve-build-recipe.js";
import { isScratchTag } from "../domain/scratch-tag.js";
import { patchRootOf } from "./patch-root.js";

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

/**
 * How long one processor holds an event: longer than any processing (registry reads retried included),
 * shorter than the stuck-event timer's wait, and short enough that a dead worker's event is taken over
 * well within a minute.
 */
export const EVENT_LEASE_MS = 30_000;
/** How soon a copy of an event another worker holds looks again (at most). */
const BUSY_RECHECK_MS = 5_000;

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
 * edges (OCI base annotations, else layer-prefix matching against every tag seen, plus configured
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
  // One processor at a time (the fast path and the queued copy race for it); a crashed one's lease expires.
  const now = deps.now();
  if (!(await deps.store.leaseEvent(eventKey, new Date(now.getTime() + EVENT_LEASE_MS).toISOString(), now.toISOString()))) {
    // Retryable, and says when to look again (`retryAfterMs`): the queued copy is deferred, not
    // redelivered, so a dead holder's lease never spends its dequeue count; it looks again every few
    // seconds (a live holder is usually done by then) and takes over once the lease has run out. It is
    // never acknowledged unprocessed.
    const heldUntil = (await deps.store.getEvent(eventKey))?.leaseUntil ?? null;
    const untilFree = (heldUntil === null ? EVENT_LEASE_MS : Date.parse(heldUntil) - now.getTime()) + 1_000;
    const retryAfterMs = Math.min(BUSY_RECHECK_MS, Math.max(1_000, untilFree));
    throw new AppError("event_busy", `event ${eventKey} is being processed by another worker${heldUntil === null ? "" : ` (its lease ends ${heldUntil})`}`, { retryable: true, details: { retryAfterMs } });
  }
  try {
    const outcome = record.event.action === "push" ? await processPush(deps, record.event, eventKey) : await processDelete(deps, record.event);
    await deps.store.setEventStatus(eventKey, "processed", outcome.summary);
    return outcome;
  } catch (error) {
    if (isRetryable(error)) {
      // Give the lease back so the redelivered message can try again at once.
      await deps.store.updateEvent(eventKey, (current) => ({ ...current, leaseUntil: null })).catch(() => undefined);
      throw error;
    }
    const reason = error instanceof Error ? error.message : String(error);
    await deps.store.setEventStatus(eventKey, "failed", reason);
    return { kind: "failed", reason };
  }
}

/** Most events one request processes inline; the rest wait on the queue (which holds a copy of each). */
export const INLINE_MAX_EVENTS = 16;
/** Longest a request waits on inline processing: Distribution gives up after 2 s, Event Grid after 30 s. */
export const INLINE_BUDGET_MS = 1500;
/** Past the budget, how long the event still running may take to write its outcome (store writes only). */
const INLINE_SETTLE_MS = 250;

/** What {@link processRecordedEvents} did inline and what it left to the queue. */
export interface InlineOutcome {
  readonly processed: number;
  /** Events it started that failed or were busy: their queued copy retries them. */
  readonly deferred: { key: string; reason: string }[];
  /** Events it never started (over `maxEvents`, or the budget ran out): their queued copy processes them. */
  readonly leftQueued: number;
  readonly timedOut: boolean;
}

/**
 * The fast path: processes just-recorded events right away, in order, so a campaign opens within
 * milliseconds of the notification. Each event is also on the `registry-events` queue, which stays the
 * guarantee: a failure here is left to the queued message (processing is idempotent). Bounded so a
 * large delivery is acknowledged within seconds (Event Grid gives up after 30 s, Distribution after 2 s):
 * at most `maxEvents` (default {@link INLINE_MAX_EVENTS}) are started, none after `budgetMs` (none at all
 * when it is 0 or less), and it returns 250 ms after `budgetMs` at the latest. The one event still running
 * then reads nothing more upstream: its next registry or source read fails retryable, which hands the event
 * back to its queued copy, and it is given those 250 ms to write that down (so no work goes on behind the
 * answer, where Azure may freeze the instance).
 * Never throws.
 */
export async function processRecordedEvents(deps: ProcessDeps, keys: readonly string[], options: { budgetMs: number; maxEvents?: number }): Promise<InlineOutcome> {
  if (options.budgetMs <= 0) return { processed: 0, deferred: [], leftQueued: keys.length, timedOut: true };
  const inline = keys.slice(0, Math.max(0, options.maxEvents ?? INLINE_MAX_EVENTS));
  let processed = 0;
  let started = 0;
  let expired = false;
  const deferred: { key: string; reason: string }[] = [];
  const budgeted = withinBudget(deps, () => expired);
  const work = (async () => {
    for (const key of inline) {
      // Past the budget the request has been answered: what is left belongs to the queue.
      if (expired) break;
      started += 1;
      try {
        const outcome = await processRegistryEvent(budgeted, key);
        if (outcome.kind === "processed") processed += 1;
      } catch (error) {
        deferred.push({ key, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    return false;
  })();
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), options.budgetMs);
  });
  const timedOut = await Promise.race([work, budget]);
  expired = true;
  clearTimeout(timer);
  // The event still running reads nothing more; let it write its outcome (or give its lease back) first.
  if (timedOut) await Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, INLINE_SETTLE_MS).unref())]);
  return { processed, deferred: [...deferred], leftQueued: keys.length - started, timedOut };
}

/** `deps` whose registry and source reads fail retryable once `spent()` is true (see {@link processRecordedEvents}). */
function withinBudget(deps: ProcessDeps, spent: () => boolean): ProcessDeps {
  const guard = <T>(read: () => Promise<T>): Promise<T> =>
    spent() ? Promise.reject(new AppError("inline_budget_spent", "the request's inline budget is spent: left to the queued copy", { retryable: true })) : read();
  return {
    ...deps,
    registryFor: (host) => {
      const registry = deps.registryFor(host);
      if (registry === null) return null;
      return {
        host: registry.host,
        readManifest: (repository, reference) => guard(() => registry.readManifest(repository, reference)),
        listRepositories: () => guard(() => registry.listRepositories()),
        listTags: (repository) => guard(() => registry.listTags(repository)),
      };
    },
    sources: { canRead: (repository) => deps.sources.canRead(repository), readFile: (repository, revision, path) => guard(() => deps.sources.readFile(repository, revision, path)) },
  };
}

/**
 * A process-wide allowance of inline processing for a trigger that sees one event per invocation (the Event
 * Grid trigger: a delivery of 500 events is 500 invocations, answered after the last one): within any
 * `windowMs`, at most `maxEvents` events and `budgetMs` of inline work in all; past that, events are left
 * to their queued copies. Not persisted: each worker has its own.
 */
export function createInlineAllowance(limits: { maxEvents: number; budgetMs: number; windowMs: number; now?: () => number }) {
  const now = limits.now ?? Date.now;
  const grants: { at: number; events: number; spentMs: number }[] = [];
  function take(wanted: number): { grant: (typeof grants)[number]; budgetMs: number } | null {
    const at = now();
    while (grants.length > 0 && grants[0]!.at <= at - limits.windowMs) grants.shift();
    const events = Math.min(wanted, limits.maxEvents - grants.reduce((sum, grant) => sum + grant.events, 0));
    const budgetMs = limits.budgetMs - grants.reduce((sum, grant) => sum + grant.spentMs, 0);
    if (events <= 0 || budgetMs <= 0) return null;
    const grant = { at, events, spentMs: 0 };
    grants.push(grant);
    return { grant, budgetMs };
  }
  return {
    /** {@link processRecordedEvents} within what is left of the allowance. Never throws. */
    async process(deps: ProcessDeps, keys: readonly string[]): Promise<InlineOutcome> {
      const taken = keys.length > 0 ? take(keys.length) : null;
      if (taken === null) return { processed: 0, deferred: [], leftQueued: keys.length, timedOut: false };
      const outcome = await processRecordedEvents(deps, keys, { budgetMs: taken.budgetMs, maxEvents: taken.grant.events });
      taken.grant.spentMs = now() - taken.grant.at;
      return outcome;
    },
  };
}

async function processPush(deps: ProcessDeps, event: RegistryEvent, eventKey: string): Promise<Extract<ProcessOutcome, { kind: "processed" }>> {
  const digest = event.digest;
  if (event.tag === null || digest === null) {
    return { kind: "processed", summary: "untagged push: read with its tagged index or image", tagMoved: false, edges: [], campaign: null };
  }
  if (isScratchTag(event.tag)) {
    return { kind: "processed", summary: `${event.tag}: one platform of a multi-platform rebuild, read with the index pushed after it`, tagMoved: false, edges: [], campaign: null };
  }
  const registry = deps.registryFor(event.registry);
  if (registry === null) throw new AppError("registry_not_configured", `registry ${event.registry} is not configured`);

  const { root, platforms } = await readAndStore(deps, registry, event.repository, digest);
  const key = tagKey(event.registry, event.repository, event.tag);
  const move = await deps.store.moveTag(event.registry, event.repository, event.tag, root.digest, event.occurredAt);
  let previous = move.previous;
  if (!move.applied) {
    // Either a newer move is recorded (a reordered delivery: nothing to do), or this very move was
    // applied by an earlier attempt that crashed before finishing: carry on from where it stopped.
    const replayed = await replayedMove(deps.store, event, root.digest);
    if (replayed === undefined) {
      return { kind: "processed", summary: `not applied: ${key} has a newer recorded move`, tagMoved: false, edges: [], campaign: null };
    }
    previous = replayed;
  }
  // A tag deleted and pushed again moves from the digest it had before the deletion (a re-published base is a patch).
  if (previous === null) previous = await digestBeforeDeletion(deps.store, event, root.digest);
  // Any tag may be the base of an image pushed later (a company base needs no configuration to be found).
  deps.layers.add(key, root.digest, platforms);

  const dependent: Dependent = { kind: "image", registry: event.registry, repository: event.repository, tag: event.tag, digest: root.digest };
  const edges = await inferEdges(deps, dependent, platforms);
  await deps.store.removeEdgesOf(key);
  for (const edge of edges) await deps.store.putEdge(edge);

  const settled = await settleRebuiltImage(deps, key, root.digest, edges);

  let campaign: Extract<ProcessOutcome, { kind: "processed" }>["campaign"] = null;
  let deferred = "";
  if (previous !== null && previous !== root.digest) {
    const tracked = isTrackedBaseTag(deps.config, event.registry, event.repository, event.tag) !== null;
    const dependents = await deps.store.listDependents(key);
    if (tracked || dependents.length > 0) {
      const debounceSeconds = deps.config.rebuild.debounceSeconds;
      if (debounceSeconds > 0) {
        await deps.queue.enqueue("campaigns", { v: 1, base: key, toDigest: root.digest, trigger: eventKey, movedAt: event.occurredAt }, { delaySeconds: debounceSeconds });
        deferred = `; campaign deferred ${debounceSeconds} s (debounce)`;
      } else {
        const created = root.kind === "image" ? root.created : (platforms[0]?.created ?? null);
        const patchRoot = await patchRootOf(deps.store, { registry: event.registry, repository: event.repository, tag: event.tag, digest: root.digest, pushedAt: event.occurredAt, created }, edges);
        campaign = await openCampaign(deps, { base: key, fromDigest: previous, toDigest: root.digest, trigger: eventKey, root: patchRoot }, dependents);
      }
    }
  }
  const moved = previous === root.digest ? "unchanged" : `${previous ?? "(new)"} -> ${root.digest}`;
  const summary = `${key} ${moved}; ${edges.length} base edge(s)${settled.length > 0 ? `; completes ${settled.join(", ")}` : ""}${campaign ? `; campaign ${campaign.id} (${campaign.obligations} obligation(s))` : ""}${deferred}`;
  return { kind: "processed", summary, tagMoved: previous !== root.digest, edges, campaign };
}

/**
 * When the recorded state of the tag is exactly this event's move (same digest, same time), the digest
 * the tag had before it; undefined when a different, newer move is recorded.
 */
async function replayedMove(store: StateStore, event: RegistryEvent, digest: string): Promise<string | null | undefined> {
  const state = await store.getTag(event.registry, event.repository, event.tag!);
  if (state === null || state.digest !== digest || Date.parse(state.at) !== Date.parse(event.occurredAt)) return undefined;
  const last = state.history.at(-1);
  const ours = last !== undefined && last.digest === digest && Date.parse(last.at) === Date.parse(event.occurredAt);
  return ours ? (state.history.at(-2)?.digest ?? null) : digest;
}

/**
 * The last digest the tag held before it was deleted, when this push (whose move found no current digest)
 * follows a deletion; null for a tag never seen before. Deletions are not in the history, so any entry
 * before this push's own is the digest the deleted tag had.
 */
async function digestBeforeDeletion(store: StateStore, event: RegistryEvent, digest: string): Promise<string | null> {
  const history = (await store.getTag(event.registry, event.repository, event.tag!))?.history ?? [];
  const ours = history.findLastIndex((entry) => entry.digest === digest && Date.parse(entry.at) === Date.parse(event.occurredAt));
  const before = history.slice(0, ours < 0 ? history.length : ours).at(-1)?.digest ?? null;
  return before === digest ? null : before;
}

async function processDelete(deps: ProcessDeps, event: RegistryEvent): Promise<Extract<ProcessOutcome, { kind: "processed" }>> {
  const tags = event.tag !== null
    ? [event.tag]
    : (await deps.store.listTags({ registry: event.registry, repository: event.repository }))
        .filter((tag) => tag.digest === event.digest)
        .map((tag) => tag.tag);
  for (const tag of tags) {
    const move = await deps.store.moveTag(event.registry, event.repository, tag, null, event.occurredAt);
    // A deleted image is no longer anyone's dependent: it must not be rebuilt (and so pushed again).
    if (move.applied) await deps.store.removeEdgesOf(tagKey(event.registry, event.repository, tag));
  }
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
    if (baseName && baseDigest && isDigest(baseDigest)) {
      const ref = parseImageRef(baseName, { defaultTag: false });
      // buildah writes `name@digest` without the tag when the FROM line pins a digest: find the tag.
      const tag = ref.ok ? (ref.value.tag ?? (await tagHolding(deps.store, ref.value.registry, ref.value.repository, baseDigest))) : null;
      if (ref.ok && tag !== null) {
        const base = tagKey(ref.value.registry, ref.value.repository, tag);
        if (base !== self) {
          const resolved = await resolveTagDigest(deps.store, base, baseDigest);
          const detail = `${BASE_NAME_ANNOTATION}=${baseName} ${BASE_DIGEST_ANNOTATION}=${baseDigest}`;
          edges.push({ dependent, base, baseDigest: resolved, evidence: "annotation", detail, platform, recordedAt });
          continue;
        }
      }
    }
    const fromLayers = layerPrefixEdge(deps.config, index, dependent, manifest, recordedAt);
    if (fromLayers !== null) edges.push(fromLayers);
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
 * An edge to the tag whose layer chain is the longest proper prefix of the image's (any tag Ripple has
 * seen, never the image's own). Tags sharing that chain (one digest under several tags, or an image that
 * added no layer to its base) cannot be told apart by layers: a tracked base wins, then the first by key.
 */
function layerPrefixEdge(
  config: RippleConfig,
  index: LayerIndex,
  dependent: Extract<Dependent, { kind: "image" }>,
  manifest: ImageManifestFacts,
  recordedAt: string,
): DependencyEdge | null {
  const platform = formatPlatform(manifest.platform);
  const match = index.matchAll(manifest.diffIds, platform, { exclude: manifest.digest, excludeBase: dependentKey(dependent) });
  if (match === null) return null;
  const entry = match.entries.find((candidate) => isTrackedBaseKey(config, candidate.base)) ?? match.entries[0]!;
  const detail = `first ${match.sharedLayers} of ${manifest.diffIds.length} layers match ${entry.base}@${entry.digest}`;
  return { dependent, base: entry.base, baseDigest: entry.digest, evidence: "layer-prefix", detail, platform, recordedAt };
}

function isTrackedBaseKey(config: RippleConfig, key: string): boolean {
  const ref = parseImageRef(key);
  return ref.ok && isTrackedBaseTag(config, ref.value.registry, ref.value.repository, ref.value.tag ?? "latest") !== null;
}

/** An edge from the final stage's `FROM` of the image's Dockerfile, with the digest it pins or was built on. */
async function dockerfileEdge(
  deps: ProcessDeps,
  dependent: Extract<Dependent, { kind: "image" }>,
  platforms: readonly ImageManifestFacts[],
  inferred: readonly DependencyEdge[],
  recordedAt: string,
): Promise<DependencyEdge | null> {
  const recipe = resolveBuildRecipe(deps.config, dependentKey(dependent), platforms[0] ?? null);
  if (recipe === null || recipe.kind !== "source" || !deps.sources.canRead(recipe.repository)) return null;
  const location = { repository: recipe.repository, revision: recipe.revision, path: recipe.dockerfile };
  const text = await deps.sources.readFile(location.repository, location.revision, location.path);
  if (text === null) return null;
  const from = finalBaseImage(text);
  if (from === null || from.unresolved) return null;
  const ref = parseImageRef(from.name);
  if (!ref.ok) return null;
  const base = tagKey(ref.value.registry, ref.value.repository, from.tag ?? "latest");
  const state = await deps.store.getTag(ref.value.registry, ref.value.repository, from.tag ?? "latest");
  // The image's own evidence says which digest it was built on (a build argument may have overridden a
  // digest the Dockerfile pins); the Dockerfile's pin, then the tag's digest, only when there is none.
  const fromImage = inferred.find((edge) => edge.base === base)?.baseDigest;
  const baseDigest = fromImage ?? (from.digest !== null ? await resolveTagDigest(deps.store, base, from.digest) : (state?.digest ?? null));
  if (baseDigest === null) return null;
  const detail = `${location.repository}@${location.revision}:${location.path}:${from.line} FROM ${from.name}${from.tag ? `:${from.tag}` : ""}${from.digest ? `@${from.digest}` : ""}`;
  return { dependent, base, baseDigest, evidence: "dockerfile", detail, platform: null, recordedAt };
}

