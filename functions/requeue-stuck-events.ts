import type { InvocationContext, Timer } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { REQUEUE_POLICY, requeueStuckEvents } from "../shared/use-cases/requeue-stuck-events.js";

/**
 * Timer: every minute, queue again any recorded event that was never processed (nothing lost), read
 * from the unfinished-event index, oldest first, up to 5,000 a tick (the rest wait for the next), with
 * the backoff of {@link REQUEUE_POLICY} (2, 4, 8 … minutes apart, then hourly; failed after 24 h).
 */
export async function requeueStuckEventsTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const { requeued, gaveUp } = await requeueStuckEvents(await getServices(), { batchLimit: 5000, policy: REQUEUE_POLICY });
  if (requeued.length > 0) context.warn("requeued stuck registry events", { count: requeued.length, keys: requeued.slice(0, 20) });
  if (gaveUp.length > 0) context.error("registry events given up after a day of requeues", { count: gaveUp.length, keys: gaveUp.slice(0, 20) });
}

register.timer("requeueStuckEvents", { schedule: "0 */1 * * * *", handler: requeueStuckEventsTimer });
