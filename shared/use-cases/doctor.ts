import type { RegistryConfig, RippleConfig } from "../config.js";
import { parseImageRef } from "../domain/image-ref.js";
import { isTagGlob } from "../domain/upstream-watch.js";
import type { ActionGrant, AppIdentity, DeploymentCheck, EventDestination, EventSubscriptionSummary, RegistryResource, RegistryTopic } from "../ports/deployment-check.js";
import type { Forge } from "../ports/forge.js";
import type { ImageRegistry } from "../ports/image-registry.js";
import type { RegistryContent } from "../ports/registry-content.js";
import type { StateStore } from "../ports/state-store.js";
import { QUEUE_NAMES, type QueueDepths } from "../ports/work-queue.js";
import { watchedBases } from "./watch-upstream.js";

/** The Entra ID scopes the app asks tokens for. */
export const STORAGE_SCOPE = "https://storage.azure.com/.default";
export const ARM_SCOPE = "https://management.azure.com/.default";
/** The Event Grid-triggered function registry events are delivered to. */
export const EVENT_GRID_FUNCTION = "registryEventGrid";
const IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed";
/** The registry webhook's path (`registryWebhook`), which Event Grid may deliver to as a WebHook. */
const REGISTRY_WEBHOOK_PATH = "/api/registry/events";

/** The ARM actions Ripple uses on a registry with `tasks` (ACR Tasks runs, their logs, source uploads). */
export const TASKS_ACTIONS = [
  "Microsoft.ContainerRegistry/registries/scheduleRun/action",
  "Microsoft.ContainerRegistry/registries/runs/read",
  "Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action",
  "Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action",
] as const;
/** The ARM actions of source builds as task runs, with a build identity (`tasks.identity`): the registry's region, the task runs. */
export const TASK_RUN_ACTIONS = [
  "Microsoft.ContainerRegistry/registries/read",
  "Microsoft.ContainerRegistry/registries/taskruns/write",
  "Microsoft.ContainerRegistry/registries/taskruns/read",
] as const;
/** The ARM action of ACR import, needed where a watched base mirrors into the registry. */
export const IMPORT_ACTION = "Microsoft.ContainerRegistry/registries/importImage/action";

/** The function app as Azure names it (`WEBSITE_SITE_NAME`, `WEBSITE_HOSTNAME`). */
export interface FunctionAppName {
  readonly name: string;
  readonly hostName: string | null;
}

/** What the doctor reads beyond the app's own ports: queue depths, tokens and ARM facts. */
export interface DoctorProbes {
  readonly queueDepths: QueueDepths;
  readonly identity: AppIdentity;
  /** Whether storage is reached with the identity (`AzureWebJobsStorage__*`), not a connection string. */
  readonly storageUsesIdentity: boolean;
  /** ARM reads; null when no registry has `tasks` (nothing of Ripple's is in ARM then). */
  readonly deploymentCheck: DeploymentCheck | null;
  /** This app, from `WEBSITE_SITE_NAME` (set by Azure); null elsewhere. */
  readonly functionApp: FunctionAppName | null;
  /**
   * The resource group of the registries' Event Grid system topic when it is not the registry's own (a
   * reused topic: `RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP`, which infra sets); null: the registry's.
   */
  readonly eventGridTopicResourceGroup: string | null;
  /** The permissions GitHub granted the App's installation (`contents: "write"`, …); null without a GitHub App. */
  readonly gitHubPermissions: (() => Promise<Readonly<Record<string, string>>>) | null;
}

export interface DoctorDeps {
  readonly config: RippleConfig;
  readonly store: StateStore;
  readonly registryFor: (host: string) => ImageRegistry | null;
  readonly upstreamFor: (host: string) => RegistryContent | null;
  readonly forgeFor: (repository: string) => Forge | null;
  readonly listRepositories: () => Promise<string[]>;
  readonly diagnostics: DoctorProbes;
}

export interface DoctorCheck {
  readonly check: string;
  readonly ok: boolean;
  /** What was seen (a count, the error's message). */
  readonly detail: string;
  /** What to do when it failed. */
  readonly fix: string | null;
}

async function probe(check: string, fix: string, action: () => Promise<string>): Promise<DoctorCheck> {
  try {
    return { check, ok: true, detail: await action(), fix: null };
  } catch (error) {
    return { check, ok: false, detail: error instanceof Error ? error.message : String(error), fix };
  }
}

