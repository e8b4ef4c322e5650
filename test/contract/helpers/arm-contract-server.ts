import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { StackTls } from "../../../shared/local/tls.js";
import { parseJsonBody, readBody } from "./request-body.js";

/** The api-version `@azure/arm-containerregistry` 11 sends on ACR Tasks routes (`scheduleRun`, `runs`). */
export const ARM_TASKS_API_VERSION = "2019-06-01-preview";
/** The package's default api-version, which it sends on registry routes such as `importImage`. */
export const ARM_IMPORT_API_VERSION = "2025-11-01";

/** The api-version `@azure/arm-authorization` 9 sends on "Permissions - List For Resource". */
export const ARM_PERMISSIONS_API_VERSION = "2022-04-01";
/** The api-version `@azure/arm-eventgrid` 14 sends on system topics and their event subscriptions. */
export const ARM_EVENTGRID_API_VERSION = "2022-06-15";

/** One entry of "Permissions - List For Resource" (a role's actions at the registry). */
export interface PermissionFixture {
  readonly actions: readonly string[];
  readonly notActions?: readonly string[];
}

/** An event subscription on a system topic: its destination as ARM answers it (`{endpointType, properties}`). */
export interface EventSubscriptionFixture {
  readonly name: string;
  readonly destination: { readonly endpointType: string; readonly properties: Record<string, unknown> };
  /** Absent: all event types (ARM leaves `includedEventTypes` out). */
  readonly includedEventTypes?: readonly string[];
}

/** An Event Grid system topic, in the server's resource group unless `resourceGroup` names another. */
export interface SystemTopicFixture {
  readonly name: string;
  readonly resourceGroup?: string;
  /** The resource id of the topic's source (a registry's, for ACR). */
  readonly source: string;
  readonly topicType?: string;
  readonly subscriptions: readonly EventSubscriptionFixture[];
}

/** One state of a run, as `runs.get` answers it. Times are ISO strings. */
export interface RunState {
  /** ACR's text: `Queued`, `Started`, `Running`, `Succeeded`, `Failed`, `Error`, `Canceled`, `Timeout` (or any other, to test unknown ones). */
  readonly status: string;
  readonly startTime?: string;
  readonly finishTime?: string;
  readonly runErrorMessage?: string;
  readonly outputImages?: ReadonlyArray<{ registry: string; repository: string; tag?: string; digest?: string }>;
}

/** How the server answers the next `scheduleRun`. */
export interface ScheduleRunScript {
  /**
   * `sync`: 200 with the run. `async`: 202 with `Azure-AsyncOperation` and `Location` (https URLs on this
   * server) and `Retry-After`; the operation answers `InProgress` `inProgressPolls` times, then `outcome`,
   * and `Location` then answers the run.
   */
  readonly mode: "sync" | "async";
  readonly inProgressPolls?: number;
  /** The 202's `Retry-After` in seconds (default 0, which leaves the client's own interval). */
  readonly retryAfterSeconds?: number;
  /** How the async operation ends (default `Succeeded`); `Failed` carries an ARM error. */
  readonly outcome?: "Succeeded" | "Failed";
  /** The run's states: `scheduleRun` answers the first, each later `runs.get` the next, staying on the last. Default `[Queued]`. */
  readonly states?: readonly RunState[];
}

/** The build a `DockerBuildRequest` asks for, as {@link ArmContractServerOptions.build} sees it. */
export interface DockerBuildCall {
  readonly runId: string;
  readonly sourceLocation: string;
  /** `repository:tag` names the build pushes to, in the registry's own login server. */
  readonly imageNames: readonly string[];
  readonly platform: RunPlatform;
}

/** A run's platform, as a `DockerBuildRequest` gives it and the run reports it. */
export interface RunPlatform {
  readonly os: string;
  readonly architecture?: string;
  readonly variant?: string;
}

/** How the server answers the next valid `importImage`. */
export interface ImportImageScript {
  /**
   * `sync`: `syncStatus` (200 or 204) with no body, the import done. `async`: 202 with `Retry-After` and,
   * by `polling`, `Azure-AsyncOperation` plus `Location` (https URLs on this server) or `Location` alone.
   */
  readonly mode: "sync" | "async";
  /** The status of a synchronous completion (default 200). */
  readonly syncStatus?: 200 | 204;
  /**
   * `azure-async-operation` (default): the operation status answers `InProgress` `inProgressPolls` times,
   * then `outcome`, and `Location` then answers 200 with no body. `location`: `Location` itself answers
   * 202 `inProgressPolls` times, then 200 with no body, or `failedStatus` with the ARM error.
   */
  readonly polling?: "azure-async-operation" | "location";
  readonly inProgressPolls?: number;
  /** The 202's `Retry-After` in seconds (default 0, which leaves the client's own interval). */
  readonly retryAfterSeconds?: number;
  /** How the operation ends (default `Succeeded`). */
  readonly outcome?: "Succeeded" | "Failed";
  /** The ARM error of a `Failed` outcome (default `InternalServerError`). */
  readonly error?: { readonly code: string; readonly message: string };
  /** The HTTP status `Location` answers a `Failed` operation with in `location` polling (default 400). */
  readonly failedStatus?: number;
}

/** `uploadSource` is the blob endpoint's PUT, not ARM: it is never in {@link ArmContractServer.requests}, but can be failed. */
export type ArmRoute =
  | "getRegistry"
  | "scheduleRun"
  | "createTaskRun"
  | "getTaskRun"
  | "getRun"
  | "listRuns"
  | "listLogSasUrl"
  | "listBuildSourceUploadUrl"
  | "uploadSource"
  | "importImage"
  | "operationStatus"
  | "operationResult"
  | "permissions"
  | "systemTopics"
  | "eventSubscriptions";

/** One PUT to a build-source upload URL (the server's small blob endpoint), as the blob service saw it. */
export interface SourceUpload {
  /** The request's path and query: the SAS URL, signature included. */
  readonly url: string;
  readonly blobType: string | null;
  readonly bytes: Buffer;
  /** What the blob service answered: 201 stored, 400 without `x-ms-blob-type: BlockBlob`, 403 for a wrong or reused signature. */
  readonly status: number;
}

/** One request the server saw, path decoded, body parsed as JSON (null when empty or not JSON). */
export interface ArmRequest {
  readonly method: string;
  readonly route: ArmRoute | null;
  readonly path: string;
  readonly apiVersion: string | null;
  readonly authorization: string | null;
  readonly body: unknown;
}

