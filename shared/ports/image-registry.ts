import type { ManifestFacts } from "../domain/image-facts.js";

/**
 * Read access to one container registry (ACR in Azure, CNCF Distribution locally).
 * Every failure is an {@link import("../errors.js").UpstreamError} (retryable for network, 429, 5xx)
 * or, for content that is too large or does not match its digest, a non-retryable AppError.
 */
export interface ImageRegistry {
  /** Normalized host (with port) this adapter talks to; never any other. */
  readonly host: string;
  /**
   * Reads a manifest by tag or digest and, for a single-platform image, its config blob.
   * Verifies the manifest digest when the reference is a digest, and the config digest always.
   * Returns null when the registry says the manifest does not exist. Idempotent (read only).
   */
  readManifest(repository: string, reference: string): Promise<ManifestFacts | null>;
  /** Every repository in the registry. */
  listRepositories(): Promise<string[]>;
  /** Every tag of one repository (empty when the repository does not exist). */
  listTags(repository: string): Promise<string[]>;
}
