import { useContractTls } from "./helpers/contract-tls.js";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import type { TokenCredential } from "@azure/identity";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ContainerRegistryContentClient } from "@azure/container-registry";
import { createAcrManifestStore, type ManifestStore } from "../../shared/adapters/acr/acr-manifest-store.js";
import { createAcrTasksBuilder } from "../../shared/adapters/acr-tasks/acr-tasks-builder.js";
import { platformTag } from "../../shared/adapters/acr-tasks/platform-index.js";
import { anonymousCredential } from "../../shared/adapters/distribution/distribution-registry.js";
import { startRegistry, type LocalRegistry } from "../../shared/local/registry.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { BuildRecipe, BuildRequest, BuildRun, ImageBuilder } from "../../shared/ports/image-builder.js";
import type { RawManifest } from "../../shared/ports/registry-content.js";
import {
  ARM_TASKS_API_VERSION,
  startArmContractServer,
  type ArmContractServer,
  type ArmContractServerOptions,
  type ArmRequest,
  type ArmRoute,
  type RunState,
} from "./helpers/arm-contract-server.js";
import { DOCKER_LIST, DOCKER_MANIFEST, buildImage, buildIndex, pushImage, pushIndex, type ImageContent } from "./helpers/image-content.js";
import { playPlatformBuilds } from "./helpers/played-builds.js";
import { rejection as rejectionOf, type ErrorShape } from "./helpers/rejection.js";

const SUBSCRIPTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const RESOURCE_GROUP = "rg-ripple";
const REGISTRY_NAME = "rippleacr";
const REGISTRY = "rippleacr.azurecr.io";
const TOKEN = "test-token";
/** The durable log reference a final run carries (no SAS). */
const logsOf = (runId: string): string => `acr-run:${REGISTRY_NAME}/${runId}`;
const FINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "canceled", "timed-out"]);
const REGISTRY_PATH = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ContainerRegistry/registries/${REGISTRY_NAME}`;
const OPERATIONS_PATH = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.ContainerRegistry/locations/westeurope`;
const BASE = { key: `${REGISTRY}/base/alpine:3.20`, digest: `sha256:${"a".repeat(64)}` };
const REVISION = "9fceb02d0ae598e95dc970b74767f19372d61af8";

const BASE_ARGUMENTS = [
  { name: "RIPPLE_BASE_IMAGE", value: BASE.key, isSecret: false },
  { name: "RIPPLE_BASE_DIGEST", value: BASE.digest, isSecret: false },
];

const QUEUED: BuildRun = { runId: "cb1", status: "queued", logsUrl: null, startedAt: null, finishedAt: null, reason: null };
/** The platform of {@link sourceRequest}'s run. */
const ARM64 = { os: "linux", architecture: "arm64", variant: "v8" };
/** An image a run reports in `outputImages`. */
const pushedImage = (repository: string, tag: string) => ({ registry: REGISTRY, repository, tag, digest: `sha256:${"d".repeat(64)}` });
/** The images {@link sourceRequest}'s run pushes, as it reports them once it has succeeded. */
const API_IMAGES = [pushedImage("team/api", "1.0"), pushedImage("team/api", "1.0-patched")];
/** A build of another image, as it reports its images once it has succeeded. */
const OTHER_IMAGE_DONE: RunState = { status: "Succeeded", outputImages: [pushedImage("team/web", "2.0")] };

function taskRequest(task = "rebuild-app"): BuildRequest {
  return { image: `${REGISTRY}/team/app:1.0`, registry: REGISTRY, recipe: { kind: "task", task }, base: BASE, idempotencyKey: "team/app:1.0@base" };
}

function sourceRequest(recipe: Partial<Extract<BuildRecipe, { kind: "source" }>> = {}): BuildRequest {
  return {
    image: `${REGISTRY}/team/api:1.0`,
    registry: REGISTRY,
    recipe: {
      kind: "source",
      repository: "https://github.com/example/api.git",
      revision: REVISION,
      dockerfile: "services/api/Dockerfile",
      context: "services/api",
      args: { NODE_VERSION: "20" },
      tags: [`${REGISTRY}/team/api:1.0`, `${REGISTRY}/team/api:1.0-patched`],
      platforms: ["linux/arm64/v8"],
      ...recipe,
    },
    base: BASE,
    idempotencyKey: "team/api:1.0@base",
  };
}

/** The DockerBuildRequest body of {@link sourceRequest}'s recipe, as the SDK serializes it, with `overrides`. */
function dockerBuildBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "DockerBuildRequest",
    sourceLocation: `https://github.com/example/api.git#${REVISION}:services/api`,
    dockerFilePath: "Dockerfile",
    imageNames: ["team/api:1.0", "team/api:1.0-patched"],
    isPushEnabled: true,
    platform: { os: "linux", architecture: "arm64", variant: "v8" },
    arguments: [{ name: "NODE_VERSION", value: "20", isSecret: false }, ...BASE_ARGUMENTS],
    timeout: 3600,
    ...overrides,
  };
}

