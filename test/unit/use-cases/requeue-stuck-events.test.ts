import { describe, expect, it } from "vitest";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import type { EventRecord } from "../../../shared/ports/state-store.js";
import { replayEvent } from "../../../shared/use-cases/replay-event.js";
import { requeueStuckEvents } from "../../../shared/use-cases/requeue-stuck-events.js";
import { createRecordingQueue, pushEvent } from "./pipeline-helpers.js";

describe("requeueStuckEvents", () => {
  const now = () => new Date("2026-11-23T10:10:00.000Z");
  const options = { olderThanMs: 120_000, batchLimit: 100, maxRequeues: 5 };
  const record = (key: string, receivedAt: string, extra: Partial<EventRecord> = {}): EventRecord => ({
    key,
    event: pushEvent("a/b", "1", `sha256:${"a".repeat(64)}`, receivedAt),
    status: "accepted",
    reason: null,
    receivedAt,
    ...extra,
  });
  const GIVEN_UP = "not processed after 5 requeues (see the registry-events poison queue)";

  it("queues again the events accepted long ago and never processed, skipping live leases, and gives up after the limit", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    await store.recordEvent(record("stuck", "2026-11-23T10:00:00.000Z"));
    await store.recordEvent(record("fresh", "2026-11-23T10:09:30.000Z"));
    await store.recordEvent(record("leased", "2026-11-23T10:00:00.000Z", { leaseUntil: "2026-11-23T10:10:30.000Z" }));
    await store.recordEvent(record("hopeless", "2026-11-23T10:00:00.000Z", { requeues: 5 }));
    await store.recordEvent(record("done", "2026-11-23T10:00:00.000Z", { status: "processed" }));

    expect(await requeueStuckEvents({ store, queue, now }, options)).toEqual({ requeued: ["stuck"], gaveUp: ["hopeless"] });
    expect(queue.messages).toEqual([{ queue: "registry-events", message: { v: 1, eventKey: "stuck" } }]);
    expect(await store.getEvent("stuck")).toMatchObject({ status: "accepted", requeues: 1 });
    expect(await store.getEvent("hopeless")).toMatchObject({ status: "failed", reason: GIVEN_UP });
  });

  it("finds an old stuck event after 6,000 newer finished ones", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    // Poisoned during a registry outage at 09:00, then 38 s of traffic from an unconfigured host.
    await store.recordEvent(record("poisoned", "2026-11-23T09:00:00.000Z"));
    const newer = Date.parse("2026-11-23T10:00:00.000Z");
    for (let n = 0; n < 6000; n += 1) {
      const receivedAt = new Date(newer + n * 6).toISOString();
      await store.recordEvent(record(`noise-${n}`, receivedAt, { status: "ignored", reason: "registry not configured" }));
    }

    expect(await requeueStuckEvents({ store, queue, now }, { ...options, batchLimit: 5000 })).toEqual({ requeued: ["poisoned"], gaveUp: [] });
    expect(queue.take("registry-events")).toEqual([{ v: 1, eventKey: "poisoned" }]);
  });

  it("ends an event it can never process as failed with the reason, out of the index, and a replay puts it back", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    await store.recordEvent(record("poisoned", "2026-11-23T09:00:00.000Z"));
    const sweeps: Array<{ requeued: string[]; gaveUp: string[] }> = [];
    // Every requeued copy goes to the poison queue again (the registry is still down).
    for (let sweep = 0; sweep < 6; sweep += 1) sweeps.push(await requeueStuckEvents({ store, queue, now }, options));

    expect(sweeps).toEqual([...Array.from({ length: 5 }, () => ({ requeued: ["poisoned"], gaveUp: [] })), { requeued: [], gaveUp: ["poisoned"] }]);
    expect(await store.getEvent("poisoned")).toMatchObject({ status: "failed", reason: GIVEN_UP, requeues: 5 });
    expect(await store.listUnfinishedEvents(now().toISOString(), 10)).toEqual([]);
    expect(await requeueStuckEvents({ store, queue, now }, options)).toEqual({ requeued: [], gaveUp: [] });

    queue.take("registry-events");
    await replayEvent({ store, queue, now }, "poisoned");
    expect((await store.listUnfinishedEvents(now().toISOString(), 10)).map((entry) => entry.key)).toEqual(["poisoned"]);
    expect(queue.take("registry-events")).toEqual([{ v: 1, eventKey: "poisoned" }]);
    // The replayed event is swept again if its queued copy is lost too: it starts a fresh count.
    expect(await requeueStuckEvents({ store, queue, now }, options)).toEqual({ requeued: ["poisoned"], gaveUp: [] });
  });
});
