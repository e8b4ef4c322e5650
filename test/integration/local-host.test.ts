/**
 * The local Functions host on real Azurite: queue-trigger semantics (retries with dequeue count, the
 * poison queue), HTTP routes, the Event Grid endpoint's handshake and timers, and the access keys Azure
 * enforces (issue #10, defect 8), using throwaway function definitions registered through the same
 * `register` the app uses.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QueueServiceClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import { generateHostKeys, HOST_KEY_SETTINGS, hostKeysOf, SIGN_IN_EXCLUDED_PATHS, startLocalHost, type LocalHost } from "../../shared/local/local-host.js";
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
register.http("excludedWhoami", {
  methods: ["POST"],
  authLevel: "function",
  route: "waivers",
  handler: async (request) => ({ status: 200, jsonBody: { name: request.headers.get("x-ms-client-principal-name"), idp: request.headers.get("x-ms-client-principal-idp") } }),
});
register.http("keyed", { methods: ["GET"], authLevel: "function", route: "keyed", handler: async () => ({ status: 200, jsonBody: { keyed: true } }) });
register.http("adminOnly", { methods: ["GET"], authLevel: "admin", route: "admin-only", handler: async () => ({ status: 200, jsonBody: { admin: true } }) });
register.http("open", { methods: ["GET"], authLevel: "anonymous", route: "open", handler: async () => ({ status: 200, jsonBody: { open: true } }) });
register.eventGrid("onEvent", { handler: async (event) => { seen.events.push(event.id); if (event.id === "boom") throw new Error("boom"); } });
register.timer("tick", { schedule: "* * * * * *", handler: async () => { seen.timer += 1; } });
`;

interface Seen { flaky: { message: unknown; dequeueCount: number }[]; poison: number[]; timer: number; events: string[] }
const seen = (): Seen => (globalThis as unknown as { __hostTest: Seen }).__hostTest;
const KEYS = generateHostKeys();

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
      settings: { AzureWebJobsStorage: azurite.connectionString, TEST_PREFIX: "t", [HOST_KEY_SETTINGS.host]: KEYS.host, [HOST_KEY_SETTINGS.master]: KEYS.master, [HOST_KEY_SETTINGS.eventGrid]: KEYS.eventGrid },
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
    expect(host.functions.map((definition) => `${definition.kind}:${definition.name}`)).toEqual(["storageQueue:flaky", "storageQueue:alwaysFails", "http:echo", "http:whoami", "http:excludedWhoami", "http:keyed", "http:adminOnly", "http:open", "eventGrid:onEvent", "timer:tick"]);
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

  it("signs nobody in on a path excluded from sign-in (as the infra's excludedPaths, which it mirrors), and keeps its key check", async () => {
    const bicep = await readFile(resolve(import.meta.dirname, "../../infra/modules/pages-auth.bicep"), "utf8");
    const excluded = [.../param excludedPaths array = \[([^\]]*)\]/.exec(bicep)![1]!.matchAll(/'([^']+)'/g)].map((match) => match[1]);
    const headers = { "x-ms-client-principal-name": "mallory", "x-ms-client-principal-idp": "aad" };
    const withKey = await fetch(`${host.url}/api/waivers`, { method: "POST", headers: { ...headers, "x-functions-key": KEYS.host } });
    const withoutKey = await fetch(`${host.url}/api/waivers`, { method: "POST", headers });
    expect({ excluded, withKey: await withKey.json(), withoutKey: withoutKey.status }).toEqual({ excluded: [...SIGN_IN_EXCLUDED_PATHS], withKey: { name: null, idp: null }, withoutKey: 401 });
  });

  it("answers the Event Grid handshake and invokes the trigger once per event, 500 when one fails", async () => {
    const url = `${host.url}/runtime/webhooks/EventGrid?functionName=onEvent&code=${KEYS.eventGrid}`;
    const handshake = await fetch(url, { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation" }, body: JSON.stringify([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", data: { validationCode: "abc-123" } }]) });
    expect(await handshake.json()).toEqual({ validationResponse: "abc-123" });
    const ok = await fetch(url, { method: "POST", headers: { "aeg-event-type": "Notification" }, body: JSON.stringify([{ id: "e1" }, { id: "e2" }]) });
    expect(ok.status).toBe(202);
    const failed = await fetch(url, { method: "POST", headers: { "aeg-event-type": "Notification" }, body: JSON.stringify([{ id: "boom" }]) });
    expect(failed.status).toBe(500);
    expect(seen().events).toEqual(["e1", "e2", "boom"]);
    expect((await fetch(`${host.url}/runtime/webhooks/EventGrid?functionName=nope&code=${KEYS.eventGrid}`, { method: "POST", body: "[]" })).status).toBe(404);
  });

  describe("access keys, as Azure enforces them (issue #10, defect 8)", () => {
    const eventGridUrl = (query = "") => `${host.url}/runtime/webhooks/EventGrid?functionName=onEvent${query}`;
    const deliver = (url: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: "POST", headers: { "aeg-event-type": "Notification", ...headers }, body: JSON.stringify([{ id: "keyed-event" }]) });

    it("reads its keys from the app settings", () => {
      expect(host.keys).toEqual(KEYS);
    });

    it.each<[string, string, Record<string, string>, number]>([
      ["no key", "", {}, 401],
      ["a wrong code", "&code=not-the-key", {}, 401],
      ["the host key (not a system key)", `&code=${KEYS.host}`, {}, 401],
      ["the key with one character changed", `&code=${KEYS.eventGrid.slice(0, -1)}${KEYS.eventGrid.endsWith("A") ? "B" : "A"}`, {}, 401],
      ["the eventgrid_extension system key as ?code=", `&code=${KEYS.eventGrid}`, {}, 202],
      ["the system key in x-functions-key", "", { "x-functions-key": KEYS.eventGrid }, 202],
      ["the master key", `&code=${KEYS.master}`, {}, 202],
    ])("answers an Event Grid delivery with %s: %i", async (_name, query, headers, status) => {
      const before = seen().events.length;
      const response = await deliver(eventGridUrl(query), headers);
      expect({ status: response.status, invoked: seen().events.length - before }).toEqual({ status, invoked: status === 202 ? 1 : 0 });
    });

    it("refuses the subscription validation handshake and the OPTIONS handshake without the key, and answers them with it", async () => {
      const validation = { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation" }, body: JSON.stringify([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", data: { validationCode: "abc-123" } }]) };
      const options = { method: "OPTIONS", headers: { "webhook-request-origin": "eventgrid.azure.net" } };
      expect((await fetch(eventGridUrl(), validation)).status).toBe(401);
      expect((await fetch(eventGridUrl(), options)).status).toBe(401);
      expect((await fetch(eventGridUrl(`&code=${KEYS.eventGrid}`), validation)).status).toBe(200);
      expect((await fetch(eventGridUrl(`&code=${KEYS.eventGrid}`), options)).status).toBe(200);
    });

    it.each<[string, string, Record<string, string>, number]>([
      ["/api/keyed", "", {}, 401],
      ["/api/keyed", "?code=not-the-key", {}, 401],
      ["/api/keyed", `?code=${KEYS.eventGrid}`, {}, 401],
      ["/api/keyed", `?code=${KEYS.host}`, {}, 200],
      ["/api/keyed", "", { "x-functions-key": KEYS.host }, 200],
      ["/api/keyed", `?code=${KEYS.master}`, {}, 200],
      ["/api/admin-only", "", {}, 401],
      ["/api/admin-only", `?code=${KEYS.host}`, {}, 401],
      ["/api/admin-only", "", { "x-functions-key": KEYS.master }, 200],
      ["/api/open", "", {}, 200],
      ["/api/whoami", "", {}, 200],
    ])("answers GET %s%s (headers %o) with %i", async (path, query, headers, status) => {
      expect((await fetch(`${host.url}${path}${query}`, { headers })).status).toBe(status);
    });

    it("takes a complete set of keys from the settings, or none", () => {
      expect(hostKeysOf({})).toBeNull();
      expect(() => hostKeysOf({ [HOST_KEY_SETTINGS.host]: "h" })).toThrow(`app setting ${HOST_KEY_SETTINGS.master}, ${HOST_KEY_SETTINGS.eventGrid} is not set (the local host needs all its keys)`);
    });

    it("generates distinct random keys", () => {
      const [a, b] = [generateHostKeys(), generateHostKeys()];
      expect(new Set([a.host, a.master, a.eventGrid, b.host, b.master, b.eventGrid]).size).toBe(6);
      expect([a.host, a.master, a.eventGrid].every((key) => /^[A-Za-z0-9_-]{43}$/.test(key))).toBe(true);
    });
  });

  it("runs timers on their schedule", async () => {
    const before = seen().timer;
    await waitFor("two timer ticks", async () => (seen().timer >= before + 2 ? true : null), 10_000);
  });
});
