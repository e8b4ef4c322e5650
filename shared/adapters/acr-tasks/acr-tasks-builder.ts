import { posix } from "node:path";
import type {
  Argument,
  ContainerRegistryManagementClient,
  DockerBuildRequest,
  PlatformProperties,
  Run,
  RunRequestUnion,
  SetValue,
  TaskRunRequest,
} from "@azure/arm-containerregistry";
import { normalizeRegistryHost, parseImageRef } from "../../domain/image-ref.js";
import { AppError, ConfigError, UpstreamError } from "../../errors.js";
import { FINAL_RUN_STATUSES, type BuildRecipe, type BuildRequest, type BuildRun, type ImageBuilder, type RunStatus } from "../../ports/image-builder.js";
import { toUpstreamError } from "../azure-errors.js";

/** The service name in this adapter's upstream errors. */
export const ACR_TASKS_SERVICE = "acr-tasks";

/** The value and build argument carrying the base's tag key, `registry/repository:tag`. */
export const BASE_IMAGE_ARGUMENT = "RIPPLE_BASE_IMAGE";
/** The value and build argument carrying the base digest the rebuild must use. */
export const BASE_DIGEST_ARGUMENT = "RIPPLE_BASE_DIGEST";
/** The task value and argument carrying the rebuilt image's tag key (task recipes only). */
export const IMAGE_ARGUMENT = "RIPPLE_IMAGE";

/** Seconds a source build may take before ACR Tasks stops it (ACR's own default). */
const BUILD_TIMEOUT_SECONDS = 3600;
const DEFAULT_PLATFORM: PlatformProperties = { os: "linux", architecture: "amd64" };
/** ARM's pattern for a task name; anything else could address another resource through the task id. */
const TASK_NAME = /^[a-zA-Z0-9_-]{1,50}$/;

const STATUS_BY_ACR_STATUS: Readonly<Record<string, RunStatus>> = {
  queued: "queued",
  started: "running",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  error: "failed",
  canceled: "canceled",
  timeout: "timed-out",
};

/** Options of {@link createAcrTasksBuilder}. */
export interface AcrTasksBuilderOptions {
  /** An ARM client for the registry's subscription; the caller owns its credential and pipeline options. */
  readonly client: ContainerRegistryManagementClient;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The registry's resource name (`myregistry`), not its login server. */
  readonly registryName: string;
  /** Delay between polls of `scheduleRun`'s long-running operation when ARM sends no `Retry-After` (default 2000 ms). */
  readonly pollIntervalMs?: number;
}

/**
 * The {@link ImageBuilder} adapter for ACR Tasks. `start` schedules a run through ARM's `scheduleRun`
 * (a `TaskRunRequest` for a task recipe, a `DockerBuildRequest` from a git context for a source recipe),
 * follows the long-running operation until ARM has accepted the run, and returns the run as ARM reports
 * it, usually queued. `get` reads the run and, once it is final, a SAS link to its log.
 *
 * Every ARM failure becomes an `UpstreamError` of service `acr-tasks`, retryable for network errors,
 * 408, 429 and 5xx (after the SDK's own retries).
 * @throws ConfigError when `subscriptionId` is not the client's own.
 */
