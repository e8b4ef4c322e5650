import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { StackTls } from "../../../shared/local/tls.js";

/** The api-version `@azure/arm-containerregistry` 11 sends on ACR Tasks routes (`scheduleRun`, `runs`). */
export const ARM_TASKS_API_VERSION = "2019-06-01-preview";

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

export type ArmRoute = "scheduleRun" | "getRun" | "listLogSasUrl" | "operationStatus" | "operationResult";

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
 * A small HTTPS server that follows the ARM contract of ACR Tasks as `@azure/arm-containerregistry` 11
 * calls it: `POST …/registries/{reg}/scheduleRun`, `GET …/registries/{reg}/runs/{runId}` and
 * `POST …/runs/{runId}/listLogSasUrl` (api-version {@link ARM_TASKS_API_VERSION}, anything else is a 400
 * as ARM answers), ARM's async-operation pattern for `scheduleRun`, Bearer authentication with one
 * expected token, and ARM error bodies (`{"error":{"code","message"}}`). Faults can be queued per route.
 */
export interface ArmContractServer {
  /** `https://127.0.0.1:<port>`, the client's `endpoint`. */
  readonly url: string;
  readonly requests: ArmRequest[];
  /** Queues how the next `scheduleRun` is answered; with an empty queue it answers 200 with a queued run. */
  scheduleNext(script: ScheduleRunScript): void;
  /** Adds a run whose `runs.get` answers walk through `states`, one per GET, staying on the last. */
  addRun(runId: string, states: readonly RunState[]): void;
  /** The log link `listLogSasUrl` answers for a run. */
  logLink(runId: string): string;
  /** Answers the next `times` valid requests of `route` with `status` and an ARM error body (Infinity: always). */
  fail(route: ArmRoute, status: number, times: number, headers?: Record<string, string>): void;
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
}

interface StoredRun {
  readonly runId: string;
  readonly states: readonly RunState[];
  readonly runType: string;
  readonly task: string | undefined;
  readonly createTime: string;
  cursor: number;
}

interface Operation {
  readonly runId: string;
  readonly outcome: "Succeeded" | "Failed";
  remainingInProgress: number;
}