/** Whether `action` matches an RBAC action pattern: case-insensitive, `*` standing for any characters. */
function matchesAction(pattern: string, action: string): boolean {
  const expression = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*");
  return new RegExp(`^${expression}$`, "i").test(action);
}

/**
 * The actions of `needed` no grant allows. A grant allows an action its `actions` match and its own
 * `notActions` do not (RBAC subtracts `notActions` per role, not across roles). Pure.
 */
export function missingActions(needed: readonly string[], grants: readonly ActionGrant[]): string[] {
  return needed.filter((action) => !grants.some((grant) =>
    grant.actions.some((pattern) => matchesAction(pattern, action)) && !grant.notActions.some((pattern) => matchesAction(pattern, action))));
}

function deliversToFunction(destination: EventDestination, app: FunctionAppName): boolean {
  const functionPath = `/providers/microsoft.web/sites/${app.name}/functions/${EVENT_GRID_FUNCTION}`.toLowerCase();
  if (destination.kind === "azure-function") return destination.resourceId.toLowerCase().endsWith(functionPath);
  if (destination.kind !== "webhook" || !URL.canParse(destination.baseUrl)) return false;
  const url = new URL(destination.baseUrl);
  const host = url.hostname.toLowerCase();
  const ofApp = host === app.hostName?.toLowerCase() || host.split(".")[0] === app.name.toLowerCase();
  // Event Grid reads back the URL without its query, so `functionName` is checked only when present.
  const named = url.searchParams.get("functionName");
  const path = url.pathname.toLowerCase();
  // The registry webhook (infra eventGridDeliveryKind=WebHook, with Entra tokens) records the same events.
  if (ofApp && path === REGISTRY_WEBHOOK_PATH) return true;
  return ofApp && path === "/runtime/webhooks/eventgrid" && (named === null || named.toLowerCase() === EVENT_GRID_FUNCTION.toLowerCase());
}

/** Whether the subscription delivers `ImagePushed` (or every type) to the app's `registryEventGrid` function. Pure. */
export function deliversImagePushed(subscription: EventSubscriptionSummary, app: FunctionAppName): boolean {
  const types = subscription.eventTypes;
  const pushed = types === null || types.some((type) => type.toLowerCase() === IMAGE_PUSHED.toLowerCase());
  return pushed && deliversToFunction(subscription.destination, app);
}

function describeDestination(destination: EventDestination): string {
  if (destination.kind === "azure-function") return destination.resourceId;
  return destination.kind === "webhook" ? destination.baseUrl : destination.endpointType;
}

function findDelivery(registry: RegistryResource, topicGroup: string, topics: readonly RegistryTopic[], app: FunctionAppName): string {
  if (topics.length === 0) throw new Error(`no Event Grid system topic of resource group ${topicGroup} has registry ${registry.registryName} as its source`);
  for (const topic of topics) {
    const found = topic.subscriptions.find((subscription) => deliversImagePushed(subscription, app));
    if (found !== undefined) return `${topic.name}/${found.name}`;
  }
  const seen = topics.flatMap((topic) => topic.subscriptions.map((subscription) => `${topic.name}/${subscription.name} → ${describeDestination(subscription.destination)}`));
  throw new Error(`no subscription delivers ${IMAGE_PUSHED} to ${app.name}/${EVENT_GRID_FUNCTION}${seen.length > 0 ? ` (found ${seen.join("; ")})` : ""}`);
}

function mirrorsInto(config: RippleConfig, host: string): boolean {
  return config.bases.some((base) => {
    const target = base.mirror === undefined ? null : parseImageRef(base.mirror, { defaultTag: false });
    return target !== null && target.ok && target.value.registry === host;
  });
}

function identityChecks(deps: DoctorDeps): Array<Promise<DoctorCheck>> {
  const { identity, storageUsesIdentity } = deps.diagnostics;
  const fix = "turn on the function app's system-assigned identity, or for a user-assigned one set AzureWebJobsStorage__clientId to its client id; off Azure, sign in (az login) or set AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret";
  const scopes = [...(storageUsesIdentity ? [STORAGE_SCOPE] : []), ...(deps.config.registries.some((registry) => registry.tasks !== undefined) ? [ARM_SCOPE] : [])];
  return scopes.map((scope) => probe(`identity: the app's credential gets a token for ${scope}`, fix, async () => {
    await identity.acquireToken(scope);
    return "token issued";
  }));
}

