import { useContractTls } from "./helpers/contract-tls.js";
import { Agent } from "node:https";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { EventGridManagementClient } from "@azure/arm-eventgrid";
import type { TokenCredential } from "@azure/identity";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createArmDeploymentCheck, createCredentialIdentity } from "../../shared/adapters/arm-deployment/arm-deployment-check.js";
import { parseConfig } from "../../shared/config.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { DeploymentCheck } from "../../shared/ports/deployment-check.js";
import { runDoctor, type DoctorCheck } from "../../shared/use-cases/doctor.js";
import { createMemoryStateStore } from "../doubles/memory-state-store.js";
import {
  ARM_EVENTGRID_API_VERSION,
  ARM_PERMISSIONS_API_VERSION,
  startArmContractServer,
  type ArmContractServer,
  type ArmRequest,
  type EventSubscriptionFixture,
} from "./helpers/arm-contract-server.js";
import { rejection } from "./helpers/rejection.js";

const SUBSCRIPTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const RESOURCE_GROUP = "rg-ripple";
const REGISTRY_NAME = "rippleacr";
const REGISTRY = "rippleacr.azurecr.io";
const TOKEN = "test-token";
const SITE = "func-ripple-abc123";
const RG_PATH = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}`;
const REGISTRY_ID = `${RG_PATH}/providers/Microsoft.ContainerRegistry/registries/${REGISTRY_NAME}`;
const APP_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-app/providers/Microsoft.Web/sites/${SITE}`;
const RESOURCE = { subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME };

/** The actions of the built-in Container Registry Tasks Contributor role. */
const TASKS_CONTRIBUTOR = [
  "Microsoft.ContainerRegistry/registries/read",
  "Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action",
  "Microsoft.ContainerRegistry/registries/scheduleRun/action",
  "Microsoft.ContainerRegistry/registries/runs/*",
  "Microsoft.ContainerRegistry/registries/tasks/*",
  // "Manage ACR tasks, task runs, …" (Container Registry roles reference).
  "Microsoft.ContainerRegistry/registries/taskruns/*",
];

const TASKS_FIX = `grant the app's identity Container Registry Tasks Contributor on registry ${REGISTRY_NAME} (infra/modules/registry.bicep), and Reader on resource group ${RESOURCE_GROUP} so the doctor can read them`;
const IMPORT_FIX = `grant the app's identity Container Registry Tasks Contributor and Container Registry Data Importer and Data Reader on registry ${REGISTRY_NAME} (infra/modules/registry.bicep), and Reader on resource group ${RESOURCE_GROUP} so the doctor can read them`;
const EVENT_FIX = `deploy the event subscription (infra: azd deploy, then azd provision, creates ripple-registry-events on the registry's system topic → ${SITE}/registryEventGrid); the doctor reads it with Reader on resource group ${RESOURCE_GROUP}; a system topic reused from another resource group is named by RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP`;
const ROLE_CHECK = `registry ${REGISTRY}: ARM permissions for ACR Tasks`;
const EVENT_CHECK = `registry ${REGISTRY}: Event Grid delivers ImagePushed to registryEventGrid`;

const TASKS_REGISTRY = `registries: [{host: ${REGISTRY}, tasks: {subscriptionId: ${SUBSCRIPTION}, resourceGroup: ${RESOURCE_GROUP}, registryName: ${REGISTRY_NAME}}}]\n`;
const IDENTITY_REGISTRY = `registries: [{host: ${REGISTRY}, tasks: {subscriptionId: ${SUBSCRIPTION}, resourceGroup: ${RESOURCE_GROUP}, registryName: ${REGISTRY_NAME}, identity: {clientId: 6b1f0a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b, resourceId: /subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-builds}}}]\n`;
const MIRROR_BASE = `bases: [{image: docker.io/library/alpine, tags: ['3.20'], mirror: ${REGISTRY}/mirror/alpine}]\n`;

const toFunction = (resourceId: string): EventSubscriptionFixture["destination"] => ({ endpointType: "AzureFunction", properties: { resourceId, maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64 } });
const ripple: EventSubscriptionFixture = {
  name: "ripple-registry-events",
  destination: toFunction(`${APP_ID}/functions/registryEventGrid`),
  includedEventTypes: ["Microsoft.ContainerRegistry.ImagePushed", "Microsoft.ContainerRegistry.ImageDeleted"],
};

