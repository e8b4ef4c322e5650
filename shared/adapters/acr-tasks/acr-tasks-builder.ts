import type { Agent } from "node:https";
import { posix } from "node:path";
import type {
  Argument,
  ContainerRegistryManagementClient,
  CustomRegistryCredentials,
  DockerBuildRequest,
  PlatformProperties,
  Run,
  RunRequestUnion,
  SetValue,
  TaskRunRequest,
} from "@azure/arm-containerregistry";
import { normalizeRegistryHost, parseImageRef, splitTagKey } from "../../domain/image-ref.js";
import { AppError, ConfigError, UpstreamError } from "../../errors.js";
import { FINAL_RUN_STATUSES, type BuildRecipe, type BuildRequest, type BuildRun, type ImageBuilder, type RunStatus, type SourceArchives } from "../../ports/image-builder.js";
import type { ManifestStore } from "../acr/acr-manifest-store.js";
import { toUpstreamError } from "../azure-errors.js";
import { assembleIndex, combinePlatformRuns, platformTag, splitRunId } from "./platform-index.js";
import { repackSourceArchive, SourceArchiveError } from "./source-archive.js";
import { uploadBuildSource } from "./source-upload.js";
import { createTaskRuns, type TaskRunIdentity } from "./task-runs.js";

/** The service name in this adapter's upstream errors. */
export const ACR_TASKS_SERVICE = "acr-tasks";

/** The value and build argument carrying the base's tag key, `registry/repository:tag`. */
export const BASE_IMAGE_ARGUMENT = "RIPPLE_BASE_IMAGE";
/** The value and build argument carrying the base digest the rebuild must use. */
export const BASE_DIGEST_ARGUMENT = "RIPPLE_BASE_DIGEST";
/** The task value and argument carrying the rebuilt image's tag key (task recipes only). */
export const IMAGE_ARGUMENT = "RIPPLE_IMAGE";

/** How far ARM's clock may be behind ours when a run it created is looked up by its creation time. */
const SCHEDULE_CLOCK_SKEW_MS = 60_000;
/** `scheduleRun` requests per `start` (per platform): a second only once a lookup found no run of the first. */
const SCHEDULE_ATTEMPTS = 2;

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
  /**
   * The registry's manifests, to push the index of a multi-platform image once each platform is built.
   * Without it a source recipe of several platforms is refused.
   */
  readonly manifests?: ManifestStore;
  /** Delay between polls of `scheduleRun`'s long-running operation when ARM sends no `Retry-After` (default 2000 ms). */
  readonly pollIntervalMs?: number;
  /**
   * Repositories ACR Tasks cannot clone (private ones): their source is downloaded here with the forge's
   * credentials, re-packed to the build context and uploaded to the registry's build-source storage, so
   * no forge token reaches ARM, the run or its log. Other repositories are cloned from their https URL.
   */
  readonly sourceArchives?: SourceArchives;
  /** The agent of the source upload's PUT (a private CA on a test stack); Node's default otherwise. */
  readonly uploadAgent?: Agent;
  /**
   * Credentials of other registries a source build pulls from, by login server: the run request's
   * `credentials.customRegistries` (Key Vault secret references and managed identities where possible).
   */
  readonly customRegistries?: Readonly<Record<string, CustomRegistryCredentials>>;
  /**
   * A user-assigned identity for source builds: with it each source build (each platform's) is a task
   * run carrying the identity (see `task-runs.ts`), so `customRegistries` may log in with its client id.
   * Without it source builds are `scheduleRun` requests, which carry no identity.
   */
  readonly identity?: TaskRunIdentity;
}

/** What a source build's run requests carry besides the recipe. */
interface RunExtras {
  /** The uploaded source's relative path, replacing the git URL. */
  readonly sourceLocation?: string;
  readonly customRegistries?: Readonly<Record<string, CustomRegistryCredentials>>;
}

/** An ARM run as a {@link BuildRun} without its log link, and the images it reports having pushed. */
interface ArmRun {
  readonly run: BuildRun;
  /** Digests by `repository:tag`, from the run's `outputImages`. */
  readonly pushed: ReadonlyMap<string, string>;
}

