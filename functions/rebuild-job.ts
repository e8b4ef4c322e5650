import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { RebuildJob } from "../shared/ports/work-queue.js";
import { runRebuildJob } from "../shared/use-cases/run-rebuild-job.js";
import { parseWith } from "../shared/validation.js";

/**
 * Queue trigger: rebuilds one image on its campaign's new base digest (ACR Tasks in Azure, buildah on
 * the local stack). Storage faults are rethrown so the queue redelivers; builder retries are the use
 * case's own (exponential backoff, then the poison queue).
 */
export async function rebuildJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(RebuildJob, message, "rebuild message");
  const outcome = await runRebuildJob(await getServices(), job);
  const fields = { campaignId: job.campaignId, image: job.dependentKey, toDigest: job.toDigest };
  if (outcome.kind === "failed") context.warn("rebuild failed", { ...fields, reason: outcome.reason });
  else if (outcome.kind === "started") context.log("rebuild started", { ...fields, runId: outcome.run.runId, status: outcome.run.status });
  else context.log(`rebuild ${outcome.kind}`, { ...fields, reason: outcome.reason });
}

register.storageQueue("rebuildJob", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-rebuild",
  connection: "AzureWebJobsStorage",
  handler: rebuildJob,
});