function queueChecks(deps: DoctorDeps): Array<Promise<DoctorCheck>> {
  const fix = "grant the app's identity Storage Queue Data Contributor on the account; check AzureWebJobsStorage__queueServiceUri (or __accountName) and RIPPLE_QUEUE_PREFIX";
  return QUEUE_NAMES.map((queue) => probe(`queue ${queue}: reachable`, fix, async () => {
    const depth = await deps.diagnostics.queueDepths.depth(queue);
    const messages = depth.messages === null ? "not created yet (created on first use)" : `${depth.messages} message(s)`;
    return `${depth.queueName}: ${messages}, ${depth.poisonMessages ?? 0} in ${depth.queueName}-poison`;
  }));
}

function roleCheck(deps: DoctorDeps, registry: RegistryConfig, resource: RegistryResource, arm: DeploymentCheck): Promise<DoctorCheck> {
  const mirror = mirrorsInto(deps.config, registry.host);
  const needed = [...TASKS_ACTIONS, ...(registry.tasks?.identity === undefined ? [] : TASK_RUN_ACTIONS), ...(mirror ? [IMPORT_ACTION] : [])];
  const roles = `Container Registry Tasks Contributor${mirror ? " and Container Registry Data Importer and Data Reader" : ""}`;
  const fix = `grant the app's identity ${roles} on registry ${resource.registryName} (infra/modules/registry.bicep), and Reader on resource group ${resource.resourceGroup} so the doctor can read them`;
  return probe(`registry ${registry.host}: ARM permissions for ACR Tasks${mirror ? " and import" : ""}`, fix, async () => {
    const missing = missingActions(needed, await arm.effectiveActions(resource));
    if (missing.length > 0) throw new Error(`missing ${missing.join(", ")}`);
    return `${needed.length} action(s) granted`;
  });
}

function eventGridCheck(deps: DoctorDeps, registry: RegistryConfig, resource: RegistryResource, arm: DeploymentCheck): Promise<DoctorCheck> {
  const app = deps.diagnostics.functionApp;
  const topicGroup = deps.diagnostics.eventGridTopicResourceGroup ?? resource.resourceGroup;
  const elsewhere = topicGroup === resource.resourceGroup ? "; a system topic reused from another resource group is named by RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP" : "";
  const fix = app === null
    ? "run the doctor in the function app (Azure sets WEBSITE_SITE_NAME) or set WEBSITE_SITE_NAME to the function app's name"
    : `deploy the event subscription (infra: azd deploy, then azd provision, creates ripple-registry-events on the registry's system topic → ${app.name}/${EVENT_GRID_FUNCTION}); the doctor reads it with Reader on resource group ${topicGroup}${elsewhere}`;
  return probe(`registry ${registry.host}: Event Grid delivers ImagePushed to ${EVENT_GRID_FUNCTION}`, fix, async () => {
    if (app === null) throw new Error("the function app's name is unknown (WEBSITE_SITE_NAME is not set)");
    return findDelivery(resource, topicGroup, await arm.eventSubscriptions(resource, topicGroup), app);
  });
}

function registryChecks(deps: DoctorDeps, registry: RegistryConfig): Array<Promise<DoctorCheck>> {
  const adapter = deps.registryFor(registry.host);
  const checks = [probe(`registry ${registry.host}: catalog readable`, "grant the app's identity AcrPull (or, in ABAC mode, Container Registry Repository Reader and Catalog Lister) on the registry", async () => {
    if (adapter === null) throw new Error("no adapter for the registry");
    return `${(await adapter.listRepositories()).length} repositor(ies)`;
  })];
  const arm = deps.diagnostics.deploymentCheck;
  if (registry.tasks === undefined || arm === null) return checks;
  return [...checks, roleCheck(deps, registry, registry.tasks, arm), eventGridCheck(deps, registry, registry.tasks, arm)];
}

/** How much an App permission allows, lowest first (GitHub's levels). */
const PERMISSION_LEVELS = ["read", "write", "admin"] as const;

/** A permission the GitHub App installation needs, at least at `level`, and why. */
export interface NeededPermission {
  readonly permission: string;
  readonly level: "read" | "write";
  readonly why: string;
}