/**
 * The {@link ImageBuilder} adapter for ACR Tasks. `start` schedules a run through ARM's `scheduleRun`
 * (a `TaskRunRequest` for a task recipe, a `DockerBuildRequest` from a git context for a source recipe),
 * follows the long-running operation until ARM has accepted the run, and returns the run as ARM reports
 * it, usually queued. `get` reads the run and, once it is final, a SAS link to its log.
 *
 * `scheduleRun` is not idempotent, so a request whose answer was lost (network, 408, 5xx) is never sent
 * again blindly, neither by the SDK's retries nor by this adapter: the run it may have started is looked
 * up with `runs.list` and returned, and the request is sent again (once) only when there is none. With
 * `request.resumeSince` (a retry or a taken-over claim) `start` looks first. ARM's runs do not carry the
 * request's arguments, so a run is taken only once it is attributed: created since then, of the same
 * task or platform, and reporting in `outputImages` the request's images (see `findScheduledRun`); runs
 * of `request.knownRunIds` are never taken. While a run that may be the request's is queued or running
 * without images, `start` starts nothing and throws `run_outcome_unknown` (retryable).
 *
 * A `DockerBuildRequest` builds one platform. A source recipe of several platforms is one run per
 * platform, each pushing to a scratch tag of its own ({@link platformTag}); the build's run id joins
 * theirs (`cb1+cb2`). `get` (given the request) pushes the index over the platforms' images to the
 * recipe's tags once every run has succeeded, then removes the scratch tags (best effort: an identity
 * without delete rights leaves them). One platform failing fails the build, naming the platform and its
 * run, and nothing is pushed to the recipe's tags: the image never loses a platform.
 *
 * A source recipe whose repository `sourceArchives` serves (a private one) is not cloned by ACR: its
 * tarball is downloaded, re-packed to the context folder and uploaded once per build to the registry's
 * build-source storage (`listBuildSourceUploadUrl` and a block-blob PUT to its SAS URL, neither stored
 * nor logged); every run of the build names the upload's relative path as `sourceLocation`, with
 * `dockerFilePath` relative to the context as for a git context. Source runs carry
 * `credentials.customRegistries` when given.
 *
 * With `identity`, a source build (each platform's) is instead a task run named after the request's
 * idempotency key and platform, carrying that user-assigned identity, so another ACR is pulled from
 * with `customRegistries[host] = { identity: clientId }`; a second `start` adopts its run (see
 * `createTaskRuns`). Task recipes are scheduled as before.
 *
 * Every ARM failure becomes an `UpstreamError` of service `acr-tasks`, retryable for network errors,
 * 408, 429 and 5xx (after the SDK's own retries), and so does a failed upload; registry failures are the
 * manifest store's, a source download's are `sourceArchives`'; an archive without the context is
 * `build_request_invalid`.
 * @throws ConfigError when `subscriptionId` is not the client's own.
 */
export function createAcrTasksBuilder(options: AcrTasksBuilderOptions): ImageBuilder {
  // The client addresses its own subscription; a task id naming another would run a task ARM cannot find.
  if (options.client.subscriptionId.toLowerCase() !== options.subscriptionId.toLowerCase()) {
    throw new ConfigError("the ACR Tasks builder's subscriptionId differs from its ARM client's", [{ path: "subscriptionId", message: "must equal the client's subscriptionId" }]);
  }
  const { schedule, read, withLogs, signLogs } = createArmRuns(options);
  const { archived, prepareSource } = createSourceUploads(options);

  /** The build of every platform's run: the index pushed once all succeeded. */
  const settlePlatforms = async (request: BuildRequest, platforms: readonly PlatformTarget[], runs: readonly ArmRun[]): Promise<BuildRun> => {
    const combined = combinePlatformRuns(runs.map(({ run }, index) => ({ platform: platforms[index]?.name ?? "unknown", run })));
    if (combined.run.status === "succeeded") await pushIndex(requireManifests(request), request, platforms, runs);
    return withLogs(combined.run, combined.logsOf);
  };

  return {
    signLogs,
    async start(request) {
      const platforms = multiPlatformTargets(request);
      // An archived source's location is its upload's, known once the requests are checked and it is uploaded.
      const extras = { customRegistries: options.customRegistries, ...(archived(request) ? { sourceLocation: "" } : {}) };
      if (platforms === null) {
        const action = request.recipe.kind === "task" ? `scheduling task ${request.recipe.task} for ${request.image}` : `scheduling a build of ${request.image}`;
        const [body] = await prepareSource(request, [createRunRequest(request, options, extras)]);
        return withLogs((await schedule(body!, action, request)).run);
      }
      requireManifests(request);
      const bodies = await prepareSource(request, platforms.map((platform) => platformRunRequest(request, platform, extras)));
      const runs: ArmRun[] = [];
      for (const [index, body] of bodies.entries()) runs.push(await schedule(body, `scheduling the ${platforms[index]!.name} build of ${request.image}`, request));
      return settlePlatforms(request, platforms, runs);
    },

    async get(runId, request) {
      const runIds = splitRunId(runId);
      if (runIds === null) return withLogs((await read(runId)).run);
      const platforms = request === undefined ? null : multiPlatformTargets(request);
      if (request === undefined || platforms === null || platforms.length !== runIds.length) {
        throw new AppError("build_request_invalid", `run ${runId} builds ${runIds.length} platforms: reading it needs the source recipe of those platforms that started it`, {
          retryable: false,
          details: { runId },
        });
      }
      const runs: ArmRun[] = [];
      for (const id of runIds) runs.push(await read(id));
      return settlePlatforms(request, platforms, runs);
    },
  };

  function requireManifests(request: BuildRequest): ManifestStore {
    if (options.manifests === undefined) invalid(request, "a multi-platform image needs the registry's manifests to push its index, and none were given");
    return options.manifests;
  }
}

