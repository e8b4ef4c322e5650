/** What Ripple knows about one manifest read from a registry. Pure data, no SDK types. */

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant: string | null;
}

export const BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name";
export const BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest";
export const SOURCE_ANNOTATION = "org.opencontainers.image.source";
export const REVISION_ANNOTATION = "org.opencontainers.image.revision";
/** Ripple's label (or annotation) naming the Dockerfile's path in the source repository; default `Dockerfile`. */
export const DOCKERFILE_LABEL = "dev.ripple.dockerfile";

/** A single-platform image: OCI image manifest or Docker v2 schema 2 manifest, plus its config. */
export interface ImageManifestFacts {
  readonly kind: "image";
  readonly digest: string;
  readonly mediaType: string;
  readonly configDigest: string;
  /** Compressed layer blob digests, in order. */
  readonly layers: readonly string[];
  /** `rootfs.diff_ids` from the config: uncompressed layer digests, in order. */
  readonly diffIds: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly created: string | null;
  readonly platform: Platform | null;
}

export interface IndexChild {
  readonly digest: string;
  readonly mediaType: string;
  readonly platform: Platform | null;
}

/** A multi-platform image: OCI image index or Docker manifest list. */
export interface ImageIndexFacts {
  readonly kind: "index";
  readonly digest: string;
  readonly mediaType: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly children: readonly IndexChild[];
}

export type ManifestFacts = ImageManifestFacts | ImageIndexFacts;

export function formatPlatform(platform: Platform | null): string | null {
  if (platform === null) return null;
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ""}`;
}

export function parsePlatform(text: string): Platform | null {
  const [os, architecture, variant] = text.split("/");
  if (!os || !architecture) return null;
  return { os, architecture, variant: variant ?? null };
}