let tls: StackTls;
let agent: Agent;
let server: ArmContractServer;
let check: DeploymentCheck;

function clientsFor(subscriptionId: string) {
  const credential: TokenCredential = { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const options = { endpoint: server.url, agent, retryOptions: { maxRetries: 0 } };
  return { authorization: new AuthorizationManagementClient(credential, subscriptionId, options), eventGrid: new EventGridManagementClient(credential, subscriptionId, options) };
}

/** The doctor's ARM lines for `config`, run through the real adapter (the topic looked for in `topicResourceGroup` when given). */
async function armChecks(config: string, topicResourceGroup: string | null = null): Promise<DoctorCheck[]> {
  const checks = await runDoctor({
    config: parseConfig(`version: 1\n${config}`),
    store: createMemoryStateStore(),
    registryFor: () => null,
    upstreamFor: () => null,
    forgeFor: () => null,
    listRepositories: async () => [],
    diagnostics: {
      queueDepths: { depth: async (queue) => ({ queueName: `ripple-${queue}`, messages: 0, poisonMessages: null }) },
      identity: { acquireToken: async () => undefined },
      storageUsesIdentity: false,
      deploymentCheck: check,
      functionApp: { name: SITE, hostName: `${SITE}.azurewebsites.net` },
      eventGridTopicResourceGroup: topicResourceGroup,
      gitHubPermissions: null,
    },
  });
  return checks.filter((entry) => entry.check === ROLE_CHECK || entry.check.startsWith(`${ROLE_CHECK} `) || entry.check === EVENT_CHECK);
}

const passed = (name: string, detail: string): DoctorCheck => ({ check: name, ok: true, detail, fix: null });
const failed = (name: string, detail: string, fix: string): DoctorCheck => ({ check: name, ok: false, detail, fix });
const get = (route: ArmRequest["route"], path: string, apiVersion: string): Omit<ArmRequest, "body"> => ({ method: "GET", route, path, apiVersion, authorization: `Bearer ${TOKEN}` });

useContractTls("ripple-arm-deployment-contract-", (scratch) => ({ tls, agent } = scratch), { keepAlive: false });

beforeEach(async () => {
  server = await startArmContractServer({ tls, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, token: TOKEN, pageSize: 2 });
  check = createArmDeploymentCheck({ clientsFor });
});

afterEach(async () => {
  await server.stop();
});

describe("effective actions on the registry (Permissions - List For Resource)", () => {
  it("reads every page of the caller's permissions, authenticated, on the documented path and api-version", async () => {
    server.setPermissions([{ actions: ["Microsoft.ContainerRegistry/registries/pull/read"] }, { actions: TASKS_CONTRIBUTOR }, { actions: ["*"], notActions: ["Microsoft.Authorization/*/Write"] }]);
    const grants = await check.effectiveActions(RESOURCE);
    // The documented path spells `resourcegroups` in lower case (ARM compares case-insensitively).
    const path = `/subscriptions/${SUBSCRIPTION}/resourcegroups/${RESOURCE_GROUP}/providers/Microsoft.ContainerRegistry/registries/${REGISTRY_NAME}/providers/Microsoft.Authorization/permissions`;
    expect({ grants, requests: server.requests.map(({ body: _body, ...request }) => request) }).toEqual({
      grants: [
        { actions: ["Microsoft.ContainerRegistry/registries/pull/read"], notActions: [] },
        { actions: TASKS_CONTRIBUTOR, notActions: [] },
        { actions: ["*"], notActions: ["Microsoft.Authorization/*/Write"] },
      ],
      requests: [get("permissions", path, ARM_PERMISSIONS_API_VERSION), get("permissions", path, ARM_PERMISSIONS_API_VERSION)],
    });
  });

  it.each([
    ["Container Registry Tasks Contributor", [{ actions: TASKS_CONTRIBUTOR }], "", passed(ROLE_CHECK, "4 action(s) granted")],
    ["AcrPull only", [{ actions: ["Microsoft.ContainerRegistry/registries/pull/read"] }], "", failed(ROLE_CHECK, "missing Microsoft.ContainerRegistry/registries/scheduleRun/action, Microsoft.ContainerRegistry/registries/runs/read, Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action, Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action", TASKS_FIX)],
    ["Tasks Contributor without import, with a mirror", [{ actions: TASKS_CONTRIBUTOR }], MIRROR_BASE, failed(`${ROLE_CHECK} and import`, "missing Microsoft.ContainerRegistry/registries/importImage/action", IMPORT_FIX)],
    ["Tasks Contributor, with a build identity (task runs)", [{ actions: TASKS_CONTRIBUTOR }], "", passed(ROLE_CHECK, "7 action(s) granted"), IDENTITY_REGISTRY],
    ["runs only, with a build identity", [{ actions: TASKS_CONTRIBUTOR.filter((action) => !action.includes("taskruns")) }], "", failed(ROLE_CHECK, "missing Microsoft.ContainerRegistry/registries/taskruns/write, Microsoft.ContainerRegistry/registries/taskruns/read", TASKS_FIX), IDENTITY_REGISTRY],
    ["a provider wildcard, in another case", [{ actions: ["microsoft.containerregistry/*"] }], MIRROR_BASE, passed(`${ROLE_CHECK} and import`, "5 action(s) granted")],
    ["Contributor's * less its notActions", [{ actions: ["*"], notActions: ["Microsoft.ContainerRegistry/registries/runs/*", "Microsoft.Authorization/*/Delete"] }], "", failed(ROLE_CHECK, "missing Microsoft.ContainerRegistry/registries/runs/read, Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action", TASKS_FIX)],
    ["one role's notActions, granted by another role", [{ actions: ["*"], notActions: ["Microsoft.ContainerRegistry/registries/runs/*"] }, { actions: ["Microsoft.ContainerRegistry/registries/runs/*"] }], "", passed(ROLE_CHECK, "4 action(s) granted")],
  ])("checks the needed actions: %s", async (_label, permissions, bases, expected, registries = TASKS_REGISTRY) => {
    server.setPermissions(permissions);
    expect((await armChecks(`${registries}${bases}`))[0]).toEqual(expected);
  });

  it("answers a 403 as a failed check with its fix, not a crash", async () => {
    server.fail("permissions", 403, Infinity);
    server.fail("systemTopics", 403, Infinity);
    expect(await armChecks(TASKS_REGISTRY)).toEqual([
      failed(ROLE_CHECK, `arm: listing the app's permissions on registry ${REGISTRY_NAME} failed with HTTP 403 (AuthorizationFailed)`, TASKS_FIX),
      failed(EVENT_CHECK, `arm: listing Event Grid system topics of resource group ${RESOURCE_GROUP} failed with HTTP 403 (AuthorizationFailed)`, EVENT_FIX),
    ]);
  });

  it("throws a non-retryable UpstreamError for a 403 and a retryable one for a 503, without the token", async () => {
    server.fail("permissions", 403, 1);
    server.fail("permissions", 503, 1);
    const upstream = (status: number, code: string, retryable: boolean) => ({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `arm: listing the app's permissions on registry ${REGISTRY_NAME} failed with HTTP ${status} (${code})`,
      retryable,
      details: { service: "arm", status },
    });
    expect([await rejection(check.effectiveActions(RESOURCE), { secret: TOKEN }), await rejection(check.effectiveActions(RESOURCE), { secret: TOKEN })]).toEqual([
      upstream(403, "AuthorizationFailed", false),
      upstream(503, "ServiceUnavailable", true),
    ]);
  });
});

describe("the registry's Event Grid subscription", () => {
  it("lists the resource group's system topics and the registry's topic's subscriptions, every page", async () => {
    const others = ["a", "b", "c"].map((name): EventSubscriptionFixture => ({ name: `other-${name}`, destination: { endpointType: "StorageQueue", properties: { queueName: name } } }));
    server.setSystemTopics([
      { name: "evgt-storage", source: `${RG_PATH}/providers/Microsoft.Storage/storageAccounts/st1`, topicType: "Microsoft.Storage.StorageAccounts", subscriptions: [] },
      { name: "evgt-other-acr", source: `${RG_PATH}/providers/Microsoft.ContainerRegistry/registries/otheracr`, subscriptions: [ripple] },
      { name: "evgt-ripple", source: REGISTRY_ID.toLowerCase(), subscriptions: [...others, ripple] },
    ]);
    const topics = await check.eventSubscriptions(RESOURCE);
    const topicsPath = `${RG_PATH}/providers/Microsoft.EventGrid/systemTopics`;
    const subscriptionsPath = `${topicsPath}/evgt-ripple/eventSubscriptions`;
    expect({ topics, requests: server.requests.map(({ body: _body, ...request }) => request) }).toEqual({
      topics: [{
        name: "evgt-ripple",
        subscriptions: [
          ...others.map((other) => ({ name: other.name, eventTypes: null, destination: { kind: "other", endpointType: "StorageQueue" } })),
          { name: "ripple-registry-events", eventTypes: ["Microsoft.ContainerRegistry.ImagePushed", "Microsoft.ContainerRegistry.ImageDeleted"], destination: { kind: "azure-function", resourceId: `${APP_ID}/functions/registryEventGrid` } },
        ],
      }],
      requests: [
        get("systemTopics", topicsPath, ARM_EVENTGRID_API_VERSION),
        get("systemTopics", topicsPath, ARM_EVENTGRID_API_VERSION),
        get("eventSubscriptions", subscriptionsPath, ARM_EVENTGRID_API_VERSION),
        get("eventSubscriptions", subscriptionsPath, ARM_EVENTGRID_API_VERSION),
      ],
    });
  });

  const webhook = (url: string): EventSubscriptionFixture => ({ name: "hook", destination: { endpointType: "WebHook", properties: { endpointBaseUrl: url, maxEventsPerBatch: 1 } } });
  const ourTopic = (...subscriptions: EventSubscriptionFixture[]) => [{ name: "evgt-ripple", source: REGISTRY_ID, subscriptions }];

  it.each([
    ["Ripple's subscription (infra)", ourTopic(ripple), passed(EVENT_CHECK, "evgt-ripple/ripple-registry-events")],
    ["all event types to the function", ourTopic({ ...ripple, name: "all", includedEventTypes: undefined }), passed(EVENT_CHECK, "evgt-ripple/all")],
    ["a webhook to the app's Event Grid endpoint", ourTopic(webhook(`https://${SITE}.azurewebsites.net/runtime/webhooks/EventGrid`)), passed(EVENT_CHECK, "evgt-ripple/hook")],
    ["a webhook to the app's registry webhook (Entra-authenticated delivery)", ourTopic(webhook(`https://${SITE}.azurewebsites.net/api/registry/events`)), passed(EVENT_CHECK, "evgt-ripple/hook")],
    ["a webhook to another path of the app", ourTopic(webhook(`https://${SITE}.azurewebsites.net/api/github/events`)), failed(EVENT_CHECK, `no subscription delivers Microsoft.ContainerRegistry.ImagePushed to ${SITE}/registryEventGrid (found evgt-ripple/hook → https://${SITE}.azurewebsites.net/api/github/events)`, EVENT_FIX)],
    ["no system topic on the registry", [], failed(EVENT_CHECK, `no Event Grid system topic of resource group ${RESOURCE_GROUP} has registry ${REGISTRY_NAME} as its source`, EVENT_FIX)],
    ["a topic without subscriptions", ourTopic(), failed(EVENT_CHECK, `no subscription delivers Microsoft.ContainerRegistry.ImagePushed to ${SITE}/registryEventGrid`, EVENT_FIX)],
    ["another app's function", ourTopic({ ...ripple, destination: toFunction("/subscriptions/x/resourceGroups/y/providers/Microsoft.Web/sites/func-other/functions/registryEventGrid") }), failed(EVENT_CHECK, `no subscription delivers Microsoft.ContainerRegistry.ImagePushed to ${SITE}/registryEventGrid (found evgt-ripple/ripple-registry-events → /subscriptions/x/resourceGroups/y/providers/Microsoft.Web/sites/func-other/functions/registryEventGrid)`, EVENT_FIX)],
    ["only ImageDeleted", ourTopic({ ...ripple, includedEventTypes: ["Microsoft.ContainerRegistry.ImageDeleted"] }), failed(EVENT_CHECK, `no subscription delivers Microsoft.ContainerRegistry.ImagePushed to ${SITE}/registryEventGrid (found evgt-ripple/ripple-registry-events → ${APP_ID}/functions/registryEventGrid)`, EVENT_FIX)],
    ["a webhook elsewhere", ourTopic(webhook("https://hooks.example.com/acr")), failed(EVENT_CHECK, `no subscription delivers Microsoft.ContainerRegistry.ImagePushed to ${SITE}/registryEventGrid (found evgt-ripple/hook → https://hooks.example.com/acr)`, EVENT_FIX)],
  ])("%s", async (_label, topics, expected) => {
    server.setPermissions([{ actions: TASKS_CONTRIBUTOR }]);
    server.setSystemTopics(topics);
    expect(await armChecks(TASKS_REGISTRY)).toEqual([passed(ROLE_CHECK, "4 action(s) granted"), expected]);
  });
});

describe("a system topic reused from another resource group", () => {
  const shared = { name: "evgt-shared", resourceGroup: "rg-events", source: REGISTRY_ID, subscriptions: [ripple] };

  it("is found in the resource group RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP names, on that group's paths", async () => {
    server.setPermissions([{ actions: TASKS_CONTRIBUTOR }]);
    server.setSystemTopics([shared]);
    const topicsPath = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-events/providers/Microsoft.EventGrid/systemTopics`;
    expect(await armChecks(TASKS_REGISTRY, "rg-events")).toEqual([passed(ROLE_CHECK, "4 action(s) granted"), passed(EVENT_CHECK, "evgt-shared/ripple-registry-events")]);
    expect(server.requests.filter((request) => request.route !== "permissions").map(({ body: _body, ...request }) => request)).toEqual([
      get("systemTopics", topicsPath, ARM_EVENTGRID_API_VERSION),
      get("eventSubscriptions", `${topicsPath}/evgt-shared/eventSubscriptions`, ARM_EVENTGRID_API_VERSION),
    ]);
  });

  it("is not found in the registry's own resource group, and the fix says how to name the other", async () => {
    server.setPermissions([{ actions: TASKS_CONTRIBUTOR }]);
    server.setSystemTopics([shared]);
    expect(await armChecks(TASKS_REGISTRY)).toEqual([
      passed(ROLE_CHECK, "4 action(s) granted"),
      failed(EVENT_CHECK, `no Event Grid system topic of resource group ${RESOURCE_GROUP} has registry ${REGISTRY_NAME} as its source`, EVENT_FIX),
    ]);
  });
});

describe("the app's credential", () => {
  const failing = (error: Error): TokenCredential => ({ getToken: () => Promise.reject(error) });
  const named = (name: string, statusCode?: number): Error => Object.assign(new Error(`secret ${TOKEN} in a message`), { name, ...(statusCode === undefined ? {} : { statusCode }) });

  it("gets a token for the scope it is asked for", async () => {
    const scopes: Array<string | string[]> = [];
    const credential: TokenCredential = { getToken: async (scope) => (scopes.push(scope), { token: TOKEN, expiresOnTimestamp: Date.now() + 60_000 }) };
    await createCredentialIdentity(credential).acquireToken("https://management.azure.com/.default");
    expect(scopes).toEqual(["https://management.azure.com/.default"]);
  });

  it.each([
    ["no managed identity endpoint", named("CredentialUnavailableError"), "CredentialUnavailableError", null, true],
    ["the token service refusing the identity", named("AuthenticationError", 400), "AuthenticationError (HTTP 400)", 400, false],
    ["the token service failing", named("AuthenticationError", 503), "AuthenticationError (HTTP 503)", 503, true],
  ])("names %s by the error's name and status only", async (_label, error, what, status, retryable) => {
    expect(await rejection(createCredentialIdentity(failing(error)).acquireToken("https://storage.azure.com/.default"), { secret: TOKEN })).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `identity: getting a token for https://storage.azure.com/.default failed: ${what}`,
      retryable,
      details: { service: "identity", status },
    });
  });
});
