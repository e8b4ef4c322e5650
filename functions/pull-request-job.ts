import type { InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { AppError } from "../shared/errors.js";
import { register } from "../shared/function-definitions.js";
import { PullRequestJob } from "../shared/ports/work-queue.js";
import { deferThrottledJob } from "../shared/use-cases/defer-throttled-job.js";
import { runPullRequestJob } from "../shared/use-cases/run-pull-request-job.js";
import { parseWith } from "../shared/validation.js";

/**
 * Queue trigger: bumps the pinned digests of one repository for a campaign in one pull request per
 * repository and base tag (GitHub in Azure, local git on the stack). A rate limit that says when it resets
 * puts the job back on the queue for that long, and so does another delivery holding the branch's
 * proposing lease (a few seconds); other forge faults are rethrown so the queue redelivers, then moves the
 * job to the poison queue.
 */
export async function pullRequestJob(message: unknown, context: InvocationContext): Promise<void> {
  const job = parseWith(PullRequestJob, message, "pull-request message");
  const services = await getServices();
  const fields = { campaignId: job.campaignId, pin: job.dependentKey, toDigest: job.toDigest };
  let outcome;
  try {
    outcome = await runPullRequestJob(services, job);
  } catch (error) {
    // A rate limit that resets later, or another delivery proposing on the same branch: wait on the
    // queue, without spending the job's dequeue count.
    const deferred = await deferThrottledJob(services.queue, "pull-request", job, error);
    if (deferred === null) throw error;
    const busy = error instanceof AppError && error.code === "pull_request_busy";
    context.warn(busy ? "pull request deferred: another delivery is proposing on its branch" : "pull request deferred by a rate limit", { ...fields, deferredSeconds: deferred.deferredSeconds });
    return;
  }
  if (outcome.kind === "failed") context.warn("pull request failed", { ...fields, reason: outcome.reason });
  else if (outcome.kind === "proposed") context.log(outcome.updated ? "pull request updated" : "pull request opened", { ...fields, url: outcome.url, files: outcome.files });
  else context.log("pull request skipped", { ...fields, reason: outcome.reason });
}

register.storageQueue("pullRequestJob", {
  queueName: "%RIPPLE_QUEUE_PREFIX%-pull-request",
  connection: "AzureWebJobsStorage",
  handler: pullRequestJob,
});
