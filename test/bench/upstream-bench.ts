/**
 * Benchmarks of the upstream watch on the real local stack (token-auth upstream registry, the local
 * Functions host's `watchUpstream` timer, the mirror into the stack's registry):
 * - upstream_detect_ms: from publishing a new digest upstream to its campaign opened (seen, mirrored,
 *   the mirror's push notified and processed), with a 1 s interval; p50 / p95 over 20 publications;
 * - upstream_requests_per_tag_hour: HTTP requests to the upstream (HEADs, tag listings, token requests)
 *   per watched tag over one simulated hour in which nothing changes, at the default interval (60 s),
 *   listing interval (15 min) and timer (5 s), for 10 repositories × 20 tags matched by `3.*` globs; the
 *   watcher and the client's token cache run on a simulated clock against the real registry.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryStateStore } from "../doubles/memory-state-store.js";
import { createContentImageRegistry } from "../../shared/adapters/oci/content-image-registry.js";
import { createRegistryContentClient } from "../../shared/adapters/oci/registry-content-client.js";
import { waitFor } from "../../shared/cli/demo.js";
import { createServices } from "../../shared/composition.js";
import { loadSettings, parseConfig } from "../../shared/config.js";
import { campaignId } from "../../shared/domain/campaign.js";
import { publishRandomImage } from "../../shared/local/publish-image.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import type { WorkQueue } from "../../shared/ports/work-queue.js";
import { createBaseLayerCatalog } from "../../shared/use-cases/base-layer-catalog.js";
import { watchUpstream, type WatchDeps } from "../../shared/use-cases/watch-upstream.js";
import { percentile } from "./pipeline-bench.js";

const REPOSITORIES = 10;
const TAGS_PER_REPOSITORY = 20;
const TICK_MS = 5_000;

async function measureDetection(stack: Stack, rounds: number): Promise<{ p50: number; p95: number }> {
  const services = await createServices(loadSettings(stack.settings), stack.config);
  const publisher = createRegistryContentClient({ host: stack.upstream.host, agent: new Agent({ ca: stack.tls.caPem }), credentials: stack.upstream.publisher });
  const mirrorBase = `${stack.registry.host}/mirror/busybox:1`;
  const baseline = await publishRandomImage(publisher, "library/busybox", "1");
  await waitFor("the baseline mirrored", async () => ((await services.store.getTag(stack.registry.host, "mirror/busybox", "1"))?.digest === baseline ? true : null));
  const samples: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    // A random phase against the timer's ticks, as publications come.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_000));
    const publishedAt = Date.now();
    const digest = await publishRandomImage(publisher, "library/busybox", "1");
    const found = await waitFor("the campaign", () => services.store.getCampaign(campaignId(mirrorBase, digest)), 30_000);
    samples.push(Date.parse(found.campaign.openedAt) - publishedAt);
    if (process.env["RIPPLE_BENCH_VERBOSE"]) process.stderr.write(`upstream round ${round}: ${samples.at(-1)} ms\n`);
  }
  return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

async function measureRequests(stack: Stack): Promise<{ perTagHour: number; detail: Record<string, number> }> {
  const agent = new Agent({ ca: stack.tls.caPem, keepAlive: true });
  const publisher = createRegistryContentClient({ host: stack.upstream.host, agent, credentials: stack.upstream.publisher });
  for (let repository = 0; repository < REPOSITORIES; repository += 1) {
    for (let tag = 0; tag < TAGS_PER_REPOSITORY; tag += 1) await publishRandomImage(publisher, `bench/app${repository}`, `3.${tag}`);
    await publishRandomImage(publisher, `bench/app${repository}`, "edge");
  }
  let clock = Date.parse("2026-01-01T00:00:00Z");
  const counts = { head: 0, list: 0, token: 0, other: 0 };
  const content = createRegistryContentClient({
    host: stack.upstream.host,
    agent,
    now: () => clock,
    onRequest: ({ method, url }) => {
      const path = new URL(url).pathname;
      if (method === "HEAD") counts.head += 1;
      else if (path.endsWith("/tags/list")) counts.list += 1;
      else if (path === "/token") counts.token += 1;
      else counts.other += 1;
    },
  });
  const config = parseConfig(JSON.stringify({
    version: 1,
    registries: [{ host: stack.registry.host, kind: "distribution" }],
    upstream: { registries: [{ host: stack.upstream.host }] },
    bases: Array.from({ length: REPOSITORIES }, (_, n) => ({ image: `${stack.upstream.host}/bench/app${n}`, tags: ["3.*"] })),
  }));
  const store = createMemoryStateStore();
  const queue: WorkQueue = { enqueue: async () => undefined, deadLetter: async () => undefined };
  const registry = createContentImageRegistry(content);
  const deps: WatchDeps = {
    store,
    queue,
    config,
    registryFor: (host) => (host === content.host ? registry : null),
    layers: createBaseLayerCatalog({ store, config }),
    sources: { canRead: () => false, readFile: async () => null },
    now: () => new Date(clock),
    upstreamFor: (host) => (host === content.host ? content : null),
    upstreamRegistryFor: (host) => (host === content.host ? registry : null),
    mirrorFor: () => null,
  };
  const tick = async (): Promise<void> => {
    clock += TICK_MS;
    const summary = await watchUpstream(deps);
    if (summary.errors.length > 0) throw new Error(`upstream checks failed: ${summary.errors[0]!.error}`);
  };
  // Warm-up: every tag found, first-seen and recorded; then an hour in which nothing changes.
  for (let elapsed = 0; elapsed < 5 * 60_000; elapsed += TICK_MS) await tick();
  for (const key of Object.keys(counts) as Array<keyof typeof counts>) counts[key] = 0;
  for (let elapsed = 0; elapsed < 3_600_000; elapsed += TICK_MS) await tick();
  const tags = (await store.listUpstreamTags()).length;
  const total = counts.head + counts.list + counts.token + counts.other;
  return { perTagHour: Math.round((total / tags) * 100) / 100, detail: { tags, ...counts } };
}

/** Starts a stack, runs both measurements, stops it. */
export async function benchUpstream(): Promise<{
  upstream_detect_ms: { p50: number; p95: number };
  upstream_requests_per_tag_hour: number;
  upstream_requests_in_the_hour: Record<string, number>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-bench-upstream-"));
  const stack = await startStack({
    dir,
    config: { bases: [{ image: "{{upstream}}/library/busybox", tags: ["1"], mirror: "{{registry}}/mirror/busybox", intervalSeconds: 1 }] },
  });
  try {
    const upstream_detect_ms = await measureDetection(stack, 20);
    const requests = await measureRequests(stack);
    return { upstream_detect_ms, upstream_requests_per_tag_hour: requests.perTagHour, upstream_requests_in_the_hour: requests.detail };
  } finally {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