/** ARM's runs of one registry: scheduled and read as {@link ArmRun}s, their log links added once final. */
function createArmRuns(options: AcrTasksBuilderOptions) {
  const { client, resourceGroup, registryName } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 2000;

  /** A live, short-lived link to the log of `acr-run:<registry>/<run id>` (signed now, for a reader; never stored). */
  const signLogs = async (logsUrl: string): Promise<string | null> => {
    const runId = logsRunId(logsUrl, registryName);
    if (runId === null) return null;
    try {
      const result = await client.runs.getLogSasUrl(resourceGroup, registryName, runId);
      return result.logLink ?? null;
    } catch (error) {
      throw toUpstreamError(error, { service: ACR_TASKS_SERVICE, action: `signing the log link of run ${runId}` });
    }
  };

  /** Adds where a final run's log is: a durable reference to the run, no SAS. */
  const withLogs = async (run: BuildRun, logsOf: string | null = run.runId): Promise<BuildRun> =>
    FINAL_RUN_STATUSES.includes(run.status) && logsOf !== null ? { ...run, logsUrl: `${LOGS_SCHEME}${registryName}/${logsOf}` } : run;

  guardScheduleRun(client);
  const location = async (): Promise<string> => (await client.registries.get(resourceGroup, registryName)).location;
  const taskRuns = options.identity === undefined ? null : createTaskRuns({ client, resourceGroup, registryName, identity: options.identity, location, service: ACR_TASKS_SERVICE, pollIntervalMs });

  /** What ARM holds for the request since `sinceMs` (see {@link findScheduledRun}), its run as an {@link ArmRun}. */
  const lookUp = async (identity: RunIdentity, sinceMs: number, action: string): Promise<Lookup<ArmRun>> => {
    let found: Lookup<Run>;
    try {
      found = await findScheduledRun({ client, resourceGroup, registryName }, identity, sinceMs);
    } catch (error) {
      throw toUpstreamError(error, { service: ACR_TASKS_SERVICE, action: `looking up runs for ${action}` });
    }
    return found.kind === "found" ? { kind: "found", run: toArmRun(found.run, action) } : found;
  };

  /**
   * Schedules `runRequest` once, never twice: ARM's `scheduleRun` is not idempotent, so the SDK may not
   * send it again ({@link guardScheduleRun}). When an attempt's outcome is unknown (network, 408, 5xx)
   * the run it may have started is looked up and returned; only when there is none is it sent again
   * (once). With `request.resumeSince` (the claim was held before) the lookup comes first. A lookup that
   * cannot tell yet throws `run_outcome_unknown` and sends nothing.
   */
  const schedule = async (runRequest: RunRequestUnion, action: string, request: BuildRequest): Promise<ArmRun> => {
    // A named task run is found by its name: no attribution of runs, no resumeSince lookup.
    if (taskRuns !== null && runRequest.type === "DockerBuildRequest") return toArmRun(await taskRuns.start(runRequest as DockerBuildRequest, request, action), action);
    const identity = runIdentity(runRequest, request);
    if (request.resumeSince !== undefined) {
      // The window starts where the earlier attempt's run could have, by ARM's clock.
      const resumed = await lookUp(identity, Date.parse(request.resumeSince) - SCHEDULE_CLOCK_SKEW_MS, action);
      if (resumed.kind === "found") return resumed.run;
      if (resumed.kind === "unknown") throw outcomeUnknown(action, resumed.candidates, pollIntervalMs);
    }
    for (let attempt = 1; ; attempt += 1) {
      const sentAt = Date.now();
      try {
        return toArmRun(await client.registries.beginScheduleRunAndWait(resourceGroup, registryName, runRequest, { updateIntervalInMs: pollIntervalMs }), action);
      } catch (error) {
        const failure = toUpstreamError(error instanceof ScheduleRunNotResent ? error.first : error, { service: ACR_TASKS_SERVICE, action });
        if (!failure.retryable) throw failure;
        // A failed lookup leaves the scheduling failure to report; the caller retries, looking up first.
        const found = await lookUp(identity, sentAt - SCHEDULE_CLOCK_SKEW_MS, action).catch(() => undefined);
        if (found?.kind === "found") return found.run;
        if (found?.kind === "unknown") throw outcomeUnknown(action, found.candidates, pollIntervalMs, failure);
        if (found === undefined || attempt >= SCHEDULE_ATTEMPTS) throw failure;
      }
    }
  };

  const read = async (runId: string): Promise<ArmRun> => {
    const action = `reading run ${runId}`;
    try {
      return toArmRun(await client.runs.get(resourceGroup, registryName, runId), action);
    } catch (error) {
      throw toUpstreamError(error, { service: ACR_TASKS_SERVICE, action });
    }
  };

  return { schedule, read, withLogs, signLogs };
}

