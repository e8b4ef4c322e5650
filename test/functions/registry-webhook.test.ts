/**
 * The HTTP entry point with real payloads (the Azure docs samples of each schema and a Distribution
 * envelope), through the composition root on Azurite: status codes, bodies, what gets recorded.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import type { Services } from "../../shared/composition.js";
import type { EventRecord } from "../../shared/ports/state-store.js";

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
    ["distribution-push.json", "application/vnd.docker.distribution.events.v1+json", { status: "recorded", accepted: 1, duplicates: 0, ignored: 2, rejected: 0, rejections: [] }],
    ["distribution-pull.json", "application/vnd.docker.distribution.events.v1+json", { status: "recorded", accepted: 0, duplicates: 0, ignored: 2, rejected: 0, rejections: [] }],
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

  describe("hostile corners (issue #10)", () => {
    const DISTRIBUTION = "application/vnd.docker.distribution.events.v1+json";
    const ALPINE = "sha256:d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4";
    let pushed: Record<string, unknown>;
    let validation: Record<string, unknown>;
    let manifestPush: Record<string, unknown> & { target: Record<string, unknown> };

    beforeAll(async () => {
      pushed = (JSON.parse(await fixture("eventgrid-image-pushed.json")) as Record<string, unknown>[])[0]!;
      validation = (JSON.parse(await fixture("eventgrid-subscription-validation.json")) as Record<string, unknown>[])[0]!;
      manifestPush = (JSON.parse(await fixture("distribution-push.json")) as { events: (typeof manifestPush)[] }).events[2]!;
    });

    /** An Event Grid push of base/alpine:3.20 with its own id and time (data.timestamp removed: eventTime orders it). */
    function push(id: string, eventTime: string, data: Record<string, unknown> = {}): Record<string, unknown> {
      const copy = structuredClone(pushed) as { data: Record<string, unknown> } & Record<string, unknown>;
      delete copy.data.timestamp;
      return { ...copy, id, eventTime, data: { ...copy.data, ...data } };
    }

    /** Calls the endpoint and returns the answer with the rows it added to the event store (by key). */
    async function callAndDiff(body: string, contentType: string) {
      const before = new Set((await services.store.listEvents(10_000)).map((record) => record.key));
      const response = await call(body, { "content-type": contentType, ...auth });
      const added = (await services.store.listEvents(10_000)).filter((record) => !before.has(record.key));
      const rows = added.map((record: EventRecord) => ({ key: record.key, event: record.event, status: record.status, reason: record.reason }));
      return { status: response.status, body: response.body, rows: rows.sort((a, b) => a.key.localeCompare(b.key)) };
    }

    it("records a push dated in year 9999 as rejected with its reason, answers 202, and queues nothing to process (defect 2)", async () => {
      const result = await callAndDiff(JSON.stringify([push("future-1", "9999-01-01T00:00:00Z")]), "application/json");
      const key = `ripplebase.azurecr.io|base/alpine|${ALPINE}|push|3.20|9999-01-01T00:00:00.000Z`;
      const reason = (result.body as { rejections: { reason: string }[] }).rejections[0]?.reason ?? "";
      expect(reason).toMatch(/^event time 9999-01-01T00:00:00\.000Z is more than 5 minutes ahead of the receiver's clock \(\d{4}-.*Z\)$/);
      expect(result).toEqual({
        status: 202,
        body: { status: "recorded", accepted: 0, duplicates: 0, ignored: 0, rejected: 1, rejections: [{ path: "0.eventTime", reason }] },
        rows: [
          {
            key,
            event: { id: "future-1", source: "eventgrid", action: "push", registry: "ripplebase.azurecr.io", repository: "base/alpine", tag: "3.20", digest: ALPINE, mediaType: "application/vnd.oci.image.index.v1+json", occurredAt: "9999-01-01T00:00:00.000Z" },
            status: "rejected",
            reason: `0.eventTime: ${reason}`,
          },
        ],
      });
    });

    it("does not let a tag move recorded in year 9999 (before this fix) block the next real move, in the Table Storage store", async () => {
      const other = `sha256:${"e".repeat(64)}`;
      await services.store.moveTag("ripplebase.azurecr.io", "frozen/base", "1", ALPINE, "9999-01-01T00:00:00.000Z");
      const real = new Date().toISOString();
      expect(await services.store.moveTag("ripplebase.azurecr.io", "frozen/base", "1", other, real)).toEqual({ applied: true, previous: ALPINE, current: other });
      expect(await services.store.getTag("ripplebase.azurecr.io", "frozen/base", "1")).toMatchObject({ digest: other, at: real });
    });

    it("records the valid event of a Distribution envelope and rejects only the bad one, with its path (defect 6)", async () => {
      const good = { ...manifestPush, id: "mixed-good", timestamp: "2024-07-01T10:00:00Z" };
      const bad = { ...manifestPush, id: "mixed-bad", target: { ...manifestPush.target, digest: "sha256:nope" } };
      const result = await callAndDiff(JSON.stringify({ events: [good, bad] }), DISTRIBUTION);
      const reason = "sha256 digest must be 64 lowercase hex characters";
      const goodEvent = { id: "mixed-good", source: "distribution", action: "push", registry: "127.0.0.1:5000", repository: "base/alpine", tag: "3.20", digest: ALPINE, mediaType: "application/vnd.oci.image.index.v1+json", occurredAt: "2024-07-01T10:00:00.000Z" };
      // The valid event is processed at once; with no registry listening it stays accepted for the queue to retry.
      expect(result).toEqual({
        status: 202,
        body: { status: "recorded", accepted: 1, duplicates: 0, ignored: 0, rejected: 1, rejections: [{ path: "events.1.target.digest", reason }] },
        rows: [
          { key: `127.0.0.1:5000|base/alpine|${ALPINE}|push|3.20|2024-07-01T10:00:00.000Z`, event: goodEvent, status: "accepted", reason: null },
          { key: `rejected|${createHash("sha256").update(JSON.stringify(bad)).digest("hex")}`, event: null, status: "rejected", reason: `events.1.target.digest: ${reason}` },
        ],
      });
    });

    it("records a Distribution envelope whose event would not fit one table entity as rejected and answers 202, not 400", async () => {
      const huge = { ...manifestPush, id: "i".repeat(500_000) };
      const result = await callAndDiff(JSON.stringify({ events: [huge] }), DISTRIBUTION);
      expect({ ...result, rows: result.rows.map((row) => ({ ...row, key: row.key.slice(0, 9) })) }).toEqual({
        status: 202,
        body: { status: "recorded", accepted: 0, duplicates: 0, ignored: 0, rejected: 1, rejections: [{ path: "events.0.id", reason: "longer than 256 characters" }] },
        rows: [{ key: "rejected|", event: null, status: "rejected", reason: "events.0.id: longer than 256 characters" }],
      });
    });

    it("answers 413 naming the limit for 501 events, recording none", async () => {
      const body = JSON.stringify(Array.from({ length: 501 }, (_, index) => push(`many-${index}`, "2024-07-01T10:00:00Z")));
      expect(await callAndDiff(body, "application/json")).toEqual({
        status: 413,
        body: { error: "too_many_events", message: "501 events in one request, over the limit of 500", limit: 500 },
        rows: [],
      });
    });

    it.each<[string, () => unknown, string, string]>([
      ["a push before a subscription validation event", () => [push("before-validation", "2024-07-01T10:00:00Z"), validation], "1.eventType", "a subscription validation event must be the only event of its delivery (this one has 2)"],
      ["a 100 KB validation code", () => [{ ...validation, data: { validationCode: "c".repeat(100_000) } }], "0.data.validationCode", "longer than 256 characters"],
      ["a 100 KB event id", () => [push("i".repeat(100_000), "2024-07-01T10:00:00Z")], "0.id", "longer than 256 characters"],
      ["an ImagePushed saying delete", () => [push("contradiction", "2024-07-01T10:00:00Z", { action: "delete" })], "0.data.action", '"delete" contradicts the event type Microsoft.ContainerRegistry.ImagePushed (expected "push")'],
      ["an unknown action", () => [push("unknown-action", "2024-07-01T10:00:00Z", { action: "explode" })], "0.data.action", 'Invalid option: expected one of "push"|"delete"|"quarantine"|"chart_push"|"chart_delete"'],
      ["a negative size", () => [push("negative", "2024-07-01T10:00:00Z", { target: { repository: "base/alpine", tag: "3.20", digest: ALPINE, size: -1 } })], "0.data.target.size", "must not be negative"],
      ["a non-numeric length", () => [push("words", "2024-07-01T10:00:00Z", { target: { repository: "base/alpine", tag: "3.20", digest: ALPINE, length: "ten" } })], "0.data.target.length", "expected a number of bytes"],
    ])("answers 400 with the path for %s, recording nothing", async (_name, payload, path, message) => {
      expect(await callAndDiff(JSON.stringify(payload()), "application/json")).toEqual({
        status: 400,
        body: { error: "validation_failed", message: `Event Grid notification: ${path}: ${message}`, issues: [{ path, message }] },
        rows: [],
      });
    });
  });
});
