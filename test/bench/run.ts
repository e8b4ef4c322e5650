/**
 * `npm run bench`: prints one JSON object of speed and memory figures. Targets (issue #2):
 * impact_query_ms ≤ 20, layer_index_build_s ≤ 2, peak_rss_mb ≤ 1024, ingest_events_per_s ≥ 300 (issue #2);
 * push_to_rebuild_enqueued_ms.p95 ≤ 250 and cascade_overhead_ratio ≤ 1.2 on the local stack (issue #3);
 * upstream_detect_ms.p95 ≤ 2 500 (a 1 s interval + 1 500 ms) and upstream_requests_per_tag_hour ≤ 61 (issue #7).
 * sla_tick_ms ≤ 500 (one SLA monitor tick over 10,000 open obligations in 1,000 campaigns) and
 * breach_to_sink_ms.p95 ≤ 1 000 (from the tick that finds a breach to the local sink receiving it), issue #9.
 * webhook_500_events_ms ≤ 2 000 (one request of 500 events through the registry webhook on Azurite), issue #10.
 * cli_start_ms ≤ 200 (`ripple --help`) and extract_ratio_vs_peer ≤ 0.5 (`ripple extract` against Renovate's
 * Dockerfile extractor on 5,000 Dockerfiles), issue #11.
 * `node --expose-gc dist/test/bench/run.js upstream` (or `sla`, `webhook`, `cli`) runs only those benchmarks.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorageWorkQueue } from "../../shared/adapters/storage-queue/storage-work-queue.js";
import { createTableStateStore } from "../../shared/adapters/table-storage/table-state-store.js";
import { parseConfig } from "../../shared/config.js";
import type { RegistryEvent } from "../../shared/domain/registry-event.js";
import { startAzurite } from "../../shared/local/azurite.js";
import { recordEvents } from "../../shared/use-cases/receive-notification.js";
import { benchImpactQuery, benchLayerIndexBuild } from "./graph-bench.js";
import { benchPipeline } from "./pipeline-bench.js";
import { benchBreachToSink } from "./alert-bench.js";
import { benchSlaTick } from "./sla-bench.js";
import { benchUpstream } from "./upstream-bench.js";
import { benchWebhook } from "./webhook-bench.js";
import { benchHostile } from "./hostile-bench.js";
import { benchCli } from "./cli-bench.js";

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

/** Events recorded per second through the Table Storage adapter and queue on Azurite (16 deliveries in flight). */
async function benchIngest(count = 2000, concurrency = 16): Promise<{ ingest_events_per_s: number }> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-bench-"));
  const azurite = await startAzurite({ dir });
  try {
    const store = createTableStateStore({ connectionString: azurite.connectionString, tablePrefix: "bench" });
    await store.init();
    const queue = createStorageWorkQueue({ connectionString: azurite.connectionString, queuePrefix: "bench" });
    const config = parseConfig(JSON.stringify({ version: 1, registries: [{ host: "bench.azurecr.io" }] }));
    const deps = { store, queue, config, now: () => new Date() };
    const event = (i: number): RegistryEvent => ({
      id: `e${i}`,
      source: "eventgrid",
      action: "push",
      registry: "bench.azurecr.io",
      repository: `team${i % 50}/app${i % 997}`,
      tag: `v${i}`,
      digest: `sha256:${i.toString(16).padStart(64, "0")}`,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      occurredAt: new Date(1_700_000_000_000 + i).toISOString(),
    });
    await recordEvents(deps, [event(-1)], 0); // warm the connections and create the queue
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          await recordEvents(deps, [event(i)], 0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { ingest_events_per_s: Math.round(count / seconds) };
  } finally {
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const only = process.argv[2];
const results = only === "upstream"
  ? await benchUpstream()
  : only === "sla"
  ? { ...(await benchSlaTick()), ...(await benchBreachToSink()) }
  : only === "webhook"
  ? await benchWebhook()
  : only === "cli"
  ? await benchCli()
  : {
      ...(await benchIngest()),
      ...(await benchWebhook()),
      ...(await benchHostile()),
      ...(await benchPipeline()),
      ...(await benchUpstream()),
      ...(await benchSlaTick()),
      ...(await benchBreachToSink()),
      ...benchImpactQuery(),
      ...benchLayerIndexBuild(),
      ...(await benchCli()),
    };
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
process.stdout.write(`${JSON.stringify({ ...results, peak_rss_mb: Math.round(peakRss / (1024 * 1024)) }, null, 2)}\n`);
