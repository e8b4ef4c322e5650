import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { parseConfig } from "../../../shared/config.js";
import { receiveNotification, secretMatches } from "../../../shared/use-cases/receive-notification.js";
import { createRecordingQueue } from "./pipeline-helpers.js";

const SECRET = "s3cret-s3cret-s3cret";
const distributionPush = readFileSync(new URL("../../fixtures/events/distribution-push.json", import.meta.url), "utf8");
const DISTRIBUTION = "application/vnd.docker.distribution.events.v1+json";

function setup(host = "127.0.0.1:5000") {
  const store = createMemoryStateStore();
  const queue = createRecordingQueue();
  const config = parseConfig(JSON.stringify({ version: 1, registries: [{ host, kind: "distribution" }] }));
  const deps = { store, queue, config, secret: SECRET, now: () => new Date("2026-11-23T10:00:00Z") };
  return { store, queue, deps };
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

  it("records a malformed but authenticated Distribution envelope as rejected, so the registry's queue moves on", async () => {
    const { store, queue, deps } = setup();
    const result = await receiveNotification(deps, { method: "POST", headers: { "content-type": DISTRIBUTION, authorization: `Bearer ${SECRET}` }, body: '{"events":[{"id":1}]}' });
    expect(result.kind).toBe("rejected");
    const [record] = await store.listEvents(10);
    expect(record).toMatchObject({ status: "rejected", event: null });
    expect(queue.messages).toEqual([]);
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
