import { describe, expect, it } from "vitest";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import type { EventRecord } from "../../../shared/ports/state-store.js";
import { replayEvent } from "../../../shared/use-cases/replay-event.js";
import { REQUEUE_POLICY, requeueDueAt, requeueStuckEvents } from "../../../shared/use-cases/requeue-stuck-events.js";
import { createRecordingQueue, pushEvent } from "./pipeline-helpers.js";

const MINUTE = 60_000;
const RECEIVED = "2026-11-23T09:00:00.000Z";
const at = (minutes: number) => new Date(Date.parse(RECEIVED) + minutes * MINUTE);
const GIVEN_UP = "not processed 24 h after receipt and 27 requeues (see the registry-events poison queue)";

function record(key: string, receivedAt: string, extra: Partial<EventRecord> = {}): EventRecord {
  return { key, event: pushEvent("a/b", "1", `sha256:${"a".repeat(64)}`, receivedAt), status: "accepted", reason: null, receivedAt, ...extra };
}

/**
 * Sweeps once a minute from `from` to `to` (minutes after RECEIVED) while nothing ever processes the
 * event (every requeued copy goes to the poison queue again): the minutes of its requeues and of its
 * giving up.
 */
async function sweepEveryMinute(store: ReturnType<typeof createMemoryStateStore>, from: number, to: number) {
  const queue = createRecordingQueue();
  const requeuedAt: number[] = [];
  const gaveUpAt: number[] = [];
  for (let minute = from; minute <= to; minute += 1) {
    const { requeued, gaveUp } = await requeueStuckEvents({ store, queue, now: () => at(minute) }, { batchLimit: 100 });
    if (requeued.length > 0) requeuedAt.push(minute);
    if (gaveUp.length > 0) gaveUpAt.push(minute);
  }
  return { requeuedAt, gaveUpAt, queued: queue.take("registry-events").length };
}

describe("requeueDueAt", () => {
  it.each([
    [0, 2],
    [1, 6],
    [2, 14],
    [3, 30],
    [4, 62],
    [5, 122],
    [6, 182],
    [27, 1442],
    [28, 1502],
  ])("after %i requeues, the next is due %i minutes after receipt (waits 2, 4, 8 … minutes, at most an hour)", (requeues, minutes) => {
    expect(requeueDueAt(RECEIVED, requeues, REQUEUE_POLICY)).toEqual(at(minutes).getTime());
  });

  it("caps the wait for a count that is far past the cap", () => {
    expect(requeueDueAt(RECEIVED, 1_000_000, REQUEUE_POLICY) - requeueDueAt(RECEIVED, 999_999, REQUEUE_POLICY)).toEqual(60 * MINUTE);
  });
});

describe("requeueStuckEvents", () => {
  it("queues again the events whose requeue is due, skipping fresh, leased and backing-off ones, and gives up a day after receipt", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    const now = () => new Date("2026-11-23T10:10:00.000Z");
    await store.recordEvent(record("stuck", "2026-11-23T10:00:00.000Z"));
    await store.recordEvent(record("due-again", "2026-11-23T10:00:00.000Z", { requeues: 1 }));
    await store.recordEvent(record("backing-off", "2026-11-23T10:00:00.000Z", { requeues: 2 }));
    await store.recordEvent(record("fresh", "2026-11-23T10:09:30.000Z"));
    await store.recordEvent(record("leased", "2026-11-23T10:00:00.000Z", { leaseUntil: "2026-11-23T10:10:30.000Z" }));
    // 22 h into a registry outage: still retried, hourly.
    await store.recordEvent(record("long-outage", "2026-11-22T12:00:00.000Z", { requeues: 25 }));
    await store.recordEvent(record("hopeless", "2026-11-22T10:00:00.000Z", { requeues: 27 }));
    await store.recordEvent(record("done", "2026-11-23T10:00:00.000Z", { status: "processed" }));

    expect(await requeueStuckEvents({ store, queue, now }, { batchLimit: 100 })).toEqual({ requeued: ["long-outage", "due-again", "stuck"], gaveUp: ["hopeless"] });
    expect({
      queued: queue.take("registry-events"),
      unfinished: await store.listUnfinishedEvents(now().toISOString(), 100),
      failed: await store.listFailedEvents(100),
    }).toEqual({
      queued: ["long-outage", "due-again", "stuck"].map((eventKey) => ({ v: 1, eventKey })),
      unfinished: [
        record("long-outage", "2026-11-22T12:00:00.000Z", { requeues: 26 }),
        record("backing-off", "2026-11-23T10:00:00.000Z", { requeues: 2 }),
        record("due-again", "2026-11-23T10:00:00.000Z", { requeues: 2 }),
        record("leased", "2026-11-23T10:00:00.000Z", { leaseUntil: "2026-11-23T10:10:30.000Z" }),
        record("stuck", "2026-11-23T10:00:00.000Z", { requeues: 1 }),
        record("fresh", "2026-11-23T10:09:30.000Z"),
      ],
      failed: [record("hopeless", "2026-11-22T10:00:00.000Z", { requeues: 27, status: "failed", reason: GIVEN_UP })],
    });
  });

  it("queues at once, and once, an event whose processor died holding it: its lease ran out before the first wait", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    // Received 45 s ago; a worker leased it (30 s) and died: Azure keeps its queue message invisible for 10 minutes.
    await store.recordEvent(record("orphaned", "2026-11-23T10:00:00.000Z", { leaseUntil: "2026-11-23T10:00:35.000Z" }));
    await store.recordEvent(record("held", "2026-11-23T10:00:00.000Z", { leaseUntil: "2026-11-23T10:01:00.000Z" }));
    await store.recordEvent(record("retrying", "2026-11-23T10:00:00.000Z", { leaseUntil: null }));
    const sweep = (seconds: number) => requeueStuckEvents({ store, queue, now: () => new Date(Date.parse("2026-11-23T10:00:00.000Z") + seconds * 1000) }, { batchLimit: 100 });
    expect(await sweep(45)).toEqual({ requeued: ["orphaned"], gaveUp: [] });
    expect(await store.getEvent("orphaned")).toEqual(record("orphaned", "2026-11-23T10:00:00.000Z", { leaseUntil: null, requeues: 1 }));
    // The next tick leaves it to the copy just queued (and to the usual waits).
    expect(await sweep(75)).toEqual({ requeued: ["held"], gaveUp: [] });
    expect(queue.take("registry-events")).toEqual([{ v: 1, eventKey: "orphaned" }, { v: 1, eventKey: "held" }]);
  });
});

