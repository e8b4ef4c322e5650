import { useContractTls } from "./helpers/contract-tls.js";
import { Agent } from "node:https";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import type { TokenCredential } from "@azure/identity";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAcrTasksBuilder, type AcrTasksBuilderOptions } from "../../shared/adapters/acr-tasks/acr-tasks-builder.js";
import { platformTag } from "../../shared/adapters/acr-tasks/platform-index.js";
import { TASK_RUN_NAME, taskRunName } from "../../shared/adapters/acr-tasks/task-runs.js";
import type { ManifestStore } from "../../shared/adapters/acr/acr-manifest-store.js";
import { customRegistriesFor } from "../../shared/composition.js";
import { parseConfig, type RegistryConfig } from "../../shared/config.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { BuildRecipe, BuildRequest, BuildRun, ImageBuilder } from "../../shared/ports/image-builder.js";
import { ARM_IMPORT_API_VERSION, ARM_TASKS_API_VERSION, startArmContractServer, type ArmContractServer, type ArmRequest, type UserIdentityFixture } from "./helpers/arm-contract-server.js";
import { rejection } from "./helpers/rejection.js";
import { ARM_TOKEN, REGISTRY, REGISTRY_NAME, REGISTRY_PATH, RESOURCE_GROUP, SUBSCRIPTION } from "./helpers/arm-fixture-ids.js";

const CLIENT_ID = "6b1f0a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
const IDENTITY_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ripple-builds`;
const OTHER_CLIENT_ID = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d";
const OTHER_IDENTITY_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-other`;
const PUBLIC_URL = "https://github.com/example/public.git";
const BASE = { key: "sharedbase.azurecr.io/base/alpine:3.20", digest: `sha256:${"a".repeat(64)}` };
const KEY = "team/api:1.0@sha256:aaaa";
const HUB_PASSWORD_URI = "https://ripple-kv.vault.azure.net/secrets/hub-password/";

const CONFIG = `
version: 1
registries:
  - { host: ${REGISTRY}, tasks: { subscriptionId: ${SUBSCRIPTION}, resourceGroup: ${RESOURCE_GROUP}, registryName: ${REGISTRY_NAME}, identity: { clientId: ${CLIENT_ID}, resourceId: '${IDENTITY_ID}' } } }
  - { host: sharedbase.azurecr.io }
  - { host: teambase.azurecr.io }
  - { host: 127.0.0.1:5000, kind: distribution }
bases:
  - { image: docker.io/library/alpine, tags: ["3.*"] }
upstream:
  registries:
    - { host: docker.io, credentials: { usernameSetting: HUB_USER, passwordSetting: HUB_PASSWORD } }
`;
const ENV = { HUB_USER: "contoso", HUB_PASSWORD: `@Microsoft.KeyVault(SecretUri=${HUB_PASSWORD_URI})` };
const config = parseConfig(CONFIG);
const building = config.registries[0] as RegistryConfig;
/** What the building registry's source builds send: the other ACRs by identity, the upstream by Key Vault reference. */
const CUSTOM_REGISTRIES = {
  "sharedbase.azurecr.io": { identity: CLIENT_ID },
  "teambase.azurecr.io": { identity: CLIENT_ID },
  // A task run carries only the build identity: the Key Vault reference is resolved with it, not `system`.
  "docker.io": { userName: { type: "Opaque", value: "contoso" }, password: { type: "Vaultsecret", value: HUB_PASSWORD_URI }, identity: CLIENT_ID },
};
const IDENTITIES: readonly UserIdentityFixture[] = [
  { resourceId: IDENTITY_ID, clientId: CLIENT_ID },
  { resourceId: OTHER_IDENTITY_ID, clientId: OTHER_CLIENT_ID, assignable: false },
];
const QUEUED: BuildRun = { runId: "cb1", status: "queued", logsUrl: null, startedAt: null, finishedAt: null, reason: null };

let tls: StackTls;
let agent: Agent;
let arm: ArmContractServer;

useContractTls("ripple-acr-identity-pull-", (scratch) => ({ tls, agent } = scratch));

beforeEach(async () => {
  arm = await startArmContractServer({ tls, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, token: ARM_TOKEN, identities: IDENTITIES });
});

afterEach(async () => {
  await arm.stop();
});

function sourceRequest(recipe: Partial<Extract<BuildRecipe, { kind: "source" }>> = {}, request: Partial<BuildRequest> = {}): BuildRequest {
  return {
    image: `${REGISTRY}/team/api:1.0`,
    registry: REGISTRY,
    recipe: { kind: "source", repository: PUBLIC_URL, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms: ["linux/amd64"], ...recipe },
    base: BASE,
    idempotencyKey: KEY,
    ...request,
  };
}

