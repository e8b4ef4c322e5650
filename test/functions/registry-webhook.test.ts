/**
 * The HTTP entry point with real payloads (the Azure docs samples of each schema and a Distribution
 * envelope), through the composition root on Azurite: status codes, bodies, what gets recorded.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import type { Services } from "../../shared/composition.js";

const SECRET = "functions-test-secret-0123456789";
const fixture = (name: string) => readFile(new URL(`../fixtures/events/${name}`, import.meta.url), "utf8");

describe("registryWebhook (HTTP trigger)", () => {
  let dir: string;
  let azurite: LocalAzurite;
  let handler: typeof import("../../functions/registry-webhook.js").registryWebhook;
  let services: Services;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-functions-"));
    azurite = await startAzurite({ dir: join(dir, "azurite") });
    await writeFile(join(dir, "ripple.yaml"), "version: 1\nregistries:\n  - host: ripplebase.azurecr.io\n  - host: 127.0.0.1:5000\n    kind: distribution\n");
    Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: SECRET, RIPPLE_TABLE_PREFIX: "fn", RIPPLE_QUEUE_PREFIX: "fn" });
    handler = (await import("../../functions/registry-webhook.js")).registryWebhook;
    services = await (await import("../../shared/composition.js")).getServices();
  });

  afterAll(async () => {
    await azurite?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function call(body: string, headers: Record<string, string>, method = "POST") {
    const request = new functions.HttpRequest({ method, url: "http://localhost/api/registry/events", headers: { "content-length": String(Buffer.byteLength(body)), ...headers }, ...(body ? { body: { string: body } } : {}) });
    const context = new functions.InvocationContext({ functionName: "registryWebhook", logHandler: () => undefined });
    const response = await handler(request, context);
    return { status: response.status, body: response.jsonBody as unknown, headers: response.headers };
  }

  const auth = { authorization: `Bearer ${SECRET}` };

  it.each([
    ["eventgrid-image-pushed.json", "application/json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 0 }],
    ["eventgrid-image-deleted.json", "application/json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 0 }],
    ["eventgrid-chart-pushed.json", "application/json", { status: "recorded", accepted: 0, duplicates: 0, ignored: 1 }],
    ["cloudevents-image-pushed.json", "application/cloudevents+json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 0 }],
    ["acr-webhook-push.json", "application/json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 0 }],
    ["acr-webhook-delete.json", "application/json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 0 }],
    // The envelope also carries two blob events, which are ignored.
    ["distribution-push.json", "application/vnd.docker.distribution.events.v1+json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 2 }],
    ["distribution-pull.json", "application/vnd.docker.distribution.events.v1+json", { status: "recorded", accepted: 0, duplicates: 0, ignored: 2 }],
  ])("accepts %s with 202", async (name, contentType, expected) => {
    expect(await call(await fixture(name), { "content-type": contentType, ...auth })).toMatchObject({ status: 202, body: expected });
  });

  it("answers the Event Grid subscription validation handshake", async () => {
    const body = await fixture("eventgrid-subscription-validation.json");
    const code = (JSON.parse(body) as { data: { validationCode: string } }[])[0]!.data.validationCode;
    expect(await call(body, { "content-type": "application/json", "aeg-event-type": "SubscriptionValidation", ...auth })).toMatchObject({ status: 200, body: { validationResponse: code } });
  });

  it("answers the CloudEvents OPTIONS handshake", async () => {
    const response = await call("", { "webhook-request-origin": "eventgrid.azure.net" }, "OPTIONS");
    expect(response.status).toBe(200);
    expect(new Headers(response.headers as Record<string, string>).get("webhook-allowed-origin")).toBe("eventgrid.azure.net");
  });

  it.each([
    ["no secret", {}, 401],
    ["a wrong secret", { authorization: "Bearer not-the-secret-at-all" }, 401],
  ])("refuses %s", async (_, headers, status) => {
    expect((await call(await fixture("eventgrid-image-pushed.json"), { "content-type": "application/json", ...headers })).status).toBe(status);
  });

  it("answers 400 with the path for a payload of the wrong types, 413 for an oversized one", async () => {
    const before = (await services.store.listEvents(100)).length;
    const bad = await call('[{"id": 1}]', { "content-type": "application/json", ...auth });
    expect(bad.status).toBe(400);
    expect((bad.body as { error: string }).error).toBe("validation_failed");
    expect((await call("x".repeat(1024 * 1024 + 1), { "content-type": "application/json", ...auth })).status).toBe(413);
    expect((await services.store.listEvents(100)).length).toBe(before);
  });
});
