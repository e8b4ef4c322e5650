import { describe, expect, it } from "vitest";
import { parseConfig, type RippleConfig } from "../../../shared/config.js";
import type { ManifestFacts } from "../../../shared/domain/image-facts.js";
import { AppError, UpstreamError } from "../../../shared/errors.js";
import type { ImageMirror, MirrorRequest } from "../../../shared/ports/image-mirror.js";
import type { ImageRegistry } from "../../../shared/ports/image-registry.js";
import type { RegistryContent } from "../../../shared/ports/registry-content.js";
import { watchUpstream, type WatchDeps } from "../../../shared/use-cases/watch-upstream.js";
import { REGISTRY, createDeps, image, index } from "./pipeline-helpers.js";

const UPSTREAM = "upstream.test";

/** An upstream registry in memory: tags point at manifests; faults are queued per call. */
function createFakeUpstream() {
  const manifests = new Map<string, ManifestFacts>();
  const tags = new Map<string, string>();
  const faults: Array<{ on: "head" | "list"; error: Error }> = [];
  const calls = { head: 0, list: 0, read: 0 };
  const take = (on: "head" | "list") => {
    const at = faults.findIndex((fault) => fault.on === on);
    if (at >= 0) throw faults.splice(at, 1)[0]!.error;
  };
  const content: RegistryContent = {
    host: UPSTREAM,
    async headManifest(repository, reference) {
      calls.head += 1;
      take("head");
      const digest = tags.get(`${repository}:${reference}`);
      return digest === undefined ? null : { digest, mediaType: manifests.get(digest)!.mediaType };
    },
    async listTags(repository) {
      calls.list += 1;
      take("list");
      return [...tags.keys()].filter((key) => key.startsWith(`${repository}:`)).map((key) => key.slice(repository.length + 1)).sort();
    },
    readRawManifest: () => Promise.reject(new Error("not used by the watcher")),
    openBlob: () => Promise.reject(new Error("not used by the watcher")),
    hasBlob: () => Promise.reject(new Error("not used by the watcher")),
    writeBlob: () => Promise.reject(new Error("not used by the watcher")),
    writeManifest: () => Promise.reject(new Error("not used by the watcher")),
  };
  const registry: ImageRegistry = {
    host: UPSTREAM,
    async readManifest(_repository, reference) {
      calls.read += 1;
      return manifests.get(reference) ?? null;
    },
    listRepositories: async () => [],
    listTags: (repository) => content.listTags(repository),
  };
  return {
    content,
    registry,
    calls,
    faults,
    publish(repository: string, tag: string, facts: ManifestFacts, children: ManifestFacts[] = []) {
      for (const entry of [facts, ...children]) manifests.set(entry.digest, entry);
      tags.set(`${repository}:${tag}`, facts.digest);
    },
    remove(repository: string, tag: string) {
      tags.delete(`${repository}:${tag}`);
    },
  };
}

function createFakeMirror() {
  const requests: MirrorRequest[] = [];
  const failures: Error[] = [];
  const mirror: ImageMirror = {
    registry: REGISTRY,
    async mirror(request) {
      const failure = failures.shift();
      if (failure) throw failure;
      requests.push(request);
      return { digest: request.source.digest, method: "copy", blobsCopied: 1, blobsSkipped: 0 };
    },
  };
  return { mirror, requests, failures };
}

function configWith(bases: unknown[], upstream: Record<string, unknown> = {}): RippleConfig {
  return parseConfig(JSON.stringify({
    version: 1,
    registries: [{ host: REGISTRY, kind: "distribution" }],
    upstream: { registries: [{ host: UPSTREAM }], ...upstream },
    bases,
  }));
}

const mirrored = configWith([{ image: `${UPSTREAM}/library/alpine`, tags: ["3.20"], mirror: `${REGISTRY}/mirror/alpine` }]);

function setUp(config: RippleConfig = mirrored) {
  const env = createDeps(config);
  const upstream = createFakeUpstream();
  const mirror = createFakeMirror();
  let clock = Date.parse("2026-11-26T12:00:00.000Z");
  const deps: WatchDeps = {
    ...env.deps,
    registryFor: (host) => (host === UPSTREAM ? upstream.registry : env.deps.registryFor(host)),
    now: () => new Date(clock),
    random: () => 0.5,
    upstreamFor: (host) => (host === UPSTREAM ? upstream.content : null),
    upstreamRegistryFor: (host) => (host === UPSTREAM ? upstream.registry : null),
    mirrorFor: (host) => (host === REGISTRY ? mirror.mirror : null),
  };
  const advance = (ms: number) => {
    clock += ms;
  };
  /** Ticks every 5 s (the production timer) for `ms`, returning every tick's summary. */
  const run = async (ms: number) => {
    const summaries = [];
    for (let waited = 0; waited < ms; waited += 5_000) {
      advance(5_000);
      summaries.push(await watchUpstream(deps));
    }
    return summaries;
  };
  const record = () => env.store.getUpstreamTag(UPSTREAM, "library/alpine", "3.20");
  return { ...env, deps, upstream, mirror, advance, run, record, at: () => new Date(clock).toISOString() };
}

