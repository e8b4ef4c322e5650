import { createHash } from "node:crypto";
import { z } from "zod";
import type { ImageIndexFacts, ImageManifestFacts, IndexChild, Platform } from "../../domain/image-facts.js";
import { isDigest } from "../../domain/image-ref.js";
import { AppError } from "../../errors.js";

/** Manifest media types Ripple reads; the `Accept` list of every manifest request. */
export const MANIFEST_MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

/** Config media types of container images (other configs belong to artifacts and are not read). */
export const IMAGE_CONFIG_MEDIA_TYPES = ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"] as const;

/** Largest manifest Ripple reads, as the Azure SDK and Distribution allow. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config Ripple reads. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** Codes of the non-retryable errors raised for content that can never be read. */
export const CONTENT_ERROR_CODES = {
  tooLarge: "manifest_too_large",
  digestMismatch: "digest_mismatch",
  invalid: "manifest_invalid",
} as const;

/** Which document a size or digest check is about. */
export type ContentPart = "manifest" | "config";

/** A single-platform manifest before its config is read. */
export interface ParsedImageManifest {
  readonly kind: "image";
  readonly digest: string;
  readonly mediaType: string;
  readonly configDigest: string;
  /** The config descriptor's media type, null when the manifest omits it. */
  readonly configMediaType: string | null;
  readonly layers: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
}

/** A parsed manifest: an image awaiting its config, or a complete index. */
export type ParsedManifest = ParsedImageManifest | ImageIndexFacts;

/** What Ripple takes from an image config. */
export type ImageConfigFacts = Pick<ImageManifestFacts, "diffIds" | "labels" | "created" | "platform">;

/** Config facts of an artifact whose config is not an image config. */
export const EMPTY_CONFIG_FACTS: ImageConfigFacts = Object.freeze({ diffIds: [], labels: {}, created: null, platform: null });

// Lenient schemas: only the fields Ripple uses, unknown fields ignored, null where producers write null.
const StringMap = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((value) => Object.fromEntries(Object.entries(value ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === "string")));

const Digest = z.string().refine(isDigest, "not a digest");

const LoosePlatform = z
  .object({ os: z.string().nullish(), architecture: z.string().nullish(), variant: z.string().nullish() })
  .nullish()
  .catch(null);
type LoosePlatform = z.infer<typeof LoosePlatform>;

const Descriptor = z.object({ mediaType: z.string().nullish(), digest: Digest, platform: LoosePlatform });
type Descriptor = z.infer<typeof Descriptor>;

const ImageManifestDocument = z.object({
  mediaType: z.string().nullish(),
  config: Descriptor,
  layers: z.array(Descriptor),
  annotations: StringMap,
});
type ImageManifestDocument = z.infer<typeof ImageManifestDocument>;

const IndexDocument = z.object({
  mediaType: z.string().nullish(),
  manifests: z.array(Descriptor),
  annotations: StringMap,
});
type IndexDocument = z.infer<typeof IndexDocument>;

const ImageConfigDocument = z.object({
  created: z.unknown().optional().transform((value) => (typeof value === "string" && value !== "" ? value : null)),
  os: z.string().nullish(),
  architecture: z.string().nullish(),
  variant: z.string().nullish(),
  config: z.object({ Labels: StringMap }).nullish(),
  rootfs: z.object({ diff_ids: z.array(Digest).nullish() }).nullish(),
});
type ImageConfigDocument = z.infer<typeof ImageConfigDocument>;

const INDEX_TYPES: readonly string[] = [MANIFEST_MEDIA_TYPES.ociIndex, MANIFEST_MEDIA_TYPES.dockerManifestList];
const IMAGE_TYPES: readonly string[] = [MANIFEST_MEDIA_TYPES.ociManifest, MANIFEST_MEDIA_TYPES.dockerManifest];

/** `sha256:<hex>` of some bytes. */
export function computeDigest(content: Uint8Array): string {
  return `sha256:${createHash("sha256").update(content).digest("hex")}`;
}

/** The error for content past its size cap. */
export function contentTooLarge(part: ContentPart, maxBytes: number): AppError {
  return new AppError(CONTENT_ERROR_CODES.tooLarge, `${part} is larger than ${maxBytes} bytes`, { retryable: false, details: { part, maxBytes } });
}

/**
 * Checks size and digest of downloaded content and returns its sha256 digest.
 * @throws AppError `manifest_too_large` past `maxBytes`; `digest_mismatch` when `expectedDigest` is given and differs.
 */
export function verifyContent(content: Uint8Array, expected: { part: ContentPart; maxBytes: number; digest: string | null }): string {
  if (content.byteLength > expected.maxBytes) throw contentTooLarge(expected.part, expected.maxBytes);
  const actual = computeDigest(content);
  if (expected.digest !== null && actual !== expected.digest) {
    throw new AppError(CONTENT_ERROR_CODES.digestMismatch, `${expected.part} content does not match digest ${expected.digest}`, {
      retryable: false,
      details: { part: expected.part, expected: expected.digest, actual },
    });
  }
  return actual;
}

/** Whether a config descriptor's media type is a container image config (absent counts as one). */
export function isImageConfigMediaType(mediaType: string | null): boolean {
  return mediaType === null || (IMAGE_CONFIG_MEDIA_TYPES as readonly string[]).includes(mediaType);
}