// The SDK's pipeline types, as the client exposes them (no dependency on its core packages of our own).
type PipelinePolicy = Parameters<ContainerRegistryManagementClient["pipeline"]["addPolicy"]>[0];
type PipelineRequest = Parameters<PipelinePolicy["sendRequest"]>[0];
type PipelineResponse = Awaited<ReturnType<PipelinePolicy["sendRequest"]>>;

/** The name of the pipeline policy that keeps the SDK from sending a `scheduleRun` twice. */
const SCHEDULE_RUN_GUARD = "rippleScheduleRunSentOnce";
/**
 * Runs a lookup reads, newest first: more than a registry starts in a lookup window (the clock skew, or
 * the minutes since an attempt whose outcome is still unknown) but for the busiest; a run pushed past
 * this many newer ones is not found.
 */
const LOOKUP_TOP = 50;
const NOT_ADOPTED: ReadonlySet<RunStatus> = new Set(["canceled", "timed-out"]);

/** The SDK wanted to send a `scheduleRun` again after an attempt whose outcome is unknown; `first` is that attempt's error or answer. */
class ScheduleRunNotResent extends Error {
  constructor(readonly first: unknown) {
    super("scheduleRun was not sent again: the first attempt may have started a run");
    this.name = "ScheduleRunNotResent";
  }
}

/**
 * Adds (once per client) a policy behind the SDK's retry policy that lets each `scheduleRun` request
 * through once, and again only after a 429 (ARM refused it: nothing started). After a network error,
 * 408 or 5xx ARM may have started the run and lost the answer, so a resend is refused with
 * {@link ScheduleRunNotResent} — not a RestError, so the retry policy gives up at once — and the adapter
 * looks the run up instead. Every other request keeps the SDK's retries.
 */
function guardScheduleRun(client: ContainerRegistryManagementClient): void {
  if (client.pipeline.getOrderedPolicies().some((policy) => policy.name === SCHEDULE_RUN_GUARD)) return;
  const firstOutcome = new WeakMap<PipelineRequest, unknown>();
  const policy: PipelinePolicy = {
    name: SCHEDULE_RUN_GUARD,
    async sendRequest(request, next) {
      if (request.method !== "POST" || !/\/scheduleRun$/i.test(new URL(request.url).pathname)) return next(request);
      if (firstOutcome.has(request)) throw new ScheduleRunNotResent(firstOutcome.get(request));
      let response: PipelineResponse;
      try {
        response = await next(request);
      } catch (error) {
        firstOutcome.set(request, error);
        throw error;
      }
      if (response.status === 408 || response.status >= 500) firstOutcome.set(request, { statusCode: response.status, code: armErrorCode(response.bodyAsText) });
      return response;
    },
  };
  client.pipeline.addPolicy(policy, { afterPhase: "Retry" });
}

