import type { Agent } from "node:https";
import { Readable } from "node:stream";
import { ContainerRegistryContentClient, type ContainerRegistryContentClientOptions } from "@azure/container-registry";
import type { TokenCredential } from "@azure/identity";
import type { ManifestFacts } from "../../domain/image-facts.js";
import { isDigest, normalizeRegistryHost } from "../../domain/image-ref.js";
import { AppError, ConfigError } from "../../errors.js";
import { isNotFoundError, toUpstreamError } from "../azure-errors.js";
import {
  CONTENT_ERROR_CODES,
  EMPTY_CONFIG_FACTS,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  contentTooLarge,
  isImageConfigMediaType,
  parseImageConfig,
  parseManifest,
  toImageFacts,
  verifyContent,
  type ContentPart,
} from "./parse-manifest.js";

/** The service name registry failures carry. */
export const REGISTRY_SERVICE = "registry";

/** Registry error codes that mean "no such manifest" (the tag, the digest or the repository). */
export const MANIFEST_NOT_FOUND_CODES = ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"] as const;

/** The parts of the content client {@link readManifest} uses. */
export type ManifestReader = Pick<ContainerRegistryContentClient, "repositoryName" | "getManifest" | "downloadBlob">;

type PipelinePolicy = NonNullable<ContainerRegistryContentClientOptions["additionalPolicies"]>[number]["policy"];

/** How adapters build their per-repository content clients. */
export interface ContentClientOptions {
  /** `https://<host>`. */
  readonly endpoint: string;
  readonly credential: TokenCredential;
  /** Trusts a local CA, e.g. `new https.Agent({ ca })`. */
  readonly agent?: Agent;
}

const CONTENT_PATH = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

/**
 * Validates and normalizes a registry host (`myregistry.azurecr.io`, `127.0.0.1:5000`): lowercase,
 * no scheme, no path.
 * @throws ConfigError for anything else.
 */
export function normalizeAdapterHost(host: string): string {
  const trimmed = host.trim();
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:]+\](?::\d{1,5})?$/.test(trimmed)) {
    throw new ConfigError(`registry host "${host}" must be a host name with an optional port, without scheme or path`, [{ path: "host", message: "invalid host" }]);
  }
  return normalizeRegistryHost(trimmed);
}

/**
 * A pipeline policy that reads manifest and blob bodies itself, before the SDK does: it stops
 * reading past {@link MAX_MANIFEST_BYTES} / {@link MAX_CONFIG_BYTES} (the SDK would buffer a huge
 * manifest whole) and checks the bytes against the digest in the URL (the SDK's own blob check
 * throws from a stream event handler, where nobody can catch it). Verified bytes are handed on.
 */
export function createContentLimitPolicy(): PipelinePolicy {
  return {
    name: "rippleContentLimitPolicy",
    async sendRequest(request, next) {
      // The redirect policy rewrites request.url in place (ACR sends blobs to storage): keep the asked-for path.
      const match = request.method === "GET" ? CONTENT_PATH.exec(new URL(request.url).pathname) : null;
      const response = await next(request);
      const body = response.readableStreamBody;
      if (match === null || response.status !== 200 || body === undefined) return response;
      const part: ContentPart = match[2] === "manifests" ? "manifest" : "config";
      const maxBytes = part === "manifest" ? MAX_MANIFEST_BYTES : MAX_CONFIG_BYTES;
      const declaredLength = Number(response.headers.get("content-length") ?? Number.NaN);
      if (declaredLength > maxBytes) {
        destroyStream(body);
        throw contentTooLarge(part, maxBytes);
      }
      const reference = decodeURIComponent(match[3] ?? "");
      const content = await readLimited(body, maxBytes, part);
      verifyContent(content, { part, maxBytes, digest: isDigest(reference) ? reference : null });
      response.readableStreamBody = Readable.from([content]);
      return response;
    },
  };
}

/** A content client for one repository with the content limit policy and the given TLS agent. */
export function createContentClient(options: ContentClientOptions & { readonly repository: string }): ContainerRegistryContentClient {
  return new ContainerRegistryContentClient(options.endpoint, options.repository, options.credential, {
    ...(options.agent === undefined ? {} : { agent: options.agent }),
    additionalPolicies: [{ policy: createContentLimitPolicy(), position: "perCall" }],
  });
}

