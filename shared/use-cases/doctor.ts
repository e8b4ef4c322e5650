import type { RippleConfig } from "../config.js";
import { isTagGlob } from "../domain/upstream-watch.js";
import type { Forge } from "../ports/forge.js";
import type { ImageRegistry } from "../ports/image-registry.js";
import type { RegistryContent } from "../ports/registry-content.js";
import type { StateStore } from "../ports/state-store.js";
import { watchedBases } from "./watch-upstream.js";

export interface DoctorDeps {
  readonly config: RippleConfig;
  readonly store: StateStore;
  readonly registryFor: (host: string) => ImageRegistry | null;
  readonly upstreamFor: (host: string) => RegistryContent | null;
  readonly forgeFor: (repository: string) => Forge | null;
  readonly listRepositories: () => Promise<string[]>;
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

/**
 * `ripple doctor`: read-only checks that what the configuration names is reachable with the app's identity
 * and settings — state storage, every configured registry's catalog, one tag of every watched base, the
 * repositories the forges serve. Writes nothing; one result per check, each failure with a fix. Never throws.
 */
export async function runDoctor(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const checks: Array<Promise<DoctorCheck>> = [
    probe("state storage reachable with the app's identity (tables)", "grant the app's identity Storage Table Data Contributor and Storage Queue Data Contributor on the account; check AzureWebJobsStorage__*", async () => `${(await deps.store.listCampaigns()).length} campaign(s)`),
  ];
  for (const registry of deps.config.registries) {
    const adapter = deps.registryFor(registry.host);
    checks.push(probe(`registry ${registry.host}: catalog readable`, "grant the app's identity AcrPull (or, in ABAC mode, Container Registry Repository Reader and Catalog Lister) on the registry", async () => {
      if (adapter === null) throw new Error("no adapter for the registry");
      return `${(await adapter.listRepositories()).length} repositor(ies)`;
    }));
  }
  for (const base of watchedBases(deps.config)) {
    const literal = base.patterns.find((pattern) => !isTagGlob(pattern));
    const upstream = deps.upstreamFor(base.registry);
    checks.push(probe(`upstream ${base.registry}/${base.repository}: readable${literal ? ` (tag ${literal})` : " (tag listing)"}`, `check the network path to ${base.registry} and its credentials (upstream.registries[].credentials)`, async () => {
      if (upstream === null) throw new Error("no client for the upstream registry");
      if (literal === undefined) return `${(await upstream.listTags(base.repository)).length} tag(s)`;
      const head = await upstream.headManifest(base.repository, literal);
      return head === null ? "tag not found (yet)" : head.digest;
    }));
  }
  checks.push(probe("repositories listed for scanning (GitHub App installation when configured)", "check RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY and the App's installation", async () => {
    const repositories = await deps.listRepositories();
    const unserved = repositories.filter((repository) => deps.forgeFor(repository) === null);
    if (unserved.length > 0) throw new Error(`no forge serves ${unserved.join(", ")}`);
    return `${repositories.length} repositor(ies)`;
  }));
  return Promise.all(checks);
}
