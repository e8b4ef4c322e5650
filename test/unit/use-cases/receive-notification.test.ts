import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { parseConfig } from "../../../shared/config.js";
import { dedupeKey, type RegistryEvent } from "../../../shared/domain/registry-event.js";
import { ValidationError } from "../../../shared/errors.js";
import { MAX_EVENTS_PER_REQUEST } from "../../../shared/use-cases/parse-registry-notification.js";
import { receiveEventGridEvent, receiveNotification, secretMatches } from "../../../shared/use-cases/receive-notification.js";
import { createRecordingQueue } from "./pipeline-helpers.js";

const SECRET = "s3cret-s3cret-s3cret";
const distributionPush = readFileSync(new URL("../../fixtures/events/distribution-push.json", import.meta.url), "utf8");
const DISTRIBUTION = "application/vnd.docker.distribution.events.v1+json";
const NOW = "2026-11-23T10:00:00.000Z";
const ALPINE = "sha256:d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4";
const eventGridPush = (JSON.parse(readFileSync(new URL("../../fixtures/events/eventgrid-image-pushed.json", import.meta.url), "utf8")) as Record<string, unknown>[])[0]!;
const manifestPush = (JSON.parse(distributionPush) as { events: Record<string, unknown>[] }).events[2]!;

function setup(host = "127.0.0.1:5000") {
  const store = createMemoryStateStore();
  const queue = createRecordingQueue();
  const config = parseConfig(JSON.stringify({ version: 1, registries: [{ host, kind: "distribution" }, { host: "ripplebase.azurecr.io" }] }));
  const deps = { store, queue, config, secret: SECRET, now: () => new Date(NOW) };
  return { store, queue, deps };
}

const authed = (body: string, contentType = "application/json") => ({ method: "POST", headers: { "content-type": contentType, "x-ripple-secret": SECRET }, body });
const hashKey = (text: string) => `rejected|${createHash("sha256").update(text).digest("hex")}`;

/** The Event Grid push sample, dated `at` (data.timestamp removed so eventTime orders it). */
function eventGridPushAt(at: string, id = "5f1c2a7e-8d0b-4c4e-9b61-3a1f0e6c2d41"): Record<string, unknown> {
  const data = { ...(eventGridPush.data as Record<string, unknown>) };
  delete data.timestamp;
  return { ...eventGridPush, id, eventTime: at, data };
}

function alpinePush(id: string, occurredAt: string): RegistryEvent {
  return { id, source: "eventgrid", action: "push", registry: "ripplebase.azurecr.io", repository: "base/alpine", tag: "3.20", digest: ALPINE, mediaType: "application/vnd.oci.image.index.v1+json", occurredAt };
}