describe("requeueStuckEvents over outages, backlogs and concurrent sweeps", () => {
  it("keeps an event through a 12-hour registry outage, backing off to hourly tries", async () => {
    const store = createMemoryStateStore();
    await store.recordEvent(record("poisoned", RECEIVED));

    expect({ ...(await sweepEveryMinute(store, 0, 12 * 60)), stored: await store.getEvent("poisoned") }).toEqual({
      requeuedAt: [2, 6, 14, 30, 62, 122, 182, 242, 302, 362, 422, 482, 542, 602, 662],
      gaveUpAt: [],
      queued: 15,
      stored: record("poisoned", RECEIVED, { requeues: 15 }),
    });
  });

  it("finds an old stuck event after 6,000 newer finished ones", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    // Poisoned during a registry outage at 09:00, then 38 s of traffic from an unconfigured host.
    await store.recordEvent(record("poisoned", RECEIVED));
    const newer = Date.parse("2026-11-23T10:00:00.000Z");
    for (let n = 0; n < 6000; n += 1) {
      const receivedAt = new Date(newer + n * 6).toISOString();
      await store.recordEvent(record(`noise-${n}`, receivedAt, { status: "ignored", reason: "registry not configured" }));
    }

    expect(await requeueStuckEvents({ store, queue, now: () => at(70) }, { batchLimit: 5000 })).toEqual({ requeued: ["poisoned"], gaveUp: [] });
    expect(queue.take("registry-events")).toEqual([{ v: 1, eventKey: "poisoned" }]);
  });

  it("ends an event it can never process as failed after a day, with the reason, listed as failed; a replay puts it back", async () => {
    const store = createMemoryStateStore();
    await store.recordEvent(record("poisoned", RECEIVED));
    const day = await sweepEveryMinute(store, 0, 25 * 60);
    const failed = { stored: await store.getEvent("poisoned"), unfinished: await store.listUnfinishedEvents(at(25 * 60).toISOString(), 10), listed: await store.listFailedEvents(10) };

    const queue = createRecordingQueue();
    await replayEvent({ store, queue, now: () => at(25 * 60) }, "poisoned");
    const replayed = { unfinished: (await store.listUnfinishedEvents(at(25 * 60).toISOString(), 10)).map((entry) => entry.key), listed: await store.listFailedEvents(10), queued: queue.take("registry-events") };
    // Its queued copy is lost too: received long ago, it still gets a few tries before failing again.
    const again = await sweepEveryMinute(store, 25 * 60 + 1, 25 * 60 + 10);

    expect({ day: { ...day, requeuedAt: day.requeuedAt.length }, failed, replayed, again, listed: (await store.listFailedEvents(10)).map((entry) => entry.key) }).toEqual({
      day: { requeuedAt: 27, gaveUpAt: [1442], queued: 27 },
      failed: {
        stored: record("poisoned", RECEIVED, { status: "failed", reason: GIVEN_UP, requeues: 27 }),
        unfinished: [],
        listed: [record("poisoned", RECEIVED, { status: "failed", reason: GIVEN_UP, requeues: 27 })],
      },
      replayed: { unfinished: ["poisoned"], listed: [], queued: [{ v: 1, eventKey: "poisoned" }] },
      again: { requeuedAt: [1501, 1502, 1503, 1504, 1505], gaveUpAt: [1506], queued: 5 },
      listed: ["poisoned"],
    });
  });

  it("queues an event once when two sweeps run at once", async () => {
    const store = createMemoryStateStore();
    const queue = createRecordingQueue();
    await store.recordEvent(record("stuck", RECEIVED));
    const sweeps = await Promise.all([1, 2].map(() => requeueStuckEvents({ store, queue, now: () => at(3) }, { batchLimit: 10 })));
    expect({ requeued: sweeps.flatMap((sweep) => sweep.requeued), queued: queue.take("registry-events"), stored: await store.getEvent("stuck") }).toEqual({
      requeued: ["stuck"],
      queued: [{ v: 1, eventKey: "stuck" }],
      stored: record("stuck", RECEIVED, { requeues: 1 }),
    });
  });
});