const alpineA = image("alpine-a", ["a1"]);
/** A new tag's first check comes within one interval (60 s) of the tick that found it (5 s in). */
const FIRST_CHECK_MS = 65_000;
const alpineB = image("alpine-b", ["b1"]);

describe("watchUpstream", () => {
  it("schedules a new tag within its interval, then records the first digest and mirrors it", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    const first = await watchUpstream(env.deps);
    expect(first).toMatchObject({ watched: 1, checked: 0 });
    expect(env.upstream.calls.head).toBe(0);

    await env.run(60_000);
    const record = await env.record();
    expect(record).toMatchObject({ digest: alpineA.digest, pending: null, errors: 0, lastError: null, history: [{ digest: alpineA.digest, created: null }] });
    expect(env.mirror.requests).toEqual([{ source: { registry: UPSTREAM, repository: "library/alpine", digest: alpineA.digest }, target: { repository: "mirror/alpine", tag: "3.20" } }]);
    expect(await env.store.getPatchOrigin(REGISTRY, "mirror/alpine", alpineA.digest)).toEqual({
      registry: REGISTRY,
      repository: "mirror/alpine",
      digest: alpineA.digest,
      upstream: `${UPSTREAM}/library/alpine:3.20`,
      firstSeenAt: record!.history[0]!.firstSeenAt,
      created: null,
      recordedAt: record!.broughtInAt,
    });
  });

  it("makes one HEAD per interval while nothing changes, and reads nothing else", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    const before = { ...env.upstream.calls };
    await env.run(3_600_000);
    expect(env.upstream.calls.head - before.head).toBeGreaterThanOrEqual(57);
    expect(env.upstream.calls.head - before.head).toBeLessThanOrEqual(60);
    expect(env.upstream.calls.read - before.read).toBe(0);
    expect(env.upstream.calls.list).toBe(0);
    expect(env.mirror.requests).toHaveLength(1);
  });

  it("records a new digest with its first sighting, platforms and created time, and mirrors it by digest", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    const amd64 = { ...image("alpine-c-amd64", ["c1"]), created: "2026-11-26T11:58:00Z" };
    const arm64 = image("alpine-c-arm64", ["c2"], {}, { os: "linux", architecture: "arm64", variant: "v8" });
    const attestation = image("alpine-c-att", [], {}, { os: "unknown", architecture: "unknown", variant: null });
    const alpineC = index("alpine-c", [amd64, arm64, attestation]);
    env.upstream.publish("library/alpine", "3.20", alpineC, [amd64, arm64, attestation]);
    const summaries = await env.run(65_000);
    const seenAt = (await env.record())!.firstSeenAt!;
    expect(summaries.flatMap((summary) => summary.sightings)).toEqual([{ tag: `${UPSTREAM}/library/alpine:3.20`, sighting: "moved", digest: alpineC.digest }]);
    expect(await env.record()).toMatchObject({
      digest: alpineC.digest,
      platforms: [{ platform: "linux/amd64", digest: amd64.digest }, { platform: "linux/arm64/v8", digest: arm64.digest }],
      created: "2026-11-26T11:58:00Z",
      pending: null,
      history: [{ digest: alpineA.digest }, { digest: alpineC.digest, firstSeenAt: seenAt, created: "2026-11-26T11:58:00Z" }],
    });
    expect(env.mirror.requests.at(-1)).toEqual({ source: { registry: UPSTREAM, repository: "library/alpine", digest: alpineC.digest }, target: { repository: "mirror/alpine", tag: "3.20" } });
    expect((await env.store.getPatchOrigin(REGISTRY, "mirror/alpine", alpineC.digest))?.firstSeenAt).toBe(seenAt);
  });

  it("rides out a registry outage: errors recorded with back-off, no mirror, the patch seen once it is back", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.publish("library/alpine", "3.20", alpineB);
    for (let n = 0; n < 4; n += 1) env.upstream.faults.push({ on: "head", error: new UpstreamError("registry", "checking failed: network error ECONNREFUSED", { retryable: true }) });
    const down = await env.run(60_000);
    expect(down.flatMap((summary) => summary.errors).map((error) => error.error)).toEqual([`checking ${UPSTREAM}/library/alpine:3.20: registry: checking failed: network error ECONNREFUSED`]);
    expect(await env.record()).toMatchObject({ digest: alpineA.digest, errors: 1, lastError: `checking ${UPSTREAM}/library/alpine:3.20: registry: checking failed: network error ECONNREFUSED` });
    const record = (await env.record())!;
    expect(Date.parse(record.nextCheckAt) - Date.parse(record.lastCheckAt!)).toBe(120_000);
    expect(env.mirror.requests).toHaveLength(1);
    expect(await env.store.listCampaigns()).toEqual([]);

    // Three more failures (back-off 4, 8, 16 minutes), then the registry answers again.
    await env.run(30 * 60_000);
    expect(await env.record()).toMatchObject({ digest: alpineB.digest, errors: 0, lastError: null, pending: null });
    expect(env.mirror.requests.map((request) => request.source.digest)).toEqual([alpineA.digest, alpineB.digest]);
  });

  it("waits at least the registry's Retry-After after a 429", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    const error = new UpstreamError("registry", "checking failed with HTTP 429", { status: 429 });
    Object.assign(error.details, { retryAfterMs: 600_000 });
    env.upstream.faults.push({ on: "head", error });
    await env.run(65_000);
    const record = (await env.record())!;
    expect(record.errors).toBe(1);
    expect(Date.parse(record.nextCheckAt) - Date.parse(record.lastCheckAt!)).toBe(600_000);
  });

  it("keeps a sighting pending until the mirror succeeds, with its first-sighting time", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.publish("library/alpine", "3.20", alpineB);
    env.mirror.failures.push(new UpstreamError("registry", "pushing failed with HTTP 503", { status: 503 }));
    await env.run(65_000);
    const failed = (await env.record())!;
    expect(failed).toMatchObject({ digest: alpineB.digest, pending: { digest: alpineB.digest }, errors: 1, lastError: `bringing in ${UPSTREAM}/library/alpine:3.20: registry: pushing failed with HTTP 503` });
    await env.run(130_000);
    expect(await env.record()).toMatchObject({ digest: alpineB.digest, pending: null, errors: 0 });
    expect((await env.store.getPatchOrigin(REGISTRY, "mirror/alpine", alpineB.digest))?.firstSeenAt).toBe(failed.pending!.firstSeenAt);
    expect(env.mirror.requests.map((request) => request.source.digest)).toEqual([alpineA.digest, alpineB.digest]);
  });

  it("sees nothing of a tag that flaps and returns within one interval", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    const checked = env.upstream.calls.head;
    env.upstream.publish("library/alpine", "3.20", alpineB);
    env.upstream.publish("library/alpine", "3.20", alpineA);
    const summaries = await env.run(60_000);
    expect(env.upstream.calls.head).toBeGreaterThan(checked);
    expect(summaries.flatMap((summary) => summary.sightings)).toEqual([]);
    expect(env.mirror.requests).toHaveLength(1);
  });

  it("records a rollback to an older digest in order and mirrors it again", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.publish("library/alpine", "3.20", alpineB);
    await env.run(65_000);
    env.upstream.publish("library/alpine", "3.20", alpineA);
    const summaries = await env.run(65_000);
    expect(summaries.flatMap((summary) => summary.sightings)).toEqual([{ tag: `${UPSTREAM}/library/alpine:3.20`, sighting: "rolled-back", digest: alpineA.digest }]);
    expect((await env.record())!.history.map((entry) => entry.digest)).toEqual([alpineA.digest, alpineB.digest, alpineA.digest]);
    expect(env.mirror.requests.map((request) => request.source.digest)).toEqual([alpineA.digest, alpineB.digest, alpineA.digest]);
  });

  it("records a deleted tag and leaves the mirror alone", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.remove("library/alpine", "3.20");
    const summaries = await env.run(65_000);
    expect(summaries.flatMap((summary) => summary.sightings)).toEqual([{ tag: `${UPSTREAM}/library/alpine:3.20`, sighting: "deleted", digest: null }]);
    expect(await env.record()).toMatchObject({ digest: null, pending: null, firstSeenAt: null });
    expect(env.mirror.requests).toHaveLength(1);
  });

  it("expands tag globs from a listing made at most every listTagsMinutes, and drops tags no longer listed", async () => {
    const env = setUp(configWith([{ image: `${UPSTREAM}/library/alpine`, tags: ["3.*"], mirror: `${REGISTRY}/mirror/alpine` }], { listTagsMinutes: 15 }));
    env.upstream.publish("library/alpine", "3.19", image("alpine-319", ["x"]));
    env.upstream.publish("library/alpine", "3.20", alpineA);
    env.upstream.publish("library/alpine", "edge", image("alpine-edge", ["e"]));
    await env.run(FIRST_CHECK_MS);
    const watched = async () => (await env.store.listUpstreamTags()).map((record) => record.tag);
    expect(await watched()).toEqual(["3.19", "3.20"]);
    expect(env.upstream.calls.list).toBe(1);

    env.upstream.publish("library/alpine", "3.21", image("alpine-321", ["y"]));
    env.upstream.remove("library/alpine", "3.19");
    await env.run(10 * 60_000);
    expect(env.upstream.calls.list).toBe(1);
    expect(await watched()).toEqual(["3.19", "3.20"]);
    await env.run(6 * 60_000);
    expect(env.upstream.calls.list).toBe(2);
    expect(await watched()).toEqual(["3.20", "3.21"]);
    await env.run(60_000);
    expect(env.mirror.requests.map((request) => request.target.tag).sort()).toEqual(["3.19", "3.20", "3.21"]);
  });

  it("opens a campaign directly on the upstream tag for a base without a mirror, its clock at the first sighting", async () => {
    const env = setUp(configWith([{ image: `${UPSTREAM}/library/alpine`, tags: ["3.20"] }]));
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.publish("library/alpine", "3.20", alpineB);
    await env.run(65_000);
    const seenAt = (await env.record())!.firstSeenAt!;
    const events = (await env.store.listEvents(10)).map((record) => ({ source: record.event?.source, tag: record.event?.tag, digest: record.event?.digest, occurredAt: record.event?.occurredAt, status: record.status }));
    expect(events[0]).toEqual({ source: "upstream", tag: "3.20", digest: alpineB.digest, occurredAt: seenAt, status: "processed" });
    const [campaign] = await env.store.listCampaigns();
    expect(campaign).toMatchObject({
      base: `${UPSTREAM}/library/alpine:3.20`,
      fromDigest: alpineA.digest,
      toDigest: alpineB.digest,
      root: { base: `${UPSTREAM}/library/alpine:3.20`, digest: alpineB.digest, availableAt: seenAt, source: "upstream-first-seen", created: null },
    });
    expect(env.mirror.requests).toEqual([]);
  });

  it("records an error for a mirror target without a mirror, and keeps the sighting", async () => {
    const env = setUp();
    const deps: WatchDeps = { ...env.deps, mirrorFor: () => null };
    env.upstream.publish("library/alpine", "3.20", alpineA);
    const summaries = [];
    for (let n = 0; n < 13; n += 1) {
      env.advance(5_000);
      summaries.push(await watchUpstream(deps));
    }
    expect(summaries.flatMap((summary) => summary.errors)[0]).toEqual({ tag: `${UPSTREAM}/library/alpine:3.20`, error: `bringing in ${UPSTREAM}/library/alpine:3.20: no mirror into ${REGISTRY}` });
    expect((await env.record())!.pending?.digest).toBe(alpineA.digest);
  });

  it("checks 1,000 watched tags within each interval, spread over the ticks, never more than `concurrency` at once", async () => {
    const tags = Array.from({ length: 1000 }, (_, n) => `t${n}`);
    const env = setUp(configWith([{ image: `${UPSTREAM}/library/alpine`, tags, mirror: `${REGISTRY}/mirror/alpine` }], { concurrency: 8 }));
    for (const tag of tags) env.upstream.publish("library/alpine", tag, alpineA);
    await env.run(FIRST_CHECK_MS + 60_000);
    let inFlight = 0;
    let most = 0;
    const head = env.upstream.content.headManifest;
    env.upstream.content.headManifest = async (repository, reference) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return head(repository, reference);
    };
    const checks: number[] = [];
    for (let tick = 0; tick < 24; tick += 1) {
      const before = env.upstream.calls.head;
      await env.run(5_000);
      checks.push(env.upstream.calls.head - before);
    }
    // Two minutes: every tag twice, 2,000 checks, about 83 a tick; no tick carries a burst.
    expect(checks.reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(1_900);
    expect(Math.max(...checks)).toBeLessThanOrEqual(125);
    expect(most).toBe(8);
  });

  it("keeps backing off a mirror that keeps failing, and reports the tag failing after five failures in a row", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.publish("library/alpine", "3.20", alpineB);
    for (let n = 0; n < 20; n += 1) env.mirror.failures.push(new AppError("digest_mismatch", "blob content does not match its digest"));
    const summaries = await env.run(3_600_000);
    const record = (await env.record())!;
    expect(record.pending?.digest).toBe(alpineB.digest);
    // Back-off 2, 4, 8, 15, 15 … minutes: about eight attempts in the hour, not sixty.
    expect(env.mirror.failures.length).toBeGreaterThanOrEqual(10);
    expect(record.errors).toBe(20 - env.mirror.failures.length);
    const failing = summaries.flatMap((summary) => summary.failing);
    expect(failing.length).toBe(record.errors - 4);
    expect(failing[0]).toEqual({ tag: `${UPSTREAM}/library/alpine:3.20`, errors: 5, error: `bringing in ${UPSTREAM}/library/alpine:3.20: blob content does not match its digest` });
  });

  it("gives up waiting for a mirror at the deadline and keeps the sighting for the next check", async () => {
    const env = setUp(configWith([{ image: `${UPSTREAM}/library/alpine`, tags: ["3.20"], mirror: `${REGISTRY}/mirror/alpine` }], { bringInTimeoutSeconds: 1 }));
    const hanging: ImageMirror = {
      registry: REGISTRY,
      mirror: (_request, options) => new Promise((_resolve, reject) => options?.signal?.addEventListener("abort", () => reject(Object.assign(new Error("The operation was aborted."), { name: "AbortError" })))),
    };
    const deps: WatchDeps = { ...env.deps, mirrorFor: () => hanging };
    env.upstream.publish("library/alpine", "3.20", alpineA);
    const errors = [];
    for (let n = 0; n < 13; n += 1) {
      env.advance(5_000);
      errors.push(...(await watchUpstream(deps)).errors);
    }
    expect(errors).toEqual([{ tag: `${UPSTREAM}/library/alpine:3.20`, error: `bringing in ${UPSTREAM}/library/alpine:3.20: mirror into ${REGISTRY}/mirror/alpine:3.20 not done after 1 s; tried again at the next check` }]);
    expect((await env.record())!.pending?.digest).toBe(alpineA.digest);
  });

  it("records a sighting once when two runs overlap, with the first run's time", async () => {
    const env = setUp();
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.publish("library/alpine", "3.20", alpineB);
    env.advance(65_000);
    const [first, second] = await Promise.all([watchUpstream(env.deps), watchUpstream(env.deps)]);
    expect([...first.sightings, ...second.sightings].map((sighting) => sighting.digest)).toContain(alpineB.digest);
    const record = (await env.record())!;
    expect(record.history.map((entry) => entry.digest)).toEqual([alpineA.digest, alpineB.digest]);
    expect((await env.store.getPatchOrigin(REGISTRY, "mirror/alpine", alpineB.digest))?.firstSeenAt).toBe(record.firstSeenAt);
  });

  it("keeps watching the known tags when a listing suddenly comes back empty", async () => {
    const env = setUp(configWith([{ image: `${UPSTREAM}/library/alpine`, tags: ["3.*"], mirror: `${REGISTRY}/mirror/alpine` }], { listTagsMinutes: 1 }));
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    const list = env.upstream.content.listTags;
    env.upstream.content.listTags = async () => [];
    await env.run(3 * 60_000);
    expect((await env.store.listUpstreamTags()).map((record) => record.tag)).toEqual(["3.20"]);
    expect((await env.store.getUpstreamListing(UPSTREAM, "library/alpine"))?.tags).toEqual(["3.20"]);
    env.upstream.content.listTags = list;
  });

  it("opens a campaign for a watched tag deleted upstream and published again with a new digest (direct mode)", async () => {
    const env = setUp(configWith([{ image: `${UPSTREAM}/library/alpine`, tags: ["3.20"] }]));
    env.upstream.publish("library/alpine", "3.20", alpineA);
    await env.run(FIRST_CHECK_MS);
    env.upstream.remove("library/alpine", "3.20");
    await env.run(65_000);
    expect((await env.store.getTag(UPSTREAM, "library/alpine", "3.20"))?.digest).toBeNull();
    env.upstream.publish("library/alpine", "3.20", alpineB);
    await env.run(65_000);
    expect((await env.store.listCampaigns()).map((campaign) => [campaign.fromDigest, campaign.toDigest])).toEqual([[alpineA.digest, alpineB.digest]]);
  });
});