/**
 * A small HTTPS server that follows the ARM contract of ACR as `@azure/arm-containerregistry` 11 calls
 * it: ACR Tasks' `POST …/registries/{reg}/scheduleRun`, `GET …/registries/{reg}/runs/{runId}` and
 * `POST …/runs/{runId}/listLogSasUrl` and `POST …/registries/{reg}/listBuildSourceUploadUrl` (api-version
 * {@link ARM_TASKS_API_VERSION}; its upload URL is a SAS URL on this server's small blob endpoint, which
 * takes one block-blob PUT), and the registry's
 * `POST …/registries/{reg}/importImage` (api-version {@link ARM_IMPORT_API_VERSION}); the caller's
 * permissions on the registry (`GET …/registries/{reg}/providers/Microsoft.Authorization/permissions`,
 * {@link ARM_PERMISSIONS_API_VERSION}); the resource group's Event Grid system topics and a topic's event
 * subscriptions (`GET …/providers/Microsoft.EventGrid/systemTopics[/{name}/eventSubscriptions]`,
 * {@link ARM_EVENTGRID_API_VERSION}); lists are paged with an absolute `nextLink` that carries the
 * api-version, as ARM pages them. Any other api-version is a 400 as ARM answers; an empty path segment
 * (the SDK's empty `parentResourcePath`) is ignored, as ARM ignores it. ARM's async-operation pattern for `scheduleRun` and `importImage`,
 * Bearer authentication with one expected token, and ARM error bodies (`{"error":{"code","message"}}`).
 * A `DockerBuildRequest`'s run reports its platform; its build can be played by the test
 * ({@link ArmContractServerOptions.build}). `GET …/registries/{reg}/runs` lists runs newest first with
 * `$top` and the `$filter` clauses `az acr task list-runs` sends (`TaskName eq '…'`, `Status eq '…'`,
 * plus `RunType`, `RunId` and `AgentPoolName` with `eq`, and `contains(OutputImageManifests, '…')`,
 * joined by `and`); any other filter is a 400 `InvalidFilter`. Faults can be queued per route, and
 * `scheduleRun` can act and then lose its answer ({@link ArmContractServer.loseAnswers}).
 * Task runs (`PUT`/`GET …/registries/{reg}/taskRuns/{name}`, {@link ARM_TASKS_API_VERSION}): a PUT
 * starts a run and answers 201 `Creating` with `Azure-AsyncOperation` (the task run then reads
 * `Succeeded` with its `runResult`); the same identity, run request and `forceUpdateTag` again starts
 * nothing; ARM's refusals of an identity that does not exist or the caller may not assign
 * ({@link ArmContractServerOptions.identities}) and of a custom registry login with a client id the task
 * run does not carry. Its PUTs can lose their answers too.
 */
export interface ArmContractServer {
  /** `https://127.0.0.1:<port>`, the client's `endpoint`. */
  readonly url: string;
  readonly requests: ArmRequest[];
  /** Queues how the next `scheduleRun` is answered; with an empty queue it answers 200 with a queued run. */
  scheduleNext(script: ScheduleRunScript): void;
  /** Queues how the next valid `importImage` is answered; with an empty queue it answers 200 at once. */
  importNext(script: ImportImageScript): void;
  /** Adds a run whose `runs.get` answers walk through `states`, one per GET, staying on the last. */
  addRun(runId: string, states: readonly RunState[], run?: { readonly task?: string; readonly platform?: RunPlatform; readonly createTime?: string }): void;
  /**
   * Moves a run on to `state` (a build ending, reporting its `outputImages`): `runs.get` and `runs.list`
   * answer it from now on. Throws for a run the server does not hold.
   */
  setRunState(runId: string, state: RunState): void;
  /** The ids of the runs ARM holds, in the order they were created. */
  runIds(): string[];
  /**
   * Lets the next `times` valid `scheduleRun` (or task run PUT) requests be accepted — the run is created
   * and, with a played build, built — and then loses the answer: the connection is reset (`reset`, a gateway dying
   * mid-answer) or answered with `status` and an ARM error (a gateway's 5xx after ARM acted).
   */
  loseAnswers(route: "scheduleRun" | "createTaskRun", times: number, answer?: "reset" | number): void;
  /** Queued faults and lost answers not yet served; Infinity while one answers always. */
  faultsLeft(): number;
  /** The PUTs to build-source upload URLs, kept apart from {@link requests} (they carry a SAS). */
  readonly uploads: SourceUpload[];
  /** The uploaded build sources by the relative path `listBuildSourceUploadUrl` answered (only stored ones). */
  readonly sources: ReadonlyMap<string, Buffer>;
  /** Sets what "Permissions - List For Resource" answers for the registry (default: no entries). */
  setPermissions(permissions: readonly PermissionFixture[]): void;
  /** Sets the resource group's Event Grid system topics (default: none). */
  setSystemTopics(topics: readonly SystemTopicFixture[]): void;
  /** The log link `listLogSasUrl` answers for a run. */
  logLink(runId: string): string;
  /**
   * Answers the next `times` valid requests of `route` with `status` and an ARM error body (Infinity: always);
   * the error code is `code`, or ARM's usual one for the status.
   */
  fail(route: ArmRoute, status: number, times: number, headers?: Record<string, string>, code?: string): void;
  stop(): Promise<void>;
}

/** Where the server's resources live; requests elsewhere get ARM's 404. */
export interface ArmContractServerOptions {
  readonly tls: Pick<StackTls, "certPath" | "keyPath">;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly registryName: string;
  /** The Bearer token every request must carry. */
  readonly token: string;
  /** Tasks a `TaskRunRequest` may name. */
  readonly tasks?: readonly string[];
  /**
   * Plays the build of each scheduled `DockerBuildRequest` — for instance pushes an image of its platform
   * to a registry, as ACR Tasks would — and returns the run's states; undefined keeps the script's.
   */
  readonly build?: (call: DockerBuildCall) => Promise<readonly RunState[] | undefined>;
  /** Items per page of the list routes (default 20, Event Grid's default page). */
  readonly pageSize?: number;
  /** User-assigned identities a task run may carry (default none). */
  readonly identities?: readonly UserIdentityFixture[];
  /** The registry's region, as `registries.get` answers it and as task runs must name it (default `westeurope`). */
  readonly location?: string;
}

/** A user-assigned identity in the subscription, and whether the caller may assign it (`…/assign/action`). */
export interface UserIdentityFixture {
  readonly resourceId: string;
  readonly clientId: string;
  /** Default true; false answers a task run carrying it 403 `LinkedAuthorizationFailed`, as ARM does. */
  readonly assignable?: boolean;
}

/** A task run as ARM holds it: its configuration (identity and run request), tag and current run. */
interface StoredTaskRun {
  readonly name: string;
  /** `identity` and `runRequest` as JSON: a PUT of the same configuration and tag runs nothing again. */
  readonly configuration: string;
  readonly forceUpdateTag: string;
  readonly identity: unknown;
  readonly runRequest: unknown;
  readonly runId: string;
}

