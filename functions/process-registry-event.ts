import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { RegistryEventJob } from "../shared/ports/work-queue.js";
import { processRegistryEvent } from "../shared/use-cases/process-registry-event.js";
import { parseWith } from "../shared/validation.js";

/**
 * Queue trigger: reads the pushed manifest, updates tag history and the graph, opens campaigns.
 * Retryable failures are rethrown: the queue redelivers, then moves the message to the poison queue.
 */
export async function processRegistryEventJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(RegistryEventJob, message, "registry-events message");
  const outcome = await processRegistryEvent(await getServices(), job.eventKey);
  if (outcome.kind === "failed") context.warn("registry event failed", { eventKey: job.eventKey, reason: outcome.reason });
  else if (outcome.kind === "skipped") context.log("registry event skipped", { eventKey: job.eventKey, reason: outcome.reason });
  else context.log("registry event processed", { eventKey: job.eventKey, summary: outcome.summary });
}

register.storageQueue("processRegistryEvent", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-registry-events",
  connection: "AzureWebJobsStorage",
  handler: processRegistryEventJob,
});
