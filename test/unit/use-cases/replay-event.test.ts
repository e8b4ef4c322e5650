import { describe, expect, it } from "vitest";
import { dedupeKey, toPublicEvent } from "../../../shared/domain/registry-event.js";
import { listFailedEvents } from "../../../shared/use-cases/list-failed-events.js";
import { processRegistryEvent } from "../../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../../shared/use-cases/receive-notification.js";
import { replayEvent } from "../../../shared/use-cases/replay-event.js";
import { createDeps, image, pushEvent } from "./pipeline-helpers.js";

describe("replayEvent", () => {
  it("queues a failed event again, which then processes once its cause is fixed", async () => {
    const env = createDeps();
    const busybox = image("busybox", ["l1"]);
    const event = pushEvent("ripple/busybox", "1", busybox.digest, "2026-11-23T09:00:00Z");
    await recordEvents(env.deps, [event], 0);
    env.queue.take("registry-events");
    // The manifest is not there yet (a registry permission missing, say): the event fails for good.
    expect(await processRegistryEvent(env.deps, dedupeKey(event))).toMatchObject({ kind: "failed" });
    expect(await env.store.getEvent(dedupeKey(event))).toMatchObject({ status: "failed" });

    env.registry.put("ripple/busybox", busybox);
    const replayed = await replayEvent(env.deps, dedupeKey(event));
    expect(replayed).toMatchObject({ status: "accepted", leaseUntil: null, requeues: 0, reason: expect.stringMatching(/^replayed at .* after: .*does not exist/) });
    expect(env.queue.take("registry-events")).toEqual([{ v: 1, eventKey: dedupeKey(event) }]);
    expect(await processRegistryEvent(env.deps, dedupeKey(event))).toMatchObject({ kind: "processed" });
    expect((await env.store.getTag(event.registry, "ripple/busybox", "1"))?.digest).toBe(busybox.digest);
  });

  it("puts the replayed event back in the unfinished-event index until it is processed", async () => {
    const env = createDeps();
    const busybox = image("busybox", ["l1"]);
    const event = pushEvent("ripple/busybox", "1", busybox.digest, "2026-11-23T09:00:00Z");
    await recordEvents(env.deps, [event], 0);
    const unfinished = async () => (await env.store.listUnfinishedEvents("2100-01-01T00:00:00.000Z", 10)).map((record) => record.key);
    const recorded = await unfinished();
    await processRegistryEvent(env.deps, dedupeKey(event));
    const failed = await unfinished();

    env.registry.put("ripple/busybox", busybox);
    await replayEvent(env.deps, dedupeKey(event));
    const replayed = await unfinished();
    await processRegistryEvent(env.deps, dedupeKey(event));
    expect({ recorded, failed, replayed, processed: await unfinished() }).toEqual({ recorded: [dedupeKey(event)], failed: [], replayed: [dedupeKey(event)], processed: [] });
  });

  it("turns a failed event back to accepted once when two replays race", async () => {
    const env = createDeps();
    const event = pushEvent("ripple/busybox", "1", image("busybox", ["l1"]).digest, "2026-11-23T09:00:00Z");
    await recordEvents(env.deps, [event], 0);
    await processRegistryEvent(env.deps, dedupeKey(event));
    env.queue.take("registry-events");
    const results = await Promise.allSettled([replayEvent(env.deps, dedupeKey(event)), replayEvent(env.deps, dedupeKey(event))]);
    expect(results.map((result) => result.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(results.find((result) => result.status === "rejected")).toMatchObject({ reason: { code: "not_replayable" } });
    expect(env.queue.take("registry-events")).toEqual([{ v: 1, eventKey: dedupeKey(event) }]);
  });

  it("refuses an unknown event and one that did not fail, changing nothing", async () => {
    const env = createDeps();
    const busybox = image("busybox", ["l1"]);
    env.registry.put("ripple/busybox", busybox);
    const event = pushEvent("ripple/busybox", "1", busybox.digest, "2026-11-23T09:00:00Z");
    await recordEvents(env.deps, [event], 0);
    await processRegistryEvent(env.deps, dedupeKey(event));
    env.queue.take("registry-events");
    await expect(replayEvent(env.deps, "nope")).rejects.toMatchObject({ code: "not_found" });
    await expect(replayEvent(env.deps, dedupeKey(event))).rejects.toMatchObject({ code: "not_replayable", message: `event ${dedupeKey(event)} is processed: only a failed event is replayed` });
    expect(env.queue.take("registry-events")).toEqual([]);
    expect(await env.store.getEvent(dedupeKey(event))).toMatchObject({ status: "processed" });
  });
});

describe("listFailedEvents", () => {
  it("lists a failed event behind 6,000 newer ones, newest failure first, until it is replayed and processed", async () => {
    const env = createDeps();
    const busybox = image("busybox", ["l1"]);
    const event = pushEvent("ripple/busybox", "1", busybox.digest, "2026-11-23T09:00:00Z");
    await recordEvents(env.deps, [event], 0);
    const outcome = await processRegistryEvent(env.deps, dedupeKey(event));
    const receivedAt = (await env.store.getEvent(dedupeKey(event)))?.receivedAt ?? "";
    const newer = Date.parse(receivedAt) + 1000;
    for (let n = 0; n < 6000; n += 1) {
      await env.store.recordEvent({ key: `noise-${n}`, event: null, status: "rejected", reason: "bad envelope", receivedAt: new Date(newer + n * 6).toISOString() });
    }
    await env.store.recordEvent({ key: "later", event: null, status: "failed", reason: "later failure", receivedAt: new Date(newer + 60_000).toISOString() });

    const listed = await listFailedEvents(env.deps, 2000);
    const inNewest = (await env.store.listEvents(2000)).some((record) => record.key === dedupeKey(event));
    env.registry.put("ripple/busybox", busybox);
    await replayEvent(env.deps, dedupeKey(event));
    const replayed = await listFailedEvents(env.deps, 2000);
    await processRegistryEvent(env.deps, dedupeKey(event));

    expect({ outcome, listed, inNewest, replayed, processed: await listFailedEvents(env.deps, 2000) }).toEqual({
      outcome: { kind: "failed", reason: expect.any(String) },
      listed: [
        { key: "later", status: "failed", reason: "later failure", receivedAt: new Date(newer + 60_000).toISOString(), event: null },
        { key: dedupeKey(event), status: "failed", reason: (outcome as { reason: string }).reason, receivedAt, event: toPublicEvent(event) },
      ],
      inNewest: false,
      replayed: [{ key: "later", status: "failed", reason: "later failure", receivedAt: new Date(newer + 60_000).toISOString(), event: null }],
      processed: [{ key: "later", status: "failed", reason: "later failure", receivedAt: new Date(newer + 60_000).toISOString(), event: null }],
    });
  });
});
