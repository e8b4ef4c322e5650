/**
 * Source builds as ARM `taskRuns` (`Microsoft.ContainerRegistry/registries/taskRuns`, api-version
 * 2019-06-01-preview as `@azure/arm-containerregistry` 11 sends it). Unlike `scheduleRun`, a task run
 * carries a user-assigned managed identity, so its `credentials.customRegistries` can log in to other
 * registries with that identity's client id; and it is a named resource, so creating it is a PUT that a
 * lost answer or a second delivery resolves by name instead of by attributing runs.
 */
import { createHash } from "node:crypto";
import type { ContainerRegistryManagementClient, DockerBuildRequest, PlatformProperties, Run, TaskRun } from "@azure/arm-containerregistry";
import { AppError, UpstreamError } from "../../errors.js";
import type { BuildRequest } from "../../ports/image-builder.js";
import { readStatus, toUpstreamError } from "../azure-errors.js";
import { splitRunId } from "./platform-index.js";

/** The user-assigned identity a registry's task runs carry: its client id (for logins) and ARM resource id (to attach it). */
export interface TaskRunIdentity {
  readonly clientId: string;
  readonly resourceId: string;
}

/** Options of {@link createTaskRuns}. */
export interface TaskRunsOptions {
  readonly client: ContainerRegistryManagementClient;
  readonly resourceGroup: string;
  readonly registryName: string;
  readonly identity: TaskRunIdentity;
  /** The registry's region, which a task run names as its `location` (read once, e.g. through `registries.get`). */
  readonly location: () => Promise<string>;
  /** The service name of upstream errors. */
  readonly service: string;
  /** Delay between polls of the create operation when ARM sends no `Retry-After`. */
  readonly pollIntervalMs: number;
}

/** ARM's pattern for a task run's name (`taskRunName`): 5-50 letters, digits and hyphens. */
export const TASK_RUN_NAME = /^[a-zA-Z0-9-]{5,50}$/;
const TASK_RUN_PREFIX = "ripple-";
/** Run statuses (lowercase) after which the same request gets a new run rather than adopting the old one. */
const RERUN_STATUSES: ReadonlySet<string> = new Set(["failed", "error", "canceled", "timeout"]);
const IN_PROGRESS: ReadonlySet<string> = new Set(["creating", "updating", "accepted"]);

/**
 * The task run of one platform of one request: `ripple-` and 40 hex digits of the request's idempotency
 * key and the platform, the same for every delivery of the request and different for every other.
 */
export function taskRunName(idempotencyKey: string, platform: PlatformProperties): string {
  const name = [platform.os, platform.architecture, platform.variant].filter((part) => part !== undefined && part !== "").join("/").toLowerCase();
  return `${TASK_RUN_PREFIX}${createHash("sha256").update(`${idempotencyKey}\n${name}`).digest("hex").slice(0, 40)}`;
}

/** What {@link createTaskRuns} does with the task run it finds under the request's name. */
type Verdict = { readonly kind: "adopt"; readonly run: Run } | { readonly kind: "create"; readonly forceUpdateTag: string | undefined } | { readonly kind: "pending" };

/**
 * Starts a source build as the task run named by {@link taskRunName}, with the identity attached. The
 * task run is read first: its run is adopted while queued, running or succeeded and not one of
 * `request.knownRunIds`; after a failed, canceled or timed-out run (or another request's) it is run
 * again with `forceUpdateTag` `rerun-<old run id>`, the same for every delivery. The SDK may resend a
 * PUT (the same configuration and tag: ARM starts no second run); one whose answer is still lost
 * (network, 408, 5xx) is resolved by reading the task run. Idempotent.
 * @throws UpstreamError (retryable for network, 408, 429, 5xx); AppError `run_outcome_unknown`
 * (retryable) while the task run is still being created.
 */
export function createTaskRuns(options: TaskRunsOptions) {
  const { client, resourceGroup, registryName, identity, service, pollIntervalMs } = options;
  let location: Promise<string> | null = null;
  const registryLocation = (action: string): Promise<string> => {
    location ??= options.location().catch((error: unknown) => {
      location = null;
      throw error instanceof UpstreamError ? error : toUpstreamError(error, { service, action: `reading registry ${registryName}'s location for ${action}` });
    });
    return location;
  };

  const read = async (name: string, action: string): Promise<TaskRun | null> => {
    try {
      return await client.taskRuns.get(resourceGroup, registryName, name);
    } catch (error) {
      if (readStatus(error) === 404) return null;
      throw toUpstreamError(error, { service, action: `reading task run ${name} for ${action}` });
    }
  };

  const create = async (name: string, body: TaskRun, action: string): Promise<Run> => {
    try {
      return runOf(await client.taskRuns.beginCreateAndWait(resourceGroup, registryName, name, body, { updateIntervalInMs: pollIntervalMs }), name, service, action);
    } catch (error) {
      const failure = error instanceof UpstreamError ? error : toUpstreamError(error, { service, action });
      if (!failure.retryable) throw failure;
      // ARM may have created the task run and lost the answer: the name finds it, with this PUT's tag.
      const found = await read(name, action).catch(() => null);
      const run = found?.runResult;
      if (run?.runId !== undefined && (found?.forceUpdateTag ?? "") === (body.forceUpdateTag ?? "")) return run;
      throw failure;
    }
  };

  const start = async (runRequest: DockerBuildRequest, request: BuildRequest, action: string): Promise<Run> => {
    const name = taskRunName(request.idempotencyKey, runRequest.platform);
    const existing = await read(name, action);
    const verdict: Verdict = existing === null ? { kind: "create", forceUpdateTag: undefined } : judge(existing, request);
    if (verdict.kind === "adopt") return verdict.run;
    if (verdict.kind === "pending") {
      throw new AppError("run_outcome_unknown", `${action}: task run ${name} is still being created`, { retryable: true, details: { retryAfterMs: pollIntervalMs, candidates: [] } });
    }
    const body: TaskRun = {
      location: await registryLocation(action),
      identity: { type: "UserAssigned", userAssignedIdentities: { [identity.resourceId]: {} } },
      runRequest,
      ...(verdict.forceUpdateTag === undefined ? {} : { forceUpdateTag: verdict.forceUpdateTag }),
    };
    return create(name, body, action);
  };

  return { start };
}

/** Whether the request adopts the task run's run, runs it again, or must wait for its creation. */
function judge(existing: TaskRun, request: BuildRequest): Verdict {
  const run = existing.runResult;
  if (run?.runId === undefined) {
    // No run yet: still being created (wait), or a creation that failed (PUT the same again).
    return IN_PROGRESS.has((existing.provisioningState ?? "").toLowerCase()) ? { kind: "pending" } : { kind: "create", forceUpdateTag: existing.forceUpdateTag };
  }
  const known = new Set((request.knownRunIds ?? []).flatMap((runId) => splitRunId(runId) ?? [runId]));
  if (known.has(run.runId) || RERUN_STATUSES.has((run.status ?? "").toLowerCase())) return { kind: "create", forceUpdateTag: `rerun-${run.runId}` };
  return { kind: "adopt", run };
}

function runOf(taskRun: TaskRun, name: string, service: string, action: string): Run {
  if (taskRun.runResult?.runId === undefined) {
    throw new UpstreamError(service, `${action} failed: task run ${name} reports no run`, { status: null, retryable: false });
  }
  return taskRun.runResult;
}
