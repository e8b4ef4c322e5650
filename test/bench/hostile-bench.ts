/**
 * hostile_heap_growth_mb: how much the heap grows (after a forced GC) across 1,000 hostile requests through
 * the real `registryWebhook` handler and composition root on Azurite — wrong secrets, oversized and
 * too-many-event bodies, non-JSON, 10,000-level nesting, 100 KB strings, `../` names, bad digests,
 * contradicting actions, future-dated and foreign-host events, broken Distribution envelopes — after one
 * warm-up round of the same requests. Target: flat (well under 10 MB). hostile_foreign_connections counts
 * connections to a listener every foreign-host payload names (target 0). Issue #10.
 *
 * Runs in a child `node --expose-gc` process of its own: the handler's services are a process-wide
 * singleton (another benchmark's would point at a stopped Azurite), and other benchmarks' heaps would blur
 * the figure. `node --expose-gc dist/test/bench/hostile-bench.js` runs it alone.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startCountingListener } from "../doubles/counting-listener.js";
import { promisify } from "node:util";
import functions from "@azure/functions";
import { startAzurite } from "../../shared/local/azurite.js";

const SECRET = "bench-hostile-secret-0123456789";
const REGISTRY = "benchhostile.azurecr.io";
const REQUESTS = 1000;
const MIB = 1024 * 1024;
const DIGEST = `sha256:${"d".repeat(64)}`;
const VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent";

interface HostileRequest {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** An Event Grid push from `host`, with `data` and `target` fields overridden. */
function push(host: string, data: Record<string, unknown> = {}, target: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "hostile-1",
    subject: "base/app:1",
    eventType: "Microsoft.ContainerRegistry.ImagePushed",
    eventTime: "2024-07-01T10:00:00Z",
    dataVersion: "1.0",
    data: { action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest: DIGEST, length: 1, repository: "base/app", tag: "1", ...target }, request: { host }, ...data },
  };
}

function distribution(host: string, target: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: "dist-1", timestamp: "2024-07-01T10:00:00Z", action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: DIGEST, repository: "base/app", tag: "1", ...target }, request: { host } };
}

/** One of each kind of hostile request (none is answered by a registry read: none names a configured registry validly). */
function hostileRequests(foreign: string): HostileRequest[] {
  const auth = { authorization: `Bearer ${SECRET}` };
  const eg = { "content-type": "application/json", ...auth };
  const dist = { "content-type": "application/vnd.docker.distribution.events.v1+json", ...auth };
  const post = (headers: Record<string, string>, body: unknown) => ({ method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  const huge = "a".repeat(100_000);
  return [
    post({ "content-type": "application/json" }, [push(REGISTRY)]),
    post({ "content-type": "application/json", authorization: "Bearer wrong" }, [push(REGISTRY)]),
    post(eg, "x".repeat(MIB + 1)),
    post(eg, Array.from({ length: 501 }, (_, index) => ({ ...push(REGISTRY), id: `many-${index}` }))),
    post(eg, "not json"),
    post(eg, `${"[".repeat(10_000)}0${"]".repeat(10_000)}`),
    post(eg, [push(REGISTRY, {}, { tag: huge })]),
    post(eg, [{ id: "v", eventType: VALIDATION, data: { validationCode: huge } }]),
    post(eg, [push(REGISTRY, {}, { repository: "../../etc/passwd" })]),
    post(eg, [push(REGISTRY, {}, { digest: "sha256:nope" })]),
    post(eg, [push(REGISTRY, { action: "delete" })]),
    post(eg, [push(REGISTRY, {}, { size: -1 })]),
    post(eg, [{ ...push(REGISTRY), eventTime: "9999-01-01T00:00:00Z" }]),
    post(eg, [{ id: "v", eventType: VALIDATION, data: { validationCode: "c" } }, push(REGISTRY)]),
    post(eg, `[{"__proto__": ${JSON.stringify(push(REGISTRY))}}]`),
    post({ "content-type": "application/cloudevents+json", ...auth }, { specversion: "0.3", id: "ce", source: "s", type: "Microsoft.ContainerRegistry.ImagePushed", data: {} }),
    post(eg, [push(foreign)]),
    post(dist, { events: [distribution(foreign), distribution(foreign, { digest: "sha256:nope" })] }),
    post(dist, "not an envelope"),
    { method: "OPTIONS", headers: { "webhook-request-origin": "eventgrid.azure.net" }, body: "" },
  ];
}


function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("hostile bench: run node with --expose-gc");
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The measurement itself, in this process. */
async function measure(): Promise<{ hostile_heap_growth_mb: number; hostile_foreign_connections: number }> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-bench-hostile-"));
  const azurite = await startAzurite({ dir: join(dir, "azurite") });
  const foreign = await startCountingListener();
  try {
    await writeFile(join(dir, "ripple.yaml"), `version: 1\nregistries:\n  - host: ${REGISTRY}\n`);
    Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: SECRET, RIPPLE_TABLE_PREFIX: "benchhostile", RIPPLE_QUEUE_PREFIX: "benchhostile" });
    const { registryWebhook } = await import("../../functions/registry-webhook.js");
    const requests = hostileRequests(foreign.host);
    const send = async ({ method, headers, body }: HostileRequest) => {
      const request = new functions.HttpRequest({ method, url: "http://localhost/api/registry/events", headers: { "content-length": String(Buffer.byteLength(body)), ...headers }, ...(body ? { body: { string: body } } : {}) });
      const response = await registryWebhook(request, new functions.InvocationContext({ functionName: "registryWebhook", logHandler: () => undefined }));
      if (response.status === undefined || response.status >= 500) throw new Error(`hostile bench: answered ${response.status} ${JSON.stringify(response.jsonBody)}`);
    };
    // One warm-up round: tables, queue, connections, compiled code, and the rows the recorded ones write.
    for (const request of requests) await send(request);
    const before = heapAfterGc();
    for (let index = 0; index < REQUESTS; index += 1) await send(requests[index % requests.length]!);
    const after = heapAfterGc();
    return { hostile_heap_growth_mb: Math.round(((after - before) / MIB) * 10) / 10, hostile_foreign_connections: foreign.connections() };
  } finally {
    await foreign.close();
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs {@link measure} in a child `node --expose-gc` process and returns its figures. */
export async function benchHostile(): Promise<{ hostile_heap_growth_mb: number; hostile_foreign_connections: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url)], { maxBuffer: 1024 * 1024 });
  const last = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as { hostile_heap_growth_mb: number; hostile_foreign_connections: number };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await measure())}\n`);
  // Storage clients keep sockets alive; the figures are out, so the child ends here.
  process.exit(0);
}