interface StoredRun {
  readonly runId: string;
  states: readonly RunState[];
  readonly runType: string;
  readonly task: string | undefined;
  /** A `DockerBuildRequest`'s platform, which ARM reports on the run. */
  readonly platform: RunPlatform | undefined;
  readonly createTime: string;
  cursor: number;
}

interface Operation {
  /** The run a `scheduleRun` operation created; null for an import. */
  readonly runId: string | null;
  /** The api-version of the request that started it, which its status and result URLs carry. */
  readonly apiVersion: string;
  readonly outcome: "Succeeded" | "Failed";
  readonly error: { readonly code: string; readonly message: string };
  readonly polling: "azure-async-operation" | "location";
  readonly failedStatus: number;
  readonly retryAfterSeconds: number;
  remainingInProgress: number;
}

interface LostAnswer {
  readonly route: "scheduleRun" | "createTaskRun";
  readonly answer: "reset" | number;
  remaining: number;
}

interface Fault {
  readonly route: ArmRoute;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly code: string | undefined;
  remaining: number;
}

/** What every route handler shares. */
interface ServerState {
  url: string;
  readonly options: ArmContractServerOptions;
  readonly registryId: string;
  readonly locationPrefix: string;
  readonly requests: ArmRequest[];
  readonly runScripts: ScheduleRunScript[];
  readonly importScripts: ImportImageScript[];
  readonly runs: Map<string, StoredRun>;
  /** Task runs by lowercase name (ARM's names compare case-insensitively). */
  readonly taskRuns: Map<string, StoredTaskRun>;
  readonly operations: Map<string, Operation>;
  readonly faults: Fault[];
  readonly lostAnswers: LostAnswer[];
  readonly tasks: ReadonlySet<string>;
  readonly uploads: SourceUpload[];
  /** Upload locations handed out, by blob path: the relative path and the signature, until the PUT. */
  readonly uploadSlots: Map<string, { relativePath: string; signature: string }>;
  readonly sources: Map<string, Buffer>;
  runCount: number;
  importCount: number;
  permissions: readonly PermissionFixture[];
  systemTopics: readonly SystemTopicFixture[];
}

type RouteMatch = { route: ArmRoute; id: string; scope: null | "subscription" | "resource group" | "registry"; resourceGroup?: string };

/** A request ARM refuses before acting on it. */
interface Problem {
  readonly status: number;
  readonly message: string;
  readonly code?: string;
}