/** The rejection's AppError fields; fails when the promise resolves or the error names the token. */
function rejection(promise: Promise<unknown>): Promise<ErrorShape> {
  return rejectionOf(promise, { secret: TOKEN });
}

function upstream(message: string, status: number | null, retryable: boolean): ErrorShape {
  return { name: "UpstreamError", code: "upstream_failed", message: `acr-tasks: ${message}`, retryable, details: { service: "acr-tasks", status } };
}

/** `start`'s answer while the runs that may be an earlier request's have not reported their images. */
function outcomeUnknown(action: string, candidates: string[]): ErrorShape {
  const which = candidates.length === 1 ? `run ${candidates[0]} reports its` : `runs ${candidates.join(", ")} report their`;
  return { name: "AppError", code: "run_outcome_unknown", message: `${action}: the outcome of an earlier request is unknown until ${which} images`, retryable: true, details: { retryAfterMs: 10, candidates } };
}

const SCHEDULING_APP = `scheduling task rebuild-app for ${REGISTRY}/team/app:1.0`;
const SCHEDULING_API = `scheduling a build of ${REGISTRY}/team/api:1.0`;

/** A request as the adapter must send it: every one authenticated, on ACR Tasks' api-version. */
function armRequest(method: string, route: ArmRoute, path: string, body: unknown = null): ArmRequest {
  return { method, route, path, apiVersion: ARM_TASKS_API_VERSION, authorization: `Bearer ${TOKEN}`, body };
}

const scheduleRunCall = (body: unknown): ArmRequest => armRequest("POST", "scheduleRun", `${REGISTRY_PATH}/scheduleRun`, body);
const getRunCall = (runId: string): ArmRequest => armRequest("GET", "getRun", `${REGISTRY_PATH}/runs/${runId}`);
const routes = (server: ArmContractServer): Array<ArmRoute | null> => server.requests.map((request) => request.route);

let dir: string;
let tls: StackTls;
let agent: Agent;
let server: ArmContractServer;
let builder: ImageBuilder;
/** Plays the builds the server schedules, for tests that need their images. */
let playBuild: ArmContractServerOptions["build"];

