import { describe, expect, it } from "vitest";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import { requeueStuckEvents } from "../../../shared/use-cases/requeue-stuck-events.js";
import { createRecordingQueue, pushEvent } from "./pipeline-helpers.js";

describe("requeueStuckEvents", () => {
  const now = () => new Date("2026-11-23T10:10:00.000Z");
  const record = (key: string, receivedAt: string, extra: object = {}) => ({ key, event: pushEvent("a/b", "1", `sha256:${"a".repeat(64)}`, receivedAt), status: "accepted" as const, reason: null, receivedAt, ...extra });

  it("queues again the events accepted long ago and never processed, skipping live leases, and gives up after the limit", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    await store.recordEvent(record("stuck", "2026-11-23T10:00:00.000Z"));
    await store.recordEvent(record("fresh", "2026-11-23T10:09:30.000Z"));
    await store.recordEvent(record("leased", "2026-11-23T10:00:00.000Z", { leaseUntil: "2026-11-23T10:10:30.000Z" }));
    await store.recordEvent(record("hopeless", "2026-11-23T10:00:00.000Z", { requeues: 5 }));
    await store.recordEvent({ ...record("done", "2026-11-23T10:00:00.000Z"), status: "processed" });

    expect(await requeueStuckEvents({ store, queue, now }, { olderThanMs: 120_000, scanLimit: 100, maxRequeues: 5 })).toEqual({ requeued: ["stuck"], gaveUp: ["hopeless"] });
    expect(queue.messages).toEqual([{ queue: "registry-events", message: { v: 1, eventKey: "stuck" } }]);
    expect(await store.getEvent("stuck")).toMatchObject({ status: "accepted", requeues: 1 });
    expect(await store.getEvent("hopeless")).toMatchObject({ status: "failed", reason: "not processed after 5 requeues (see the registry-events poison queue)" });
  });
});
