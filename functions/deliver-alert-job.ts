import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { AlertJob } from "../shared/ports/work-queue.js";
import { deferThrottledJob } from "../shared/use-cases/defer-throttled-job.js";
import { deliverAlert } from "../shared/use-cases/deliver-alert.js";
import { parseWith } from "../shared/validation.js";

/**
 * Queue trigger: delivers one campaign's alert to one sink. A sink's retryable failure is rethrown (the
 * queue retries, then the poison queue), or deferred when the sink said how long to wait (429).
 */
export async function deliverAlertJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(AlertJob, message, "alerts message");
  const services = await getServices();
  let outcome;
  try {
    outcome = await deliverAlert(services, job);
  } catch (error) {
    const deferred = await deferThrottledJob(services.queue, "alerts", job, error);
    if (deferred === null) throw error;
    context.warn("alert delivery deferred by a rate limit", { campaignId: job.campaignId, sink: job.sinkId, deferredSeconds: deferred.deferredSeconds });
    return;
  }
  const fields = { campaignId: job.campaignId, sink: job.sinkId, sequence: job.sequence };
  if (outcome.outcome === "delivered") context.log("alert delivered", { ...fields, delivered: outcome.sequence });
  else if (outcome.why === "given up") context.error("alert not delivered: given up", fields);
  else if (outcome.why === "sink not configured") context.warn("alert delivery skipped: the sink is no longer configured", fields);
  else context.log(`alert delivery skipped: ${outcome.why}`, fields);
}

register.storageQueue("deliverAlertJob", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-alerts",
  connection: "AzureWebJobsStorage",
  handler: deliverAlertJob,
});