interface Fault {
  readonly route: ArmRoute;
  readonly status: number;
  readonly headers: Record<string, string>;
  remaining: number;
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

/** Starts the server on a free loopback port with the stack's server certificate. */
export async function startArmContractServer(options: ArmContractServerOptions): Promise<ArmContractServer> {
  const requests: ArmRequest[] = [];
  const scripts: ScheduleRunScript[] = [];
  const runs = new Map<string, StoredRun>();
  const operations = new Map<string, Operation>();
  const faults: Fault[] = [];
  const tasks = new Set((options.tasks ?? []).map((task) => task.toLowerCase()));
  let runCount = 0;
  let url = "";

  const registryId = `/subscriptions/${options.subscriptionId}/resourceGroups/${options.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${options.registryName}`;
  const locationPrefix = `/subscriptions/${options.subscriptionId}/providers/Microsoft.ContainerRegistry/locations/westeurope`;
  const logLink = (runId: string): string => `${url}/logs/${runId}/rawtext.log?sv=2023-01-03&sr=b&sig=contract-server`;

  const runJson = (run: StoredRun, state: RunState): unknown => ({
    id: `${registryId}/runs/${run.runId}`,
    name: run.runId,
    type: "Microsoft.ContainerRegistry/registries/runs",
    properties: {
      runId: run.runId,
      status: state.status,
      lastUpdatedTime: state.finishTime ?? state.startTime ?? run.createTime,
      runType: run.runType,
      createTime: run.createTime,
      ...(state.startTime === undefined ? {} : { startTime: state.startTime }),
      ...(state.finishTime === undefined ? {} : { finishTime: state.finishTime }),
      ...(state.runErrorMessage === undefined ? {} : { runErrorMessage: state.runErrorMessage }),
      ...(state.outputImages === undefined ? {} : { outputImages: state.outputImages }),
      ...(run.task === undefined ? {} : { task: run.task }),
      provisioningState: "Succeeded",
      isArchiveEnabled: false,
    },
  });
  const currentState = (run: StoredRun): RunState => run.states[Math.min(run.cursor, run.states.length - 1)] ?? { status: "Queued" };

  const scheduleRun = (res: ServerResponse, body: unknown): void => {
    const problem = validateRunRequest(body, registryId, tasks);
    if (problem !== null) {
      sendError(res, problem.status, problem.message);
      return;
    }
    const request = body as { type: string; taskId?: string };
    const script = scripts.shift() ?? { mode: "sync" };
    runCount += 1;
    const run: StoredRun = {
      runId: `cb${runCount}`,
      states: script.states ?? [{ status: "Queued" }],
      runType: request.type === "DockerBuildRequest" ? "QuickBuild" : "QuickRun",
      task: request.type === "TaskRunRequest" ? request.taskId?.split("/").pop() : undefined,
      createTime: new Date().toISOString(),
      cursor: 1,
    };
    runs.set(run.runId, run);
    if (script.mode === "sync") {
      sendJson(res, 200, runJson(run, run.states[0] ?? { status: "Queued" }));
      return;
    }
    const operationId = `op-${run.runId}`;
    operations.set(operationId, { runId: run.runId, outcome: script.outcome ?? "Succeeded", remainingInProgress: script.inProgressPolls ?? 1 });
    res.writeHead(202, {
      "azure-asyncoperation": `${url}${locationPrefix}/operationStatuses/${operationId}?api-version=${ARM_TASKS_API_VERSION}`,
      location: `${url}${locationPrefix}/operationResults/${operationId}?api-version=${ARM_TASKS_API_VERSION}`,
      "retry-after": String(script.retryAfterSeconds ?? 0),
      "content-length": "0",
    });
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestUrl = new URL(req.url ?? "/", url);
    const segments = requestUrl.pathname.split("/").slice(1).map((segment) => decodeURIComponent(segment));
    const apiVersions = requestUrl.searchParams.getAll("api-version");
    const apiVersion = apiVersions.length === 0 ? null : apiVersions.join(",");
    const text = (await readBody(req)).toString("utf8");
    const body = parseJson(text);
    const method = req.method ?? "";
    const match = matchRoute(method, segments, options);
    requests.push({ method, route: match?.route ?? null, path: `/${segments.join("/")}`, apiVersion, authorization: req.headers.authorization ?? null, body });

    if (req.headers.authorization !== `Bearer ${options.token}`) {
      sendError(res, 401, "Authentication failed. The 'Authorization' header is missing or invalid.");
      return;
    }
    if (match === null) {
      sendError(res, 404, `No route for ${method} /${segments.join("/")}.`);
      return;
    }
    if (match.scope !== null) {
      sendError(res, 404, `The ${match.scope} was not found.`, match.scope === "resource group" ? "ResourceGroupNotFound" : "ResourceNotFound");
      return;
    }
    if (apiVersion === null) {
      sendError(res, 400, "The api-version query parameter (?api-version=) is required for all requests.", "MissingApiVersionParameter");
      return;
    }
    // A repeated api-version (a poll URL that got a second one appended) is as invalid as a wrong one.
    if (apiVersion !== ARM_TASKS_API_VERSION) {
      sendError(res, 400, `The api-version '${apiVersion}' is invalid. The supported versions are '${ARM_TASKS_API_VERSION}'.`, "InvalidApiVersionParameter");
      return;
    }
    const fault = faults.find((candidate) => candidate.route === match.route && candidate.remaining > 0);
    if (fault !== undefined) {
      fault.remaining -= 1;
      sendError(res, fault.status, "Injected fault.", undefined, fault.headers);
      return;
    }

    switch (match.route) {
      case "scheduleRun":
        scheduleRun(res, body);
        return;
      case "getRun":
      case "listLogSasUrl": {
        const run = runs.get(match.id);
        if (run === undefined) {
          sendError(res, 404, `The run '${match.id}' was not found.`);
          return;
        }
        if (match.route === "listLogSasUrl") {
          sendJson(res, 200, { logLink: logLink(run.runId) });
          return;
        }
        const state = currentState(run);
        run.cursor += 1;
        sendJson(res, 200, runJson(run, state));
        return;
      }
      case "operationStatus":
      case "operationResult": {
        const operation = operations.get(match.id);
        const run = operation === undefined ? undefined : runs.get(operation.runId);
        if (operation === undefined || run === undefined) {
          sendError(res, 404, `The operation '${match.id}' was not found.`);
          return;
        }
        if (match.route === "operationResult") {
          sendJson(res, 200, runJson(run, run.states[0] ?? { status: "Queued" }));
          return;
        }
        if (operation.remainingInProgress > 0) {
          operation.remainingInProgress -= 1;
          sendJson(res, 200, { id: `${locationPrefix}/operationStatuses/${match.id}`, name: match.id, status: "InProgress" });
          return;
        }
        sendJson(res, 200, {
          id: `${locationPrefix}/operationStatuses/${match.id}`,
          name: match.id,
          status: operation.outcome,
          ...(operation.outcome === "Failed" ? { error: { code: "RunSchedulingFailed", message: "The run could not be scheduled." } } : {}),
        });
        return;
      }
    }
  };

  const [cert, key] = await Promise.all([readFile(options.tls.certPath), readFile(options.tls.keyPath)]);
  const server: Server = createServer({ cert, key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, `contract server failure: ${String(error)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  url = `https://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;

  return {
    url,
    requests,
    scheduleNext(script) {
      scripts.push(script);
    },
    addRun(runId, states) {
      runs.set(runId, { runId, states, runType: "QuickBuild", task: undefined, createTime: "2024-07-22T18:00:00.000Z", cursor: 0 });
    },
    logLink,
    fail(route, status, times, headers = {}) {
      faults.push({ route, status, headers, remaining: times });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

type RouteMatch = { route: ArmRoute; id: string; scope: null | "subscription" | "resource group" | "registry" };

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

  // /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{reg}/…
  if (!(literal(2, "resourceGroups") && literal(4, "providers") && literal(5, "Microsoft.ContainerRegistry") && literal(6, "registries"))) return null;
  const scope = scopeOf([
    ["subscription", 1, options.subscriptionId],
    ["resource group", 3, options.resourceGroup],
    ["registry", 7, options.registryName],
  ]);
  const rest = lower.slice(8);
  if (method === "POST" && rest.length === 1 && rest[0] === "schedulerun") return { route: "scheduleRun", id: "", scope };
  if (rest[0] !== "runs" || segments[9] === undefined) return null;
  if (method === "GET" && rest.length === 2) return { route: "getRun", id: segments[9], scope };
  if (method === "POST" && rest.length === 3 && rest[2] === "listlogsasurl") return { route: "listLogSasUrl", id: segments[9], scope };
  return null;
}

/** The checks ARM makes of a `scheduleRun` body before accepting it. */
function validateRunRequest(body: unknown, registryId: string, tasks: ReadonlySet<string>): { status: number; message: string } | null {
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
  }
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

function parseJson(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
