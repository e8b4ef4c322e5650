import type { RippleConfig } from "../config.js";
import { formatPlatform } from "../domain/image-facts.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import { dedupeKey, type RegistryEvent } from "../domain/registry-event.js";
import {
  classifySighting,
  expandTagPatterns,
  firstCheckAt,
  isDue,
  isListingDue,
  isTagGlob,
  keepNewest,
  nextCheckAt,
  type Sighting,
} from "../domain/upstream-watch.js";
import { AppError } from "../errors.js";
import type { ImageMirror } from "../ports/image-mirror.js";
import type { ImageRegistry } from "../ports/image-registry.js";
import type { RegistryContent } from "../ports/registry-content.js";
import type { UpstreamSighting, UpstreamTagRecord } from "../ports/state-store.js";
import { inParallel } from "./in-parallel.js";
import { processRecordedEvents, type ProcessDeps } from "./process-registry-event.js";
import { recordEvents } from "./receive-notification.js";

export interface WatchDeps extends ProcessDeps {
  /** The content port of a configured upstream registry; null for any other host (never contacted). */
  readonly upstreamFor: (host: string) => RegistryContent | null;
  /** The image registry view of the same upstream (manifest facts for platforms and `created`). */
  readonly upstreamRegistryFor: (host: string) => ImageRegistry | null;
  /** The mirror writing into a configured registry (ACR import, or a registry copy on the local stack). */
  readonly mirrorFor: (host: string) => ImageMirror | null;
  /** [0, 1): jitter of the schedule. */
  readonly random?: () => number;
}

/** One watched repository of one configured base. */
export interface WatchedBase {
  /** The configured base image (`docker.io/library/alpine`). */
  readonly image: string;
  readonly registry: string;
  readonly repository: string;
  readonly patterns: readonly string[];
  readonly intervalMs: number;
  /** Where new digests are mirrored; null: campaigns open on the upstream tag itself. */
  readonly mirror: { readonly registry: string; readonly repository: string } | null;
}

export interface WatchSummary {
  readonly watched: number;
  readonly checked: number;
  readonly unchanged: number;
  /** Tag keys whose check saw a new digest (or a deletion), with what it was. */
  readonly sightings: ReadonlyArray<{ readonly tag: string; readonly sighting: Sighting; readonly digest: string | null }>;
  /** Tag keys whose pending sighting was brought in (mirrored, or recorded as an event). */
  readonly broughtIn: readonly string[];
  readonly errors: ReadonlyArray<{ readonly tag: string; readonly error: string }>;
  /** Tags whose checks or mirror failed {@link FAILING_AFTER} times or more in a row: someone must look. */
  readonly failing: ReadonlyArray<{ readonly tag: string; readonly errors: number; readonly error: string }>;
}

/** Failures in a row after which a tag is reported as failing (an error in the log; `ripple upstream` shows every one). */
export const FAILING_AFTER = 5;

/** Every base on a registry that does not notify Ripple (an upstream), resolved against the configuration. */
export function watchedBases(config: RippleConfig): WatchedBase[] {
  const notifying = new Set(config.registries.map((registry) => registry.host));
  return config.bases.flatMap((base) => {
    const ref = parseImageRef(base.image, { defaultTag: false });
    if (!ref.ok || notifying.has(ref.value.registry)) return [];
    const mirror = base.mirror === undefined ? null : parseImageRef(base.mirror, { defaultTag: false });
    return [{
      image: base.image,
      registry: ref.value.registry,
      repository: ref.value.repository,
      patterns: base.tags,
      intervalMs: (base.intervalSeconds ?? config.upstream.intervalSeconds) * 1000,
      mirror: mirror?.ok ? { registry: mirror.value.registry, repository: mirror.value.repository } : null,
    }];
  });
}

interface WatchedTag {
  readonly base: WatchedBase;
  readonly tag: string;
  readonly key: string;
}

/**
 * The upstream watch, one tick of the timer: expands tag globs (a tag listing at most every
 * `upstream.listTagsMinutes`), then checks every watched tag that is due with one manifest HEAD, at most
 * `upstream.concurrency` at once. A tag whose digest is unchanged costs that one request. A new digest
 * is recorded with the time of its first sighting (the moment the patch became available) and brought
 * in: mirrored into the private registry, whose own push notification opens the campaign, or recorded
 * as an `upstream` registry event that opens the campaign on the upstream tag itself. A failed check or
 * mirror is recorded on the tag (`ripple upstream` shows it) and retried with back-off; a sighting is
 * kept pending until it is brought in, so a registry outage neither loses a patch nor opens a campaign.
 * Idempotent; never throws for one tag's failure.
 */
