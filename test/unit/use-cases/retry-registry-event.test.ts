import { describe, expect, it } from "vitest";
import { AppError, UpstreamError, ValidationError } from "../../../shared/errors.js";
import { EVENT_RETRIES, eventRetryDelaySeconds, retryRegistryEventLater } from "../../../shared/use-cases/retry-registry-event.js";
import { createRecordingQueue } from "./pipeline-helpers.js";

const job = { v: 1 as const, eventKey: "registry.test:5000|ripple/busybox|sha256:aa|push|1|2026-11-23T09:00:00Z" };
const outage = new UpstreamError("registry", "GET /v2/ripple/busybox/manifests/1: connect ECONNREFUSED");

describe("retryRegistryEventLater", () => {
  it("waits out another worker's lease without counting a retry", async () => {
    const queue = createRecordingQueue();
    const busy = new AppError("event_busy", "held", { retryable: true, details: { retryAfterMs: 19_500 } });
    expect(await retryRegistryEventLater(queue, job, busy)).toEqual({ delaySeconds: 20, retry: null });
    expect(queue.messages).toEqual([{ queue: "registry-events", message: job, delaySeconds: 20 }]);
  });

  it("queues a retryable failure again, 5 s doubling to 60 s apart, counting the retries", async () => {
    const queue = createRecordingQueue();
    let current: typeof job & { retry?: number } = job;
    const delays: number[] = [];
    for (let step = 0; step < 6; step += 1) {
      const later = await retryRegistryEventLater(queue, current, outage);
      delays.push(later!.delaySeconds);
      current = queue.take("registry-events")[0] as typeof current;
      expect(current).toEqual({ ...job, retry: step + 1 });
    }
    expect(delays).toEqual([5, 10, 20, 40, 60, 60]);
  });

  it("covers about 15 minutes of outage, then leaves the event to the queue's redelivery and the sweep", async () => {
    const total = Array.from({ length: EVENT_RETRIES }, (_, retry) => eventRetryDelaySeconds(retry)).reduce((sum, seconds) => sum + seconds, 0);
    expect(total).toBeGreaterThanOrEqual(14 * 60);
    expect(total).toBeLessThanOrEqual(16 * 60);
    const queue = createRecordingQueue();
    expect(await retryRegistryEventLater(queue, { ...job, retry: EVENT_RETRIES }, outage)).toBeNull();
    expect(queue.messages).toEqual([]);
  });

  it("leaves a failure that is not retryable to the caller", async () => {
    const queue = createRecordingQueue();
    expect(await retryRegistryEventLater(queue, job, new ValidationError("bad"))).toBeNull();
    expect(await retryRegistryEventLater(queue, job, new UpstreamError("registry", "403", { status: 403 }))).toBeNull();
    expect(queue.messages).toEqual([]);
  });
});