export function createAcrTasksBuilder(options: AcrTasksBuilderOptions): ImageBuilder {
  const { client, resourceGroup, registryName } = options;
  // The client addresses its own subscription; a task id naming another would run a task ARM cannot find.
  if (client.subscriptionId.toLowerCase() !== options.subscriptionId.toLowerCase()) {
    throw new ConfigError("the ACR Tasks builder's subscriptionId differs from its ARM client's", [{ path: "subscriptionId", message: "must equal the client's subscriptionId" }]);
  }
  const pollIntervalMs = options.pollIntervalMs ?? 2000;

  const readLogsUrl = async (runId: string): Promise<string | null> => {
    try {
      const result = await client.runs.getLogSasUrl(resourceGroup, registryName, runId);
      return result.logLink ?? null;
    } catch {
      // The run's state matters more than its log link: report the run without one.
      return null;
    }
  };

  const toBuildRun = async (run: Run, action: string): Promise<BuildRun> => {
    const runId = run.runId ?? run.name;
    if (runId === undefined || runId === "") {
      throw new UpstreamError(ACR_TASKS_SERVICE, `${action} failed: the run has no runId`, { status: null, retryable: false });
    }
    const status = mapRunStatus(run.status);
    if (status === null) {
      throw new UpstreamError(ACR_TASKS_SERVICE, `${action} failed: unknown run status ${JSON.stringify(run.status ?? null)}`, { status: null, retryable: false });
    }
    const final = FINAL_RUN_STATUSES.includes(status);
    return {
      runId,
      status,
      logsUrl: final ? await readLogsUrl(runId) : null,
      startedAt: toIsoTime(run.startTime),
      finishedAt: toIsoTime(run.finishTime),
      reason: run.runErrorMessage ?? (final && status !== "succeeded" ? `ACR Tasks run ended with status ${run.status ?? "unknown"}` : null),
    };
  };

  return {
    async start(request) {
      const runRequest = createRunRequest(request, options);
      const action = request.recipe.kind === "task" ? `scheduling task ${request.recipe.task} for ${request.image}` : `scheduling a build of ${request.image}`;
      let run: Run;
      try {
        run = await client.registries.beginScheduleRunAndWait(resourceGroup, registryName, runRequest, { updateIntervalInMs: pollIntervalMs });
      } catch (error) {
        throw toUpstreamError(error, { service: ACR_TASKS_SERVICE, action });
      }
      return toBuildRun(run, action);
    },

    async get(runId) {
      const action = `reading run ${runId}`;
      let run: Run;
      try {
        run = await client.runs.get(resourceGroup, registryName, runId);
      } catch (error) {
        throw toUpstreamError(error, { service: ACR_TASKS_SERVICE, action });
      }
      return toBuildRun(run, action);
    },
  };
}

/** Maps an ACR run status (`Queued`, `Started`, `Running`, `Succeeded`, `Failed`, `Error`, `Canceled`, `Timeout`); null when unknown. */
export function mapRunStatus(status: string | undefined): RunStatus | null {
  return status === undefined ? null : (STATUS_BY_ACR_STATUS[status.toLowerCase()] ?? null);
}

/**
 * The ARM `scheduleRun` body for a build request.
 * @throws AppError `build_request_invalid` when ACR Tasks cannot build the recipe as given.
 */
export function createRunRequest(
  request: BuildRequest,
  target: Pick<AcrTasksBuilderOptions, "subscriptionId" | "resourceGroup" | "registryName">,
): RunRequestUnion {
  const { recipe } = request;
  const baseArguments = [
    { name: BASE_IMAGE_ARGUMENT, value: request.base.key },
    { name: BASE_DIGEST_ARGUMENT, value: request.base.digest },
  ];
  if (recipe.kind === "task") {
    if (!TASK_NAME.test(recipe.task)) invalid(request, `"${recipe.task}" is not an ACR task name`);
    const values = [...baseArguments, { name: IMAGE_ARGUMENT, value: request.image }];
    const taskRun: TaskRunRequest = {
      type: "TaskRunRequest",
      taskId: `/subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${target.registryName}/tasks/${recipe.task}`,
      overrideTaskStepProperties: {
        values: values.map((value): SetValue => ({ ...value, isSecret: false })),
        arguments: values.map((value): Argument => ({ ...value, isSecret: false })),
      },
    };
    return taskRun;
  }

  const context = normalizeContext(request, recipe.context);
  const recipeArguments = Object.entries(recipe.args)
    .filter(([name]) => name !== BASE_IMAGE_ARGUMENT && name !== BASE_DIGEST_ARGUMENT)
    .map(([name, value]) => ({ name, value }));
  const build: DockerBuildRequest = {
    type: "DockerBuildRequest",
    sourceLocation: `${sourceRepository(request, recipe)}#${sourceRevision(request, recipe.revision)}${context === "." ? "" : `:${context}`}`,
    dockerFilePath: dockerfileInContext(request, recipe.dockerfile, context),
    imageNames: imageNames(request, recipe.tags),
    isPushEnabled: true,
    platform: parsePlatform(request, recipe.platforms),
    arguments: [...recipeArguments, ...baseArguments].map((argument): Argument => ({ ...argument, isSecret: false })),
    timeout: BUILD_TIMEOUT_SECONDS,
  };
  return build;
}

