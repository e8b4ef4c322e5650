import type { ContainerRegistryManagementClient, ImportImageParameters, RegistriesImportImageOptionalParams } from "@azure/arm-containerregistry";
import { normalizeRegistryHost, parseImageRef } from "../../domain/image-ref.js";
import { AppError, ConfigError, UpstreamError } from "../../errors.js";
import type { ImageMirror, MirrorRequest, MirrorResult } from "../../ports/image-mirror.js";
import { isNetworkError, readStatus, toUpstreamError } from "../azure-errors.js";

/** The service name in this adapter's upstream errors. */
export const ACR_IMPORT_SERVICE = "acr-import";

/**
 * ARM error codes of a failed import operation that say the failure was the service's and passing, so
 * the same import may succeed later: ARM's generic server and gateway codes, its throttling codes, and a
 * conflicting operation on the registry. Every other code — `InvalidParameters` (which ACR also reports
 * for a source image or digest it cannot find, or blobs it cannot copy from the source), `Unauthorized`,
 * `ResourceNotFound`, … — needs a person or a different request, so it is not retried.
 */
export const TRANSIENT_IMPORT_ERROR_CODES: ReadonlySet<string> = new Set([
  "InternalServerError",
  "InternalError",
  "ServiceUnavailable",
  "BadGateway",
  "GatewayTimeout",
  "RequestTimeout",
  "OperationTimedOut",
  "TooManyRequests",
  "Throttled",
  "SubscriptionRequestsThrottled",
  "ResourceGroupRequestsThrottled",
  "AnotherOperationInProgress",
]);

/** Credentials ACR uses to pull from the source registry (e.g. a token from a Key Vault reference in the app settings). */
export interface SourceCredentials {
  readonly username: string;
  readonly password: string;
}

/** Options of {@link createAcrImportMirror}. */
export interface AcrImportMirrorOptions {
  /** An ARM client for the registry's subscription; the caller owns its credential and pipeline options. */
  readonly client: ContainerRegistryManagementClient;
  /** When given, must be the client's own subscription. */
  readonly subscriptionId?: string;
  readonly resourceGroup: string;
  /** The registry's resource name (`contoso`), not its login server. */
  readonly registryName: string;
  /** The registry's login server (`contoso.azurecr.io`): the mirror's `registry`. */
  readonly registryHost: string;
  /** Credentials for a source registry host (normalized, `docker.io` for Docker Hub); null or absent: anonymous pull. */
  readonly sourceCredentials?: (registry: string) => SourceCredentials | null;
  /** Delay between polls of the import's long-running operation when ARM sends no `Retry-After` (default: the SDK's). */
  readonly pollIntervalMs?: number;
}

/**
 * The {@link ImageMirror} adapter for ACR's server-side import (`registries.beginImportImageAndWait`):
 * ACR pulls `registry/repository@digest` itself — by digest, so a tag that moved again meanwhile can never
 * be imported instead — and points `target.repository:target.tag` at it (mode `Force`, so the tag moves).
 * Nothing passes through the function. Idempotent: importing the digest the tag already holds changes nothing.
 * Docker Hub is addressed as `docker.io` with `library/` for official images, as ACR's documentation does.
 *
 * @throws AppError `mirror_request_invalid` (not retryable, ARM not called) for a request ACR cannot import
 *   by digest. UpstreamError of service `acr-import`: retryable for network errors, 408, 429 and 5xx (after
 *   the SDK's own retries); for an operation that ARM reports `Failed`, retryable only when its error code
 *   is one of {@link TRANSIENT_IMPORT_ERROR_CODES}. Messages never carry the source password.
 * @throws ConfigError when `subscriptionId` is not the client's own or `registryHost` is not a host.
 */
export function createAcrImportMirror(options: AcrImportMirrorOptions): ImageMirror {
  const { client, resourceGroup, registryName } = options;
  if (options.subscriptionId !== undefined && client.subscriptionId.toLowerCase() !== options.subscriptionId.toLowerCase()) {
    throw new ConfigError("the ACR import mirror's subscriptionId differs from its ARM client's", [{ path: "subscriptionId", message: "must equal the client's subscriptionId" }]);
  }

  const registry = normalizeRegistryHost(options.registryHost);
  const parsed = parseImageRef(`${registry}/repository`);
  if (!parsed.ok || parsed.value.registry !== registry) {
    throw new ConfigError(`the ACR import mirror's registryHost "${options.registryHost}" is not a login server`, [{ path: "registryHost", message: "must be a host such as contoso.azurecr.io" }]);
  }

  return {
    registry,

    async mirror(request: MirrorRequest, mirrorOptions: { readonly signal?: AbortSignal } = {}): Promise<MirrorResult> {
      const parameters = createImportParameters(request, options);
      const action = `importing ${parameters.source.registryUri}/${parameters.source.sourceImage} as ${request.target.repository}:${request.target.tag}`;
      // The poller reports a failed operation as a plain Error whose text is all it keeps of ARM's answer:
      // read the error code from the last response instead.
      let lastBody: unknown = undefined;
      const onResponse: RegistriesImportImageOptionalParams["onResponse"] = (response) => {
        lastBody = response.parsedBody;
      };
      try {
        await client.registries.beginImportImageAndWait(resourceGroup, registryName, parameters, {
          onResponse,
          ...(mirrorOptions.signal === undefined ? {} : { abortSignal: mirrorOptions.signal }),
          ...(options.pollIntervalMs === undefined ? {} : { updateIntervalInMs: options.pollIntervalMs }),
        });
      } catch (error) {
        throw redact(toImportError(error, lastBody, action), parameters.source.credentials?.password);
      }
      return { digest: request.source.digest, method: "import", blobsCopied: 0, blobsSkipped: 0 };
    },
  };
}

