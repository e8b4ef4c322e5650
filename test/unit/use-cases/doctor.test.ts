import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { UpstreamError } from "../../../shared/errors.js";
import type { DeploymentCheck } from "../../../shared/ports/deployment-check.js";
import type { ImageRegistry } from "../../../shared/ports/image-registry.js";
import { QUEUE_NAMES, type QueueDepths } from "../../../shared/ports/work-queue.js";
import { missingActions, runDoctor, type DoctorProbes } from "../../../shared/use-cases/doctor.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";

const QUEUE_FIX = "grant the app's identity Storage Queue Data Contributor on the account; check AzureWebJobsStorage__queueServiceUri (or __accountName) and RIPPLE_QUEUE_PREFIX";
const IDENTITY_FIX = "turn on the function app's system-assigned identity, or for a user-assigned one set AzureWebJobsStorage__clientId to its client id; off Azure, sign in (az login) or set AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret";
const STORAGE = { check: "state storage reachable with the app's identity (tables)", ok: true, detail: "0 campaign(s)", fix: null };

/** Depths of an account where `rebuild` has a backlog and poisoned messages, and `scans` was never used. */
const depths: QueueDepths = {
  depth: async (queue) => ({ queueName: `ripple-${queue}`, messages: queue === "scans" ? null : queue === "rebuild" ? 3 : 0, poisonMessages: queue === "rebuild" ? 2 : null }),
};

/** One line per work queue, whatever the port lists; `rebuild` and `scans` show a backlog and a missing queue. */
const SPECIAL_QUEUE_DETAILS: Partial<Record<string, string>> = {
  rebuild: "ripple-rebuild: 3 message(s), 2 in ripple-rebuild-poison",
  scans: "ripple-scans: not created yet (created on first use), 0 in ripple-scans-poison",
};
const queueLines = QUEUE_NAMES.map((queue) => ({
  check: `queue ${queue}: reachable`,
  ok: true,
  detail: SPECIAL_QUEUE_DETAILS[queue] ?? `ripple-${queue}: 0 message(s), 0 in ripple-${queue}-poison`,
  fix: null,
}));

function probes(overrides: Partial<DoctorProbes> = {}): DoctorProbes {
  return { queueDepths: depths, identity: { acquireToken: async () => undefined }, storageUsesIdentity: false, deploymentCheck: null, functionApp: null, eventGridTopicResourceGroup: null, gitHubPermissions: null, ...overrides };
}

