/**
 * Byte-level access to a registry's manifests and blobs over the OCI distribution API, as the upstream
 * watch and the local mirror need it: a HEAD that costs no pull, raw manifests (to copy them byte for
 * byte), streamed blobs. Implemented once for any registry speaking the distribution protocol (Docker
 * Hub, MCR, GHCR, CNCF Distribution), with the bearer-token challenge
 * (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`), anonymous or with credentials.
 *
 * Every failure is an {@link import("../errors.js").UpstreamError}: retryable for network errors, 429
 * (with `details.retryAfterMs` from `Retry-After`) and 5xx; content that does not match its digest is a
 * non-retryable AppError `digest_mismatch`.
 */
export interface ManifestHead {
  /** `Docker-Content-Digest` of the manifest the reference names now. */
  readonly digest: string;
  readonly mediaType: string | null;
}

export interface RawManifest {
  readonly digest: string;
  readonly mediaType: string;
  /** The exact bytes: pushing them elsewhere keeps the digest. */
  readonly bytes: Buffer;
}

export interface BlobContent {
  /** `Content-Length` when the registry sent one. */
  readonly size: number | null;
  /** The blob's bytes; reading them to the end verifies them against the digest (the stream errors otherwise). */
  readonly stream: NodeJS.ReadableStream;
}

export interface RegistryContent {
  /** `host[:port]` as it appears in image references (`docker.io`, `127.0.0.1:5000`). */
  readonly host: string;
  /** HEAD of a manifest by tag or digest; null when the registry says it does not exist. Idempotent. */
  headManifest(repository: string, reference: string): Promise<ManifestHead | null>;
  /** GET of a manifest (any OCI / Docker manifest or index media type); digest verified; null when unknown. */
  readRawManifest(repository: string, reference: string): Promise<RawManifest | null>;
  /** Every tag of a repository (following `Link` pages); empty when the repository is unknown. */
  listTags(repository: string): Promise<string[]>;
  /** Streams a blob, following redirects (CDNs) without the Authorization header. */
  openBlob(repository: string, digest: string): Promise<BlobContent>;
  /** Whether the repository already holds the blob (HEAD). */
  hasBlob(repository: string, digest: string): Promise<boolean>;
  /** Uploads a blob as one streamed upload (`POST` then `PUT ?digest=`); the registry verifies the digest. Idempotent. */
  writeBlob(repository: string, digest: string, content: BlobContent): Promise<void>;
  /** Pushes manifest bytes under a tag or digest; returns the digest the registry computed. Idempotent. */
  writeManifest(repository: string, reference: string, manifest: RawManifest): Promise<string>;
}
