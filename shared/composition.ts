/**
 * The composition root: the one place that names adapters. Builds every service from validated
 * settings and configuration, once per process.
 */
import { alertLinksOf, createAlertSinks } from "./composition-alerts.js";
import type { AlertSink, RippleEventPublisher } from "./ports/alert-sink.js";
import type { AlertLinks } from "./use-cases/alert-message.js";
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { rootCertificates } from "node:tls";
import { join } from "node:path";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { ContainerRegistryManagementClient, type CustomRegistryCredentials } from "@azure/arm-containerregistry";
import { EventGridManagementClient } from "@azure/arm-eventgrid";
import type { Octokit } from "@octokit/rest";
import type { DeliveryTokenVerifier } from "./ports/delivery-token-verifier.js";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { createAcrImportMirror } from "./adapters/acr-import/acr-import-mirror.js";
import { createAcrTasksBuilder } from "./adapters/acr-tasks/acr-tasks-builder.js";
import { createArmDeploymentCheck, createCredentialIdentity } from "./adapters/arm-deployment/arm-deployment-check.js";
import { eventGridTokenVerifierOf } from "./adapters/entra/event-grid-token-verifier.js";
import { identityCredentials, passwordCredentials } from "./adapters/acr-tasks/custom-registries.js";
import { createAcrManifestStore } from "./adapters/acr/acr-manifest-store.js";
import { createBuildahBuilder } from "./adapters/buildah-builder/buildah-builder.js";
import { createAcrRegistry } from "./adapters/acr/acr-registry.js";
import { createDistributionRegistry } from "./adapters/distribution/distribution-registry.js";
import { createContentImageRegistry } from "./adapters/oci/content-image-registry.js";
import { createRegistryContentClient } from "./adapters/oci/registry-content-client.js";
import { createRegistryCopyMirror } from "./adapters/registry-copy/registry-copy-mirror.js";
import { createLocalGitForge } from "./adapters/local-git/local-git-forge.js";
import { createLocalGitSource } from "./adapters/local-git/local-git-source.js";
import { createGitHubOctokit } from "./adapters/github/github-client.js";
import { gitHubName } from "./adapters/github/github-name.js";
import { toGitHubError } from "./adapters/github/github-errors.js";
import { createGitHubForge, listInstallationRepositories, readInstallationPermissions } from "./adapters/github/github-forge.js";
import { createGitHubSource } from "./adapters/github/github-source.js";
import { createGitHubSourceArchives } from "./adapters/github/github-source-archive.js";
import { createStorageWorkQueue } from "./adapters/storage-queue/storage-work-queue.js";
import { createTableStateStore } from "./adapters/table-storage/table-state-store.js";
import { loadConfigFile, loadSettings, storageConnectionOf, upstreamRegistriesOf, type StorageConnection, type RegistryConfig, type RippleConfig, type Settings, type UpstreamRegistryConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { createBuildah } from "./local/buildah.js";
import { ensureStackTls } from "./local/tls.js";
import type { Forge } from "./ports/forge.js";
import type { ImageBuilder, SourceArchives } from "./ports/image-builder.js";
import type { ImageMirror } from "./ports/image-mirror.js";
import type { RegistryContent } from "./ports/registry-content.js";
import type { ImageRegistry } from "./ports/image-registry.js";
import type { SourceRepositories } from "./ports/source-repository.js";
import type { StateStore } from "./ports/state-store.js";
import type { QueueDepths, WorkQueue } from "./ports/work-queue.js";
import { createBaseLayerCatalog, type BaseLayerCatalog } from "./use-cases/base-layer-catalog.js";
import type { DoctorProbes } from "./use-cases/doctor.js";
import { createNoMetrics } from "./adapters/azure-monitor/no-metrics.js";
import type { SlaMetrics } from "./ports/sla-metrics.js";

export interface Services {
  readonly settings: Readonly<Settings>;
  readonly config: RippleConfig;
  readonly store: StateStore;
  readonly queue: WorkQueue;
  readonly layers: BaseLayerCatalog;
  readonly registryFor: (host: string) => ImageRegistry | null;
  readonly sources: SourceRepositories;
  /** The builder for a registry: ACR Tasks where `registries[].tasks` is set, buildah on the local stack. */
  readonly builderFor: (registry: string) => { readonly name: string; readonly builder: ImageBuilder } | null;
  /** The forge of a configured repository: local git for a path, GitHub for `owner/name` or a github.com URL. */
  readonly forgeFor: (repository: string) => Forge | null;
  /** The repositories to scan: the configured ones, plus the GitHub App installation's when configured. */
  readonly listRepositories: () => Promise<string[]>;
  /** The content port of a configured upstream (watched) registry; null for any other host. */
  readonly upstreamFor: (host: string) => RegistryContent | null;
  /** The same upstream registry read as an {@link ImageRegistry}. */
  readonly upstreamRegistryFor: (host: string) => ImageRegistry | null;
  /** The mirror into a configured registry: ACR import where `tasks` is set, a registry copy into Distribution. */
  readonly mirrorFor: (host: string) => ImageMirror | null;
  /** What `ripple doctor` reads besides the above: queue depths, the credential's tokens, ARM facts. */
  readonly diagnostics: DoctorProbes;
  /** The configured alert sink with this id (`alerts.sinks[].id`); null for an unknown id. */
  readonly sinkFor: (sinkId: string) => AlertSink | null;
  /** Where alert links point (campaign pages, the runbook). */
  readonly alertLinks: AlertLinks;
  /** Publishers of Ripple's lifecycle events (one per event-grid sink). */
  readonly eventPublishers: readonly RippleEventPublisher[];
  /** SLA metrics for dashboards and alert rules: Application Insights when its connection string is set, else none. */
  readonly metrics: SlaMetrics;
  /** Checks Event Grid's Entra tokens on the registry webhook; null when `RIPPLE_EVENT_GRID_AAD_*` are unset (the shared secret then). */
  readonly eventGridTokens: DeliveryTokenVerifier | null;
  readonly now: () => Date;
}

function agentFor(caFile: string | undefined): Agent | undefined {
  return caFile === undefined ? undefined : new Agent({ ca: [...rootCertificates, readFileSync(caFile, "utf8")], keepAlive: true });
}

function createRegistry(registry: RegistryConfig, credential: TokenCredential): ImageRegistry {
  const agent = agentFor(registry.caFile);
  return registry.kind === "distribution"
    ? createDistributionRegistry({ host: registry.host, agent })
    : createAcrRegistry({ host: registry.host, credential, agent });
}

function localRepositories(config: RippleConfig): string[] {
  return [...config.repositories.map((repository) => repository.url), ...config.recipes.flatMap((recipe) => ("repository" in recipe ? [recipe.repository] : []))];
}

/**
 * The sources ACR Tasks cannot clone: GitHub repositories the forge serves through the App (configured
 * `repositories`, or the installation's of `github.owner`), downloaded with its installation token.
 * Null without a GitHub App.
 */
function createSourceArchives(octokit: Octokit | null, config: RippleConfig): SourceArchives | null {
  if (octokit === null) return null;
  const configured = new Set(config.repositories.flatMap((repository) => gitHubName(repository.url)?.toLowerCase() ?? []));
  const owner = config.github.installationRepositories ? config.github.owner?.toLowerCase() : undefined;
  const fullNameOf = (repository: string): string | null => {
    const name = repository.startsWith("/") ? null : gitHubName(repository);
    return name !== null && (configured.has(name.toLowerCase()) || (owner !== undefined && name.toLowerCase().startsWith(`${owner}/`))) ? name : null;
  };
  return createGitHubSourceArchives({ octokit, fullNameOf });
}

/**
 * How ACR Tasks source builds of `building` log in to other registries: when `building.tasks.identity` is
 * set, every other ACR of `registries` (`*.azurecr.io`) with that identity's client id; and the upstream
 * registries with credentials (their app settings; an unresolved Key Vault reference is passed as one, for
 * ACR to resolve with the registry's system identity, or with the build identity when there is one: a task
 * run carries no other). An upstream whose settings are missing is left out: its pulls are anonymous and its
 * watch reports the setting (see {@link createUpstreams}).
 */
export function customRegistriesFor(config: RippleConfig, env: NodeJS.ProcessEnv, building?: RegistryConfig): Record<string, CustomRegistryCredentials> {
  // Identity logins only with an identity configured: a quick run (scheduleRun) carries none of its own, so
  // the builder then runs source builds as task runs carrying it (see createTaskRuns).
  const custom: Record<string, CustomRegistryCredentials> = {};
  const clientId = building?.tasks?.identity?.clientId;
  for (const registry of config.registries) {
    if (clientId !== undefined && registry.host !== building?.host && registry.host.endsWith(".azurecr.io")) custom[registry.host] = identityCredentials(clientId);
  }
  for (const upstream of upstreamRegistriesOf(config)) {
    const username = upstream.credentials === undefined ? undefined : env[upstream.credentials.usernameSetting];
    const password = upstream.credentials === undefined ? undefined : env[upstream.credentials.passwordSetting];
    if (username && password) custom[upstream.host] = passwordCredentials(username, password, clientId);
  }
  return custom;
}

async function createBuilders(
  settings: Readonly<Settings>,
  config: RippleConfig,
  credential: TokenCredential,
  env: NodeJS.ProcessEnv,
  octokit: Octokit | null,
): Promise<Map<string, { name: string; builder: ImageBuilder }>> {
  const builders = new Map<string, { name: string; builder: ImageBuilder }>();
  let local: ImageBuilder | null = null;
  const sourceArchives = createSourceArchives(octokit, config);
  for (const registry of config.registries) {
    if (registry.tasks !== undefined) {
      const client = new ContainerRegistryManagementClient(credential, registry.tasks.subscriptionId);
      const agent = agentFor(registry.caFile);
      // A multi-platform image's index is pushed through the registry itself once each platform is built.
      const manifests = createAcrManifestStore({ host: registry.host, credential, agent });
      const builder = createAcrTasksBuilder({
        client,
        ...registry.tasks,
        manifests,
        ...(sourceArchives === null ? {} : { sourceArchives }),
        customRegistries: customRegistriesFor(config, env, registry),
      });
      builders.set(registry.host, { name: "acr-tasks", builder });
    } else if (registry.kind === "distribution" && settings.RIPPLE_LOCAL_STACK_DIR !== undefined) {
      const dir = settings.RIPPLE_LOCAL_STACK_DIR;
      local ??= createBuildahBuilder({
        buildah: createBuildah({ dir: join(dir, "buildah"), tls: await ensureStackTls(dir) }),
        workDir: join(dir, "builds"),
        allowedRepositories: localRepositories(config).filter((repository) => repository.startsWith("/")),
        annotations: settings.RIPPLE_LOCAL_BUILD_ANNOTATIONS !== "false",
      });
      builders.set(registry.host, { name: "buildah", builder: local });
    }
  }
  return builders;
}

/**
 * Where Dockerfiles are read: local repositories (paths) with git, GitHub repositories (`owner/name` or a
 * github.com URL) through the GitHub App's installation when it is configured.
 */
function createSources(octokit: Octokit | null, config: RippleConfig): SourceRepositories {
  const repositories = localRepositories(config);
  const local = createLocalGitSource({ repositories });
  const names = new Map(repositories.flatMap((repository) => {
    const name = repository.startsWith("/") ? null : gitHubName(repository);
    return name === null ? [] : [[repository, name] as const];
  }));
  if (names.size === 0 || octokit === null) return local;
  const github = createGitHubSource({ octokit, repositories: names });
  return {
    canRead: (repository) => local.canRead(repository) || github.canRead(repository),
    readFile: (repository, revision, path) => (local.canRead(repository) ? local : github).readFile(repository, revision, path),
  };
}

/** Presents a GitHub forge under the configured repository names (URLs included). */
function namedGitHubForge(forge: Forge): Forge {
  const name = (repository: string): string => gitHubName(repository) ?? repository;
  return {
    scan: async (repository, options) => ({ ...(await forge.scan(name(repository), options)), repository }),
    proposeChange: async (request) => ({ ...(await forge.proposeChange({ ...request, repository: name(request.repository) })), repository: request.repository }),
    findPullRequest: async (repository, branch) => {
      const pull = await forge.findPullRequest(name(repository), branch);
      return pull === null ? null : { ...pull, repository };
    },
  };
}

/** The GitHub App's installation client, one for the whole app (forge, Dockerfile sources, build archives); null without an App. */
function createGitHubClient(settings: Readonly<Settings>): Octokit | null {
  const { RIPPLE_GITHUB_APP_ID: appId, RIPPLE_GITHUB_INSTALLATION_ID: installationId, RIPPLE_GITHUB_PRIVATE_KEY: privateKey } = settings;
  if (!appId || !installationId || !privateKey) return null;
  return createGitHubOctokit({ appId, installationId: Number(installationId), privateKey, baseUrl: settings.RIPPLE_GITHUB_API_URL });
}

function createForges(octokit: Octokit | null, config: RippleConfig): { forgeFor: (repository: string) => Forge | null; listRepositories: () => Promise<string[]> } {
  const urls = config.repositories.map((repository) => repository.url);
  const local = createLocalGitForge({ repositories: urls.filter((url) => url.startsWith("/")) });
  const defaultBranches = new Map<string, string>(config.repositories.flatMap((repository) => {
    const name = gitHubName(repository.url);
    return name === null ? [] : [[name, repository.branch] as const];
  }));
  const github = octokit === null ? null : namedGitHubForge(createGitHubForge({ octokit, defaultBranches }));
  const installation = config.github.installationRepositories && octokit !== null;
  const owner = config.github.owner?.toLowerCase();
  const ofInstallation = (repository: string): boolean => {
    const name = gitHubName(repository);
    return installation && name !== null && name === repository && (owner === undefined || name.toLowerCase().startsWith(`${owner}/`));
  };
  return {
    forgeFor: (repository) => {
      if (!urls.includes(repository) && !ofInstallation(repository)) return null;
      if (repository.startsWith("/")) return local;
      return gitHubName(repository) !== null ? github : null;
    },
    async listRepositories() {
      if (!installation || octokit === null) return urls;
      const listed = await listInstallationRepositories(octokit, owner === undefined ? {} : { owner });
      for (const repository of listed.repositories) defaultBranches.set(repository.fullName, repository.defaultBranch);
      const configured = new Set(urls.map((url) => gitHubName(url)?.toLowerCase() ?? url));
      return [...urls, ...listed.repositories.map((repository) => repository.fullName).filter((name) => !configured.has(name.toLowerCase()))];
    },
  };
}

/**
 * Pull credentials of an upstream registry from the app settings its configuration names (Key Vault
 * references in Azure).
 * @throws ConfigError when a setting is missing, or still holds an unresolved `@Microsoft.KeyVault(…)` reference.
 */
function upstreamCredentials(registry: UpstreamRegistryConfig, env: NodeJS.ProcessEnv): { username: string; password: string } | null {
  if (registry.credentials === undefined) return null;
  const names = [registry.credentials.usernameSetting, registry.credentials.passwordSetting] as const;
  const [username, password] = names.map((name) => env[name]);
  const unresolved = names.filter((name) => (env[name] ?? "").startsWith("@Microsoft.KeyVault("));
  if (!username || !password || unresolved.length > 0) {
    const why = unresolved.length > 0 ? `${unresolved.join(" and ")} ${unresolved.length === 1 ? "holds" : "hold"} an unresolved Key Vault reference (check the app's access to the vault)` : `app settings ${names.join(" and ")} must both be set`;
    throw new ConfigError(`upstream registry ${registry.host}: ${why}`, [{ path: `upstream.registries.${registry.host}.credentials`, message: why }]);
  }
  return { username, password };
}

/** A content port that fails every call with `error`: one misconfigured upstream is reported on its own tags, the app runs on. */
function unavailableContent(host: string, error: Error): RegistryContent {
  const fail = (): Promise<never> => Promise.reject(error);
  return { host, headManifest: fail, readRawManifest: fail, listTags: fail, openBlob: fail, hasBlob: fail, writeBlob: fail, writeManifest: fail };
}

/**
 * The content ports (and image-registry views) of the watched upstream registries, with their pull
 * credentials from `env`. A registry whose credentials are misconfigured gets a port that fails every call
 * with the reason, so its tags show it (`ripple upstream`) and the rest of the app runs on.
 */
export function createUpstreams(config: RippleConfig, env: NodeJS.ProcessEnv) {
  const content = new Map<string, RegistryContent>();
  const credentials = new Map<string, { username: string; password: string } | null>();
  for (const registry of upstreamRegistriesOf(config)) {
    let secret: { username: string; password: string } | null;
    try {
      secret = upstreamCredentials(registry, env);
    } catch (error) {
      content.set(registry.host, unavailableContent(registry.host, error as Error));
      continue;
    }
    credentials.set(registry.host, secret);
    const agent = agentFor(registry.caFile);
    content.set(registry.host, createRegistryContentClient({
      host: registry.host,
      ...(registry.endpoint === undefined ? {} : { endpoint: registry.endpoint }),
      ...(agent === undefined ? {} : { agent }),
      credentials: secret,
    }));
  }
  const images = new Map([...content].map(([host, client]) => [host, createContentImageRegistry(client)]));
  return {
    upstreamFor: (host: string) => content.get(host) ?? null,
    upstreamRegistryFor: (host: string) => images.get(host) ?? null,
    credentialsFor: (host: string) => credentials.get(host) ?? null,
  };
}

function createMirrors(config: RippleConfig, upstreams: ReturnType<typeof createUpstreams>, credential: TokenCredential): Map<string, ImageMirror> {
  const mirrors = new Map<string, ImageMirror>();
  for (const registry of config.registries) {
    if (registry.tasks !== undefined) {
      const client = new ContainerRegistryManagementClient(credential, registry.tasks.subscriptionId);
      mirrors.set(registry.host, createAcrImportMirror({
        client,
        resourceGroup: registry.tasks.resourceGroup,
        registryName: registry.tasks.registryName,
        registryHost: registry.host,
        sourceCredentials: upstreams.credentialsFor,
      }));
    } else if (registry.kind === "distribution") {
      const agent = agentFor(registry.caFile);
      const target = createRegistryContentClient({ host: registry.host, ...(agent === undefined ? {} : { agent }) });
      mirrors.set(registry.host, createRegistryCopyMirror({ target, sourceFor: upstreams.upstreamFor }));
    }
  }
  return mirrors;
}

/**
 * The one Entra ID credential of the app, for storage, ACR and ARM alike: the managed identity (a
 * user-assigned one with `__clientId`) when the storage connection says `__credential=managedidentity`,
 * otherwise DefaultAzureCredential (environment, workload identity, managed identity, a developer's CLI).
 */
export function createAppCredential(connection: StorageConnection): TokenCredential {
  const clientId = connection.kind === "identity" ? connection.clientId : null;
  if (connection.kind === "identity" && connection.credential === "managed-identity") {
    return clientId === null ? new ManagedIdentityCredential() : new ManagedIdentityCredential({ clientId });
  }
  return new DefaultAzureCredential(clientId === null ? {} : { managedIdentityClientId: clientId });
}

/** The table and queue adapters' connection options: the connection string, or endpoints with the credential (no key). */
export function storageOptions(connection: StorageConnection, credential: TokenCredential, caFile?: string) {
  const agent = agentFor(caFile);
  const withAgent = agent === undefined ? {} : { agent };
  return {
    tables: <T extends object>(extra: T) =>
      connection.kind === "connection-string" ? { connectionString: connection.connectionString, ...extra } : { endpoint: connection.tableEndpoint, credential, ...withAgent, ...extra },
    queues: <T extends object>(extra: T) =>
      connection.kind === "connection-string" ? { connectionString: connection.connectionString, ...extra } : { endpoint: connection.queueEndpoint, credential, ...withAgent, ...extra },
  };
}

/**
 * The doctor's probes. ARM is read only when a registry has `tasks`; the function app's name comes from
 * `WEBSITE_SITE_NAME` (and `WEBSITE_HOSTNAME`), which Azure sets in every app, a reused Event Grid system
 * topic's resource group from `RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP`; the App installation's permissions
 * are read only with a GitHub App.
 */
function createDiagnostics(config: RippleConfig, connection: StorageConnection, credential: TokenCredential, queueDepths: QueueDepths, env: NodeJS.ProcessEnv, octokit: Octokit | null): DoctorProbes {
  const arm = config.registries.some((registry) => registry.tasks !== undefined);
  const site = env.WEBSITE_SITE_NAME;
  return {
    queueDepths,
    identity: createCredentialIdentity(credential),
    storageUsesIdentity: connection.kind === "identity",
    deploymentCheck: arm
      ? createArmDeploymentCheck({ clientsFor: (id) => ({ authorization: new AuthorizationManagementClient(credential, id), eventGrid: new EventGridManagementClient(credential, id) }) })
      : null,
    functionApp: site ? { name: site, hostName: env.WEBSITE_HOSTNAME || null } : null,
    eventGridTopicResourceGroup: env.RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP || null,
    gitHubPermissions: octokit === null ? null : async () => {
      const permissions = await readInstallationPermissions(octokit).catch((error: unknown) => {
        throw toGitHubError(error, "reading the GitHub App installation's permissions");
      });
      if (permissions === null) throw new Error("the GitHub client is not authenticated as an App installation");
      return permissions;
    },
  };
}

/**
 * The SLA metrics: Application Insights when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set, with the app's
 * credential when `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` says `Authorization=AAD`; otherwise none. The
 * exporter is imported only then, so the CLI starts without the OpenTelemetry packages.
 */
async function createMetrics(env: NodeJS.ProcessEnv, credential: TokenCredential): Promise<SlaMetrics> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return createNoMetrics();
  const { createAzureMonitorMetrics } = await import("./adapters/azure-monitor/azure-monitor-metrics.js");
  const aad = /(^|;)\s*authorization\s*=\s*aad\s*(;|$)/i.test(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? "");
  return createAzureMonitorMetrics({ connectionString, ...(aad ? { credential } : {}), serviceName: env.WEBSITE_SITE_NAME || "ripple" });
}

