import type { Agent } from "node:https";
import { ContainerRegistryClient } from "@azure/container-registry";
import type { TokenCredential } from "@azure/identity";
import { isDigest } from "../../domain/image-ref.js";
import { AppError } from "../../errors.js";
import type { RawManifest } from "../../ports/registry-content.js";
import { isNotFoundError, toUpstreamError } from "../azure-errors.js";
import { CONTENT_ERROR_CODES } from "../oci/parse-manifest.js";
import { MANIFEST_NOT_FOUND_CODES, REGISTRY_SERVICE, createContentClientCache, normalizeAdapterHost } from "../oci/read-manifest.js";

/**
 * The manifest reads and writes a builder needs to put a multi-platform image together in the registry
 * it builds into: the per-platform manifests it pushed, the index over them, and its own scratch tags.
 * Every failure is an UpstreamError (service `registry`), retryable for network errors, 408, 429 and 5xx.
 */
export interface ManifestStore {
  /** `host[:port]`, the registry part of image references. */
  readonly host: string;
  /** A manifest's exact bytes, digest and media type, by tag or digest; null when unknown. Read only. */
  readRawManifest(repository: string, reference: string): Promise<RawManifest | null>;
  /**
   * Pushes manifest bytes under a tag and returns the registry's digest. Idempotent.
   * @throws AppError `digest_mismatch` when the registry's digest is not `manifest.digest`.
   */
  writeManifest(repository: string, tag: string, manifest: RawManifest): Promise<string>;
  /** Removes a tag, leaving the manifest it pointed at; a tag already gone is no error. Idempotent. */
  deleteTag(repository: string, tag: string): Promise<void>;
}

/** Options of {@link createAcrManifestStore}. */
export interface AcrManifestStoreOptions {
  /** Login server, e.g. `myregistry.azurecr.io`. */
  readonly host: string;
  /** An Entra ID credential with push (and, to remove scratch tags, delete) rights on the repositories. */
  readonly credential: TokenCredential;
  /** Trusts a private CA, e.g. `new https.Agent({ ca })`, for a local ACR-compatible server. */
  readonly agent?: Agent;
}

/**
 * The {@link ManifestStore} of an Azure Container Registry: manifests through the SDK's content client
 * (`GET`/`PUT /v2/{name}/manifests/{reference}`), tags through ACR's `DELETE /acr/v1/{name}/_tags/{tag}`,
 * both with ACR's token exchange from the credential.
 */
export function createAcrManifestStore(options: AcrManifestStoreOptions): ManifestStore {
  const host = normalizeAdapterHost(options.host);
  const endpoint = `https://${host}`;
  const agentOption = options.agent === undefined ? {} : { agent: options.agent };
  const clientFor = createContentClientCache({ endpoint, credential: options.credential, ...agentOption });
  const registryClient = new ContainerRegistryClient(endpoint, options.credential, agentOption);

  return {
    host,

    async readRawManifest(repository, reference) {
      try {
        const result = await clientFor(repository).getManifest(reference);
        return { digest: result.digest, mediaType: result.mediaType, bytes: result.content };
      } catch (error) {
        if (isNotFoundError(error, MANIFEST_NOT_FOUND_CODES)) return null;
        throw toStoreError(error, `reading manifest ${repository}${isDigest(reference) ? "@" : ":"}${reference}`);
      }
    },

    async writeManifest(repository, tag, manifest) {
      const action = `pushing manifest ${manifest.digest} to ${repository}:${tag}`;
      let digest: string;
      try {
        ({ digest } = await clientFor(repository).setManifest(manifest.bytes, { tag, mediaType: manifest.mediaType }));
      } catch (error) {
        throw toStoreError(error, action);
      }
      if (digest !== manifest.digest) {
        throw new AppError(CONTENT_ERROR_CODES.digestMismatch, `${action}: the registry stored it as ${digest}`, { retryable: false, details: { part: "manifest" } });
      }
      return digest;
    },

    async deleteTag(repository, tag) {
      try {
        await registryClient.getArtifact(repository, tag).deleteTag(tag);
      } catch (error) {
        throw toStoreError(error, `removing tag ${repository}:${tag}`);
      }
    },
  };
}

function toStoreError(error: unknown, action: string): AppError {
  if (error instanceof Error && error.name === "DigestMismatchError") {
    return new AppError(CONTENT_ERROR_CODES.digestMismatch, `${action}: the manifest does not match its digest`, { retryable: false, details: { part: "manifest" } });
  }
  return toUpstreamError(error, { service: REGISTRY_SERVICE, action });
}