function createClient(token = TOKEN): ContainerRegistryManagementClient {
  const credential: TokenCredential = { getToken: () => Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  return new ContainerRegistryManagementClient(credential, SUBSCRIPTION, {
    endpoint: server.url,
    agent,
    retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
  });
}

useContractTls("ripple-acr-tasks-contract-", (scratch) => ({ dir, tls, agent } = scratch), { keepAlive: false });

beforeEach(async () => {
  server = await startArmContractServer({
    tls,
    subscriptionId: SUBSCRIPTION,
    resourceGroup: RESOURCE_GROUP,
    registryName: REGISTRY_NAME,
    token: TOKEN,
    tasks: ["rebuild-app"],
    build: (call) => playBuild?.(call) ?? Promise.resolve(undefined),
  });
  builder = createAcrTasksBuilder({ client: createClient(), subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, pollIntervalMs: 10 });
});

afterEach(async () => {
  playBuild = undefined;
  await server.stop();
});

describe("start", () => {
  it("runs a task with the base image, digest and image as values and arguments", async () => {
    expect(await builder.start(taskRequest())).toEqual(QUEUED);
    const overrides = [
      { name: "RIPPLE_BASE_IMAGE", value: BASE.key, isSecret: false },
      { name: "RIPPLE_BASE_DIGEST", value: BASE.digest, isSecret: false },
      { name: "RIPPLE_IMAGE", value: `${REGISTRY}/team/app:1.0`, isSecret: false },
    ];
    expect(server.requests).toEqual([
      scheduleRunCall({
        type: "TaskRunRequest",
        taskId: `${REGISTRY_PATH}/tasks/rebuild-app`,
        overrideTaskStepProperties: { values: overrides, arguments: overrides },
      }),
    ]);
  });

  it("builds a git context at its revision and folder, for one platform, with the base as build arguments", async () => {
    expect(await builder.start(sourceRequest())).toEqual(QUEUED);
    expect(server.requests).toEqual([scheduleRunCall(dockerBuildBody())]);
  });

  it.each<{ name: string; recipe: Partial<Extract<BuildRecipe, { kind: "source" }>>; expected: Record<string, unknown> }>([
    {
      name: "the repository root, the default platform and the image's own tag",
      recipe: { context: ".", dockerfile: "Dockerfile", platforms: [], tags: [], args: {} },
      expected: {
        sourceLocation: `https://github.com/example/api.git#${REVISION}`,
        imageNames: ["team/api:1.0"],
        platform: { os: "linux", architecture: "amd64" },
        arguments: BASE_ARGUMENTS,
      },
    },
    {
      name: "a branch, a ./folder/ context and a nested Dockerfile",
      recipe: { revision: "main", context: "./services/", dockerfile: "services/api/Dockerfile.prod", platforms: ["linux/amd64"] },
      expected: { sourceLocation: "https://github.com/example/api.git#main:services", dockerFilePath: "api/Dockerfile.prod", platform: { os: "linux", architecture: "amd64" } },
    },
    {
      name: "recipe arguments named like Ripple's, which Ripple's replace",
      recipe: { args: { RIPPLE_BASE_DIGEST: "sha256:stale", A: "1" } },
      expected: { arguments: [{ name: "A", value: "1", isSecret: false }, ...BASE_ARGUMENTS] },
    },
  ])("sends $name", async ({ recipe, expected }) => {
    await builder.start(sourceRequest(recipe));
    expect(server.requests).toEqual([scheduleRunCall(dockerBuildBody(expected))]);
  });

  it.each<[string, BuildRequest, string]>([
    [
      "a multi-platform source recipe when it has no registry to push the index to",
      sourceRequest({ platforms: ["linux/amd64", "linux/arm64"] }),
      "a multi-platform image needs the registry's manifests to push its index, and none were given",
    ],
    ["a tag of another registry", sourceRequest({ tags: [`${REGISTRY}/team/api:1.0`, "ghcr.io/example/api:1.0"] }), `the tag ghcr.io/example/api:1.0 is not in the registry ${REGISTRY}`],
    ["a tag by digest", sourceRequest({ tags: [`${REGISTRY}/team/api@sha256:${"b".repeat(64)}`] }), `the tag ${REGISTRY}/team/api@sha256:${"b".repeat(64)} is not a registry/repository:tag reference`],
    ["a Dockerfile outside the context", sourceRequest({ dockerfile: "docker/Dockerfile" }), 'the Dockerfile "docker/Dockerfile" is not inside the context "services/api"'],
    ["a context outside the repository", sourceRequest({ context: "../other" }), 'the context "../other" is not a folder inside the repository'],
    ["a local repository path", sourceRequest({ repository: "/srv/git/api" }), 'the repository "/srv/git/api" is not an https git URL'],
    ["a revision with the context separator", sourceRequest({ revision: "main:services" }), 'the revision "main:services" cannot be part of a git context'],
    ["a malformed platform", sourceRequest({ platforms: ["linux"] }), '"linux" is not an os/architecture[/variant] platform'],
    ["a task name that is not an ARM name", taskRequest("../registries/other/tasks/x"), '"../registries/other/tasks/x" is not an ACR task name'],
  ])("refuses %s without calling ARM", async (_name, request, reason) => {
    expect(await rejection(builder.start(request))).toEqual({
      name: "AppError",
      code: "build_request_invalid",
      message: `cannot build ${request.image} with ACR Tasks: ${reason}`,
      retryable: false,
      details: { image: request.image },
    });
    expect(server.requests).toEqual([]);
  });

  it("reads the log link of a run that is already final when scheduled", async () => {
    server.scheduleNext({ mode: "sync", states: [{ status: "Failed", runErrorMessage: "invalid Dockerfile" }] });
    expect(await builder.start(sourceRequest())).toEqual({ ...QUEUED, status: "failed", logsUrl: logsOf("cb1"), reason: "invalid Dockerfile" });
    expect(routes(server)).toEqual(["scheduleRun"]);
  });

  it("follows a 202 through Azure-AsyncOperation polls to the run at Location", async () => {
    server.scheduleNext({ mode: "async", inProgressPolls: 2, states: [{ status: "Started", startTime: "2024-07-22T18:05:00Z" }] });
    expect(await builder.start(taskRequest())).toEqual({ ...QUEUED, status: "running", startedAt: "2024-07-22T18:05:00.000Z" });
    expect(server.requests.map(({ method, route, path, apiVersion, authorization }) => ({ method, route, path, apiVersion, authorization }))).toEqual([
      { method: "POST", route: "scheduleRun", path: `${REGISTRY_PATH}/scheduleRun`, apiVersion: ARM_TASKS_API_VERSION, authorization: `Bearer ${TOKEN}` },
      ...Array.from({ length: 3 }, () => ({
        method: "GET",
        route: "operationStatus",
        path: `${OPERATIONS_PATH}/operationStatuses/op-cb1`,
        apiVersion: ARM_TASKS_API_VERSION,
        authorization: `Bearer ${TOKEN}`,
      })),
      { method: "GET", route: "operationResult", path: `${OPERATIONS_PATH}/operationResults/op-cb1`, apiVersion: ARM_TASKS_API_VERSION, authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it("reports a failed async operation as a non-retryable upstream failure", async () => {
    server.scheduleNext({ mode: "async", inProgressPolls: 0, outcome: "Failed" });
    expect(await rejection(builder.start(taskRequest()))).toEqual(
      upstream(`scheduling task rebuild-app for ${REGISTRY}/team/app:1.0 failed: Error: The long-running operation has failed. RunSchedulingFailed. The run could not be scheduled.`, null, false),
    );
    expect(routes(server)).toEqual(["scheduleRun", "operationStatus"]);
  });

  it("waits out a 429's Retry-After, then schedules the run", async () => {
    server.fail("scheduleRun", 429, 1, { "retry-after": "1" });
    const started = Date.now();
    expect(await builder.start(taskRequest())).toEqual(QUEUED);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(routes(server)).toEqual(["scheduleRun", "scheduleRun"]);
  });

  it.each([500, 503])("after a %i looks for the run it may have started, finds none, and schedules it once more", async (status) => {
    server.fail("scheduleRun", status, 1);
    expect(await builder.start(taskRequest())).toEqual(QUEUED);
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "scheduleRun"]);
    expect(server.runIds()).toEqual(["cb1"]);
  });

  it("reports a persistent 503 as a retryable upstream failure after two attempts, each followed by a lookup", async () => {
    server.fail("scheduleRun", 503, Infinity);
    expect(await rejection(builder.start(taskRequest()))).toEqual(
      upstream(`scheduling task rebuild-app for ${REGISTRY}/team/app:1.0 failed with HTTP 503 (ServiceUnavailable)`, 503, true),
    );
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "scheduleRun", "listRuns"]);
  });

  it.each<["reset" | number, string]>([
    ["reset", "the connection reset"],
    [502, "a gateway's 502"],
  ])("starts exactly one run when ARM accepts the run and the answer is lost (%s: %s): unknown until the run reports the image, then that run", async (answer) => {
    // Runs that are not this request's: another task's, and this task's from before the request.
    server.addRun("ca1", [{ status: "Running" }], { task: "other-task", createTime: new Date().toISOString() });
    server.addRun("ca2", [{ status: "Queued" }], { task: "rebuild-app", createTime: new Date(Date.now() - 3_600_000).toISOString() });
    server.loseAnswers("scheduleRun", 1, answer);
    const since = new Date().toISOString();
    expect(await rejection(builder.start(taskRequest()))).toEqual(outcomeUnknown(SCHEDULING_APP, ["cb1"]));
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun"]);

    server.setRunState("cb1", { status: "Succeeded", outputImages: [pushedImage("team/app", "1.0")] });
    expect(await builder.start({ ...taskRequest(), resumeSince: since })).toEqual({ ...QUEUED, status: "succeeded", logsUrl: logsOf("cb1") });
    expect(server.runIds()).toEqual(["ca1", "ca2", "cb1"]);
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun", "listRuns"]);
  });

  // Before, a unique candidate of the platform was taken at once, images or not; now only once it reports the request's images.
  it("tells a lost build's run by its platform and, once it reports them, its images; another platform's run is no candidate", async () => {
    server.addRun("ca1", [{ status: "Queued" }], { platform: { os: "linux", architecture: "amd64" }, createTime: new Date().toISOString() });
    server.loseAnswers("scheduleRun", 1);
    const since = new Date().toISOString();
    expect(await rejection(builder.start(sourceRequest()))).toEqual(outcomeUnknown(SCHEDULING_API, ["cb1"]));
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun"]);

    server.setRunState("cb1", { status: "Succeeded", outputImages: API_IMAGES });
    expect(await builder.start({ ...sourceRequest(), resumeSince: since })).toEqual({ ...QUEUED, status: "succeeded", logsUrl: logsOf("cb1") });
    expect(server.runIds()).toEqual(["ca1", "cb1"]);
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun", "listRuns"]);
  });

  it("never takes another image's queued run for a lost answer's: unknown while both are in flight, then its own run once it reports its images, and no second run", async () => {
    server.addRun("ca1", [{ status: "Queued" }], { platform: ARM64, createTime: new Date().toISOString() });
    server.loseAnswers("scheduleRun", 1);
    const since = new Date().toISOString();
    expect(await rejection(builder.start(sourceRequest()))).toEqual(outcomeUnknown(SCHEDULING_API, ["cb1", "ca1"]));
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun", "getRun"]);

    // The other image's build ends; this one's still runs: still no telling, and nothing scheduled.
    server.setRunState("ca1", OTHER_IMAGE_DONE);
    server.setRunState("cb1", { status: "Running", startTime: new Date().toISOString() });
    expect(await rejection(builder.start({ ...sourceRequest(), resumeSince: since }))).toEqual(outcomeUnknown(SCHEDULING_API, ["cb1"]));

    server.setRunState("cb1", { status: "Succeeded", outputImages: API_IMAGES });
    expect(await builder.start({ ...sourceRequest(), resumeSince: since })).toEqual({ ...QUEUED, status: "succeeded", logsUrl: logsOf("cb1") });
    expect(server.runIds()).toEqual(["ca1", "cb1"]);
    expect(routes(server).filter((route) => route === "scheduleRun")).toEqual(["scheduleRun"]);
  });

  it("after a 503 that started nothing, does not take another image's run in flight, and schedules once that run has ended naming its own images", async () => {
    server.addRun("ca1", [{ status: "Running" }], { platform: ARM64, createTime: new Date().toISOString() });
    server.fail("scheduleRun", 503, 1);
    const since = new Date().toISOString();
    expect(await rejection(builder.start(sourceRequest()))).toEqual(outcomeUnknown(SCHEDULING_API, ["ca1"]));
    expect(server.runIds()).toEqual(["ca1"]);
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun"]);

    server.setRunState("ca1", OTHER_IMAGE_DONE);
    expect(await builder.start({ ...sourceRequest(), resumeSince: since })).toEqual(QUEUED);
    expect(server.runIds()).toEqual(["ca1", "cb1"]);
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "getRun", "listRuns", "scheduleRun"]);
  });

  it.each([
    ["a single-platform build's", ["ca1"]],
    ["one platform's of a multi-platform build", ["ca0+ca1"]],
  ])("does not wait on a run Ripple recorded for another request (%s), nor take it", async (_name, knownRunIds) => {
    server.addRun("ca1", [{ status: "Running" }], { platform: ARM64, createTime: new Date().toISOString() });
    server.fail("scheduleRun", 503, 1);
    expect(await builder.start({ ...sourceRequest(), knownRunIds })).toEqual(QUEUED);
    expect(routes(server)).toEqual(["scheduleRun", "listRuns", "scheduleRun"]);
  });

  it("returns the run an earlier attempt of the claim started once it reports the image, without scheduling another", async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const state: RunState = { status: "Succeeded", startTime: "2024-07-22T18:05:00Z", finishTime: "2024-07-22T18:09:30Z", outputImages: [pushedImage("team/app", "1.0")] };
    server.addRun("cb7", [state], { task: "rebuild-app", createTime: new Date().toISOString() });
    expect(await builder.start({ ...taskRequest(), resumeSince: since })).toEqual({
      runId: "cb7",
      status: "succeeded",
      logsUrl: logsOf("cb7"),
      startedAt: "2024-07-22T18:05:00.000Z",
      finishedAt: "2024-07-22T18:09:30.000Z",
      reason: null,
    });
    expect(routes(server)).toEqual(["listRuns"]);
    expect(server.runIds()).toEqual(["cb7"]);
  });

  it("schedules nothing while the claim's earlier run may still be running without images", async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    server.addRun("cb7", [{ status: "Running", startTime: new Date().toISOString() }], { task: "rebuild-app", createTime: new Date().toISOString() });
    expect(await rejection(builder.start({ ...taskRequest(), resumeSince: since }))).toEqual(outcomeUnknown(SCHEDULING_APP, ["cb7"]));
    expect(routes(server)).toEqual(["listRuns", "getRun"]);
    expect(server.runIds()).toEqual(["cb7"]);
  });

  it("looks from a minute before the earlier claim: ARM's clock may be behind", async () => {
    server.addRun("cb7", [{ status: "Succeeded", outputImages: [pushedImage("team/app", "1.0")] }], { task: "rebuild-app", createTime: new Date(Date.now() - 30_000).toISOString() });
    expect(await builder.start({ ...taskRequest(), resumeSince: new Date().toISOString() })).toMatchObject({ runId: "cb7", status: "succeeded" });
    expect(routes(server)).toEqual(["listRuns"]);
  });

  it("schedules again for a claim whose earlier run was canceled, or which started none", async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    server.addRun("cb7", [{ status: "Canceled" }], { task: "rebuild-app", createTime: new Date().toISOString() });
    expect(await builder.start({ ...taskRequest(), resumeSince: since })).toEqual(QUEUED);
    expect(routes(server)).toEqual(["listRuns", "scheduleRun"]);
  });

  it.each([
    [400, "InvalidRequestContent"],
    [403, "AuthorizationFailed"],
  ])("reports a %i as a non-retryable upstream failure without retrying", async (status, code) => {
    server.fail("scheduleRun", status, Infinity);
    expect(await rejection(builder.start(sourceRequest()))).toEqual(upstream(`scheduling a build of ${REGISTRY}/team/api:1.0 failed with HTTP ${status} (${code})`, status, false));
    expect(routes(server)).toEqual(["scheduleRun"]);
  });

  it("reports a task ARM does not know as a non-retryable 404", async () => {
    expect(await rejection(builder.start(taskRequest("missing-task")))).toEqual(
      upstream(`scheduling task missing-task for ${REGISTRY}/team/app:1.0 failed with HTTP 404 (ResourceNotFound)`, 404, false),
    );
  });

  it("reports a rejected token as a non-retryable 401 that does not name the token", async () => {
    const rejected = createAcrTasksBuilder({ client: createClient("another-token"), subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME });
    expect(await rejection(rejected.start(taskRequest()))).toEqual(
      upstream(`scheduling task rebuild-app for ${REGISTRY}/team/app:1.0 failed with HTTP 401 (AuthenticationFailed)`, 401, false),
    );
    expect(server.requests.map((request) => request.authorization)).toEqual(["Bearer another-token"]);
  });
});

