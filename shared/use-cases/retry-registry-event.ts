import { AppError, isRetryable } from "../errors.js";
import type { RegistryEventJob, WorkQueue } from "../ports/work-queue.js";
import { deferThrottledJob } from "./defer-throttled-job.js";

/**
 * How often an event whose processing failed retryable (the registry or storage briefly unreachable) is
 * retried on the queue itself, 5 s doubling to 60 s apart: about 15 minutes in all, so an outage up to
 * then is recovered from within a minute of its end. After that the queue's own redelivery, its poison
 * queue and the stuck-event sweep (2, 4, 8 … minutes, then hourly, for 24 hours) take over.
 */
export const EVENT_RETRIES = 18;

/** The wait before retry number `retry + 1` of an event: 5 s, doubling, at most 60 s. */
export function eventRetryDelaySeconds(retry: number): number {
  return Math.min(60, 5 * 2 ** retry);
}

/**
 * What the registry-events queue trigger does with a failed event instead of letting the queue redeliver
 * it (which spends the message's dequeue count in seconds and poisons it during any outage longer than
 * that): an event another worker holds waits out that worker's lease (`retryAfterMs`); any other
 * retryable failure is queued again as retry `job.retry + 1` after {@link eventRetryDelaySeconds}, up to
 * {@link EVENT_RETRIES}. Processing is idempotent, so a copy is safe. Returns how long it waits, or null
 * when the caller must rethrow (not retryable, or out of retries).
 * @throws the queue's errors (the caller's rethrow then redelivers the original message).
 */
export async function retryRegistryEventLater(queue: WorkQueue, job: RegistryEventJob, error: unknown): Promise<{ delaySeconds: number; retry: number | null } | null> {
  const busy = error instanceof AppError && error.code === "event_busy" ? await deferThrottledJob(queue, "registry-events", job, error) : null;
  if (busy !== null) return { delaySeconds: busy.deferredSeconds, retry: null };
  const retry = job.retry ?? 0;
  if (!isRetryable(error) || retry >= EVENT_RETRIES) return null;
  const delaySeconds = eventRetryDelaySeconds(retry);
  await queue.enqueue("registry-events", { ...job, retry: retry + 1 }, { delaySeconds });
  return { delaySeconds, retry: retry + 1 };
}
