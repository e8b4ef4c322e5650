import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { ScanJob } from "../shared/ports/work-queue.js";
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
  const summary = await scanRepository({ store: services.store, forge, now: services.now }, job.repository);
  context.log("repository scanned", { repository: job.repository, unchanged: summary.unchanged, pins: summary.pins, calls: summary.calls });
}

register.storageQueue("scanRepositoryJob", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-scans",
  connection: "AzureWebJobsStorage",
  handler: scanRepositoryJob,
});