/** A builder for the configured registry, as the composition root makes it (identity and credentials from the configuration). */
function createBuilder(options: Partial<AcrTasksBuilderOptions> = {}): ImageBuilder {
  const credential: TokenCredential = { getToken: () => Promise.resolve({ token: ARM_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const client = new ContainerRegistryManagementClient(credential, SUBSCRIPTION, { endpoint: arm.url, agent, retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 } });
  return createAcrTasksBuilder({
    client,
    ...building.tasks!,
    pollIntervalMs: 10,
    customRegistries: customRegistriesFor(config, ENV, building),
    manifests: {} as ManifestStore,
    ...options,
  });
}

const armCall = (method: string, route: ArmRequest["route"], path: string, body: unknown = null): ArmRequest => ({
  method,
  route,
  path,
  apiVersion: ARM_TASKS_API_VERSION,
  authorization: `Bearer ${ARM_TOKEN}`,
  body,
});

function runRequestBody(platform: Record<string, string>, imageNames: string[]): Record<string, unknown> {
  return {
    type: "DockerBuildRequest",
    sourceLocation: `${PUBLIC_URL}#main`,
    dockerFilePath: "Dockerfile",
    imageNames,
    isPushEnabled: true,
    platform,
    arguments: [
      { name: "RIPPLE_BASE_IMAGE", value: BASE.key, isSecret: false },
      { name: "RIPPLE_BASE_DIGEST", value: BASE.digest, isSecret: false },
    ],
    timeout: 3600,
    credentials: { customRegistries: CUSTOM_REGISTRIES },
  };
}

function taskRunBody(runRequest: Record<string, unknown>, forceUpdateTag?: string): Record<string, unknown> {
  return {
    identity: { type: "UserAssigned", userAssignedIdentities: { [IDENTITY_ID]: {} } },
    location: "westeurope",
    properties: { runRequest, ...(forceUpdateTag === undefined ? {} : { forceUpdateTag }) },
  };
}

const AMD64 = { os: "linux", architecture: "amd64" };
const OPERATION_PATH = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationStatuses/op-taskrun-cb1`;
const taskRunPath = (name: string): string => `${REGISTRY_PATH}/taskRuns/${name}`;
const routes = (): Array<ArmRequest["route"]> => arm.requests.map((request) => request.route);
const puts = (): ArmRequest[] => arm.requests.filter((request) => request.route === "createTaskRun");

describe("a source build with the registry's build identity", () => {
  it("creates a task run carrying the identity, logging in to every other ACR with its client id", async () => {
    const name = taskRunName(KEY, AMD64);
    const builder = createBuilder();
    expect(await builder.start(sourceRequest())).toEqual(QUEUED);

    expect(arm.requests).toEqual([
      armCall("GET", "getTaskRun", taskRunPath(name)),
      // The task run names the registry's region, read once per builder.
      { ...armCall("GET", "getRegistry", REGISTRY_PATH), apiVersion: ARM_IMPORT_API_VERSION },
      armCall("PUT", "createTaskRun", taskRunPath(name), taskRunBody(runRequestBody(AMD64, ["team/api:1.0"]))),
      // 201 Creating with Azure-AsyncOperation: the operation is polled (InProgress, Succeeded), then the task run read.
      armCall("GET", "operationStatus", OPERATION_PATH),
      armCall("GET", "operationStatus", OPERATION_PATH),
      armCall("GET", "getTaskRun", taskRunPath(name)),
    ]);
    // The run is then followed as any other.
    expect(await builder.get("cb1")).toEqual({ ...QUEUED, runId: "cb1" });
    expect(arm.requests.at(-1)).toEqual(armCall("GET", "getRun", `${REGISTRY_PATH}/runs/cb1`));
  });

  it("puts no secret or token in what it sends: identities and Key Vault references only", async () => {
    await createBuilder().start(sourceRequest());
    const bodies = JSON.stringify(arm.requests.map((request) => request.body));
    expect(bodies).not.toContain(ARM_TOKEN);
    expect(bodies).not.toContain('"Opaque","value":"@');
    expect(puts().map((request) => (request.body as { properties: { runRequest: { credentials: unknown } } }).properties.runRequest.credentials)).toEqual([
      { customRegistries: CUSTOM_REGISTRIES },
    ]);
  });

  it("resolves a lost answer by the task run's name, starting one run", async () => {
    // Both the PUT and the SDK's one retry lose their answers after ARM acted.
    arm.loseAnswers("createTaskRun", 2);
    expect(await createBuilder().start(sourceRequest())).toEqual(QUEUED);
    expect(arm.runIds()).toEqual(["cb1"]);
    expect(routes()).toEqual(["getTaskRun", "getRegistry", "createTaskRun", "createTaskRun", "getTaskRun"]);
    expect(arm.faultsLeft()).toBe(0);
  });

  it("adopts the run of the same request's task run on a second start", async () => {
    const first = await createBuilder().start(sourceRequest());
    const sent = arm.requests.length;
    expect(await createBuilder().start(sourceRequest())).toEqual(first);
    expect(arm.runIds()).toEqual(["cb1"]);
    expect(arm.requests.slice(sent).map((request) => request.route)).toEqual(["getTaskRun"]);
  });

  it("runs a failed build again under the same name, tagged with the run it replaces", async () => {
    arm.scheduleNext({ mode: "sync", states: [{ status: "Failed", runErrorMessage: "pull access denied" }] });
    await createBuilder().start(sourceRequest());
    const again = await createBuilder().start(sourceRequest());
    expect(again).toEqual({ ...QUEUED, runId: "cb2" });
    expect(arm.runIds()).toEqual(["cb1", "cb2"]);
    expect(puts().map((request) => request.body)).toEqual([taskRunBody(runRequestBody(AMD64, ["team/api:1.0"])), taskRunBody(runRequestBody(AMD64, ["team/api:1.0"]), "rerun-cb1")]);
  });

  it("does not adopt another request's run, known to Ripple", async () => {
    await createBuilder().start(sourceRequest());
    expect(await createBuilder().start(sourceRequest({}, { knownRunIds: ["cb1"] }))).toEqual({ ...QUEUED, runId: "cb2" });
  });

  it("creates one task run per platform of a multi-platform rebuild, each adopted again on a second start", async () => {
    const request = sourceRequest({ platforms: ["linux/amd64", "linux/arm64/v8"] });
    const run = await createBuilder().start(request);
    expect(run.runId).toBe("cb1+cb2");
    const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };
    expect(puts().map((put) => ({ path: put.path, body: put.body }))).toEqual([
      { path: taskRunPath(taskRunName(KEY, AMD64)), body: taskRunBody(runRequestBody(AMD64, [`team/api:${platformTag(KEY, "linux/amd64")}`])) },
      { path: taskRunPath(taskRunName(KEY, arm64)), body: taskRunBody(runRequestBody(arm64, [`team/api:${platformTag(KEY, "linux/arm64/v8")}`])) },
    ]);
    expect((await createBuilder().start(request)).runId).toBe("cb1+cb2");
    expect(arm.runIds()).toEqual(["cb1", "cb2"]);
  });

  it("keeps task recipes on scheduleRun", async () => {
    await arm.stop();
    arm = await startArmContractServer({ tls, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, token: ARM_TOKEN, identities: IDENTITIES, tasks: ["rebuild"] });
    await createBuilder().start({ ...sourceRequest(), recipe: { kind: "task", task: "rebuild" } });
    expect(routes()).toEqual(["scheduleRun"]);
  });
});

describe("what ARM refuses of a task run", () => {
  it("refuses an identity Ripple may not assign, starting nothing", async () => {
    const error = await rejection(createBuilder({ identity: { clientId: OTHER_CLIENT_ID, resourceId: OTHER_IDENTITY_ID }, customRegistries: { "sharedbase.azurecr.io": { identity: OTHER_CLIENT_ID } } }).start(sourceRequest()));
    expect(error).toMatchObject({ code: "upstream_failed", retryable: false, details: { service: "acr-tasks", status: 403 } });
    expect(arm.runIds()).toEqual([]);
  });

  it("refuses a login with the client id of an identity the task run does not carry", async () => {
    const error = await rejection(createBuilder({ customRegistries: { "sharedbase.azurecr.io": { identity: OTHER_CLIENT_ID } } }).start(sourceRequest()));
    expect(error).toMatchObject({ code: "upstream_failed", retryable: false, details: { service: "acr-tasks", status: 400 } });
    expect(arm.runIds()).toEqual([]);
  });

  it("refuses a task run without api-version", async () => {
    const response = await fetchWithoutApiVersion(taskRunPath(taskRunName(KEY, AMD64)));
    expect(response).toEqual({ status: 400, code: "MissingApiVersionParameter" });
  });
});

describe("task run names", () => {
  it.each([
    ["a long key", `${"registry.example/".repeat(20)}image:tag@sha256:${"f".repeat(64)}`, AMD64],
    ["a platform with a variant", KEY, { os: "linux", architecture: "arm", variant: "v7" }],
  ])("are valid ARM names for %s", (_, key, platform) => {
    expect(taskRunName(key, platform)).toMatch(TASK_RUN_NAME);
  });

  it("differ by request and platform, and not by case of the platform", () => {
    const names = [taskRunName(KEY, AMD64), taskRunName(`${KEY}x`, AMD64), taskRunName(KEY, { os: "linux", architecture: "arm64" })];
    expect(new Set(names).size).toBe(3);
    expect(taskRunName(KEY, { os: "Linux", architecture: "AMD64" })).toBe(names[0]);
  });
});

async function fetchWithoutApiVersion(path: string): Promise<{ status: number; code: string }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(`${arm.url}${path}`, { method: "PUT", agent, headers: { authorization: `Bearer ${ARM_TOKEN}`, "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(taskRunBody(runRequestBody(AMD64, ["team/api:1.0"]))));
  });
}
