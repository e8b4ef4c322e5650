import { AppError } from "../errors.js";
import type { QueueName, WorkQueue } from "../ports/work-queue.js";

/** Storage queues hide a message for at most seven days. */
const MAX_DELAY_SECONDS = 7 * 24 * 3600;

/**
 * When a job failed retryable with a time to wait (`details.retryAfterMs`: a rate limit's reset, e.g.
 * GitHub's primary limit within the hour, or another worker's lease on the same work), puts the same job
 * back on its queue for that long and returns how long: the caller then acknowledges the message. The
 * queue's own redelivery would instead burn its dequeue count in seconds and poison a job that only had
 * to wait. Jobs are idempotent, so the copy is safe. Returns null for any other error (the caller rethrows it).
 * @throws the queue's own errors (the caller's rethrow then redelivers the original message).
 */
export async function deferThrottledJob(queue: WorkQueue, name: QueueName, job: unknown, error: unknown): Promise<{ deferredSeconds: number } | null> {
  if (!(error instanceof AppError) || !error.retryable) return null;
  const retryAfterMs = error.details["retryAfterMs"];
  if (typeof retryAfterMs !== "number" || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) return null;
  const deferredSeconds = Math.min(MAX_DELAY_SECONDS, Math.ceil(retryAfterMs / 1000));
  await queue.enqueue(name, job, { delaySeconds: deferredSeconds });
  return { deferredSeconds };
}