export async function watchUpstream(deps: WatchDeps): Promise<WatchSummary> {
  const wanted = await wantedTags(deps);
  const records = new Map((await deps.store.listUpstreamTags()).map((record) => [tagKey(record.registry, record.repository, record.tag), record]));
  for (const [key, record] of records) {
    // A sighting not yet brought in is kept until it is, even for a tag no longer listed (never lost).
    if (!wanted.has(key) && record.pending === null) await deps.store.removeUpstreamTag(record.registry, record.repository, record.tag);
  }
  const now = deps.now();
  const due: Array<{ watched: WatchedTag; record: UpstreamTagRecord | null }> = [];
  for (const watched of wanted.values()) {
    const record = records.get(watched.key) ?? null;
    if (record === null) {
      await scheduleNewTag(deps, watched, now);
    } else if (isDue(record.nextCheckAt, now)) {
      due.push({ watched, record });
    }
  }
  const summary = {
    watched: wanted.size,
    checked: 0,
    unchanged: 0,
    sightings: [] as WatchSummary["sightings"][number][],
    broughtIn: [] as string[],
    errors: [] as WatchSummary["errors"][number][],
    failing: [] as WatchSummary["failing"][number][],
  };
  await inParallel(due, deps.config.upstream.concurrency, async ({ watched, record }) => {
    const outcome = await checkTag(deps, watched, record);
    summary.checked += 1;
    if (outcome.error !== null) summary.errors.push({ tag: watched.key, error: outcome.error });
    if (outcome.error !== null && outcome.errors >= FAILING_AFTER) summary.failing.push({ tag: watched.key, errors: outcome.errors, error: outcome.error });
    if (outcome.sighting === "unchanged") summary.unchanged += 1;
    else if (outcome.sighting !== null) summary.sightings.push({ tag: watched.key, sighting: outcome.sighting, digest: outcome.digest });
    if (outcome.broughtIn) summary.broughtIn.push(watched.key);
  });
  return summary;
}

/** The watched tags: literal patterns as they are, globs expanded from the (cached) tag listing. */
async function wantedTags(deps: WatchDeps): Promise<Map<string, WatchedTag>> {
  const wanted = new Map<string, WatchedTag>();
  for (const base of watchedBases(deps.config)) {
    const listed = base.patterns.some(isTagGlob) ? await listedTags(deps, base) : null;
    for (const tag of expandTagPatterns(base.patterns, listed)) {
      const key = tagKey(base.registry, base.repository, tag);
      if (!wanted.has(key)) wanted.set(key, { base, tag, key });
    }
  }
  return wanted;
}

/** The repository's tags, listed again when the last listing is older than `listTagsMinutes`; the last good listing on failure. */
async function listedTags(deps: WatchDeps, base: WatchedBase): Promise<readonly string[] | null> {
  const previous = await deps.store.getUpstreamListing(base.registry, base.repository);
  const now = deps.now();
  if (!isListingDue(previous?.listedAt ?? null, now, deps.config.upstream.listTagsMinutes * 60_000)) return previous?.tags ?? null;
  const registry = deps.upstreamFor(base.registry);
  if (registry === null) return previous?.tags ?? null;
  try {
    const tags = await registry.listTags(base.repository);
    // An empty answer where there were tags is more likely a registry hiccup than every tag deleted at once:
    // keep watching the known tags (their own checks see real deletions) and list again next time.
    if (tags.length === 0 && (previous?.tags.length ?? 0) > 0) return previous!.tags;
    await deps.store.putUpstreamListing({ registry: base.registry, repository: base.repository, listedAt: now.toISOString(), tags });
    return tags;
  } catch {
    // The tags already watched stay watched; their own checks record the registry's failure.
    return previous?.tags ?? null;
  }
}

async function scheduleNewTag(deps: WatchDeps, watched: WatchedTag, now: Date): Promise<void> {
  const parts = { registry: watched.base.registry, repository: watched.base.repository, tag: watched.tag };
  await deps.store.saveUpstreamTag(parts.registry, parts.repository, parts.tag, (current) => current ?? {
    ...parts,
    digest: null,
    mediaType: null,
    platforms: [],
    firstSeenAt: null,
    created: null,
    lastCheckAt: null,
    nextCheckAt: firstCheckAt(watched.key, now, Math.min(watched.base.intervalMs, 60_000)).toISOString(),
    lastError: null,
    errors: 0,
    pending: null,
    broughtInAt: null,
    history: [],
  });
}