describe("receiveNotification", () => {
  it.each([
    ["no header", {}],
    ["a wrong bearer secret", { authorization: "Bearer nope" }],
    ["a secret of another length", { "x-ripple-secret": `${SECRET}x` }],
  ])("answers unauthorized for %s and writes nothing", async (_, headers) => {
    const { store, queue, deps } = setup();
    const result = await receiveNotification(deps, { method: "POST", headers: { "content-type": DISTRIBUTION, ...headers }, body: distributionPush });
    expect(result).toEqual({ kind: "unauthorized" });
    expect(await store.listEvents(10)).toEqual([]);
    expect(queue.messages).toEqual([]);
  });

  it("records and queues a Distribution push once; a redelivery is a duplicate", async () => {
    const { store, queue, deps } = setup();
    const request = { method: "POST", headers: { "content-type": DISTRIBUTION, authorization: `Bearer ${SECRET}` }, body: distributionPush };
    const first = await receiveNotification(deps, request);
    expect(first).toMatchObject({ kind: "recorded", accepted: 1, duplicates: 0 });
    const second = await receiveNotification(deps, request);
    expect(second).toMatchObject({ kind: "recorded", accepted: 0, duplicates: 1 });
    const events = await store.listEvents(10);
    expect(events.map((record) => record.status)).toEqual(["accepted"]);
    // Not processed yet, so the redelivery queues it again (processing is idempotent): never lost.
    expect(queue.messages).toEqual([
      { queue: "registry-events", message: { v: 1, eventKey: events[0]!.key } },
      { queue: "registry-events", message: { v: 1, eventKey: events[0]!.key } },
    ]);
  });

  it("answers invalid with the zod path for a malformed Event Grid payload and writes nothing", async () => {
    const { store, deps } = setup();
    const body = JSON.stringify([{ id: "1", eventType: "Microsoft.ContainerRegistry.ImagePushed", subject: "x", eventTime: "2026-11-23T10:00:00Z", dataVersion: "1.0", data: { target: { repository: "a", digest: "nope" }, request: { host: "127.0.0.1:5000" } } }]);
    const result = await receiveNotification(deps, { method: "POST", headers: { "content-type": "application/json", "x-ripple-secret": SECRET }, body });
    expect(result.kind).toBe("invalid");
    expect(result.kind === "invalid" && result.error.issues[0]?.path).toBe("0.data.target.digest");
    expect(await store.listEvents(10)).toEqual([]);
  });

  it("answers the CloudEvents validation handshake without a secret", async () => {
    const { deps } = setup();
    const result = await receiveNotification(deps, { method: "OPTIONS", headers: { "webhook-request-origin": "eventgrid.azure.net" }, body: "" });
    expect(result).toEqual({ kind: "handshake", status: 200, headers: { "WebHook-Allowed-Origin": "eventgrid.azure.net", "WebHook-Allowed-Rate": "*" }, body: null });
  });

  it("answers Event Grid's subscription validation without a secret, writing nothing; anything else still needs it", async () => {
    const { store, queue, deps } = setup();
    const validation = readFileSync(new URL("../../fixtures/events/eventgrid-subscription-validation.json", import.meta.url), "utf8");
    const answered = await receiveNotification(deps, { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation", "content-type": "application/json" }, body: validation });
    expect(answered).toMatchObject({ kind: "handshake", status: 200 });
    const pushed = readFileSync(new URL("../../fixtures/events/eventgrid-image-pushed.json", import.meta.url), "utf8");
    // A delivery that only claims to be a validation is refused without the secret.
    expect(await receiveNotification(deps, { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation", "content-type": "application/json" }, body: pushed })).toEqual({ kind: "unauthorized" });
    expect(await receiveNotification(deps, { method: "POST", headers: { "aeg-event-type": "Notification", "content-type": "application/json" }, body: pushed })).toEqual({ kind: "unauthorized" });
    expect(await store.listEvents(10)).toEqual([]);
    expect(queue.messages).toEqual([]);
  });

  it.each([
    ["the secret", SECRET, true],
    ["another secret", "s3cret-s3cret-s3creT", false],
    ["nothing", undefined, false],
    ["an empty string", "", false],
  ])("secretMatches with %s", (_, presented, expected) => {
    expect(secretMatches(presented, SECRET)).toBe(expected);
  });
});

describe("receiveNotification: a Distribution envelope is recorded event by event (issue #10)", () => {
  it("records an unreadable but authenticated Distribution envelope as rejected, keyed by its body, so the registry's queue moves on", async () => {
    const { store, queue, deps } = setup();
    const body = '{"events":"all of them"}';
    const request = { method: "POST", headers: { "content-type": DISTRIBUTION, authorization: `Bearer ${SECRET}` }, body };
    const reason = "Distribution notification: events: Invalid input: expected array, received string";
    expect(await receiveNotification(deps, request)).toEqual({ kind: "rejected", key: hashKey(body), reason });
    // A redelivery of the same envelope is recorded once.
    expect(await receiveNotification(deps, request)).toEqual({ kind: "rejected", key: hashKey(body), reason });
    expect(await store.listEvents(10)).toEqual([{ key: hashKey(body), event: null, status: "rejected", reason, receivedAt: NOW }]);
    expect(queue.messages).toEqual([]);
  });

  it("records the valid events of a Distribution envelope and rejects only the bad one, with its path (defect 6)", async () => {
    const { store, queue, deps } = setup();
    const bad = { ...manifestPush, id: "bad", target: { ...(manifestPush.target as object), digest: "sha256:nope" } };
    const body = JSON.stringify({ events: [manifestPush, bad] });
    const result = await receiveNotification(deps, { method: "POST", headers: { "content-type": DISTRIBUTION, authorization: `Bearer ${SECRET}` }, body });
    const good: RegistryEvent = { id: "2a0d4e6c-8f0b-4c2d-9e4a-6b8c0d2e4a6c", source: "distribution", action: "push", registry: "127.0.0.1:5000", repository: "base/alpine", tag: "3.20", digest: ALPINE, mediaType: "application/vnd.oci.image.index.v1+json", occurredAt: "2024-06-10T10:30:05.512Z" };
    const badKey = hashKey(JSON.stringify(bad));
    const reason = "sha256 digest must be 64 lowercase hex characters";
    expect(result).toEqual({
      kind: "recorded",
      accepted: 1,
      acceptedKeys: [dedupeKey(good)],
      duplicates: 0,
      ignored: 0,
      rejected: 1,
      rejections: [{ key: badKey, path: "events.1.target.digest", reason }],
      events: [{ action: "push", registry: "127.0.0.1:5000", repository: "base/alpine", tag: "3.20", digest: ALPINE, mediaType: "application/vnd.oci.image.index.v1+json" }],
    });
    expect((await store.listEvents(10)).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: dedupeKey(good), event: good, status: "accepted", reason: null, receivedAt: NOW },
      { key: badKey, event: null, status: "rejected", reason: `events.1.target.digest: ${reason}`, receivedAt: NOW },
    ]);
    expect(queue.messages).toEqual([{ queue: "registry-events", message: { v: 1, eventKey: dedupeKey(good) } }]);
  });

  it("records a Distribution event whose id would not fit a table entity as rejected, answered 2xx, not 400", async () => {
    const { store, queue, deps } = setup();
    const huge = { ...manifestPush, id: "i".repeat(500_000) };
    const body = JSON.stringify({ events: [huge] });
    const result = await receiveNotification(deps, { method: "POST", headers: { "content-type": DISTRIBUTION, authorization: `Bearer ${SECRET}` }, body });
    const rejection = { key: hashKey(JSON.stringify(huge)), path: "events.0.id", reason: "longer than 256 characters" };
    expect(result).toEqual({ kind: "recorded", accepted: 0, acceptedKeys: [], duplicates: 0, ignored: 0, rejected: 1, rejections: [rejection], events: [] });
    expect(await store.listEvents(10)).toEqual([{ key: rejection.key, event: null, status: "rejected", reason: "events.0.id: longer than 256 characters", receivedAt: NOW }]);
    expect(queue.messages).toEqual([]);
  });

  it("records as rejected an event the store refuses as too large, and keeps the others of the delivery", async () => {
    const { store, queue, deps } = setup();
    const tooLarge = alpinePush("too-large", "2026-11-23T09:00:00.000Z");
    const fine = alpinePush("fine", "2026-11-23T09:01:00.000Z");
    const picky = {
      ...store,
      recordEvent: (record: Parameters<typeof store.recordEvent>[0]) =>
        record.event?.id === "too-large" ? Promise.reject(new ValidationError("value too large for one table entity (600000 characters of JSON)")) : store.recordEvent(record),
    };
    const body = JSON.stringify([eventGridPushAt(tooLarge.occurredAt, "too-large"), eventGridPushAt(fine.occurredAt, "fine")]);
    const result = await receiveNotification({ ...deps, store: picky }, authed(body));
    const key = hashKey(dedupeKey(tooLarge));
    const reason = "value too large for one table entity (600000 characters of JSON)";
    const publicEvent = { action: "push", registry: "ripplebase.azurecr.io", repository: "base/alpine", tag: "3.20", digest: ALPINE, mediaType: "application/vnd.oci.image.index.v1+json" };
    expect(result).toEqual({
      kind: "recorded",
      accepted: 1,
      acceptedKeys: [dedupeKey(fine)],
      duplicates: 0,
      ignored: 0,
      rejected: 1,
      rejections: [{ key, path: 'event "too-large"', reason }],
      events: [publicEvent, publicEvent],
    });
    expect((await store.listEvents(10)).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key, event: null, status: "rejected", reason: `event "too-large": ${reason}`, receivedAt: NOW },
      { key: dedupeKey(fine), event: fine, status: "accepted", reason: null, receivedAt: NOW },
    ]);
    expect(queue.messages).toEqual([{ queue: "registry-events", message: { v: 1, eventKey: dedupeKey(fine) } }]);
  });

});

describe("receiveNotification: future times and the per-request limit (issue #10)", () => {
  it.each([
    ["year 9999", "9999-01-01T00:00:00Z", "9999-01-01T00:00:00.000Z"],
    ["one second past the skew", "2026-11-23T10:05:01Z", "2026-11-23T10:05:01.000Z"],
  ])("records an authenticated push dated %s as rejected, with its reason, and queues nothing (defect 2)", async (_name, eventTime, occurredAt) => {
    const { store, queue, deps } = setup();
    const request = authed(JSON.stringify([eventGridPushAt(eventTime)]));
    const future = alpinePush("5f1c2a7e-8d0b-4c4e-9b61-3a1f0e6c2d41", occurredAt);
    const reason = `event time ${occurredAt} is more than 5 minutes ahead of the receiver's clock (${NOW})`;
    const expected = { kind: "recorded", accepted: 0, acceptedKeys: [], duplicates: 0, ignored: 0, rejected: 1, rejections: [{ key: dedupeKey(future), path: "0.eventTime", reason }], events: [] };
    expect(await receiveNotification(deps, request)).toEqual(expected);
    expect(await receiveNotification(deps, request)).toEqual(expected);
    expect(await store.listEvents(10)).toEqual([{ key: dedupeKey(future), event: future, status: "rejected", reason: `0.eventTime: ${reason}`, receivedAt: NOW }]);
    expect(queue.messages).toEqual([]);
  });

  it("accepts a push dated within the skew", async () => {
    const { store, deps } = setup();
    const result = await receiveNotification(deps, authed(JSON.stringify([eventGridPushAt("2026-11-23T10:05:00Z")])));
    expect(result).toMatchObject({ kind: "recorded", accepted: 1, rejected: 0, rejections: [] });
    expect((await store.listEvents(10)).map((record) => record.status)).toEqual(["accepted"]);
  });

  it("records a future-dated event from the Event Grid trigger as rejected", async () => {
    const { store, queue, deps } = setup();
    const result = await receiveEventGridEvent(deps, eventGridPushAt("9999-01-01T00:00:00Z"));
    const future = alpinePush("5f1c2a7e-8d0b-4c4e-9b61-3a1f0e6c2d41", "9999-01-01T00:00:00.000Z");
    expect(result).toMatchObject({ kind: "recorded", accepted: 0, rejected: 1 });
    expect(await store.listEvents(10)).toEqual([
      { key: dedupeKey(future), event: future, status: "rejected", reason: `0.eventTime: event time 9999-01-01T00:00:00.000Z is more than 5 minutes ahead of the receiver's clock (${NOW})`, receivedAt: NOW },
    ]);
    expect(queue.messages).toEqual([]);
  });

  it.each([
    ["an Event Grid batch", "application/json", (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => eventGridPushAt("2026-11-23T09:00:00Z", `e${i}`)))],
    ["a Distribution envelope", DISTRIBUTION, (n: number) => JSON.stringify({ events: Array.from({ length: n }, (_, i) => ({ ...manifestPush, id: `d${i}` })) })],
  ])("refuses %s of more than 500 events whole, recording nothing", async (_name, contentType, body) => {
    const { store, queue, deps } = setup();
    const result = await receiveNotification(deps, authed(body(MAX_EVENTS_PER_REQUEST + 1), contentType));
    expect(result).toEqual({ kind: "too_many", count: 501, limit: 500, message: "501 events in one request, over the limit of 500" });
    expect(await store.listEvents(10)).toEqual([]);
    expect(queue.messages).toEqual([]);
  });

  it("authenticates before counting: an oversized batch without the secret is unauthorized", async () => {
    const { deps } = setup();
    const body = JSON.stringify(Array.from({ length: 501 }, (_, i) => eventGridPushAt("2026-11-23T09:00:00Z", `e${i}`)));
    expect(await receiveNotification(deps, { method: "POST", headers: { "content-type": "application/json" }, body })).toEqual({ kind: "unauthorized" });
  });

  it("answers invalid, writing nothing, for a push that precedes a subscription validation event in the same batch", async () => {
    const { store, queue, deps } = setup();
    const validation = (JSON.parse(readFileSync(new URL("../../fixtures/events/eventgrid-subscription-validation.json", import.meta.url), "utf8")) as unknown[])[0];
    const result = await receiveNotification(deps, authed(JSON.stringify([eventGridPushAt("2026-11-23T09:00:00Z"), validation])));
    expect(result.kind === "invalid" ? result.error.issues : result).toEqual([
      { path: "1.eventType", message: "a subscription validation event must be the only event of its delivery (this one has 2)" },
    ]);
    expect(await store.listEvents(10)).toEqual([]);
    expect(queue.messages).toEqual([]);
  });
});