describe("get", () => {
  const times = { startTime: "2024-07-22T18:05:00Z", finishTime: "2024-07-22T18:09:30.5Z" };

  it.each<{ name: string; state: RunState; expected: Omit<BuildRun, "runId" | "logsUrl"> }>([
    {
      name: "Succeeded",
      state: { status: "Succeeded", ...times, outputImages: [{ registry: REGISTRY, repository: "team/app", tag: "1.0", digest: `sha256:${"c".repeat(64)}` }] },
      expected: { status: "succeeded", startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.500Z", reason: null },
    },
    {
      name: "Failed",
      state: { status: "Failed", ...times, runErrorMessage: "failed to build: RUN apk add returned 1" },
      expected: { status: "failed", startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.500Z", reason: "failed to build: RUN apk add returned 1" },
    },
    {
      name: "Error",
      state: { status: "Error", ...times, runErrorMessage: "agent lost" },
      expected: { status: "failed", startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.500Z", reason: "agent lost" },
    },
    {
      name: "Canceled",
      state: { status: "Canceled", ...times },
      expected: { status: "canceled", startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.500Z", reason: "ACR Tasks run ended with status Canceled" },
    },
    {
      name: "Timeout",
      state: { status: "Timeout", ...times, runErrorMessage: "run timed out after 3600 seconds" },
      expected: { status: "timed-out", startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.500Z", reason: "run timed out after 3600 seconds" },
    },
  ])("maps a $name run with its log link", async ({ state, expected }) => {
    server.addRun("ca7", [state]);
    expect(await builder.get("ca7")).toEqual({ runId: "ca7", logsUrl: FINAL.has(expected.status) ? logsOf("ca7") : null, ...expected });
    expect(server.requests).toEqual([getRunCall("ca7")]);
  });

  it("follows a scheduled run from Queued through Running to Succeeded, asking for the log link only at the end", async () => {
    server.scheduleNext({ mode: "sync", states: [{ status: "Queued" }, { status: "Running", startTime: times.startTime }, { status: "Succeeded", ...times }] });
    const run = await builder.start(taskRequest());
    const observed = [run, await builder.get(run.runId), await builder.get(run.runId)];
    expect(observed).toEqual([
      QUEUED,
      { ...QUEUED, status: "running", startedAt: "2024-07-22T18:05:00.000Z" },
      { runId: "cb1", status: "succeeded", logsUrl: logsOf("cb1"), startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.500Z", reason: null },
    ]);
    expect(routes(server)).toEqual(["scheduleRun", "getRun", "getRun"]);
  });

  it("stores no SAS: a final run names its log durably, and a link is signed only when someone reads it", async () => {
    server.addRun("ca8", [{ status: "Failed", runErrorMessage: "boom" }]);
    const read = await builder.get("ca8");
    expect(read).toEqual({ runId: "ca8", status: "failed", logsUrl: logsOf("ca8"), startedAt: null, finishedAt: null, reason: "boom" });
    expect(JSON.stringify(read)).not.toMatch(/sig=|sv=/);
    expect(await builder.signLogs(read.logsUrl!)).toBe(server.logLink("ca8"));
    expect(routes(server)).toEqual(["getRun", "listLogSasUrl"]);
    expect(await builder.signLogs("acr-run:otherregistry/ca8")).toBeNull();
    expect(await builder.signLogs("https://evil.example/x")).toBeNull();
  });

  it.each([403, 503])("reports a failure to sign a log link (%i) as the ARM error it is", async (status) => {
    server.fail("listLogSasUrl", status, Infinity);
    await expect(builder.signLogs(logsOf("ca9"))).rejects.toMatchObject({ code: "upstream_failed", retryable: status >= 500 });
  });

  it("refuses a run whose status it does not know", async () => {
    server.addRun("ca9", [{ status: "Paused" }]);
    expect(await rejection(builder.get("ca9"))).toEqual(upstream('reading run ca9 failed: unknown run status "Paused"', null, false));
  });

  it("reports an unreachable ARM endpoint as a retryable network failure", async () => {
    const credential: TokenCredential = { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const client = new ContainerRegistryManagementClient(credential, SUBSCRIPTION, { endpoint: "https://127.0.0.1:1", agent, retryOptions: { maxRetries: 1, retryDelayInMs: 10 } });
    const unreachable = createAcrTasksBuilder({ client, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME });
    expect(await rejection(unreachable.get("cb1"))).toEqual(upstream("reading run cb1 failed: network error ECONNREFUSED", null, true));
  });

  it.each<[string, () => void, ErrorShape, number]>([
    ["an unknown run", () => undefined, upstream("reading run cb404 failed with HTTP 404 (ResourceNotFound)", 404, false), 1],
    ["a persistent 503", () => server.fail("getRun", 503, Infinity), upstream("reading run cb404 failed with HTTP 503 (ServiceUnavailable)", 503, true), 2],
    ["a 403", () => server.fail("getRun", 403, Infinity), upstream("reading run cb404 failed with HTTP 403 (AuthorizationFailed)", 403, false), 1],
  ])("reports %s as an upstream failure", async (_name, arrange, expected, calls) => {
    arrange();
    expect(await rejection(builder.get("cb404"))).toEqual(expected);
    expect(server.requests).toEqual(Array.from({ length: calls }, () => getRunCall("cb404")));
  });
});

const PLATFORMS = ["linux/amd64", "linux/arm64/v8"];
/** What each platform's run builds (ACR Tasks pushes Docker manifests). */
const PLATFORM_IMAGES: Readonly<Record<string, ImageContent>> = {
  "linux/amd64": buildImage({ format: "docker", layers: ["rootfs", "api-amd64"], platform: { os: "linux", architecture: "amd64", variant: null } }),
  "linux/arm64/v8": buildImage({ format: "docker", layers: ["rootfs", "api-arm64"], platform: { os: "linux", architecture: "arm64", variant: "v8" } }),
};
/** The two platforms' images the tags hold before the rebuild. */
const OLD_IMAGES = [
  buildImage({ format: "docker", layers: ["old"], platform: { os: "linux", architecture: "amd64", variant: null } }),
  buildImage({ format: "docker", layers: ["old-arm"], platform: { os: "linux", architecture: "arm64", variant: "v8" } }),
];
const RUN_TIMES = { startTime: "2024-07-22T18:05:00Z", finishTime: "2024-07-22T18:09:30Z" };

/** The manifest list entry of a platform's image, as a multi-platform build must push it. */
function listEntry(platform: string): unknown {
  const image = PLATFORM_IMAGES[platform]!;
  const { os, architecture, variant } = image.facts.platform!;
  return { mediaType: DOCKER_MANIFEST, digest: image.facts.digest, size: image.manifest.byteLength, platform: { architecture, os, ...(variant === null ? {} : { variant }) } };
}

/** A manifest store that records the tags it writes and removes. */
function recordingStore(store: ManifestStore): ManifestStore & { writes: string[]; deletes: string[] } {
  const recorded = {
    ...store,
    writes: [] as string[],
    deletes: [] as string[],
    writeManifest: (repository: string, tag: string, manifest: RawManifest) => {
      recorded.writes.push(`${repository}:${tag}`);
      return store.writeManifest(repository, tag, manifest);
    },
    deleteTag: (repository: string, tag: string) => {
      recorded.deletes.push(`${repository}:${tag}`);
      return store.deleteTag(repository, tag);
    },
  };
  return recorded;
}

describe("multi-platform builds", () => {
  const request = sourceRequest({ platforms: PLATFORMS });
  const tagOf = (platform: string): string => platformTag(request.idempotencyKey, platform);
  let registry: LocalRegistry;
  let content: ContainerRegistryContentClient;
  let manifests: ReturnType<typeof recordingStore>;

  beforeAll(async () => {
    registry = await startRegistry({ dir: join(dir, "distribution"), tls });
    content = new ContainerRegistryContentClient(registry.url, "team/api", anonymousCredential(), { agent });
    // The tags hold a two-platform image the rebuild must replace whole or not at all.
    for (const image of OLD_IMAGES) await pushImage(content, image);
    const oldIndex = buildIndex({ format: "docker", children: OLD_IMAGES.map((image) => ({ manifest: image.manifest, mediaType: DOCKER_MANIFEST, platform: image.facts.platform! })) });
    for (const tag of ["1.0", "1.0-patched"]) await pushIndex(content, oldIndex, tag);
  });

  afterAll(async () => {
    await registry?.stop();
  });

  beforeEach(() => {
    manifests = recordingStore(createAcrManifestStore({ host: registry.host, credential: anonymousCredential(), agent }));
    builder = createAcrTasksBuilder({ client: createClient(), subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, pollIntervalMs: 10, manifests });
  });

  const digestAt = async (tag: string): Promise<string> => (await content.getManifest(tag)).digest;

  it("builds each platform in a run of its own, then pushes one index of them to every tag", async () => {
    playBuild = playPlatformBuilds({ content, registry: REGISTRY, images: PLATFORM_IMAGES, failing: null, times: RUN_TIMES });
    const started = await builder.start(request);
    expect(started).toEqual({ ...QUEUED, runId: "cb1+cb2" });
    expect(server.requests).toEqual([
      scheduleRunCall(dockerBuildBody({ imageNames: [`team/api:${tagOf("linux/amd64")}`], platform: { os: "linux", architecture: "amd64" } })),
      scheduleRunCall(dockerBuildBody({ imageNames: [`team/api:${tagOf("linux/arm64/v8")}`], platform: { os: "linux", architecture: "arm64", variant: "v8" } })),
    ]);
    expect(await builder.get(started.runId, request)).toEqual({ ...QUEUED, runId: "cb1+cb2", status: "running", startedAt: "2024-07-22T18:05:00.000Z" });
    expect(manifests.writes).toEqual([]);

    const done: BuildRun = { runId: "cb1+cb2", status: "succeeded", logsUrl: logsOf("cb1"), startedAt: "2024-07-22T18:05:00.000Z", finishedAt: "2024-07-22T18:09:30.000Z", reason: null };
    expect(await builder.get(started.runId, request)).toEqual(done);
    const pushed = await content.getManifest("1.0");
    expect(pushed.manifest).toEqual({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: PLATFORMS.map(listEntry) });
    expect(await digestAt("1.0-patched")).toBe(pushed.digest);
    expect(manifests.writes).toEqual(["team/api:1.0", "team/api:1.0-patched"]);
    expect(manifests.deletes).toEqual([`team/api:${tagOf("linux/amd64")}`, `team/api:${tagOf("linux/arm64/v8")}`]);

    // A redelivered poll pushes the same index again, reading the platforms' images by the digests their runs report.
    expect(await builder.get(started.runId, request)).toEqual(done);
    expect(await digestAt("1.0")).toBe(pushed.digest);
  });

  it("fails naming the platform and its run when one platform fails, and pushes nothing to the tags", async () => {
    playBuild = playPlatformBuilds({ content, registry: REGISTRY, images: PLATFORM_IMAGES, failing: "linux/arm64/v8", times: RUN_TIMES });
    const previous = await digestAt("1.0");
    const started = await builder.start(request);
    expect(started).toEqual({ ...QUEUED, runId: "cb1+cb2", status: "running", startedAt: "2024-07-22T18:05:00.000Z" });
    expect(await builder.get(started.runId, request)).toEqual({
      runId: "cb1+cb2",
      status: "failed",
      logsUrl: logsOf("cb2"),
      startedAt: "2024-07-22T18:05:00.000Z",
      finishedAt: "2024-07-22T18:09:30.000Z",
      reason: "linux/arm64/v8 (run cb2): exec /bin/sh: exec format error",
    });
    expect(manifests.writes).toEqual([]);
    expect([await digestAt("1.0"), await digestAt("1.0-patched")]).toEqual([previous, previous]);
  });

  it("refuses to read a multi-platform run without the request that started it", async () => {
    expect(await rejection(builder.get("cb1+cb2"))).toEqual({
      name: "AppError",
      code: "build_request_invalid",
      message: "run cb1+cb2 builds 2 platforms: reading it needs the source recipe of those platforms that started it",
      retryable: false,
      details: { runId: "cb1+cb2" },
    });
    expect(server.requests).toEqual([]);
  });
});

describe("createAcrTasksBuilder", () => {
  it("refuses a subscription other than its client's", () => {
    expect(() => createAcrTasksBuilder({ client: createClient(), subscriptionId: "00000000-0000-0000-0000-000000000000", resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME })).toThrowError(
      expect.objectContaining({ code: "config_invalid", message: "the ACR Tasks builder's subscriptionId differs from its ARM client's" }),
    );
  });
});

describe("ARM contract server", () => {
  it.each([
    ["another api-version", "?api-version=2025-11-01", { error: { code: "InvalidApiVersionParameter", message: `The api-version '2025-11-01' is invalid. The supported versions are '${ARM_TASKS_API_VERSION}'.` } }],
    [
      "a repeated api-version",
      `?api-version=${ARM_TASKS_API_VERSION}&api-version=${ARM_TASKS_API_VERSION}`,
      { error: { code: "InvalidApiVersionParameter", message: `The api-version '${ARM_TASKS_API_VERSION},${ARM_TASKS_API_VERSION}' is invalid. The supported versions are '${ARM_TASKS_API_VERSION}'.` } },
    ],
    ["no api-version", "", { error: { code: "MissingApiVersionParameter", message: "The api-version query parameter (?api-version=) is required for all requests." } }],
  ])("answers 400 to %s, as ARM does", async (_name, query, expected) => {
    server.addRun("ca1", [{ status: "Queued" }]);
    expect(await rawGet(`${server.url}${REGISTRY_PATH}/runs/ca1${query}`)).toEqual({ status: 400, body: expected });
  });

  it("lists runs newest first, filtered and limited as az acr task list-runs asks", async () => {
    server.addRun("ca1", [{ status: "Succeeded" }], { task: "rebuild-app", createTime: "2024-07-22T18:00:00.000Z" });
    server.addRun("ca2", [{ status: "Queued" }], { task: "rebuild-app", createTime: "2024-07-22T18:05:00.000Z" });
    server.addRun("ca3", [{ status: "Queued" }], { task: "other", createTime: "2024-07-22T18:10:00.000Z" });
    const list = async (query: string): Promise<unknown> => {
      const answer = await rawGet(`${server.url}${REGISTRY_PATH}/runs?api-version=${ARM_TASKS_API_VERSION}${query}`);
      return answer.status === 200 ? (answer.body as { value: Array<{ name: string }> }).value.map((run) => run.name) : answer;
    };
    expect(await list("")).toEqual(["ca3", "ca2", "ca1"]);
    expect(await list(`&$filter=${encodeURIComponent("TaskName eq 'rebuild-app'")}`)).toEqual(["ca2", "ca1"]);
    expect(await list(`&$filter=${encodeURIComponent("TaskName eq 'rebuild-app' and Status eq 'Queued'")}&$top=5`)).toEqual(["ca2"]);
    expect(await list("&$top=1")).toEqual(["ca3"]);
    expect(await list(`&$filter=${encodeURIComponent("CreateTime gt 2024")}`)).toEqual({ status: 400, body: { error: { code: "InvalidFilter", message: "The filter 'CreateTime gt 2024' is invalid." } } });
  });
});

function rawGet(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