/**
 * Parses the bytes of an OCI image manifest, OCI index, Docker v2 schema 2 manifest or Docker manifest list.
 * The kind comes from the document's `mediaType`, else the response's `Content-Type`, else its shape.
 * Index children whose platform is `unknown/unknown` (build attestations) are dropped.
 * @throws AppError `manifest_too_large`, `digest_mismatch` (against `expectedDigest`) or `manifest_invalid`; none retryable.
 */
export function parseManifest(content: Uint8Array, options: { expectedDigest?: string | null; contentType?: string | null } = {}): ParsedManifest {
  const digest = verifyContent(content, { part: "manifest", maxBytes: MAX_MANIFEST_BYTES, digest: options.expectedDigest ?? null });
  const json = parseJson(content, "manifest");
  const declared = declaredMediaType(json) ?? stripParameters(options.contentType ?? null);
  const kind = declared !== null && INDEX_TYPES.includes(declared) ? "index" : declared !== null && IMAGE_TYPES.includes(declared) ? "image" : inferKind(json);
  if (kind === "index") {
    const document = validate(IndexDocument, json, "manifest");
    return toIndexFacts(digest, declared !== null && INDEX_TYPES.includes(declared) ? declared : MANIFEST_MEDIA_TYPES.ociIndex, document);
  }
  if (kind === "image") {
    const document = validate(ImageManifestDocument, json, "manifest");
    return toParsedImage(digest, declared !== null && IMAGE_TYPES.includes(declared) ? declared : MANIFEST_MEDIA_TYPES.ociManifest, document);
  }
  throw invalid("manifest", `unsupported manifest media type ${declared ?? "(none)"}`, []);
}

/**
 * Parses an image config blob: `rootfs.diff_ids`, `config.Labels`, `created`, `os`/`architecture`/`variant`.
 * @throws AppError `manifest_too_large` (past {@link MAX_CONFIG_BYTES}), `digest_mismatch` or `manifest_invalid`.
 */
export function parseImageConfig(content: Uint8Array, configDigest: string): ImageConfigFacts {
  verifyContent(content, { part: "config", maxBytes: MAX_CONFIG_BYTES, digest: configDigest });
  const document = validate(ImageConfigDocument, parseJson(content, "config"), "config");
  return {
    diffIds: document.rootfs?.diff_ids ?? [],
    labels: document.config?.Labels ?? {},
    created: document.created,
    platform: toPlatform(document),
  };
}

/** Joins a parsed manifest with its config facts into the domain's facts. */
export function toImageFacts(manifest: ParsedImageManifest, config: ImageConfigFacts): ImageManifestFacts {
  return {
    kind: "image",
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    configDigest: manifest.configDigest,
    layers: manifest.layers,
    diffIds: config.diffIds,
    annotations: manifest.annotations,
    labels: config.labels,
    created: config.created,
    platform: config.platform,
  };
}

function toParsedImage(digest: string, mediaType: string, document: ImageManifestDocument): ParsedImageManifest {
  return {
    kind: "image",
    digest,
    mediaType,
    configDigest: document.config.digest,
    configMediaType: document.config.mediaType ?? null,
    layers: document.layers.map((layer) => layer.digest),
    annotations: document.annotations,
  };
}

function toIndexFacts(digest: string, mediaType: string, document: IndexDocument): ImageIndexFacts {
  const children: IndexChild[] = document.manifests
    .map((child: Descriptor) => ({ digest: child.digest, mediaType: child.mediaType ?? MANIFEST_MEDIA_TYPES.ociManifest, platform: toPlatform(child.platform) }))
    .filter((child) => !(child.platform?.os === "unknown" && child.platform.architecture === "unknown"));
  return { kind: "index", digest, mediaType, annotations: document.annotations, children };
}

function toPlatform(platform: LoosePlatform | ImageConfigDocument): Platform | null {
  if (!platform?.os || !platform.architecture) return null;
  return { os: platform.os, architecture: platform.architecture, variant: platform.variant || null };
}

function parseJson(content: Uint8Array, part: ContentPart): unknown {
  try {
    return JSON.parse(Buffer.from(content).toString("utf8")) as unknown;
  } catch {
    throw invalid(part, "not JSON", []);
  }
}

function declaredMediaType(json: unknown): string | null {
  if (typeof json !== "object" || json === null) return null;
  const mediaType = (json as { mediaType?: unknown }).mediaType;
  return typeof mediaType === "string" && mediaType !== "" ? mediaType : null;
}

function stripParameters(contentType: string | null): string | null {
  const bare = contentType?.split(";")[0]?.trim().toLowerCase();
  return bare ? bare : null;
}

function inferKind(json: unknown): "image" | "index" | null {
  if (typeof json !== "object" || json === null) return null;
  const shape = json as { manifests?: unknown; config?: unknown; layers?: unknown };
  if (Array.isArray(shape.manifests)) return "index";
  if (typeof shape.config === "object" && Array.isArray(shape.layers)) return "image";
  return null;
}

function validate<T>(schema: z.ZodType<T>, json: unknown, part: ContentPart): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.length === 0 ? "(root)" : issue.path.map(String).join("."), message: issue.message }));
  const first = issues[0] ?? { path: "(root)", message: "invalid" };
  throw invalid(part, `${first.path}: ${first.message}`, issues);
}

function invalid(part: ContentPart, reason: string, issues: ReadonlyArray<{ path: string; message: string }>): AppError {
  return new AppError(CONTENT_ERROR_CODES.invalid, `${part} is not valid: ${reason}`, { retryable: false, details: { part, issues } });
}