/**
 * Builds the services for explicit settings and configuration (tests, CLI). Creates tables if missing.
 * `env` supplies the app settings the configuration names (upstream pull credentials).
 */
export async function createServices(settings: Readonly<Settings>, config: RippleConfig, env: NodeJS.ProcessEnv = process.env): Promise<Services> {
  const connection = storageConnectionOf(settings);
  if (connection === null) throw new ConfigError("settings: no storage connection (AzureWebJobsStorage or AzureWebJobsStorage__*)");
  const credential = createAppCredential(connection);
  const storage = storageOptions(connection, credential, settings.RIPPLE_STORAGE_CA_FILE);
  const tableStore = createTableStateStore(storage.tables({ tablePrefix: settings.RIPPLE_TABLE_PREFIX }));
  await tableStore.init();
  const store: StateStore = tableStore;
  const queue = createStorageWorkQueue(storage.queues({ queuePrefix: settings.RIPPLE_QUEUE_PREFIX }));
  const registries = new Map<string, ImageRegistry>();
  for (const registry of config.registries) registries.set(registry.host, createRegistry(registry, credential));
  const octokit = createGitHubClient(settings);
  const builders = await createBuilders(settings, config, credential, env, octokit);
  const upstreams = createUpstreams(config, env);
  const mirrors = createMirrors(config, upstreams, credential);
  const alerts = createAlertSinks(config, env, { octokit, credential });
  const metrics = await createMetrics(env, credential);
  return {
    settings,
    config,
    store,
    queue,
    layers: createBaseLayerCatalog({ store, config }),
    // Upstream registries are read too (a base watched without a mirror has its campaigns on the upstream tag).
    registryFor: (host) => registries.get(host) ?? upstreams.upstreamRegistryFor(host),
    sources: createSources(octokit, config),
    builderFor: (host) => builders.get(host) ?? null,
    ...createForges(octokit, config),
    upstreamFor: upstreams.upstreamFor,
    upstreamRegistryFor: upstreams.upstreamRegistryFor,
    mirrorFor: (host) => mirrors.get(host) ?? null,
    diagnostics: createDiagnostics(config, connection, credential, queue, env, octokit),
    sinkFor: alerts.sinkFor,
    eventPublishers: alerts.publishers,
    alertLinks: alertLinksOf(config, env),
    metrics,
    eventGridTokens: eventGridTokenVerifierOf(settings),
    now: () => new Date(),
  };
}

let services: Promise<Services> | null = null;

/** The process-wide services, from `process.env` and the configuration file it names. */
export function getServices(): Promise<Services> {
  if (services === null) {
    const settings = loadSettings();
    services = createServices(settings, loadConfigFile(settings.RIPPLE_CONFIG));
    services.catch(() => {
      services = null;
    });
  }
  return services;
}
