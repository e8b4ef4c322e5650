import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { RegistryEventJob } from "../shared/ports/work-queue.js";
import { processRegistryEvent } from "../shared/use-cases/process-registry-event.js";
import { retryRegistryEventLater } from "../shared/use-cases/retry-registry-event.js";
import { parseWith } from "../shared/validation.js";

/**
 * Queue trigger: reads the pushed manifest, updates tag history and the graph, opens campaigns.
 * A failed event is put back on the queue rather than redelivered (see retryRegistryEventLater): one
 * another worker holds waits out that worker's lease (a dead worker's lease must not poison it), and a
 * retryable failure (an outage) is retried 5 s doubling to 60 s apart for about 15 minutes. Anything else
 * is rethrown: the queue redelivers it, then moves it to the poison queue, and the stuck-event sweep
 * brings it back later.
 */
export async function processRegistryEventJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(RegistryEventJob, message, "registry-events message");
  const services = await getServices();
  let outcome;
  try {
    outcome = await processRegistryEvent(services, job.eventKey);
  } catch (error) {
    const later = await retryRegistryEventLater(services.queue, job, error);
    if (later === null) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    // Held by another worker is the usual race of the fast path and the queued copy; a failure is worth a warning.
    if (later.retry === null) context.log("registry event held by another worker; looked at again later", { eventKey: job.eventKey, ...later });
    else context.warn("registry event failed; retried on the queue", { eventKey: job.eventKey, ...later, reason });
    return;
  }
  if (outcome.kind === "failed") context.warn("registry event failed", { eventKey: job.eventKey, reason: outcome.reason });
  else if (outcome.kind === "skipped") context.log("registry event skipped", { eventKey: job.eventKey, reason: outcome.reason });
  else context.log("registry event processed", { eventKey: job.eventKey, summary: outcome.summary });
}

register.storageQueue("processRegistryEvent", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-registry-events",
  connection: "AzureWebJobsStorage",
  handler: processRegistryEventJob,
});
