import type { InvocationContext, Timer } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { requeueOrphanedClaims } from "../shared/use-cases/requeue-orphaned-claims.js";
import { REQUEUE_POLICY, requeueStuckEvents } from "../shared/use-cases/requeue-stuck-events.js";

/**
 * Timer: every 15 seconds, the work a dead worker or an outage left behind is queued again (nothing lost,
 * nothing waiting on a dead worker's invisible message): any recorded event never processed, read from
 * the unfinished-event index, oldest first, up to 5,000 a tick, with the backoff of {@link REQUEUE_POLICY}
 * (2, 4, 8 … minutes apart, then hourly; failed after 24 h) — at once when its processing lease ran out —
 * and the rebuild job of every claim whose worker stopped renewing it.
 */
export async function requeueStuckEventsTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const services = await getServices();
  const { requeued, gaveUp } = await requeueStuckEvents(services, { batchLimit: 5000, policy: REQUEUE_POLICY });
  if (requeued.length > 0) context.warn("requeued stuck registry events", { count: requeued.length, keys: requeued.slice(0, 20) });
  if (gaveUp.length > 0) context.error("registry events given up after a day of requeues", { count: gaveUp.length, keys: gaveUp.slice(0, 20) });
  const registries = services.config.registries.map((registry) => registry.host).filter((host) => services.builderFor(host) !== null);
  const claims = await requeueOrphanedClaims(services, registries);
  if (claims.length > 0) context.warn("requeued the rebuilds of claims whose worker died", { count: claims.length, keys: claims.slice(0, 20) });
}

register.timer("requeueStuckEvents", { schedule: "*/15 * * * * *", handler: requeueStuckEventsTimer });
