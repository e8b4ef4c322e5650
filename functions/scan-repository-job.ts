import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { ScanJob } from "../shared/ports/work-queue.js";
import { deferThrottledJob } from "../shared/use-cases/defer-throttled-job.js";
import { scanRepository } from "../shared/use-cases/scan-repository.js";
import { parseWith } from "../shared/validation.js";

/** Queue trigger: rescans one repository for digest pins (queued by the GitHub `push` webhook). */
export async function scanRepositoryJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(ScanJob, message, "scans message");
  const services = await getServices();
  const forge = services.forgeFor(job.repository);
  if (forge === null) {
    context.warn("scan skipped: no forge serves the repository", { repository: job.repository });
    return;
  }
  let summary;
  try {
    summary = await scanRepository({ store: services.store, forge, now: services.now }, job.repository);
  } catch (error) {
    // A rate limit that resets later: wait it out on the queue, without spending the job's dequeue count.
    const deferred = await deferThrottledJob(services.queue, "scans", job, error);
    if (deferred === null) throw error;
    context.warn("scan deferred by a rate limit", { repository: job.repository, deferredSeconds: deferred.deferredSeconds });
    return;
  }
  context.log("repository scanned", { repository: job.repository, unchanged: summary.unchanged, pins: summary.pins, calls: summary.calls });
}

register.storageQueue("scanRepositoryJob", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-scans",
  connection: "AzureWebJobsStorage",
  handler: scanRepositoryJob,
});
