import type { EventGridEvent, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { ValidationError } from "../shared/errors.js";
import { register } from "../shared/function-definitions.js";
import { createInlineAllowance, INLINE_BUDGET_MS, INLINE_MAX_EVENTS } from "../shared/use-cases/process-registry-event.js";
import { receiveEventGridEvent } from "../shared/use-cases/receive-notification.js";

/**
 * Inline processing shared by every invocation in this worker: Event Grid invokes the trigger once per event
 * of a delivery and answers after the last, so a bound per invocation would still add up to minutes for a
 * large batch. Past the allowance an event is only recorded; its queued copy processes it.
 */
const inline = createInlineAllowance({ maxEvents: INLINE_MAX_EVENTS, budgetMs: INLINE_BUDGET_MS, windowMs: 30_000 });

/**
 * Event Grid trigger for `Microsoft.ContainerRegistry.ImagePushed` / `ImageDeleted`. A malformed event
 * is logged and dropped (redelivery cannot fix it); one dated beyond the allowed clock skew is recorded as
 * rejected; a storage fault is rethrown so Event Grid retries.
 */
export async function registryEventGrid(event: EventGridEvent, context: InvocationContext): Promise<void> {
  const services = await getServices();
  try {
    const result = await receiveEventGridEvent({ store: services.store, queue: services.queue, config: services.config, now: services.now }, event);
    context.log("registry event received", { id: event.id, type: event.eventType, result: result.kind });
    if (result.kind === "recorded" && result.rejected > 0) context.warn("registry event rejected and recorded", { id: event.id, rejections: result.rejections });
    if (result.kind !== "recorded") return;
    const outcome = await inline.process(services, result.acceptedKeys);
    if (outcome.leftQueued > 0) context.log("registry event left to the queue", { id: event.id, leftQueued: outcome.leftQueued });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    context.warn("registry event dropped: invalid", { id: event.id, reason: error.message });
  }
}

register.eventGrid("registryEventGrid", { handler: registryEventGrid });
