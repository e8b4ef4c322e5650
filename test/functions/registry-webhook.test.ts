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

  describe("bounded work per request (issue #10, defect 9)", () => {
    type RegistryFor = Services["registryFor"];
    let reads: string[];
    let original: RegistryFor;
    let pushed: Record<string, unknown> & { data: Record<string, unknown> & { target: Record<string, unknown> } };

    beforeAll(async () => {
      pushed = (JSON.parse(await fixture("eventgrid-image-pushed.json")) as (typeof pushed)[])[0]!;
      original = services.registryFor;
      // Every registry read of inline processing is counted; the manifest is gone, so each event ends `failed` after one read.
      const registryFor: RegistryFor = (host) => ({
        host,
        readManifest: async (repository, reference) => {
          reads.push(`${host}/${repository}@${reference}`);
          return null;
        },
        listRepositories: async () => [],
        listTags: async () => [],
      });
      Object.assign(services, { registryFor });
    });

    afterAll(() => {
      Object.assign(services, { registryFor: original });
    });

    /** `count` Event Grid pushes of distinct tags of bulk/app (`prefix` keeps each test's events apart). */
    function batch(prefix: string, count: number) {
      return Array.from({ length: count }, (_, index) => {
        const copy = structuredClone(pushed);
        delete copy.data.timestamp;
        return { ...copy, id: `${prefix}-${index}`, subject: `bulk/app:${prefix}-${index}`, eventTime: "2024-07-01T10:00:00Z", data: { ...copy.data, target: { ...copy.data.target, repository: "bulk/app", tag: `${prefix}-${index}` } } };
      });
    }

    async function queuedMessages(): Promise<number> {
      const { QueueServiceClient } = await import("@azure/storage-queue");
      const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient("fn-registry-events");
      await queue.createIfNotExists();
      return (await queue.getProperties()).approximateMessagesCount ?? 0;
    }

    /** How many of the batch's events are still `accepted` (left to their queued copies) and how many finished. */
    async function statuses(prefix: string) {
      const records = (await services.store.listEvents(10_000)).filter((record) => record.event?.id.startsWith(`${prefix}-`));
      return { total: records.length, accepted: records.filter((record) => record.status === "accepted").length };
    }

    it.each([
      // Recorded quickly: the first INLINE_MAX_EVENTS are processed before the answer.
      ["20", 20, 1],
      // Recording 500 takes longer than the budget: all may be left to the queue, never more than the cap read.
      ["500", 500, 0],
    ])("records and queues all %s events of one request but reads the registry for at most INLINE_MAX_EVENTS of them", async (prefix, count, leastReads) => {
      const { INLINE_MAX_EVENTS } = await import("../../shared/use-cases/process-registry-event.js");
      reads = [];
      const queuedBefore = await queuedMessages();
      const response = await call(JSON.stringify(batch(`webhook${prefix}`, count)), { "content-type": "application/json", ...auth });
      const readsAtAnswer = reads.length;
      expect(response).toMatchObject({ status: 202, body: { status: "recorded", accepted: count, duplicates: 0, ignored: 0, rejected: 0 } });
      expect(readsAtAnswer).toBeGreaterThanOrEqual(leastReads);
      expect(readsAtAnswer).toBeLessThanOrEqual(INLINE_MAX_EVENTS);
      expect(await queuedMessages()).toBe(queuedBefore + count);
      expect(await statuses(`webhook${prefix}`)).toEqual({ total: count, accepted: count - reads.length });
      // Nothing carries on processing behind the answer.
      expect(reads.length).toBe(readsAtAnswer);
    });

    it("shares the Event Grid trigger's allowance within its window and renews it after", async () => {
      const { createInlineAllowance } = await import("../../shared/use-cases/process-registry-event.js");
      let clock = 0;
      const allowance = createInlineAllowance({ maxEvents: 2, budgetMs: 1500, windowMs: 30_000, now: () => clock });
      // Keys never recorded: a granted one is started (and skipped), a refused one is left to the queue.
      const leftQueued = async (key: string) => (await allowance.process(services, [key])).leftQueued;
      const first = [await leftQueued("none-1"), await leftQueued("none-2"), await leftQueued("none-3")];
      clock = 29_999;
      const late = await leftQueued("none-4");
      clock = 30_001;
      expect({ first, late, renewed: await leftQueued("none-5") }).toEqual({ first: [0, 0, 1], late: 1, renewed: 0 });
    });

    it("bounds the Event Grid trigger across the invocations of one delivery: 500 events, at most INLINE_MAX_EVENTS read inline", async () => {
      const { INLINE_MAX_EVENTS } = await import("../../shared/use-cases/process-registry-event.js");
      const { registryEventGrid } = await import("../../functions/registry-event-grid.js");
      reads = [];
      const queuedBefore = await queuedMessages();
      // As the Functions host delivers a batch: one invocation per event, in order.
      for (const event of batch("trigger", 500)) {
        await registryEventGrid(event as never, new functions.InvocationContext({ functionName: "registryEventGrid", logHandler: () => undefined }));
      }
      expect(reads.length).toBeGreaterThan(0);
      expect(reads.length).toBeLessThanOrEqual(INLINE_MAX_EVENTS);
      expect(await queuedMessages()).toBe(queuedBefore + 500);
      expect(await statuses("trigger")).toEqual({ total: 500, accepted: 500 - reads.length });
    });
  });
});