function armErrorCode(body: string | null | undefined): string | undefined {
  try {
    const code = (JSON.parse(body ?? "") as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** What ARM's runs can tell of a run request: the task or platform it runs, and the images it pushes. */
interface RunIdentity {
  /** A `TaskRunRequest`'s task; null for a build. */
  readonly task: string | null;
  /** A build's platform; null for a task run. */
  readonly platform: PlatformProperties | null;
  /** `repository:tag` names the request's run pushes: a build's `imageNames`, the image a task rebuilds. */
  readonly images: ReadonlySet<string>;
  /** Runs Ripple recorded for other requests ({@link BuildRequest.knownRunIds}, multi-platform ids split). */
  readonly known: ReadonlySet<string>;
}

/**
 * What a lookup found: the request's run; runs that may be it but have not reported their images yet
 * (`candidates`, newest first); or none, so that scheduling cannot start a second run.
 */
type Lookup<T> = { readonly kind: "found"; readonly run: T } | { readonly kind: "unknown"; readonly candidates: readonly string[] } | { readonly kind: "none" };

function runIdentity(runRequest: RunRequestUnion, request: BuildRequest): RunIdentity {
  const known = new Set((request.knownRunIds ?? []).flatMap((runId) => splitRunId(runId) ?? [runId]));
  if (runRequest.type === "TaskRunRequest") {
    // A task that rebuilds the image pushes its tag, or the rebuild could never complete its obligation.
    const image = splitTagKey(request.image);
    return { task: (runRequest as TaskRunRequest).taskId.split("/").pop() ?? "", platform: null, images: new Set(image === null ? [] : [`${image.repository}:${image.tag}`]), known };
  }
  const build = runRequest as DockerBuildRequest;
  return { task: null, platform: build.platform, images: new Set(build.imageNames ?? []), known };
}

/**
 * The run ARM created for the request since `sinceMs`, looked up with `runs.list` (newest first,
 * `$filter` on `TaskName` for a task run, `RunType` for a build, at most {@link LOOKUP_TOP}). ARM's runs
 * do not report a request's arguments: a run is the request's only when it is attributed — created since
 * then, of the same task or platform, not one of `identity.known`, and reporting the request's images in
 * its `outputImages`. A canceled or timed-out run is never taken: it is to be run again. A candidate
 * that is queued or running without images is read again (`runs.get`, the run as it is now); one still
 * in flight makes the outcome unknown. Runs that ended without naming the request's images are other
 * requests' (or a failed one of its own, which a new run replaces).
 */
async function findScheduledRun(target: Pick<AcrTasksBuilderOptions, "client" | "resourceGroup" | "registryName">, identity: RunIdentity, sinceMs: number): Promise<Lookup<Run>> {
  const { client, resourceGroup, registryName } = target;
  const filter = identity.task === null ? "RunType eq 'QuickBuild'" : `TaskName eq '${identity.task}'`;
  const candidates: Run[] = [];
  let read = 0;
  for await (const run of client.runs.list(resourceGroup, registryName, { filter, top: LOOKUP_TOP })) {
    if (isCandidate(run, identity, sinceMs)) candidates.push(run);
    read += 1;
    if (read >= LOOKUP_TOP) break;
  }
  const attributed = candidates.find((run) => attribute(run, identity) === "ours");
  if (attributed !== undefined) return { kind: "found", run: attributed };
  const unresolved: string[] = [];
  for (const listed of candidates.filter((run) => attribute(run, identity) === "unresolved")) {
    const run = await client.runs.get(resourceGroup, registryName, armRunId(listed));
    const verdict = attribute(run, identity);
    if (verdict === "ours") return { kind: "found", run };
    if (verdict === "unresolved") unresolved.push(armRunId(run));
  }
  return unresolved.length === 0 ? { kind: "none" } : { kind: "unknown", candidates: unresolved };
}

/**
 * `start` cannot tell yet whether an earlier request started a run: retryable, with the runs in question
 * and when to ask again (as often as this adapter polls an operation).
 */
function outcomeUnknown(action: string, candidates: readonly string[], retryAfterMs: number, cause?: unknown): AppError {
  const which = candidates.length === 1 ? `run ${candidates[0]} reports its` : `runs ${candidates.join(", ")} report their`;
  return new AppError("run_outcome_unknown", `${action}: the outcome of an earlier request is unknown until ${which} images`, {
    retryable: true,
    cause,
    details: { retryAfterMs, candidates },
  });
}

function armRunId(run: Run): string {
  return run.runId ?? run.name ?? "";
}

/** A run created since `sinceMs` of the request's task or platform, which no other request of Ripple's holds. */
function isCandidate(run: Run, identity: RunIdentity, sinceMs: number): boolean {
  const status = mapRunStatus(run.status);
  if (run.createTime === undefined || run.createTime.getTime() < sinceMs || status === null || NOT_ADOPTED.has(status) || identity.known.has(armRunId(run))) return false;
  if (identity.task !== null) return run.task?.toLowerCase() === identity.task.toLowerCase();
  return (["os", "architecture", "variant"] as const).every((key) => (run.platform?.[key] ?? "").toLowerCase() === (identity.platform?.[key] ?? "").toLowerCase());
}

/** Whether a candidate is the request's run: it reports the request's images; unresolved while it is queued or running without any. */
function attribute(run: Run, identity: RunIdentity): "ours" | "not-ours" | "unresolved" {
  const status = mapRunStatus(run.status);
  if (status === null || NOT_ADOPTED.has(status)) return "not-ours";
  const pushed = (run.outputImages ?? []).map((image) => `${image.repository ?? ""}:${image.tag ?? ""}`);
  if (pushed.some((name) => identity.images.has(name))) return "ours";
  return pushed.length === 0 && (status === "queued" || status === "running") ? "unresolved" : "not-ours";
}

/** Uploads of private repositories' sources (see {@link AcrTasksBuilderOptions.sourceArchives}). */
function createSourceUploads(options: AcrTasksBuilderOptions) {
  const target = { client: options.client, resourceGroup: options.resourceGroup, registryName: options.registryName, agent: options.uploadAgent, service: ACR_TASKS_SERVICE };

  /**
   * The run requests (already checked) with the source uploaded once and named by its relative path, when
   * the recipe's repository is one ACR Tasks cannot clone; as given otherwise.
   */
  const archived = (request: BuildRequest): boolean => request.recipe.kind === "source" && options.sourceArchives?.has(request.recipe.repository) === true;

  const prepareSource = async (request: BuildRequest, bodies: RunRequestUnion[]): Promise<RunRequestUnion[]> => {
    const { recipe } = request;
    if (recipe.kind !== "source" || options.sourceArchives === undefined || !archived(request)) return bodies;
    const archive = await options.sourceArchives.download(recipe.repository, sourceRevision(request, recipe.revision));
    let context: Buffer;
    try {
      context = repackSourceArchive(archive, normalizeContext(request, recipe.context));
    } catch (error) {
      if (error instanceof SourceArchiveError) invalid(request, `the source of ${recipe.repository} at ${recipe.revision}: ${error.message}`);
      throw error;
    }
    const sourceLocation = await uploadBuildSource(target, context, `uploading the source of ${request.image}`);
    return bodies.map((body) => ({ ...body, sourceLocation }));
  };

  return { archived, prepareSource };
}

/** The scheme of ACR Tasks log references: `acr-run:<registry resource name>/<run id>`. */
const LOGS_SCHEME = "acr-run:";

/** The run id of a log reference of this registry; null for anything else. */
function logsRunId(logsUrl: string, registryName: string): string | null {
  const prefix = `${LOGS_SCHEME}${registryName}/`;
  const runId = logsUrl.startsWith(prefix) ? logsUrl.slice(prefix.length) : "";
  return /^[A-Za-z0-9-]{1,64}$/.test(runId) ? runId : null;
}

/** One platform of a multi-platform build. */
interface PlatformTarget {
  /** `os/arch[/variant]` as the recipe names it. */
  readonly name: string;
  readonly properties: PlatformProperties;
}

/** The platforms of a source recipe of several platforms (each checked); null for any other request. */
function multiPlatformTargets(request: BuildRequest): PlatformTarget[] | null {
  const { recipe } = request;
  if (recipe.kind !== "source" || recipe.platforms.length < 2) return null;
  return recipe.platforms.map((name) => ({ name, properties: parsePlatform(request, name) }));
}

/** The `DockerBuildRequest` of one platform: the recipe's build, pushed to that platform's scratch tag in each repository of the recipe's tags. */
function platformRunRequest(request: BuildRequest, platform: PlatformTarget, extras: RunExtras = {}): DockerBuildRequest {
  const recipe = request.recipe as SourceRecipe;
  const repositories = [...new Set(imageTargets(request, recipe.tags).map((target) => target.repository))];
  const tag = platformTag(request.idempotencyKey, platform.name);
  return dockerBuildRequest(request, recipe, platform.properties, repositories.map((repository) => `${repository}:${tag}`), extras);
}

/**
 * Pushes the index over the platforms' images to each of the recipe's tags, then removes the scratch
 * tags. An image is read by the digest its run reports, else by its scratch tag, so pushing again (a
 * redelivered poll, after the scratch tags are gone) assembles the same index. Idempotent.
 * @throws AppError `build_output_missing` when a platform's image is not in the registry.
 */
async function pushIndex(manifests: ManifestStore, request: BuildRequest, platforms: readonly PlatformTarget[], runs: readonly ArmRun[]): Promise<void> {
  const targets = imageTargets(request, (request.recipe as SourceRecipe).tags);
  const repositories = [...new Set(targets.map((target) => target.repository))];
  for (const repository of repositories) {
    const images = [];
    for (const [index, platform] of platforms.entries()) {
      const tag = platformTag(request.idempotencyKey, platform.name);
      const manifest = await manifests.readRawManifest(repository, runs[index]?.pushed.get(`${repository}:${tag}`) ?? tag);
      if (manifest === null) {
        throw new AppError("build_output_missing", `the ${platform.name} build of ${request.image} (run ${runs[index]?.run.runId ?? "?"}) left no image at ${repository}:${tag}`, {
          retryable: false,
          details: { image: request.image },
        });
      }
      images.push({ platform: platform.properties, manifest });
    }
    const index = assembleIndex(images);
    for (const target of targets.filter((candidate) => candidate.repository === repository)) await manifests.writeManifest(repository, target.tag, index);
  }
  for (const repository of repositories) {
    for (const platform of platforms) {
      // A scratch tag left behind costs a tag, not correctness; the image is already pushed.
      await manifests.deleteTag(repository, platformTag(request.idempotencyKey, platform.name)).catch(() => undefined);
    }
  }
}

function toArmRun(run: Run, action: string): ArmRun {
  const runId = run.runId ?? run.name;
  if (runId === undefined || runId === "") {
    throw new UpstreamError(ACR_TASKS_SERVICE, `${action} failed: the run has no runId`, { status: null, retryable: false });
  }
  const status = mapRunStatus(run.status);
  if (status === null) {
    throw new UpstreamError(ACR_TASKS_SERVICE, `${action} failed: unknown run status ${JSON.stringify(run.status ?? null)}`, { status: null, retryable: false });
  }
  const final = FINAL_RUN_STATUSES.includes(status);
  const pushed = new Map<string, string>();
  for (const image of run.outputImages ?? []) {
    if (image.repository !== undefined && image.tag !== undefined && image.digest !== undefined) pushed.set(`${image.repository}:${image.tag}`, image.digest);
  }
  return {
    run: {
      runId,
      status,
      logsUrl: null,
      startedAt: toIsoTime(run.startTime),
      finishedAt: toIsoTime(run.finishTime),
      reason: run.runErrorMessage ?? (final && status !== "succeeded" ? `ACR Tasks run ended with status ${run.status ?? "unknown"}` : null),
    },
    pushed,
  };
}

/** Maps an ACR run status (`Queued`, `Started`, `Running`, `Succeeded`, `Failed`, `Error`, `Canceled`, `Timeout`); null when unknown. */
export function mapRunStatus(status: string | undefined): RunStatus | null {
  return status === undefined ? null : (STATUS_BY_ACR_STATUS[status.toLowerCase()] ?? null);
}

/**
 * The ARM `scheduleRun` body of a build that is one run: a task recipe, or a source recipe of at most one
 * platform (several are one run each, see {@link createAcrTasksBuilder}). A source build pulls from the
 * registries of `extras.customRegistries` with their credentials.
 * @throws AppError `build_request_invalid` when ACR Tasks cannot build the recipe as given.
 */
export function createRunRequest(
  request: BuildRequest,
  target: Pick<AcrTasksBuilderOptions, "subscriptionId" | "resourceGroup" | "registryName">,
  extras: RunExtras = {},
): RunRequestUnion {
  const { recipe } = request;
  if (recipe.kind === "task") {
    if (!TASK_NAME.test(recipe.task)) invalid(request, `"${recipe.task}" is not an ACR task name`);
    const values = [...baseArguments(request), { name: IMAGE_ARGUMENT, value: request.image }];
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

  return dockerBuildRequest(request, recipe, parsePlatforms(request, recipe.platforms), imageTargets(request, recipe.tags).map((target) => `${target.repository}:${target.tag}`), extras);
}

/** A `DockerBuildRequest` of a source recipe for one platform, pushing to `imageNames` (`repository:tag`). */
function dockerBuildRequest(request: BuildRequest, recipe: SourceRecipe, platform: PlatformProperties, imageNames: string[], extras: RunExtras): DockerBuildRequest {
  const context = normalizeContext(request, recipe.context);
  const customRegistries = extras.customRegistries ?? {};
  const recipeArguments = Object.entries(recipe.args)
    .filter(([name]) => name !== BASE_IMAGE_ARGUMENT && name !== BASE_DIGEST_ARGUMENT)
    .map(([name, value]) => ({ name, value }));
  return {
    type: "DockerBuildRequest",
    sourceLocation: extras.sourceLocation ?? gitSourceLocation(request, recipe, context),
    dockerFilePath: dockerfileInContext(request, recipe.dockerfile, context),
    imageNames,
    isPushEnabled: true,
    platform,
    arguments: [...recipeArguments, ...baseArguments(request)].map((argument): Argument => ({ ...argument, isSecret: false })),
    timeout: BUILD_TIMEOUT_SECONDS,
    ...(Object.keys(customRegistries).length === 0 ? {} : { credentials: { customRegistries: { ...customRegistries } } }),
  };
}

/** `repository#revision[:context]`, the git context ACR Tasks clones. */
function gitSourceLocation(request: BuildRequest, recipe: SourceRecipe, context: string): string {
  return `${sourceRepository(request, recipe)}#${sourceRevision(request, recipe.revision)}${context === "." ? "" : `:${context}`}`;
}

/** The base's tag key and digest, as build arguments (and task values). */
function baseArguments(request: BuildRequest): Array<{ name: string; value: string }> {
  return [
    { name: BASE_IMAGE_ARGUMENT, value: request.base.key },
    { name: BASE_DIGEST_ARGUMENT, value: request.base.digest },
  ];
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

/** The recipe's tags (the image's own when none) as repository and tag: ACR pushes to its own registry only. */
function imageTargets(request: BuildRequest, tags: readonly string[]): Array<{ repository: string; tag: string }> {
  const registry = normalizeRegistryHost(request.registry);
  return (tags.length > 0 ? tags : [request.image]).map((tag) => {
    const ref = parseImageRef(tag);
    if (!ref.ok) invalid(request, ref.reason);
    if (ref.value.registry !== registry) invalid(request, `the tag ${tag} is not in the registry ${request.registry}`);
    if (ref.value.digest !== null || ref.value.tag === null) invalid(request, `the tag ${tag} is not a registry/repository:tag reference`);
    return { repository: ref.value.repository, tag: ref.value.tag };
  });
}

/** The one platform of a single-platform build; ACR's default when the recipe names none. */
function parsePlatforms(request: BuildRequest, platforms: readonly string[]): PlatformProperties {
  if (platforms.length > 1) invalid(request, "a DockerBuildRequest builds one platform; several are one run each");
  return platforms[0] === undefined ? { ...DEFAULT_PLATFORM } : parsePlatform(request, platforms[0]);
}

function parsePlatform(request: BuildRequest, platform: string): PlatformProperties {
  const [os, architecture, variant, ...rest] = platform.split("/");
  if (os === undefined || os === "" || architecture === undefined || architecture === "" || variant === "" || rest.length > 0) {
    invalid(request, `"${platform}" is not an os/architecture[/variant] platform`);
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}