/** The installation permissions Ripple needs: reading and proposing in repositories, and issues for a `github-issue` alert sink. Pure. */
export function neededGitHubPermissions(config: RippleConfig): NeededPermission[] {
  return [
    { permission: "metadata", level: "read", why: "list and read repositories" },
    { permission: "contents", level: "write", why: "read files and push pin-bump branches" },
    { permission: "pull_requests", level: "write", why: "open and update pull requests" },
    ...(config.alerts.sinks.some((sink) => sink.kind === "github-issue") ? [{ permission: "issues", level: "write" as const, why: "the github-issue alert sink" }] : []),
  ];
}

/** The needed permissions `granted` does not allow (`write` allows `read`; `admin` both). Pure. */
export function missingGitHubPermissions(granted: Readonly<Record<string, string>>, needed: readonly NeededPermission[]): NeededPermission[] {
  const rank = (level: string | undefined): number => PERMISSION_LEVELS.indexOf(level as (typeof PERMISSION_LEVELS)[number]);
  return needed.filter((entry) => rank(granted[entry.permission]) < rank(entry.level));
}

function gitHubPermissionsCheck(deps: DoctorDeps): Array<Promise<DoctorCheck>> {
  const read = deps.diagnostics.gitHubPermissions;
  if (read === null) return [];
  const needed = neededGitHubPermissions(deps.config);
  const fix = `in the GitHub App's settings grant ${needed.map((entry) => `${entry.permission}: ${entry.level}`).join(", ")} (and workflows: write to bump pins in workflow files), then accept the new permissions in the installation`;
  return [probe("GitHub App installation: permissions", fix, async () => {
    const granted = await read();
    const missing = missingGitHubPermissions(granted, needed);
    if (missing.length > 0) throw new Error(`missing ${missing.map((entry) => `${entry.permission}: ${entry.level} (${entry.why})`).join(", ")}`);
    const workflows = granted["workflows"] === "write" ? "workflows: write (workflow files are bumped too)" : "no workflows: write (pins in workflow files are skipped, each with that reason)";
    return `${needed.map((entry) => `${entry.permission}: ${granted[entry.permission]}`).join(", ")}; ${workflows}`;
  })];
}

function upstreamChecks(deps: DoctorDeps): Array<Promise<DoctorCheck>> {
  return watchedBases(deps.config).map((base) => {
    const literal = base.patterns.find((pattern) => !isTagGlob(pattern));
    const upstream = deps.upstreamFor(base.registry);
    return probe(`upstream ${base.registry}/${base.repository}: readable${literal ? ` (tag ${literal})` : " (tag listing)"}`, `check the network path to ${base.registry} and its credentials (upstream.registries[].credentials)`, async () => {
      if (upstream === null) throw new Error("no client for the upstream registry");
      if (literal === undefined) return `${(await upstream.listTags(base.repository)).length} tag(s)`;
      const head = await upstream.headManifest(base.repository, literal);
      return head === null ? "tag not found (yet)" : head.digest;
    });
  });
}

/**
 * `ripple doctor`: read-only checks that what the configuration names is reachable with the app's identity
 * and settings — the identity's tokens (storage when identity-based, ARM when a registry has `tasks`),
 * state storage, every work queue (with its poison queue's depth), every configured registry's catalog and,
 * for a registry with `tasks`, the app's ARM permissions on it and the Event Grid subscription that delivers
 * its pushes to this app, one tag of every watched base, the repositories the forges serve and the GitHub
 * App installation's permissions. Writes nothing;
 * one result per check, each failure with a fix; checks that need ARM appear only when a registry has
 * `tasks`. Never throws.
 */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorCheck[]> {
  return Promise.all([
    ...identityChecks(deps),
    probe("state storage reachable with the app's identity (tables)", "grant the app's identity Storage Table Data Contributor and Storage Queue Data Contributor on the account; check AzureWebJobsStorage__*", async () => `${(await deps.store.listCampaigns()).length} campaign(s)`),
    ...queueChecks(deps),
    ...deps.config.registries.flatMap((registry) => registryChecks(deps, registry)),
    ...upstreamChecks(deps),
    probe("repositories listed for scanning (GitHub App installation when configured)", "check RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY and the App's installation", async () => {
      const repositories = await deps.listRepositories();
      const unserved = repositories.filter((repository) => deps.forgeFor(repository) === null);
      if (unserved.length > 0) throw new Error(`no forge serves ${unserved.join(", ")}`);
      return `${repositories.length} repositor(ies)`;
    }),
    ...gitHubPermissionsCheck(deps),
  ]);
}