interface CheckOutcome {
  readonly sighting: Sighting | null;
  readonly digest: string | null;
  readonly broughtIn: boolean;
  readonly error: string | null;
  /** Failures in a row, this one included. */
  readonly errors: number;
}

/** One check of one tag: HEAD; on a new digest, record the sighting; then bring in whatever is pending. */
async function checkTag(deps: WatchDeps, watched: WatchedTag, record: UpstreamTagRecord | null): Promise<CheckOutcome> {
  const registry = deps.upstreamFor(watched.base.registry);
  const now = deps.now();
  if (registry === null) return failCheck(deps, watched, now, new AppError("registry_not_configured", `upstream registry ${watched.base.registry} is not configured`), null);
  let current = record;
  let sighting: Sighting;
  let digest: string | null;
  try {
    const head = await registry.headManifest(watched.base.repository, watched.tag);
    digest = head?.digest ?? null;
    sighting = classifySighting(record, digest);
    current = sighting === "unchanged" ? await recordGoodCheck(deps, watched, now) : await recordSighting(deps, watched, now, digest, head?.mediaType ?? null);
  } catch (error) {
    return failCheck(deps, watched, now, error, null);
  }
  if (current.pending === null) return { sighting, digest, broughtIn: false, error: null, errors: 0 };
  try {
    await bringIn(deps, watched, current.pending);
  } catch (error) {
    return failCheck(deps, watched, now, error, sighting, "bringing in");
  }
  await deps.store.saveUpstreamTag(watched.base.registry, watched.base.repository, watched.tag, (stored) => ({
    ...(stored ?? current),
    pending: stored?.pending?.firstSeenAt === current.pending?.firstSeenAt ? null : (stored?.pending ?? null),
    broughtInAt: deps.now().toISOString(),
    nextCheckAt: stored?.errors ? schedule(deps, watched, now, 0) : (stored ?? current).nextCheckAt,
    lastError: null,
    errors: 0,
  }));
  return { sighting, digest, broughtIn: true, error: null, errors: 0 };
}

function schedule(deps: WatchDeps, watched: WatchedTag, now: Date, errors: number, options: { retryAfterMs?: number | null; scheduledAt?: string | null } = {}): string {
  const random = (deps.random ?? Math.random)();
  const maxBackoffMs = deps.config.upstream.maxBackoffSeconds * 1000;
  const scheduledAt = options.scheduledAt ? new Date(options.scheduledAt) : null;
  return nextCheckAt({ now, intervalMs: watched.base.intervalMs, errors, retryAfterMs: options.retryAfterMs ?? null, maxBackoffMs, random, scheduledAt }).toISOString();
}

async function recordGoodCheck(deps: WatchDeps, watched: WatchedTag, now: Date): Promise<UpstreamTagRecord> {
  return deps.store.saveUpstreamTag(watched.base.registry, watched.base.repository, watched.tag, (stored) => {
    // While a sighting waits to be brought in, its failures keep counting (the back-off grows, the tag is
    // reported failing); the bring-in that follows this check clears them.
    if (stored!.pending !== null) return { ...stored!, lastCheckAt: now.toISOString(), nextCheckAt: schedule(deps, watched, now, stored!.errors, { scheduledAt: stored!.nextCheckAt }) };
    return { ...stored!, lastCheckAt: now.toISOString(), nextCheckAt: schedule(deps, watched, now, 0, { scheduledAt: stored!.nextCheckAt }), lastError: null, errors: 0 };
  });
}

/** Records a new digest (or a deletion) with the time of its first sighting, its platforms and config `created`. */
async function recordSighting(
  deps: WatchDeps,
  watched: WatchedTag,
  now: Date,
  digest: string | null,
  mediaType: string | null,
): Promise<UpstreamTagRecord> {
  const facts = digest === null ? { platforms: [], created: null } : await describeDigest(deps, watched, digest);
  const seen: UpstreamSighting = { digest, firstSeenAt: now.toISOString(), created: facts.created };
  // A deletion in mirror mode brings nothing in: production copies are never deleted by the watcher.
  const pending = digest === null && watched.base.mirror !== null ? null : seen;
  return deps.store.saveUpstreamTag(watched.base.registry, watched.base.repository, watched.tag, (stored) => {
    // An overlapping run that recorded this very sighting first keeps its first-sighting time.
    if (stored!.digest === digest && stored!.history.length > 0) return { ...stored!, lastCheckAt: now.toISOString() };
    return {
      ...stored!,
      digest,
      mediaType,
      platforms: facts.platforms,
      firstSeenAt: digest === null ? null : seen.firstSeenAt,
      created: facts.created,
      lastCheckAt: now.toISOString(),
      nextCheckAt: schedule(deps, watched, now, 0, { scheduledAt: stored!.nextCheckAt }),
      lastError: null,
      errors: 0,
      pending,
      broughtInAt: null,
      history: keepNewest(stored!.history, seen),
    };
  });
}