const ERROR_CODES: Readonly<Record<number, string>> = {
  400: "InvalidRequestContent",
  401: "AuthenticationFailed",
  403: "AuthorizationFailed",
  404: "ResourceNotFound",
  409: "Conflict",
  429: "TooManyRequests",
  500: "InternalServerError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

const RUN_REQUEST_TYPES = new Set(["DockerBuildRequest", "FileTaskRunRequest", "TaskRunRequest", "EncodedTaskRunRequest"]);
const IMPORT_MODES = new Set(["NoForce", "Force"]);
const RUN_SCHEDULING_FAILED = { code: "RunSchedulingFailed", message: "The run could not be scheduled." };
const IMPORT_FAILED = { code: "InternalServerError", message: "The import could not be completed." };

/** Starts the server on a free loopback port with the stack's server certificate. */
export async function startArmContractServer(options: ArmContractServerOptions): Promise<ArmContractServer> {
  const state: ServerState = {
    url: "",
    options,
    registryId: `/subscriptions/${options.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${options.registryName}`,
    locationPrefix: `/subscriptions/${options.subscriptionId}/providers/Microsoft.ContainerRegistry/locations/westeurope`,
    requests: [],
    runScripts: [],
    importScripts: [],
    runs: new Map(),
    taskRuns: new Map(),
    operations: new Map(),
    faults: [],
    lostAnswers: [],
    tasks: new Set((options.tasks ?? []).map((task) => task.toLowerCase())),
    uploads: [],
    uploadSlots: new Map(),
    sources: new Map(),
    runCount: 0,
    importCount: 0,
    permissions: [],
    systemTopics: [],
  };

  const [cert, key] = await Promise.all([readFile(options.tls.certPath), readFile(options.tls.keyPath)]);
  const server: Server = createServer({ cert, key }, (req, res) => {
    handle(state, req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, `contract server failure: ${String(error)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  state.url = `https://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;

  return {
    url: state.url,
    requests: state.requests,
    uploads: state.uploads,
    sources: state.sources,
    scheduleNext: (script) => void state.runScripts.push(script),
    importNext: (script) => void state.importScripts.push(script),
    addRun(runId, states, run = {}) {
      state.runs.set(runId, {
        runId,
        states,
        runType: run.task === undefined ? "QuickBuild" : "QuickRun",
        task: run.task,
        platform: run.platform,
        createTime: run.createTime ?? "2024-07-22T18:00:00.000Z",
        cursor: 0,
      });
    },
    setRunState(runId, runState) {
      const run = state.runs.get(runId);
      if (run === undefined) throw new Error(`the contract server holds no run ${runId}`);
      run.states = [runState];
      run.cursor = 1;
    },
    runIds: () => [...state.runs.keys()],
    loseAnswers(route, times, answer = "reset") {
      state.lostAnswers.push({ route, answer, remaining: times });
    },
    faultsLeft: () => [...state.faults, ...state.lostAnswers].reduce((sum, fault) => sum + fault.remaining, 0),
    setPermissions: (permissions) => void (state.permissions = permissions),
    setSystemTopics: (topics) => void (state.systemTopics = topics),
    logLink: (runId) => logLink(state, runId),
    fail(route, status, times, headers = {}, code = undefined) {
      state.faults.push({ route, status, headers, code, remaining: times });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Records the request, makes ARM's checks in ARM's order (authentication, route, scope, api-version), then answers. */
async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestUrl = new URL(req.url ?? "/", state.url);
  if (requestUrl.pathname.startsWith(BLOB_PREFIX)) {
    await putSourceBlob(state, req, res, requestUrl);
    return;
  }
  const segments = requestUrl.pathname.split("/").filter((segment) => segment !== "").map((segment) => decodeURIComponent(segment));
  const apiVersions = requestUrl.searchParams.getAll("api-version");
  const apiVersion = apiVersions.length === 0 ? null : apiVersions.join(",");
  const body = parseJsonBody((await readBody(req)).toString("utf8"));
  const method = req.method ?? "";
  const match = matchRoute(method, segments, state.options);
  state.requests.push({ method, route: match?.route ?? null, path: `/${segments.join("/")}`, apiVersion, authorization: req.headers.authorization ?? null, body });

  const problem = checkRequest(state, req, match, segments, apiVersion);
  if (problem !== null) {
    sendError(res, problem.status, problem.message, problem.code);
    return;
  }
  const valid = match as RouteMatch;
  const fault = state.faults.find((candidate) => candidate.route === valid.route && candidate.remaining > 0);
  if (fault !== undefined) {
    fault.remaining -= 1;
    sendError(res, fault.status, "Injected fault.", fault.code, fault.headers);
    return;
  }
  await answerRoute(state, valid, res, body, requestUrl);
}

function checkRequest(state: ServerState, req: IncomingMessage, match: RouteMatch | null, segments: readonly string[], apiVersion: string | null): Problem | null {
  if (req.headers.authorization !== `Bearer ${state.options.token}`) {
    return { status: 401, message: "Authentication failed. The 'Authorization' header is missing or invalid." };
  }
  if (match === null) return { status: 404, message: `No route for ${req.method ?? ""} /${segments.join("/")}.` };
  if (match.scope !== null) {
    return { status: 404, message: `The ${match.scope} was not found.`, code: match.scope === "resource group" ? "ResourceGroupNotFound" : "ResourceNotFound" };
  }
  if (apiVersion === null) {
    return { status: 400, message: "The api-version query parameter (?api-version=) is required for all requests.", code: "MissingApiVersionParameter" };
  }
  // A repeated api-version (a poll URL that got a second one appended) is as invalid as a wrong one.
  const expected = expectedApiVersion(state, match);
  if (apiVersion !== expected) {
    return { status: 400, message: `The api-version '${apiVersion}' is invalid. The supported versions are '${expected}'.`, code: "InvalidApiVersionParameter" };
  }
  return null;
}

/** Tasks routes are on the tasks api-version, registry routes on the package's default; an operation on its starter's. */
function expectedApiVersion(state: ServerState, match: RouteMatch): string {
  switch (match.route) {
    case "importImage":
    case "getRegistry":
      return ARM_IMPORT_API_VERSION;
    case "permissions":
      return ARM_PERMISSIONS_API_VERSION;
    case "systemTopics":
    case "eventSubscriptions":
      return ARM_EVENTGRID_API_VERSION;
    case "operationStatus":
    case "operationResult":
      return state.operations.get(match.id)?.apiVersion ?? ARM_TASKS_API_VERSION;
    default:
      return ARM_TASKS_API_VERSION;
  }
}

async function answerRoute(state: ServerState, match: RouteMatch, res: ServerResponse, body: unknown, requestUrl: URL): Promise<void> {
  switch (match.route) {
    case "permissions":
    case "systemTopics":
    case "eventSubscriptions":
      answerList(state, match, res, requestUrl);
      return;
    case "scheduleRun":
      await scheduleRun(state, res, body);
      return;
    case "getRegistry":
      sendJson(res, 200, { id: state.registryId, name: state.options.registryName, type: "Microsoft.ContainerRegistry/registries", location: registryLocation(state), sku: { name: "Premium", tier: "Premium" }, properties: { loginServer: `${state.options.registryName}.azurecr.io`, provisioningState: "Succeeded" } });
      return;
    case "createTaskRun":
      await createTaskRun(state, match.id, res, body);
      return;
    case "getTaskRun":
      answerTaskRun(state, match.id, res);
      return;
    case "importImage":
      importImage(state, res, body);
      return;
    case "listBuildSourceUploadUrl":
      answerUploadUrl(state, res);
      return;
    case "getRun":
    case "listLogSasUrl":
      answerRun(state, match, res);
      return;
    case "listRuns":
      answerRunList(state, res, requestUrl);
      return;
    case "operationStatus":
      answerOperationStatus(state, match.id, res);
      return;
    case "operationResult":
      answerOperationResult(state, match.id, res);
      return;
  }
}

async function scheduleRun(state: ServerState, res: ServerResponse, body: unknown): Promise<void> {
  const problem = validateRunRequest(body, state.registryId, state.tasks, state.sources);
  if (problem !== null) {
    sendError(res, problem.status, problem.message, problem.code);
    return;
  }
  const script = state.runScripts.shift() ?? { mode: "sync" };
  const run = await startRun(state, body, script);
  if (loseAnswer(state, "scheduleRun", res)) return;
  if (script.mode === "sync") {
    sendJson(res, 200, runJson(state, run, run.states[0] ?? { status: "Queued" }));
    return;
  }
  acceptOperation(state, res, `op-${run.runId}`, {
    runId: run.runId,
    apiVersion: ARM_TASKS_API_VERSION,
    outcome: script.outcome ?? "Succeeded",
    error: RUN_SCHEDULING_FAILED,
    polling: "azure-async-operation",
    failedStatus: 400,
    retryAfterSeconds: script.retryAfterSeconds ?? 0,
    remainingInProgress: script.inProgressPolls ?? 1,
  });
}

/** Creates the run of a checked run request (playing its build when the test plays builds). */
async function startRun(state: ServerState, body: unknown, script: ScheduleRunScript): Promise<StoredRun> {
  const request = body as { type: string; taskId?: string; sourceLocation?: string; imageNames?: string[]; platform?: RunPlatform };
  state.runCount += 1;
  const runId = `cb${state.runCount}`;
  const platform = request.type === "DockerBuildRequest" ? request.platform : undefined;
  const played = platform === undefined || state.options.build === undefined
    ? undefined
    : await state.options.build({ runId, sourceLocation: request.sourceLocation ?? "", imageNames: request.imageNames ?? [], platform });
  const run: StoredRun = {
    runId,
    states: played ?? script.states ?? [{ status: "Queued" }],
    runType: request.type === "DockerBuildRequest" ? "QuickBuild" : "QuickRun",
    task: request.type === "TaskRunRequest" ? request.taskId?.split("/").pop() : undefined,
    platform,
    createTime: new Date().toISOString(),
    cursor: 1,
  };
  state.runs.set(run.runId, run);
  return run;
}

/** After ARM acted, loses the answer when one is queued for `route`: resets the connection or answers a gateway error. */
function loseAnswer(state: ServerState, route: LostAnswer["route"], res: ServerResponse): boolean {
  const lost = state.lostAnswers.find((candidate) => candidate.route === route && candidate.remaining > 0);
  if (lost === undefined) return false;
  lost.remaining -= 1;
  if (lost.answer === "reset") res.socket?.destroy();
  else sendError(res, lost.answer, "The gateway did not get an answer in time.");
  return true;
}

/**
 * `PUT …/taskRuns/{name}`: a new task run, or a changed configuration or `forceUpdateTag`, starts a run
 * (ARM acts at once) and answers 201 `Creating` with `Azure-AsyncOperation`; the same configuration and
 * tag again answers 200 with the task run as it is, starting nothing.
 */
async function createTaskRun(state: ServerState, name: string, res: ServerResponse, body: unknown): Promise<void> {
  const problem = validateTaskRun(state, body);
  if (problem !== null) {
    sendError(res, problem.status, problem.message, problem.code);
    return;
  }
  const { identity, properties } = body as { identity?: unknown; properties: { runRequest: unknown; forceUpdateTag?: string } };
  const { runRequest, forceUpdateTag } = properties;
  const configuration = JSON.stringify({ identity, runRequest });
  const existing = state.taskRuns.get(name.toLowerCase());
  if (existing !== undefined && existing.configuration === configuration && existing.forceUpdateTag === (forceUpdateTag ?? "")) {
    if (!loseAnswer(state, "createTaskRun", res)) sendJson(res, 200, taskRunJson(state, existing, true));
    return;
  }
  const run = await startRun(state, runRequest, state.runScripts.shift() ?? { mode: "sync" });
  const taskRun: StoredTaskRun = { name, configuration, forceUpdateTag: forceUpdateTag ?? "", identity, runRequest, runId: run.runId };
  state.taskRuns.set(name.toLowerCase(), taskRun);
  if (loseAnswer(state, "createTaskRun", res)) return;
  const operationId = `op-taskrun-${run.runId}`;
  state.operations.set(operationId, { runId: run.runId, apiVersion: ARM_TASKS_API_VERSION, outcome: "Succeeded", error: RUN_SCHEDULING_FAILED, polling: "azure-async-operation", failedStatus: 400, retryAfterSeconds: 0, remainingInProgress: 1 });
  sendJson(res, 201, taskRunJson(state, taskRun, false), { "azure-asyncoperation": operationUrl(state, "operationStatuses", operationId), "retry-after": "0" });
}

function registryLocation(state: ServerState): string {
  return state.options.location ?? "westeurope";
}

function answerTaskRun(state: ServerState, name: string, res: ServerResponse): void {
  const taskRun = state.taskRuns.get(name.toLowerCase());
  if (taskRun === undefined) sendError(res, 404, `The task run '${name}' was not found.`);
  else sendJson(res, 200, taskRunJson(state, taskRun, true));
}

/** A task run as ARM answers it: `Creating` without its run in the PUT's answer, `Succeeded` with it once created. */
function taskRunJson(state: ServerState, taskRun: StoredTaskRun, created: boolean): unknown {
  const run = state.runs.get(taskRun.runId);
  const runResult = created && run !== undefined ? (runJson(state, run, listedState(run)) as { properties: unknown }) : undefined;
  return {
    id: `${state.registryId}/taskRuns/${taskRun.name}`,
    name: taskRun.name,
    type: "Microsoft.ContainerRegistry/registries/taskRuns",
    identity: taskRun.identity,
    properties: {
      provisioningState: created ? "Succeeded" : "Creating",
      runRequest: taskRun.runRequest,
      ...(taskRun.forceUpdateTag === "" ? {} : { forceUpdateTag: taskRun.forceUpdateTag }),
      ...(runResult === undefined ? {} : { runResult }),
    },
  };
}

/**
 * ARM's checks of a task run: a valid run request; attached identities that exist and the caller may
 * assign (`…/userAssignedIdentities/assign/action`, else 403 `LinkedAuthorizationFailed`); and every
 * custom registry's identity the client id of an identity the task run carries, or `system` only when it
 * carries a system-assigned one; and the registry's location.
 */
function validateTaskRun(state: ServerState, body: unknown): Problem | null {
  if (typeof body !== "object" || body === null) return { status: 400, message: "The request content was invalid and could not be deserialized." };
  const { identity, properties, location } = body as { identity?: { type?: unknown; userAssignedIdentities?: Record<string, unknown> }; properties?: { runRequest?: unknown }; location?: unknown };
  if (typeof location !== "string" || location.toLowerCase() !== registryLocation(state).toLowerCase()) {
    return { status: 400, code: "InvalidLocation", message: `The task run's location '${String(location)}' must be the registry's location '${registryLocation(state)}'.` };
  }
  const runRequest = properties?.runRequest;
  const runProblem = validateRunRequest(runRequest, state.registryId, state.tasks, state.sources);
  if (runProblem !== null) return runProblem;
  const attached = Object.keys(identity?.userAssignedIdentities ?? {});
  if (attached.length > 0 && !String(identity?.type ?? "").split(",").some((type) => type.trim() === "UserAssigned")) {
    return { status: 400, code: "InvalidIdentityType", message: "userAssignedIdentities need an identity of type UserAssigned." };
  }
  const known = state.options.identities ?? [];
  const clientIds = new Set<string>();
  for (const resourceId of attached) {
    const fixture = known.find((candidate) => candidate.resourceId.toLowerCase() === resourceId.toLowerCase());
    if (fixture === undefined) return { status: 400, code: "InvalidIdentity", message: `The user-assigned identity '${resourceId}' was not found.` };
    if (fixture.assignable === false) {
      return { status: 403, code: "LinkedAuthorizationFailed", message: `The client has no permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on '${resourceId}'.` };
    }
    clientIds.add(fixture.clientId.toLowerCase());
  }
  const custom = ((runRequest as { credentials?: { customRegistries?: Record<string, { identity?: unknown }> } }).credentials?.customRegistries ?? {});
  for (const [loginServer, credential] of Object.entries(custom)) {
    const clientId = credential.identity;
    // `system` is resolved by the runner's system-assigned identity: a task run has one only when it carries it.
    const system = clientId === "system" && String(identity?.type ?? "").split(",").some((type) => type.trim() === "SystemAssigned");
    if (clientId !== undefined && !system && !clientIds.has(String(clientId).toLowerCase())) {
      return { status: 400, code: "InvalidCustomRegistryCredentials", message: `The identity '${String(clientId)}' of the credential of '${loginServer}' is not an identity of the task run.` };
    }
  }
  return null;
}

function importImage(state: ServerState, res: ServerResponse, body: unknown): void {
  const problem = validateImportRequest(body);
  if (problem !== null) {
    sendError(res, problem.status, problem.message, problem.code);
    return;
  }
  const script = state.importScripts.shift() ?? { mode: "sync" };
  state.importCount += 1;
  if (script.mode === "sync") {
    sendEmpty(res, script.syncStatus ?? 200);
    return;
  }
  acceptOperation(state, res, `registries-import-${state.importCount}`, {
    runId: null,
    apiVersion: ARM_IMPORT_API_VERSION,
    outcome: script.outcome ?? "Succeeded",
    error: script.error ?? IMPORT_FAILED,
    polling: script.polling ?? "azure-async-operation",
    failedStatus: script.failedStatus ?? 400,
    retryAfterSeconds: script.retryAfterSeconds ?? 0,
    remainingInProgress: script.inProgressPolls ?? 1,
  });
}

/** Answers 202 with the operation's polling headers, as ARM does for a long-running POST. */
function acceptOperation(state: ServerState, res: ServerResponse, operationId: string, operation: Operation): void {
  state.operations.set(operationId, operation);
  sendEmpty(res, 202, {
    ...(operation.polling === "location" ? {} : { "azure-asyncoperation": operationUrl(state, "operationStatuses", operationId) }),
    location: operationUrl(state, "operationResults", operationId),
    "retry-after": String(operation.retryAfterSeconds),
  });
}

function operationUrl(state: ServerState, kind: "operationStatuses" | "operationResults", operationId: string): string {
  const apiVersion = state.operations.get(operationId)?.apiVersion ?? ARM_TASKS_API_VERSION;
  return `${state.url}${state.locationPrefix}/${kind}/${operationId}?api-version=${apiVersion}`;
}

function answerRun(state: ServerState, match: RouteMatch, res: ServerResponse): void {
  const run = state.runs.get(match.id);
  if (run === undefined) {
    sendError(res, 404, `The run '${match.id}' was not found.`);
    return;
  }
  if (match.route === "listLogSasUrl") {
    sendJson(res, 200, { logLink: logLink(state, run.runId) });
    return;
  }
  const current = run.states[Math.min(run.cursor, run.states.length - 1)] ?? { status: "Queued" };
  run.cursor += 1;
  sendJson(res, 200, runJson(state, run, current));
}

function answerOperationStatus(state: ServerState, operationId: string, res: ServerResponse): void {
  const operation = state.operations.get(operationId);
  if (operation === undefined) {
    sendError(res, 404, `The operation '${operationId}' was not found.`);
    return;
  }
  const status = { id: `${state.locationPrefix}/operationStatuses/${operationId}`, name: operationId };
  if (operation.remainingInProgress > 0) {
    operation.remainingInProgress -= 1;
    sendJson(res, 200, { ...status, status: "InProgress" });
    return;
  }
  sendJson(res, 200, { ...status, status: operation.outcome, ...(operation.outcome === "Failed" ? { error: operation.error } : {}) });
}

/** A run's operation answers the run; an import's answers 202 while in progress, then 200 with no body, or its error. */
function answerOperationResult(state: ServerState, operationId: string, res: ServerResponse): void {
  const operation = state.operations.get(operationId);
  const run = operation?.runId === null ? undefined : state.runs.get(operation?.runId ?? "");
  if (operation === undefined || (operation.runId !== null && run === undefined)) {
    sendError(res, 404, `The operation '${operationId}' was not found.`);
    return;
  }
  if (run !== undefined) {
    sendJson(res, 200, runJson(state, run, run.states[0] ?? { status: "Queued" }));
    return;
  }
  if (operation.remainingInProgress > 0) {
    operation.remainingInProgress -= 1;
    sendEmpty(res, 202, { location: operationUrl(state, "operationResults", operationId), "retry-after": String(operation.retryAfterSeconds) });
    return;
  }
  if (operation.outcome === "Failed") sendError(res, operation.failedStatus, operation.error.message, operation.error.code);
  else sendEmpty(res, 200);
}

function topicPath(state: ServerState, topic: SystemTopicFixture): string {
  return `/subscriptions/${state.options.subscriptionId}/resourceGroups/${topic.resourceGroup ?? state.options.resourceGroup}/providers/Microsoft.EventGrid/systemTopics/${topic.name}`;
}

function topicJson(state: ServerState, topic: SystemTopicFixture): unknown {
  const id = topicPath(state, topic);
  const properties = { source: topic.source, topicType: topic.topicType ?? "Microsoft.ContainerRegistry.Registries", provisioningState: "Succeeded", metricResourceId: "8a1a2b3c-0000-4d5e-9f00-0123456789ab" };
  return { id, name: topic.name, type: "Microsoft.EventGrid/systemTopics", location: "westeurope", properties };
}

function subscriptionJson(state: ServerState, topic: SystemTopicFixture, subscription: EventSubscriptionFixture): unknown {
  const filter = { ...(subscription.includedEventTypes === undefined ? {} : { includedEventTypes: subscription.includedEventTypes }), isSubjectCaseSensitive: false, enableAdvancedFilteringOnArrays: true };
  return {
    id: `${topicPath(state, topic)}/eventSubscriptions/${subscription.name}`,
    name: subscription.name,
    type: "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    properties: {
      topic: topic.source,
      provisioningState: "Succeeded",
      destination: subscription.destination,
      filter,
      labels: [],
      eventDeliverySchema: "EventGridSchema",
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
    },
  };
}

/** The items of a list route, or null when the route's parent (a system topic) does not exist. */
function listItems(state: ServerState, match: RouteMatch): unknown[] | null {
  if (match.route === "permissions") return state.permissions.map((permission) => ({ actions: permission.actions, notActions: permission.notActions ?? [], dataActions: [], notDataActions: [] }));
  const inGroup = state.systemTopics.filter((topic) => (topic.resourceGroup ?? state.options.resourceGroup).toLowerCase() === match.resourceGroup?.toLowerCase());
  if (match.route === "systemTopics") return inGroup.map((topic) => topicJson(state, topic));
  const topic = inGroup.find((candidate) => candidate.name.toLowerCase() === match.id.toLowerCase());
  return topic === undefined ? null : topic.subscriptions.map((subscription) => subscriptionJson(state, topic, subscription));
}

/** One page of a list route: `value` plus, when more remain, an absolute `nextLink` with the api-version and a skip token. */
function answerList(state: ServerState, match: RouteMatch, res: ServerResponse, requestUrl: URL): void {
  const items = listItems(state, match);
  if (items === null) {
    sendError(res, 404, `The system topic '${match.id}' was not found.`);
    return;
  }
  const pageSize = state.options.pageSize ?? 20;
  const skip = Number(requestUrl.searchParams.get("$skipToken") ?? "0");
  const next = skip + pageSize;
  const apiVersion = requestUrl.searchParams.get("api-version") ?? "";
  const nextLink = next < items.length ? `${state.url}${requestUrl.pathname}?api-version=${apiVersion}&$skipToken=${next}` : undefined;
  sendJson(res, 200, { value: items.slice(skip, next), ...(nextLink === undefined ? {} : { nextLink }) });
}

/** One `$filter` clause: a run property compared with `eq`, or `contains(OutputImageManifests, …)`. */
type RunFilterClause = { readonly property: "runid" | "runtype" | "status" | "taskname" | "agentpoolname" | "outputimagemanifests"; readonly value: string };

/** The clauses of a runs `$filter` ARM takes here; null when it is not one. */
function parseRunFilter(filter: string): RunFilterClause[] | null {
  const clauses: RunFilterClause[] = [];
  for (const part of filter.split(/\s+and\s+/i)) {
    const eq = /^\s*(RunId|RunType|Status|TaskName|AgentPoolName)\s+eq\s+'([^']*)'\s*$/i.exec(part);
    const contains = /^\s*contains\(\s*OutputImageManifests\s*,\s*'([^']*)'\s*\)\s*$/i.exec(part);
    if (eq !== null) clauses.push({ property: eq[1]!.toLowerCase() as RunFilterClause["property"], value: eq[2]! });
    else if (contains !== null) clauses.push({ property: "outputimagemanifests", value: contains[1]! });
    else return null;
  }
  return clauses;
}

/** A run's state as a list shows it: the last one `runs.get` answered, without moving on. */
function listedState(run: StoredRun): RunState {
  return run.states[Math.max(0, Math.min(run.cursor - 1, run.states.length - 1))] ?? { status: "Queued" };
}

function matchesRunFilter(run: StoredRun, clauses: readonly RunFilterClause[]): boolean {
  const current = listedState(run);
  const manifests = (current.outputImages ?? []).map((image) => `${image.repository}:${image.tag ?? ""}@${image.digest ?? ""}`).join(",");
  const values: Record<RunFilterClause["property"], string> = {
    runid: run.runId,
    runtype: run.runType,
    status: current.status,
    taskname: run.task ?? "",
    agentpoolname: "",
    outputimagemanifests: manifests,
  };
  return clauses.every((clause) =>
    clause.property === "outputimagemanifests" ? values.outputimagemanifests.includes(clause.value) : values[clause.property].toLowerCase() === clause.value.toLowerCase(),
  );
}

/** `runs.list`: the registry's runs newest first, filtered, at most `$top`, paged with an absolute `nextLink`. */
function answerRunList(state: ServerState, res: ServerResponse, requestUrl: URL): void {
  const filterText = requestUrl.searchParams.get("$filter");
  const clauses = filterText === null ? [] : parseRunFilter(filterText);
  if (clauses === null) {
    sendError(res, 400, `The filter '${filterText ?? ""}' is invalid.`, "InvalidFilter");
    return;
  }
  const topText = requestUrl.searchParams.get("$top");
  const top = topText === null ? Infinity : Number(topText);
  if (topText !== null && (!Number.isInteger(top) || top < 1)) {
    sendError(res, 400, `The $top value '${topText ?? ""}' is invalid.`, "InvalidParameter");
    return;
  }
  const newestFirst = [...state.runs.values()].reverse().sort((a, b) => Date.parse(b.createTime) - Date.parse(a.createTime));
  const items = newestFirst.filter((run) => matchesRunFilter(run, clauses)).slice(0, top).map((run) => runJson(state, run, listedState(run)));
  const pageSize = state.options.pageSize ?? 20;
  const skip = Number(requestUrl.searchParams.get("$skipToken") ?? "0");
  const next = new URL(requestUrl.href);
  next.searchParams.set("$skipToken", String(skip + pageSize));
  sendJson(res, 200, { value: items.slice(skip, skip + pageSize), ...(skip + pageSize < items.length ? { nextLink: next.href } : {}) });
}

/** The path under which the server plays the registry's build-source blob container. */
const BLOB_PREFIX = "/_blobs/";

/** `listBuildSourceUploadUrl`: a fresh upload location, as ACR hands out one per `az acr build`. */
function answerUploadUrl(state: ServerState, res: ServerResponse): void {
  const id = randomBytes(8).toString("hex");
  const relativePath = `source/20240722000000/${id}.tar.gz`;
  const signature = randomBytes(16).toString("base64url");
  const blobPath = `${BLOB_PREFIX}${relativePath}`;
  state.uploadSlots.set(blobPath, { relativePath, signature });
  sendJson(res, 200, { uploadUrl: `${state.url}${blobPath}?sv=2023-01-03&sr=b&sp=cw&se=2024-07-22T19%3A00%3A00Z&sig=${signature}`, relativePath });
}

/** The blob endpoint: one block-blob PUT per upload location, with its signature. */
async function putSourceBlob(state: ServerState, req: IncomingMessage, res: ServerResponse, requestUrl: URL): Promise<void> {
  const bytes = await readBody(req);
  const slot = state.uploadSlots.get(requestUrl.pathname);
  const blobType = typeof req.headers["x-ms-blob-type"] === "string" ? req.headers["x-ms-blob-type"] : null;
  const fault = state.faults.find((candidate) => candidate.route === "uploadSource" && candidate.remaining > 0);
  if (fault !== undefined) fault.remaining -= 1;
  const status = req.method !== "PUT" || slot === undefined || requestUrl.searchParams.get("sig") !== slot.signature ? 403 : blobType !== "BlockBlob" ? 400 : (fault?.status ?? 201);
  state.uploads.push({ url: `${requestUrl.pathname}${requestUrl.search}`, blobType, bytes, status });
  if (status === 201 && slot !== undefined) {
    state.uploadSlots.delete(requestUrl.pathname);
    state.sources.set(slot.relativePath, bytes);
  }
  sendEmpty(res, status);
}

function logLink(state: ServerState, runId: string): string {
  return `${state.url}/logs/${runId}/rawtext.log?sv=2023-01-03&sr=b&sig=contract-server`;
}

function runJson(state: ServerState, run: StoredRun, runState: RunState): unknown {
  return {
    id: `${state.registryId}/runs/${run.runId}`,
    name: run.runId,
    type: "Microsoft.ContainerRegistry/registries/runs",
    properties: {
      runId: run.runId,
      status: runState.status,
      lastUpdatedTime: runState.finishTime ?? runState.startTime ?? run.createTime,
      runType: run.runType,
      createTime: run.createTime,
      ...(runState.startTime === undefined ? {} : { startTime: runState.startTime }),
      ...(runState.finishTime === undefined ? {} : { finishTime: runState.finishTime }),
      ...(runState.runErrorMessage === undefined ? {} : { runErrorMessage: runState.runErrorMessage }),
      ...(runState.outputImages === undefined ? {} : { outputImages: runState.outputImages }),
      ...(run.task === undefined ? {} : { task: run.task }),
      ...(run.platform === undefined ? {} : { platform: run.platform }),
      provisioningState: "Succeeded",
      isArchiveEnabled: false,
    },
  };
}

/** Matches a decoded path; names compare case-insensitively, as ARM does. `scope` names the first resource that does not exist. */
function matchRoute(method: string, segments: readonly string[], options: ArmContractServerOptions): RouteMatch | null {
  const lower = segments.map((segment) => segment.toLowerCase());
  const literal = (index: number, text: string): boolean => lower[index] === text.toLowerCase();
  if (!literal(0, "subscriptions")) return null;
  const scopeOf = (checks: ReadonlyArray<[RouteMatch["scope"], number, string]>): RouteMatch["scope"] =>
    checks.find(([, index, expected]) => lower[index] !== expected.toLowerCase())?.[0] ?? null;

  // /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/locations/{location}/operation(Statuses|Results)/{id}
  if (lower.length === 8 && literal(2, "providers") && literal(3, "Microsoft.ContainerRegistry") && literal(4, "locations") && method === "GET") {
    const kind = lower[6] === "operationstatuses" ? "operationStatus" : lower[6] === "operationresults" ? "operationResult" : null;
    if (kind === null) return null;
    return { route: kind, id: segments[7] ?? "", scope: scopeOf([["subscription", 1, options.subscriptionId]]) };
  }

  // /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.EventGrid/systemTopics[/{name}/eventSubscriptions]
  if (literal(2, "resourceGroups") && literal(4, "providers") && literal(5, "Microsoft.EventGrid") && literal(6, "systemTopics") && method === "GET") {
    // Topics may live in any resource group of the subscription (a reused system topic).
    const scope = scopeOf([["subscription", 1, options.subscriptionId]]);
    const resourceGroup = segments[3] ?? "";
    if (lower.length === 7) return { route: "systemTopics", id: "", scope, resourceGroup };
    if (lower.length === 9 && lower[8] === "eventsubscriptions") return { route: "eventSubscriptions", id: segments[7] ?? "", scope, resourceGroup };
    return null;
  }

  // /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{reg}/…
  if (!(literal(2, "resourceGroups") && literal(4, "providers") && literal(5, "Microsoft.ContainerRegistry") && literal(6, "registries"))) return null;
  const scope = scopeOf([
    ["subscription", 1, options.subscriptionId],
    ["resource group", 3, options.resourceGroup],
    ["registry", 7, options.registryName],
  ]);
  const rest = lower.slice(8);
  if (method === "GET" && rest.length === 0) return { route: "getRegistry", id: "", scope };
  if (method === "POST" && rest.length === 1 && rest[0] === "schedulerun") return { route: "scheduleRun", id: "", scope };
  if (method === "POST" && rest.length === 1 && rest[0] === "importimage") return { route: "importImage", id: "", scope };
  if (method === "POST" && rest.length === 1 && rest[0] === "listbuildsourceuploadurl") return { route: "listBuildSourceUploadUrl", id: "", scope };
  if (method === "GET" && rest.join("/") === "providers/microsoft.authorization/permissions") return { route: "permissions", id: "", scope };
  if (method === "GET" && rest.length === 1 && rest[0] === "runs") return { route: "listRuns", id: "", scope };
  if (rest.length === 2 && rest[0] === "taskruns" && (method === "PUT" || method === "GET")) return { route: method === "PUT" ? "createTaskRun" : "getTaskRun", id: segments[9] ?? "", scope };
  if (rest[0] !== "runs" || segments[9] === undefined) return null;
  if (method === "GET" && rest.length === 2) return { route: "getRun", id: segments[9], scope };
  if (method === "POST" && rest.length === 3 && rest[2] === "listlogsasurl") return { route: "listLogSasUrl", id: segments[9], scope };
  return null;
}

/** The checks ARM makes of a `scheduleRun` body before accepting it. */
function validateRunRequest(body: unknown, registryId: string, tasks: ReadonlySet<string>, sources: ReadonlyMap<string, Buffer>): Problem | null {
  if (typeof body !== "object" || body === null) return { status: 400, message: "The request content was invalid and could not be deserialized." };
  const request = body as Record<string, unknown>;
  if (typeof request.type !== "string" || !RUN_REQUEST_TYPES.has(request.type)) {
    return { status: 400, message: `The run request type '${String(request.type)}' is not supported.` };
  }
  if (request.type === "TaskRunRequest") {
    const taskId = typeof request.taskId === "string" ? request.taskId : "";
    const prefix = `${registryId}/tasks/`.toLowerCase();
    if (!taskId.toLowerCase().startsWith(prefix)) return { status: 400, message: `The task id '${taskId}' is not a task of this registry.` };
    if (!tasks.has(taskId.slice(prefix.length).toLowerCase())) return { status: 404, message: `The task '${taskId.slice(prefix.length)}' was not found.` };
  }
  if (request.type === "DockerBuildRequest") {
    const platform = request.platform as { os?: unknown } | undefined;
    if (typeof request.dockerFilePath !== "string" || request.dockerFilePath === "" || typeof platform?.os !== "string") {
      return { status: 400, message: "A DockerBuildRequest needs dockerFilePath and platform.os." };
    }
    const location = typeof request.sourceLocation === "string" ? request.sourceLocation : "";
    if (!location.startsWith("https://") && !sources.has(location)) return { status: 400, message: `The source location '${location}' is neither a git URL nor an uploaded source.` };
  }
  return null;
}

/** The checks ARM makes of an `importImage` body (`ImportImageParameters`) before accepting it; 400 `InvalidParameters`. */
function validateImportRequest(body: unknown): Problem | null {
  if (typeof body !== "object" || body === null) return { status: 400, message: "The request content was invalid and could not be deserialized." };
  const invalid = (message: string): Problem => ({ status: 400, code: "InvalidParameters", message });
  const { source, targetTags, untaggedTargetRepositories, mode } = body as Record<string, unknown>;
  const { sourceImage, registryUri, resourceId, credentials } = (typeof source === "object" && source !== null ? source : {}) as Record<string, unknown>;
  if (typeof sourceImage !== "string" || sourceImage === "") return invalid("The parameter 'source.sourceImage' is required.");
  if (typeof registryUri !== "string" && typeof resourceId !== "string") return invalid("One of 'source.registryUri' or 'source.resourceId' is required.");
  if (credentials !== undefined && typeof (credentials as { password?: unknown } | null)?.password !== "string") {
    return invalid("The parameter 'source.credentials.password' is required when credentials are given.");
  }
  for (const [name, list] of [["targetTags", targetTags], ["untaggedTargetRepositories", untaggedTargetRepositories]] as const) {
    if (list !== undefined && !(Array.isArray(list) && list.every((entry) => typeof entry === "string" && entry !== ""))) {
      return invalid(`The parameter '${name}' must be a list of non-empty strings.`);
    }
  }
  if (mode !== undefined && !(typeof mode === "string" && IMPORT_MODES.has(mode))) return invalid(`The import mode '${String(mode)}' is not supported.`);
  return null;
}

function sendError(res: ServerResponse, status: number, message: string, code?: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code: code ?? ERROR_CODES[status] ?? "Error", message } }, headers);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, ...(status === 204 ? {} : { "content-length": "0" }) });
  res.end();
}
