import { AppError } from "../../errors.js";
import type { ImageMirror, MirrorRequest, MirrorResult } from "../../ports/image-mirror.js";
import type { RawManifest, RegistryContent } from "../../ports/registry-content.js";
import { CONTENT_ERROR_CODES, parseManifest } from "../oci/parse-manifest.js";

/** Options of {@link createRegistryCopyMirror}. */
export interface RegistryCopyMirrorOptions {
  /** The registry the copies go to (the local stack's Distribution registry). */
  readonly target: RegistryContent;
  /** The content port of a configured upstream registry; null for any other host (never contacted). */
  readonly sourceFor: (host: string) => RegistryContent | null;
}

/** Nested indexes are copied this deep at most (an index of indexes is already unusual). */
const MAX_DEPTH = 3;

/**
 * An {@link ImageMirror} that copies registry to registry through the content port: every blob the
 * target lacks is streamed from the source (its digest verified on the way), then each child manifest,
 * then the manifest itself under the target tag, byte for byte, so the digest stays the same. The
 * target's own push notification then reaches Ripple like any push. Idempotent: blobs already present
 * are skipped and manifests re-pushed unchanged.
 */
export function createRegistryCopyMirror(options: RegistryCopyMirrorOptions): ImageMirror {
  return {
    registry: options.target.host,
    async mirror(request: MirrorRequest, mirrorOptions: { readonly signal?: AbortSignal } = {}): Promise<MirrorResult> {
      const source = options.sourceFor(request.source.registry);
      if (source === null) throw new AppError("registry_not_configured", `upstream registry ${request.source.registry} is not configured`);
      const counts = { blobsCopied: 0, blobsSkipped: 0 };
      const copy = { source, target: options.target, from: request.source.repository, to: request.target.repository, counts, signal: mirrorOptions.signal };
      const root = await readSource(copy, request.source.digest);
      await copyReferenced(copy, root, 0);
      const digest = await options.target.writeManifest(request.target.repository, request.target.tag, root);
      if (digest !== request.source.digest) {
        throw new AppError(CONTENT_ERROR_CODES.digestMismatch, `mirror of ${request.source.registry}/${request.source.repository}@${request.source.digest} was stored as ${digest}`);
      }
      return { digest, method: "copy", ...counts };
    },
  };
}

interface Copy {
  readonly source: RegistryContent;
  readonly target: RegistryContent;
  readonly from: string;
  readonly to: string;
  readonly counts: { blobsCopied: number; blobsSkipped: number };
  readonly signal: AbortSignal | undefined;
}

async function readSource(copy: Copy, digest: string): Promise<RawManifest> {
  checkDeadline(copy);
  const manifest = await copy.source.readRawManifest(copy.from, digest);
  if (manifest === null) {
    throw new AppError("manifest_unknown", `${copy.source.host}/${copy.from}@${digest} does not exist upstream (deleted since it was seen?)`);
  }
  return manifest;
}

/** Copies what a manifest refers to: an index's children (each pushed by digest), an image's config and layers. */
async function copyReferenced(copy: Copy, manifest: RawManifest, depth: number): Promise<void> {
  const parsed = parseManifest(manifest.bytes, { expectedDigest: manifest.digest, contentType: manifest.mediaType });
  if (parsed.kind === "index") {
    if (depth >= MAX_DEPTH) throw new AppError("manifest_invalid", `${copy.from}@${manifest.digest}: indexes nested deeper than ${MAX_DEPTH}`);
    for (const child of parsed.children) {
      const childManifest = await readSource(copy, child.digest);
      await copyReferenced(copy, childManifest, depth + 1);
      await copy.target.writeManifest(copy.to, child.digest, childManifest);
    }
    return;
  }
  for (const digest of [parsed.configDigest, ...parsed.layers]) await copyBlob(copy, digest);
}

/** Stops between two blobs or manifests once the caller's deadline has passed (retryable: the copy is idempotent). */
function checkDeadline(copy: Copy): void {
  if (copy.signal?.aborted) throw new AppError("mirror_timeout", `copying ${copy.source.host}/${copy.from} stopped at the deadline`, { retryable: true });
}

async function copyBlob(copy: Copy, digest: string): Promise<void> {
  checkDeadline(copy);
  if (await copy.target.hasBlob(copy.to, digest)) {
    copy.counts.blobsSkipped += 1;
    return;
  }
  await copy.target.writeBlob(copy.to, digest, await copy.source.openBlob(copy.from, digest));
  copy.counts.blobsCopied += 1;
}