describe("runDoctor", () => {
  it("reports each unreachable thing with its fix, and never throws; without tasks, no identity or ARM check", async () => {
    const config = parseConfig("version: 1\nregistries: [{host: contoso.azurecr.io}]\nbases: [{image: contoso.azurecr.io/base, tags: ['1']}]\nrepositories: [{url: contoso/deploy}]\n");
    const denied: ImageRegistry = {
      host: "contoso.azurecr.io",
      readManifest: async () => null,
      listTags: async () => [],
      listRepositories: () => Promise.reject(new UpstreamError("registry", "listing repositories failed with HTTP 403", { status: 403 })),
    };
    const checks = await runDoctor({ config, store: createMemoryStateStore(), registryFor: () => denied, upstreamFor: () => null, forgeFor: () => null, listRepositories: async () => ["contoso/deploy"], diagnostics: probes() });
    expect(checks).toEqual([
      STORAGE,
      ...queueLines,
      { check: "registry contoso.azurecr.io: catalog readable", ok: false, detail: "registry: listing repositories failed with HTTP 403", fix: "grant the app's identity AcrPull (or, in ABAC mode, Container Registry Repository Reader and Catalog Lister) on the registry" },
      { check: "repositories listed for scanning (GitHub App installation when configured)", ok: false, detail: "no forge serves contoso/deploy", fix: "check RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY and the App's installation" },
    ]);
  });

  it("checks tokens, queues, ARM permissions and the Event Grid subscription of a registry with tasks", async () => {
    const config = parseConfig("version: 1\nregistries: [{host: rippleacr.azurecr.io, tasks: {subscriptionId: sub, resourceGroup: rg-acr, registryName: rippleacr}}]\n");
    const catalog: ImageRegistry = { host: "rippleacr.azurecr.io", readManifest: async () => null, listTags: async () => [], listRepositories: async () => ["app"] };
    const arm: DeploymentCheck = {
      effectiveActions: async () => [{ actions: ["Microsoft.ContainerRegistry/registries/*"], notActions: ["Microsoft.ContainerRegistry/registries/scheduleRun/action"] }],
      eventSubscriptions: async () => [],
    };
    const identity = { acquireToken: (scope: string) => (scope.startsWith("https://storage") ? Promise.resolve() : Promise.reject(new UpstreamError("identity", `getting a token for ${scope} failed: the token service refused the app's identity (HTTP 400)`, { status: 400 }))) };
    const failingQueue: QueueDepths = { depth: (queue) => (queue === "campaigns" ? Promise.reject(new UpstreamError("storage-queue", "reading properties of ripple-campaigns failed (status 403 AuthorizationPermissionMismatch)", { status: 403 })) : depths.depth(queue)) };
    const checks = await runDoctor({
      config,
      store: createMemoryStateStore(),
      registryFor: () => catalog,
      upstreamFor: () => null,
      forgeFor: () => null,
      listRepositories: async () => [],
      diagnostics: probes({ identity, storageUsesIdentity: true, queueDepths: failingQueue, deploymentCheck: arm, functionApp: { name: "func-ripple", hostName: null } }),
    });
    expect(checks).toEqual([
      { check: "identity: the app's credential gets a token for https://storage.azure.com/.default", ok: true, detail: "token issued", fix: null },
      { check: "identity: the app's credential gets a token for https://management.azure.com/.default", ok: false, detail: "identity: getting a token for https://management.azure.com/.default failed: the token service refused the app's identity (HTTP 400)", fix: IDENTITY_FIX },
      STORAGE,
      ...queueLines.map((line) => (line.check === "queue campaigns: reachable"
        ? { check: "queue campaigns: reachable", ok: false, detail: "storage-queue: reading properties of ripple-campaigns failed (status 403 AuthorizationPermissionMismatch)", fix: QUEUE_FIX }
        : line)),
      { check: "registry rippleacr.azurecr.io: catalog readable", ok: true, detail: "1 repositor(ies)", fix: null },
      {
        check: "registry rippleacr.azurecr.io: ARM permissions for ACR Tasks",
        ok: false,
        detail: "missing Microsoft.ContainerRegistry/registries/scheduleRun/action",
        fix: "grant the app's identity Container Registry Tasks Contributor on registry rippleacr (infra/modules/registry.bicep), and Reader on resource group rg-acr so the doctor can read them",
      },
      {
        check: "registry rippleacr.azurecr.io: Event Grid delivers ImagePushed to registryEventGrid",
        ok: false,
        detail: "no Event Grid system topic of resource group rg-acr has registry rippleacr as its source",
        fix: "deploy the event subscription (infra: azd deploy, then azd provision, creates ripple-registry-events on the registry's system topic → func-ripple/registryEventGrid); the doctor reads it with Reader on resource group rg-acr; a system topic reused from another resource group is named by RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP",
      },
      { check: "repositories listed for scanning (GitHub App installation when configured)", ok: true, detail: "0 repositor(ies)", fix: null },
    ]);
  });

  it("names the missing app setting when the function app's name is unknown", async () => {
    const config = parseConfig("version: 1\nregistries: [{host: rippleacr.azurecr.io, tasks: {subscriptionId: sub, resourceGroup: rg-acr, registryName: rippleacr}}]\n");
    const arm: DeploymentCheck = { effectiveActions: async () => [], eventSubscriptions: () => Promise.reject(new Error("not called")) };
    const checks = await runDoctor({ config, store: createMemoryStateStore(), registryFor: () => null, upstreamFor: () => null, forgeFor: () => null, listRepositories: async () => [], diagnostics: probes({ deploymentCheck: arm }) });
    expect(checks.filter((check) => check.check.includes("Event Grid"))).toEqual([
      {
        check: "registry rippleacr.azurecr.io: Event Grid delivers ImagePushed to registryEventGrid",
        ok: false,
        detail: "the function app's name is unknown (WEBSITE_SITE_NAME is not set)",
        fix: "run the doctor in the function app (Azure sets WEBSITE_SITE_NAME) or set WEBSITE_SITE_NAME to the function app's name",
      },
    ]);
  });
});

