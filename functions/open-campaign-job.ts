import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { CampaignJob } from "../shared/ports/work-queue.js";
import { openDebouncedCampaign } from "../shared/use-cases/open-campaign.js";
import { parseWith } from "../shared/validation.js";

/** Queue trigger: opens a debounced campaign once its window has passed, if the base tag did not move again. */
export async function openCampaignJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(CampaignJob, message, "campaigns message");
  const outcome = await openDebouncedCampaign(await getServices(), job);
  context.log(`debounced campaign ${outcome.kind}`, { base: job.base, toDigest: job.toDigest, ...(outcome.kind === "opened" ? { id: outcome.id, obligations: outcome.obligations } : { reason: outcome.reason }) });
}

register.storageQueue("openCampaignJob", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-campaigns",
  connection: "AzureWebJobsStorage",
  handler: openCampaignJob,
});