/**
 * Content clients by repository, reused so each keeps its cached registry token; the least recently
 * used one is dropped past `maxEntries`.
 */
export function createContentClientCache(options: ContentClientOptions, maxEntries = 256): (repository: string) => ContainerRegistryContentClient {
  const clients = new Map<string, ContainerRegistryContentClient>();
  return (repository) => {
    const existing = clients.get(repository);
    if (existing !== undefined) {
      clients.delete(repository);
      clients.set(repository, existing);
      return existing;
    }
    const client = createContentClient({ ...options, repository });
    clients.set(repository, client);
    if (clients.size > maxEntries) {
      const oldest = clients.keys().next().value;
      if (oldest !== undefined) clients.delete(oldest);
    }
    return client;
  };
}

/**
 * Reads a stream into memory, giving up (and destroying the stream, which closes the connection)
 * as soon as it passes `maxBytes`.
 * @throws AppError `manifest_too_large` past the cap; the stream's own error otherwise.
 */
export async function readLimited(stream: NodeJS.ReadableStream, maxBytes: number, part: ContentPart): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving a for-await loop early destroys the stream.
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk);
    total += buffer.byteLength;
    if (total > maxBytes) throw contentTooLarge(part, maxBytes);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads a manifest by tag or digest through a content client and, for a single-platform image whose
 * config is an image config, downloads and parses the config. An index's children are listed, not read.
 * Returns null when the registry reports the manifest or repository unknown. Idempotent (read only).
 * @throws AppError `manifest_too_large`, `digest_mismatch` or `manifest_invalid` (not retryable);
 *   UpstreamError (service `registry`) for every other failure, retryable for network errors, 429 and 5xx.
 */
export async function readManifest(client: ManifestReader, reference: string): Promise<ManifestFacts | null> {
  const name = `${client.repositoryName}${isDigest(reference) ? "@" : ":"}${reference}`;
  let result: Awaited<ReturnType<ManifestReader["getManifest"]>>;
  try {
    result = await client.getManifest(reference);
  } catch (error) {
    if (isNotFoundError(error, MANIFEST_NOT_FOUND_CODES)) return null;
    throw toRegistryError(error, `reading manifest ${name}`, "manifest");
  }
  const parsed = parseManifest(result.content, { expectedDigest: isDigest(reference) ? reference : null, contentType: result.mediaType });
  if (parsed.kind === "index") return parsed;
  if (!isImageConfigMediaType(parsed.configMediaType)) return toImageFacts(parsed, EMPTY_CONFIG_FACTS);
  const action = `reading config ${parsed.configDigest} of ${name}`;
  let config: Buffer;
  try {
    const blob = await client.downloadBlob(parsed.configDigest);
    config = await readLimited(blob.content, MAX_CONFIG_BYTES, "config");
  } catch (error) {
    throw toRegistryError(error, action, "config");
  }
  return toImageFacts(parsed, parseImageConfig(config, parsed.configDigest));
}

/** Maps a content client failure: the SDK's digest and size checks to content errors, the rest to UpstreamError. */
function toRegistryError(error: unknown, action: string, part: ContentPart): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof Error && error.name === "DigestMismatchError") {
    return new AppError(CONTENT_ERROR_CODES.digestMismatch, `${action}: ${part} content does not match its digest`, { retryable: false, details: { part } });
  }
  if (error instanceof SyntaxError) {
    return new AppError(CONTENT_ERROR_CODES.invalid, `${action}: ${part} is not valid: not JSON`, { retryable: false, details: { part, issues: [] } });
  }
  if (error instanceof Error && /exceeded maximum allowed length/.test(error.message)) {
    return contentTooLarge(part, part === "manifest" ? MAX_MANIFEST_BYTES : MAX_CONFIG_BYTES);
  }
  return toUpstreamError(error, { service: REGISTRY_SERVICE, action });
}

function destroyStream(stream: NodeJS.ReadableStream): void {
  const destroy = (stream as { destroy?: () => void }).destroy;
  if (typeof destroy === "function") destroy.call(stream);
}
