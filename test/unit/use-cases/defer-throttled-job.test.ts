import { describe, expect, it } from "vitest";
import { AppError, UpstreamError } from "../../../shared/errors.js";
import { deferThrottledJob } from "../../../shared/use-cases/defer-throttled-job.js";
import { createRecordingQueue } from "./pipeline-helpers.js";

const job = { v: 1, repository: "contoso/deploy" };
const throttled = (retryAfterMs: unknown) => {
  const error = new UpstreamError("github", "rate limit exhausted", { status: 403, retryable: true });
  Object.assign(error.details, { retryAfterMs });
  return error;
};

describe("deferThrottledJob", () => {
  it.each([
    ["a primary limit resetting in 37 minutes", throttled(37 * 60_000 + 1), 2221],
    ["a secondary limit of 30 s", throttled(30_000), 30],
    ["a wait beyond what a queue can hide a message for", throttled(30 * 24 * 3600_000), 7 * 24 * 3600],
  ])("puts the job back for %s, so the message is acknowledged instead of poisoned", async (_, error, delaySeconds) => {
    const queue = createRecordingQueue();
    expect(await deferThrottledJob(queue, "scans", job, error)).toEqual({ deferredSeconds: delaySeconds });
    expect(queue.messages).toEqual([{ queue: "scans", message: job, delaySeconds }]);
  });

  it.each([
    ["a retryable error without a wait", new UpstreamError("github", "HTTP 502", { status: 502 })],
    ["a wait that is not a number", throttled("soon")],
    ["a permanent error", new AppError("validation_failed", "bad", { retryable: false, details: { retryAfterMs: 1000 } })],
    ["an error of our own code", new Error("bug")],
  ])("leaves %s to the caller and queues nothing", async (_, error) => {
    const queue = createRecordingQueue();
    expect(await deferThrottledJob(queue, "pull-request", job, error)).toBeNull();
    expect(queue.messages).toEqual([]);
  });
});
