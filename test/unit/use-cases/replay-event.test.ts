import { describe, expect, it } from "vitest";
import { dedupeKey } from "../../../shared/domain/registry-event.js";
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