/** Each platform's digest of an index, and the config `created` time (of the first platform for an index). */
async function describeDigest(deps: WatchDeps, watched: WatchedTag, digest: string): Promise<{ platforms: Array<{ platform: string; digest: string }>; created: string | null }> {
  const registry = deps.upstreamRegistryFor(watched.base.registry);
  if (registry === null) return { platforms: [], created: null };
  const facts = await registry.readManifest(watched.base.repository, digest);
  if (facts === null) return { platforms: [], created: null };
  if (facts.kind === "image") return { platforms: [], created: facts.created };
  const platforms = facts.children.flatMap((child) => {
    const platform = formatPlatform(child.platform);
    return platform === null || platform.startsWith("unknown/") ? [] : [{ platform, digest: child.digest }];
  });
  const first = platforms[0];
  const child = first === undefined ? null : await registry.readManifest(watched.base.repository, first.digest);
  return { platforms, created: child?.kind === "image" ? child.created : null };
}

/**
 * Brings a sighting in: records where the digest came from (so the campaign's clock starts at the first
 * sighting), then mirrors it, or records the upstream event and processes it at once. Idempotent.
 */
async function bringIn(deps: WatchDeps, watched: WatchedTag, pending: UpstreamSighting): Promise<void> {
  const { base, tag } = watched;
  const recordedAt = deps.now().toISOString();
  if (base.mirror !== null) {
    if (pending.digest === null) return;
    const mirror = deps.mirrorFor(base.mirror.registry);
    if (mirror === null) throw new AppError("mirror_not_configured", `no mirror into ${base.mirror.registry}`);
    await deps.store.putPatchOrigin({ registry: base.mirror.registry, repository: base.mirror.repository, digest: pending.digest, upstream: watched.key, firstSeenAt: pending.firstSeenAt, created: pending.created, recordedAt });
    const timeoutSeconds = deps.config.upstream.bringInTimeoutSeconds;
    const signal = AbortSignal.timeout(timeoutSeconds * 1000);
    try {
      await mirror.mirror({ source: { registry: base.registry, repository: base.repository, digest: pending.digest }, target: { repository: base.mirror.repository, tag } }, { signal });
    } catch (error) {
      // One slow import must not hold the timer: the next check tries again (imports are idempotent).
      if (!signal.aborted) throw error;
      throw new AppError("mirror_timeout", `mirror into ${base.mirror.registry}/${base.mirror.repository}:${tag} not done after ${timeoutSeconds} s; tried again at the next check`, { retryable: true });
    }
    return;
  }
  if (pending.digest !== null) {
    await deps.store.putPatchOrigin({ registry: base.registry, repository: base.repository, digest: pending.digest, upstream: watched.key, firstSeenAt: pending.firstSeenAt, created: pending.created, recordedAt });
  }
  const event: RegistryEvent = {
    id: `upstream:${watched.key}@${pending.firstSeenAt}`,
    source: "upstream",
    action: pending.digest === null ? "delete" : "push",
    registry: base.registry,
    repository: base.repository,
    tag,
    digest: pending.digest,
    mediaType: null,
    occurredAt: pending.firstSeenAt,
  };
  await recordEvents(deps, [event], 0);
  await processRecordedEvents(deps, [dedupeKey(event)], { budgetMs: 1_500 });
}

async function failCheck(deps: WatchDeps, watched: WatchedTag, now: Date, error: unknown, sighting: Sighting | null, doing = "checking"): Promise<CheckOutcome> {
  const message = `${doing} ${watched.key}: ${error instanceof Error ? error.message : String(error)}`;
  const retryAfter = error instanceof AppError ? error.details["retryAfterMs"] : undefined;
  const saved = await deps.store.saveUpstreamTag(watched.base.registry, watched.base.repository, watched.tag, (stored) => {
    const errors = (stored?.errors ?? 0) + 1;
    return {
      ...stored!,
      lastCheckAt: now.toISOString(),
      nextCheckAt: schedule(deps, watched, now, errors, { retryAfterMs: typeof retryAfter === "number" ? retryAfter : null }),
      lastError: message,
      errors,
    };
  });
  return { sighting, digest: null, broughtIn: false, error: message, errors: saved.errors };
}
