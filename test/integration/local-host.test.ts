/**
 * The local Functions host on real Azurite: queue-trigger semantics (retries with dequeue count, the
 * poison queue), HTTP routes, the Event Grid endpoint's handshake and timers, using throwaway
 * function definitions registered through the same `register` the app uses.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QueueServiceClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import { startLocalHost, type LocalHost } from "../../shared/local/local-host.js";
import { waitFor } from "../../shared/cli/demo.js";

const definitions = resolve(import.meta.dirname, "../../shared/function-definitions.ts");

const FUNCTIONS = `
import { register } from ${JSON.stringify(definitions)};
export const seen = globalThis.__hostTest = { flaky: [], poison: [], timer: 0, events: [] };
register.storageQueue("flaky", {
  queueName: "%TEST_PREFIX%-flaky",
  connection: "AzureWebJobsStorage",
  handler: async (message, context) => {
    seen.flaky.push({ message, dequeueCount: context.triggerMetadata.dequeueCount });
    if (context.triggerMetadata.dequeueCount < 2) throw new Error("transient");
  },
});
register.storageQueue("alwaysFails", {
  queueName: "%TEST_PREFIX%-broken",
  connection: "AzureWebJobsStorage",
  handler: async (message, context) => {
    seen.poison.push(context.triggerMetadata.dequeueCount);
    throw new Error("permanent");
  },
});
register.http("echo", {
  methods: ["GET", "POST"],
  route: "things/{id}/{part?}",
  handler: async (request) => ({ status: 201, jsonBody: { id: request.params.id, part: request.params.part ?? null, q: request.query.get("q"), body: await request.text() } }),
});
register.http("whoami", {
  methods: ["GET"],
  route: "whoami",
  handler: async (request) => ({ status: 200, jsonBody: { name: request.headers.get("x-ms-client-principal-name"), idp: request.headers.get("x-ms-client-principal-idp"), authEnabled: process.env.WEBSITE_AUTH_ENABLED } }),
});
register.eventGrid("onEvent", { handler: async (event) => { seen.events.push(event.id); if (event.id === "boom") throw new Error("boom"); } });
register.timer("tick", { schedule: "* * * * * *", handler: async () => { seen.timer += 1; } });
`;

interface Seen { flaky: { message: unknown; dequeueCount: number }[]; poison: number[]; timer: number; events: string[] }
const seen = (): Seen => (globalThis as unknown as { __hostTest: Seen }).__hostTest;

describe("local Functions host", () => {
  let dir: string;
  let azurite: LocalAzurite;
  let host: LocalHost;
  let queues: QueueServiceClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-host-"));
    await writeFile(join(dir, "test-functions.js"), FUNCTIONS);
    azurite = await startAzurite({ dir: join(dir, "azurite") });
    host = await startLocalHost({
      functionsDir: dir,
      hostJsonPath: resolve(import.meta.dirname, "../../host.json"),
      settings: { AzureWebJobsStorage: azurite.connectionString, TEST_PREFIX: "t" },
      queue: { maxDequeueCount: 3, visibilityTimeoutMs: 0, maxPollingIntervalMs: 200 },
      log: () => undefined,
    });
    queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
  });

  afterAll(async () => {
    await host?.stop();
    await azurite?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves the registered definitions", () => {
    expect(host.functions.map((definition) => `${definition.kind}:${definition.name}`)).toEqual(["storageQueue:flaky", "storageQueue:alwaysFails", "http:echo", "http:whoami", "eventGrid:onEvent", "timer:tick"]);
  });

  it("retries a failing queue message with a growing dequeue count, then deletes it on success", async () => {
    await queues.getQueueClient("t-flaky").sendMessage(Buffer.from(JSON.stringify({ job: 1 })).toString("base64"));
    await waitFor("the flaky message to succeed", async () => (seen().flaky.length >= 2 ? true : null), 20_000);
    expect(seen().flaky).toEqual([{ message: { job: 1 }, dequeueCount: 1 }, { message: { job: 1 }, dequeueCount: 2 }]);
    const left = await queues.getQueueClient("t-flaky").peekMessages({ numberOfMessages: 32 });
    expect(left.peekedMessageItems).toEqual([]);
  });

  it("moves a message to <queue>-poison after maxDequeueCount failures", async () => {
    const text = Buffer.from(JSON.stringify({ job: "bad" })).toString("base64");
    await queues.getQueueClient("t-broken").sendMessage(text);
    const poisoned = await waitFor("the poison message", async () => {
      const peek = await queues.getQueueClient("t-broken-poison").peekMessages({ numberOfMessages: 32 }).catch(() => null);
      return peek && peek.peekedMessageItems.length > 0 ? peek.peekedMessageItems : null;
    }, 20_000);
    expect(poisoned.map((item) => item.messageText)).toEqual([text]);
    expect(seen().poison).toEqual([1, 2, 3]);
  });

  it("routes HTTP requests with parameters, query and body", async () => {
    const response = await fetch(`${host.url}/api/things/42?q=yes`, { method: "POST", body: "hello" });
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 201, body: { id: "42", part: null, q: "yes", body: "hello" } });
    expect((await fetch(`${host.url}/api/things/42/x`)).status).toBe(201);
    expect((await fetch(`${host.url}/api/things/42`, { method: "DELETE" })).status).toBe(404);
    expect((await fetch(`${host.url}/api/nothing`)).status).toBe(404);
  });

  it("stands in for App Service Authentication: every request signed in as the local user, client-sent principal headers dropped", async () => {
    const response = await fetch(`${host.url}/api/whoami`, { headers: { "x-ms-client-principal-name": "mallory", "x-ms-client-principal-idp": "aad" } });
    expect(await response.json()).toEqual({ name: "local-user", idp: "local", authEnabled: "True" });
  });

  it("answers the Event Grid handshake and invokes the trigger once per event, 500 when one fails", async () => {
    const url = `${host.url}/runtime/webhooks/EventGrid?functionName=onEvent`;
    const handshake = await fetch(url, { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation" }, body: JSON.stringify([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", data: { validationCode: "abc-123" } }]) });
    expect(await handshake.json()).toEqual({ validationResponse: "abc-123" });
    const ok = await fetch(url, { method: "POST", headers: { "aeg-event-type": "Notification" }, body: JSON.stringify([{ id: "e1" }, { id: "e2" }]) });
    expect(ok.status).toBe(202);
    const failed = await fetch(url, { method: "POST", headers: { "aeg-event-type": "Notification" }, body: JSON.stringify([{ id: "boom" }]) });
    expect(failed.status).toBe(500);
    expect(seen().events).toEqual(["e1", "e2", "boom"]);
    expect((await fetch(`${host.url}/runtime/webhooks/EventGrid?functionName=nope`, { method: "POST", body: "[]" })).status).toBe(404);
  });

  it("runs timers on their schedule", async () => {
    const before = seen().timer;
    await waitFor("two timer ticks", async () => (seen().timer >= before + 2 ? true : null), 10_000);
  });
});
