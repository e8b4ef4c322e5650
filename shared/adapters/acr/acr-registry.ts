import type { Agent } from "node:https";
import { ContainerRegistryClient } from "@azure/container-registry";
import type { TokenCredential } from "@azure/identity";
import type { ImageRegistry } from "../../ports/image-registry.js";
import { isNotFoundError, toUpstreamError } from "../azure-errors.js";
import { MANIFEST_NOT_FOUND_CODES, REGISTRY_SERVICE, createContentClientCache, normalizeAdapterHost, readManifest } from "../oci/read-manifest.js";

/** Options of {@link createAcrRegistry}. */
export interface AcrRegistryOptions {
  /** Login server, e.g. `myregistry.azurecr.io`; the adapter addresses no other registry. */
  readonly host: string;
  /** Managed identity (or any Entra ID credential) with AcrPull on the registry. */
  readonly credential: TokenCredential;
  /** Trusts a private CA, e.g. `new https.Agent({ ca })`, for a local ACR-compatible server. */
  readonly agent?: Agent;
  /** `n` of each catalog and manifest-list page (default 100). */
  readonly pageSize?: number;
}

/**
 * The {@link ImageRegistry} adapter for Azure Container Registry: `ContainerRegistryClient` for the
 * catalog and tags (ACR's `/acr/v1/` routes), the content client for manifests and configs. Both use
 * ACR's token exchange (`/oauth2/exchange`, `/oauth2/token`) from the given credential.
 * Blob reads follow ACR's redirects to its storage, as the SDK does, without the Authorization header.
 */
export function createAcrRegistry(options: AcrRegistryOptions): ImageRegistry {
  const host = normalizeAdapterHost(options.host);
  const endpoint = `https://${host}`;
  const pageSize = options.pageSize ?? 100;
  const agentOption = options.agent === undefined ? {} : { agent: options.agent };
  const client = new ContainerRegistryClient(endpoint, options.credential, agentOption);
  const clientFor = createContentClientCache({ endpoint, credential: options.credential, ...agentOption });

  return {
    host,
    readManifest: (repository, reference) => readManifest(clientFor(repository), reference),

    async listRepositories() {
      const names: string[] = [];
      try {
        for await (const page of client.listRepositoryNames().byPage({ maxPageSize: pageSize })) names.push(...page);
      } catch (error) {
        throw toUpstreamError(error, { service: REGISTRY_SERVICE, action: "listing repositories" });
      }
      return names.sort();
    },

    async listTags(repository) {
      const tags: string[] = [];
      try {
        for await (const page of client.getRepository(repository).listManifestProperties().byPage({ maxPageSize: pageSize })) {
          for (const manifest of page) tags.push(...manifest.tags);
        }
      } catch (error) {
        if (isNotFoundError(error, MANIFEST_NOT_FOUND_CODES)) return [];
        throw toUpstreamError(error, { service: REGISTRY_SERVICE, action: `listing tags of ${repository}` });
      }
      return tags.sort();
    },
  };
}