/**
 * The ARM `importImage` body for a mirror request: the source by digest from its registry host, one target
 * tag, mode `Force`, and credentials only when the callback gives some.
 * @throws AppError `mirror_request_invalid` when the source is not `host/repository@digest` or the target
 *   not `repository:tag`.
 */
export function createImportParameters(request: MirrorRequest, options: Pick<AcrImportMirrorOptions, "registryHost" | "sourceCredentials">): ImportImageParameters {
  const { source, target } = request;
  const targetRegistry = normalizeRegistryHost(options.registryHost);
  const registry = normalizeRegistryHost(source.registry);
  const sourceRef = parseImageRef(`${source.registry}/${source.repository}@${source.digest}`, { defaultTag: false });
  if (!sourceRef.ok) invalid(request, sourceRef.reason);
  // A host without a dot or port would parse as Docker Hub's first path component.
  if (sourceRef.value.registry !== registry) invalid(request, `"${source.registry}" is not a registry host`);
  if (sourceRef.value.tag !== null) invalid(request, `the source repository "${source.repository}" names a tag; ACR imports by digest only`);
  const targetRef = parseImageRef(`${targetRegistry}/${target.repository}:${target.tag}`);
  if (!targetRef.ok) invalid(request, targetRef.reason);
  if (targetRef.value.repository !== target.repository) invalid(request, `"${target.repository}" is not a repository of this registry`);

  const credentials = options.sourceCredentials?.(registry) ?? null;
  return {
    source: {
      registryUri: registry,
      sourceImage: `${sourceRef.value.repository}@${source.digest}`,
      ...(credentials === null ? {} : { credentials: { username: credentials.username, password: credentials.password } }),
    },
    targetTags: [`${target.repository}:${target.tag}`],
    mode: "Force",
  };
}

function invalid(request: MirrorRequest, reason: string): never {
  const { source, target } = request;
  throw new AppError("mirror_request_invalid", `cannot import ${source.registry}/${source.repository}@${source.digest} with ACR: ${reason}`, {
    retryable: false,
    details: { source: { ...source }, target: { ...target } },
  });
}

/** An ARM failure as an upstream error; a `Failed` (or `Canceled`) operation is judged by its error code. */
function toImportError(error: unknown, lastBody: unknown, action: string): AppError {
  const operation = readFinalOperation(lastBody);
  if (operation === null || readStatus(error) !== null || isNetworkError(error) || error instanceof AppError) {
    return toUpstreamError(error, { service: ACR_IMPORT_SERVICE, action });
  }
  if (operation.code === null) {
    return new UpstreamError(ACR_IMPORT_SERVICE, `${action} failed: the import operation ended ${operation.status} without an error code`, { status: null, retryable: false });
  }
  const text = operation.message === null ? "" : `: ${operation.message.slice(0, 200)}`;
  return new UpstreamError(ACR_IMPORT_SERVICE, `${action} failed: the import operation ended ${operation.status} with ${operation.code}${text}`, {
    status: null,
    retryable: TRANSIENT_IMPORT_ERROR_CODES.has(operation.code),
  });
}

/** The status and ARM error of an operation-status body that ended without success; null for any other body. */
function readFinalOperation(body: unknown): { status: string; code: string | null; message: string | null } | null {
  if (typeof body !== "object" || body === null) return null;
  const { status, error } = body as { status?: unknown; error?: unknown };
  if (typeof status !== "string" || !["failed", "canceled", "cancelled"].includes(status.toLowerCase())) return null;
  const { code, message } = (typeof error === "object" && error !== null ? error : {}) as { code?: unknown; message?: unknown };
  return { status, code: typeof code === "string" && code !== "" ? code : null, message: typeof message === "string" && message !== "" ? message : null };
}

/** ARM's texts and the SDK's serializer messages may quote request values: keep the source password out. */
function redact(error: AppError, secret: string | undefined): AppError {
  if (secret !== undefined && secret !== "" && error.message.includes(secret)) error.message = error.message.replaceAll(secret, "***");
  return error;
}