function toIsoTime(time: Date | undefined): string | null {
  return time === undefined || Number.isNaN(time.getTime()) ? null : time.toISOString();
}

type SourceRecipe = Extract<BuildRecipe, { kind: "source" }>;

function invalid(request: BuildRequest, message: string): never {
  throw new AppError("build_request_invalid", `cannot build ${request.image} with ACR Tasks: ${message}`, { retryable: false, details: { image: request.image } });
}

/** ACR Tasks clones a git context over https; `#` and `:` are the separators of its context syntax. */
function sourceRepository(request: BuildRequest, recipe: SourceRecipe): string {
  if (!/^https:\/\/[^\s#]+$/.test(recipe.repository)) invalid(request, `the repository "${recipe.repository}" is not an https git URL`);
  return recipe.repository;
}

function sourceRevision(request: BuildRequest, revision: string): string {
  if (!/^[^\s#:]+$/.test(revision)) invalid(request, `the revision "${revision}" cannot be part of a git context`);
  return revision;
}

/** The context folder inside the repository, without `./` or a trailing slash; `.` for the root. */
function normalizeContext(request: BuildRequest, context: string): string {
  const normalized = posix.normalize(context.trim() === "" ? "." : context).replace(/\/+$/, "") || ".";
  if (normalized.startsWith("/") || normalized === ".." || normalized.startsWith("../") || /[\s#:]/.test(normalized)) {
    invalid(request, `the context "${context}" is not a folder inside the repository`);
  }
  return normalized;
}

/** The recipe names the Dockerfile from the repository root; ACR Tasks reads `dockerFilePath` from the context folder. */
function dockerfileInContext(request: BuildRequest, dockerfile: string, context: string): string {
  const path = posix.normalize(dockerfile);
  if (context === ".") {
    if (path.startsWith("/") || path.startsWith("../")) invalid(request, `the Dockerfile "${dockerfile}" is not inside the repository`);
    return path;
  }
  if (!path.startsWith(`${context}/`)) invalid(request, `the Dockerfile "${dockerfile}" is not inside the context "${context}"`);
  return path.slice(context.length + 1);
}

/** ACR pushes `repository:tag` to its own registry only. */
function imageNames(request: BuildRequest, tags: readonly string[]): string[] {
  const registry = normalizeRegistryHost(request.registry);
  return (tags.length > 0 ? tags : [request.image]).map((tag) => {
    const ref = parseImageRef(tag);
    if (!ref.ok) invalid(request, ref.reason);
    if (ref.value.registry !== registry) invalid(request, `the tag ${tag} is not in the registry ${request.registry}`);
    if (ref.value.digest !== null || ref.value.tag === null) invalid(request, `the tag ${tag} is not a registry/repository:tag reference`);
    return `${ref.value.repository}:${ref.value.tag}`;
  });
}

function parsePlatform(request: BuildRequest, platforms: readonly string[]): PlatformProperties {
  if (platforms.length > 1) {
    invalid(request, "ACR Tasks builds one platform per DockerBuildRequest; use a multi-step task recipe for multi-platform images");
  }
  const platform = platforms[0];
  if (platform === undefined) return { ...DEFAULT_PLATFORM };
  const [os, architecture, variant, ...rest] = platform.split("/");
  if (os === undefined || os === "" || architecture === undefined || architecture === "" || variant === "" || rest.length > 0) {
    invalid(request, `"${platform}" is not an os/architecture[/variant] platform`);
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}
