/**
 * Brings an upstream image into the private registry, by digest, under a target repository and tag.
 * In Azure: ACR's server-side import (`registries.beginImportImage`), so nothing passes through the
 * function; on the local stack: a streamed copy of the manifest(s) and blobs through the registry
 * content port, digests verified. Either way, the target registry's own push notification (Event Grid
 * `ImagePushed`, or Distribution's) is what opens the campaign.
 */
export interface MirrorRequest {
  /** The upstream image, by digest (a multi-platform index brings every child). */
  readonly source: { readonly registry: string; readonly repository: string; readonly digest: string };
  /** Where it goes in this mirror's registry. */
  readonly target: { readonly repository: string; readonly tag: string };
}

export interface MirrorResult {
  /** The digest the target tag now points at (the same as the source's: manifests are copied byte for byte). */
  readonly digest: string;
  /** `import` (ACR) or `copy` (registry to registry). */
  readonly method: "import" | "copy";
  /** Blobs uploaded (copy only; 0 for an import). */
  readonly blobsCopied: number;
  /** Blobs the target already had (copy only). */
  readonly blobsSkipped: number;
}

export interface ImageMirror {
  /** The target registry host this mirror writes to. */
  readonly registry: string;
  /**
   * Mirrors `request.source` to `request.target`. Idempotent: mirroring a digest the target tag already
   * holds changes nothing. `signal` stops waiting (the caller's deadline): the error is retryable, and an
   * import ARM already accepted may still complete on its own.
   * @throws UpstreamError (retryable for network, 429, 5xx, and for an import that ARM reports as failed
   *   transiently); AppError `digest_mismatch` (not retryable) when content does not match its digest.
   */
  mirror(request: MirrorRequest, options?: { readonly signal?: AbortSignal }): Promise<MirrorResult>;
}
