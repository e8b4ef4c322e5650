/**
 * webhook_500_events_ms: one request of 500 Event Grid events (the per-request limit) through the real
 * `registryWebhook` handler and composition root on Azurite, from the call to the answer. The registry
 * behind it is a stand-in that takes 12 ms per manifest read (what the issue #10 run measured: 2,000 reads
 * in 25.5 s), so the inline part costs what it would. Target ≤ 2,000 (Event Grid gives up at 30 s).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import type { Services } from "../../shared/composition.js";
import { startAzurite } from "../../shared/local/azurite.js";

const SECRET = "bench-webhook-secret-0123456789";
const REGISTRY = "benchwebhook.azurecr.io";
const READ_MS = 12;

/** `count` ImagePushed events of distinct tags, in the Event Grid schema. */
function events(count: number): unknown[] {
  const digest = `sha256:${"d".repeat(64)}`;
  return Array.from({ length: count }, (_, index) => ({
    id: `bench-${index}`,
    topic: "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/benchwebhook",
    subject: `bench/app:${index}`,
    eventType: "Microsoft.ContainerRegistry.ImagePushed",
    eventTime: new Date(Date.now() - 60_000 + index).toISOString(),
    dataVersion: "1.0",
    metadataVersion: "1",
    data: {
      id: `bench-${index}`,
      action: "push",
      target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest, length: 1, repository: "bench/app", tag: String(index) },
      request: { id: `r-${index}`, host: REGISTRY, method: "PUT", useragent: "bench" },
    },
  }));
}

/** A registry whose manifests are gone, answering each read after {@link READ_MS}. */
function slowRegistry(host: string): ReturnType<Services["registryFor"]> {
  return {
    host,
    readManifest: async () => new Promise((resolve) => setTimeout(() => resolve(null), READ_MS)),
    listRepositories: async () => [],
    listTags: async () => [],
  };
}

export async function benchWebhook(count = 500): Promise<{ webhook_500_events_ms: number }> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-bench-webhook-"));
  const azurite = await startAzurite({ dir: join(dir, "azurite") });
  const saved = { ...process.env };
  try {
    await writeFile(join(dir, "ripple.yaml"), `version: 1\nregistries:\n  - host: ${REGISTRY}\n`);
    Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: SECRET, RIPPLE_TABLE_PREFIX: "benchwh", RIPPLE_QUEUE_PREFIX: "benchwh" });
    const { registryWebhook } = await import("../../functions/registry-webhook.js");
    const services = await (await import("../../shared/composition.js")).getServices();
    Object.assign(services, { registryFor: slowRegistry });
    const call = async (body: string) => {
      const request = new functions.HttpRequest({ method: "POST", url: "http://localhost/api/registry/events", headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` }, body: { string: body } });
      return registryWebhook(request, new functions.InvocationContext({ functionName: "registryWebhook", logHandler: () => undefined }));
    };
    await call(JSON.stringify(events(1).map((event) => ({ ...(event as object), id: "warm-up" })))); // tables, queue, connections
    const body = JSON.stringify(events(count));
    const started = performance.now();
    const response = await call(body);
    const elapsed = performance.now() - started;
    if (response.status !== 202) throw new Error(`webhook bench: expected 202, got ${response.status} ${JSON.stringify(response.jsonBody)}`);
    return { webhook_500_events_ms: Math.round(elapsed) };
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
