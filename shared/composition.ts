/**
 * The composition root: the one place that names adapters. Builds every service from validated
 * settings and configuration, once per process.
 */
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { rootCertificates } from "node:tls";
import { join } from "node:path";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import { DefaultAzureCredential } from "@azure/identity";
import { createAcrTasksBuilder } from "./adapters/acr-tasks/acr-tasks-builder.js";
import { createBuildahBuilder } from "./adapters/buildah-builder/buildah-builder.js";
import { createAcrRegistry } from "./adapters/acr/acr-registry.js";
import { createDistributionRegistry } from "./adapters/distribution/distribution-registry.js";
import { createLocalGitForge } from "./adapters/local-git/local-git-forge.js";
import { createLocalGitSource } from "./adapters/local-git/local-git-source.js";
import { createGitHubOctokit } from "./adapters/github/github-client.js";
import { createGitHubForge, listInstallationRepositories } from "./adapters/github/github-forge.js";
import { createStorageWorkQueue } from "./adapters/storage-queue/storage-work-queue.js";
import { createTableStateStore } from "./adapters/table-storage/table-state-store.js";
import { loadConfigFile, loadSettings, type RegistryConfig, type RippleConfig, type Settings } from "./config.js";
import { createBuildah } from "./local/buildah.js";
import { ensureStackTls } from "./local/tls.js";
import type { Forge } from "./ports/forge.js";
import type { ImageBuilder } from "./ports/image-builder.js";
import type { ImageRegistry } from "./ports/image-registry.js";
import type { SourceRepositories } from "./ports/source-repository.js";
import type { StateStore } from "./ports/state-store.js";
import type { WorkQueue } from "./ports/work-queue.js";
import { createBaseLayerCatalog, type BaseLayerCatalog } from "./use-cases/base-layer-catalog.js";

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
  readonly now: () => Date;
}

function createRegistry(registry: RegistryConfig): ImageRegistry {
  const agent = registry.caFile === undefined
    ? undefined
    : new Agent({ ca: [...rootCertificates, readFileSync(registry.caFile, "utf8")], keepAlive: true });
  return registry.kind === "distribution"
    ? createDistributionRegistry({ host: registry.host, agent })
    : createAcrRegistry({ host: registry.host, credential: new DefaultAzureCredential(), agent });
}

function localRepositories(config: RippleConfig): string[] {
  return [...config.repositories.map((repository) => repository.url), ...config.recipes.flatMap((recipe) => ("repository" in recipe ? [recipe.repository] : []))];
}

async function createBuilders(settings: Readonly<Settings>, config: RippleConfig): Promise<Map<string, { name: string; builder: ImageBuilder }>> {
  const builders = new Map<string, { name: string; builder: ImageBuilder }>();
  let local: ImageBuilder | null = null;
  for (const registry of config.registries) {
    if (registry.tasks !== undefined) {
      const client = new ContainerRegistryManagementClient(new DefaultAzureCredential(), registry.tasks.subscriptionId);
      builders.set(registry.host, { name: "acr-tasks", builder: createAcrTasksBuilder({ client, ...registry.tasks }) });
    } else if (registry.kind === "distribution" && settings.RIPPLE_LOCAL_STACK_DIR !== undefined) {
      const dir = settings.RIPPLE_LOCAL_STACK_DIR;
      local ??= createBuildahBuilder({
        buildah: createBuildah({ dir: join(dir, "buildah"), tls: await ensureStackTls(dir) }),
        workDir: join(dir, "builds"),
        allowedRepositories: localRepositories(config).filter((repository) => repository.startsWith("/")),
      });
      builders.set(registry.host, { name: "buildah", builder: local });
    }
  }
  return builders;
}

/** `owner/name` of a GitHub repository given as `owner/name` or `https://github.com/owner/name[.git]`; null otherwise. */
export function gitHubName(repository: string): string | null {
  const match = /^(?:https:\/\/github\.com\/)?([\w.-]+\/[\w.-]+?)(?:\.git)?$/i.exec(repository);
  return match ? match[1]! : null;
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

function createForges(settings: Readonly<Settings>, config: RippleConfig): { forgeFor: (repository: string) => Forge | null; listRepositories: () => Promise<string[]> } {
  const urls = config.repositories.map((repository) => repository.url);
  const local = createLocalGitForge({ repositories: urls.filter((url) => url.startsWith("/")) });
  const app = settings.RIPPLE_GITHUB_APP_ID && settings.RIPPLE_GITHUB_INSTALLATION_ID && settings.RIPPLE_GITHUB_PRIVATE_KEY
    ? { appId: settings.RIPPLE_GITHUB_APP_ID, installationId: Number(settings.RIPPLE_GITHUB_INSTALLATION_ID), privateKey: settings.RIPPLE_GITHUB_PRIVATE_KEY }
    : null;
  const defaultBranches = new Map<string, string>(config.repositories.flatMap((repository) => {
    const name = gitHubName(repository.url);
    return name === null ? [] : [[name, repository.branch] as const];
  }));
  const octokit = app === null ? null : createGitHubOctokit({ ...app, baseUrl: settings.RIPPLE_GITHUB_API_URL });
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

/** Builds the services for explicit settings and configuration (tests, CLI). Creates tables if missing. */
export async function createServices(settings: Readonly<Settings>, config: RippleConfig): Promise<Services> {
  const tableStore = createTableStateStore({ connectionString: settings.AzureWebJobsStorage, tablePrefix: settings.RIPPLE_TABLE_PREFIX });
  await tableStore.init();
  const store: StateStore = tableStore;
  const queue = createStorageWorkQueue({ connectionString: settings.AzureWebJobsStorage, queuePrefix: settings.RIPPLE_QUEUE_PREFIX });
  const registries = new Map<string, ImageRegistry>();
  for (const registry of config.registries) registries.set(registry.host, createRegistry(registry));
  const builders = await createBuilders(settings, config);
  return {
    settings,
    config,
    store,
    queue,
    layers: createBaseLayerCatalog({ store, config }),
    registryFor: (host) => registries.get(host) ?? null,
    // Local repositories (paths) are read with git; GitHub repositories come with the forge (issue #4).
    sources: createLocalGitSource({ repositories: localRepositories(config) }),
    builderFor: (host) => builders.get(host) ?? null,
    ...createForges(settings, config),
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