describe("the GitHub App installation's permissions", () => {
  const GITHUB_FIX_BASE = "in the GitHub App's settings grant metadata: read, contents: write, pull_requests: write";
  const withSinks = "version: 1\nregistries: [{host: contoso.azurecr.io}]\nrepositories: [{url: contoso/deploy}]\nalerts: {sinks: [{id: issues, kind: github-issue, repository: contoso/oncall}]}\n";
  const plain = "version: 1\nregistries: [{host: contoso.azurecr.io}]\nrepositories: [{url: contoso/deploy}]\n";

  async function permissionLine(config: string, granted: Record<string, string> | Error | null): Promise<unknown[]> {
    const gitHubPermissions = granted === null ? null : async () => {
      if (granted instanceof Error) throw granted;
      return granted;
    };
    const checks = await runDoctor({ config: parseConfig(config), store: createMemoryStateStore(), registryFor: () => null, upstreamFor: () => null, forgeFor: () => null, listRepositories: async () => [], diagnostics: probes({ gitHubPermissions }) });
    return checks.filter((check) => check.check.startsWith("GitHub App"));
  }

  it.each([
    ["enough, with workflows", plain, { metadata: "read", contents: "write", pull_requests: "write", workflows: "write" }, true, "metadata: read, contents: write, pull_requests: write; workflows: write (workflow files are bumped too)"],
    ["enough, admin counting as write, without workflows", plain, { metadata: "read", contents: "admin", pull_requests: "write" }, true, "metadata: read, contents: admin, pull_requests: write; no workflows: write (pins in workflow files are skipped, each with that reason)"],
    ["contents read only", plain, { metadata: "read", contents: "read", pull_requests: "write" }, false, "missing contents: write (read files and push pin-bump branches)"],
    ["nothing granted", plain, {}, false, "missing metadata: read (list and read repositories), contents: write (read files and push pin-bump branches), pull_requests: write (open and update pull requests)"],
    ["no issues: write with a github-issue sink", withSinks, { metadata: "read", contents: "write", pull_requests: "write", issues: "read" }, false, "missing issues: write (the github-issue alert sink)"],
  ])("%s", async (_label, config, granted, ok, detail) => {
    const fix = `${GITHUB_FIX_BASE}${config === withSinks ? ", issues: write" : ""} (and workflows: write to bump pins in workflow files), then accept the new permissions in the installation`;
    expect(await permissionLine(config, granted)).toEqual([{ check: "GitHub App installation: permissions", ok, detail, fix: ok ? null : fix }]);
  });

  it("reports a failure to read them, and is left out without a GitHub App", async () => {
    expect(await permissionLine(plain, new Error("github: reading the GitHub App installation's permissions failed with HTTP 401: Bad credentials"))).toEqual([
      { check: "GitHub App installation: permissions", ok: false, detail: "github: reading the GitHub App installation's permissions failed with HTTP 401: Bad credentials", fix: expect.stringContaining("grant metadata: read") as unknown },
    ]);
    expect(await permissionLine(plain, null)).toEqual([]);
  });
});

describe("missingActions", () => {
  const needed = ["Microsoft.ContainerRegistry/registries/scheduleRun/action", "Microsoft.ContainerRegistry/registries/runs/read"];
  it.each([
    ["nothing granted", [], needed],
    ["exact actions", [{ actions: needed, notActions: [] }], []],
    ["`*`", [{ actions: ["*"], notActions: [] }], []],
    ["`*` less a wildcard notAction", [{ actions: ["*"], notActions: ["microsoft.containerregistry/registries/runs/*"] }], [needed[1]]],
    ["a notAction of one role, granted by another", [{ actions: ["*"], notActions: ["*/read"] }, { actions: ["Microsoft.ContainerRegistry/registries/runs/read"], notActions: [] }], []],
    ["a pattern that only looks alike", [{ actions: ["Microsoft.ContainerRegistry/registries/scheduleRun/actionX", "Microsoft.ContainerRegistry.registries/*"], notActions: [] }], needed],
  ])("%s", (_label, grants, expected) => {
    expect(missingActions(needed, grants)).toEqual(expected);
  });
});
