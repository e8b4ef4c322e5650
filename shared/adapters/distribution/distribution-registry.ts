import { request, type Agent } from "node:https";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { z } from "zod";
import { AppError, UpstreamError } from "../../errors.js";
import type { ImageRegistry } from "../../ports/image-registry.js";
import { toUpstreamError } from "../azure-errors.js";
import { nextPageUrl } from "../oci/link-header.js";
import { CONTENT_ERROR_CODES } from "../oci/parse-manifest.js";
import { REGISTRY_SERVICE, createContentClientCache, normalizeAdapterHost, readLimited, readManifest } from "../oci/read-manifest.js";

/** Options of {@link createDistributionRegistry}. */
export interface DistributionRegistryOptions {
  /** `host[:port]` of the registry; the adapter contacts no other. */
  readonly host: string;
  /** Trusts the registry's CA, e.g. `new https.Agent({ ca })`. */
  readonly agent?: Agent;
  /** For manifest and blob reads from a registry that asks for ACR-style tokens; anonymous when absent. */
  readonly credential?: TokenCredential;
  /** `n` of each catalog and tag-list page (default 100). */
  readonly pageSize?: number;
  /** Per-request timeout of catalog and tag-list calls in milliseconds (default 30 000). */
  readonly timeoutMs?: number;
}

const MAX_LIST_PAGE_BYTES = 4 * 1024 * 1024;
const MAX_PAGES = 10_000;

const CatalogPage = z.object({ repositories: z.array(z.string()).nullish() });
const TagsPage = z.object({ tags: z.array(z.string()).nullish() });

/**
 * A credential for registries that allow anonymous pulls: the content client never asks for a token
 * unless the registry answers 401, and then this one fails with a clear message.
 */
export function anonymousCredential(): TokenCredential {
  return {
    getToken(): Promise<AccessToken | null> {
      return Promise.reject(new Error("the registry asked for authentication, but the adapter was configured for anonymous access"));
    },
  };
}

/**
 * The {@link ImageRegistry} adapter for a CNCF Distribution registry (the local stack). Manifests and
 * blobs go through the Azure SDK content client; the catalog and tag lists through the plain OCI
 * distribution API (`/v2/_catalog`, `/v2/<name>/tags/list`, following `Link`), because the SDK's
 * listing calls use ACR-only routes.
 */
export function createDistributionRegistry(options: DistributionRegistryOptions): ImageRegistry {
  const host = normalizeAdapterHost(options.host);
  const endpoint = `https://${host}`;
  const pageSize = options.pageSize ?? 100;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const clientFor = createContentClientCache({
    endpoint,
    credential: options.credential ?? anonymousCredential(),
    ...(options.agent === undefined ? {} : { agent: options.agent }),
  });
  const get = (url: URL, action: string): Promise<ListResponse> => getJson(url, { agent: options.agent, timeoutMs, action });

  return {
    host,
    readManifest: (repository, reference) => readManifest(clientFor(repository), reference),

    async listRepositories() {
      const pages = await listPages(new URL(`/v2/_catalog?n=${pageSize}`, endpoint), endpoint, "listing repositories", get);
      if (pages === null) throw new UpstreamError(REGISTRY_SERVICE, "listing repositories failed with HTTP 404", { status: 404 });
      return pages.flatMap((page) => parsePage(CatalogPage, page, "listing repositories").repositories ?? []).sort();
    },

    async listTags(repository) {
      const action = `listing tags of ${repository}`;
      const path = repository.split("/").map(encodeURIComponent).join("/");
      const pages = await listPages(new URL(`/v2/${path}/tags/list?n=${pageSize}`, endpoint), endpoint, action, get);
      if (pages === null) return [];
      return pages.flatMap((page) => parsePage(TagsPage, page, action).tags ?? []).sort();
    },
  };
}

interface ListResponse {
  readonly status: number;
  readonly body: unknown;
  readonly link: string | null;
}

/** Every page of a paginated list, or null when the first page is a 404 (an unknown repository). */
async function listPages(first: URL, endpoint: string, action: string, get: (url: URL, action: string) => Promise<ListResponse>): Promise<unknown[] | null> {
  const pages: unknown[] = [];
  let url: URL | null = first;
  while (url !== null) {
    if (pages.length >= MAX_PAGES) throw new UpstreamError(REGISTRY_SERVICE, `${action}: more than ${MAX_PAGES} pages`, { retryable: false });
    const response = await get(url, action);
    if (response.status === 404 && pages.length === 0) return null;
    if (response.status !== 200) throw new UpstreamError(REGISTRY_SERVICE, `${action} failed with HTTP ${response.status}`, { status: response.status });
    pages.push(response.body);
    url = nextPageUrl(response.link, url, { origin: endpoint, service: REGISTRY_SERVICE, action });
  }
  return pages;
}

function parsePage<T>(schema: z.ZodType<T>, body: unknown, action: string): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new UpstreamError(REGISTRY_SERVICE, `${action}: unexpected response body`, { retryable: false });
  return result.data;
}

function getJson(url: URL, options: { agent: Agent | undefined; timeoutMs: number; action: string }): Promise<ListResponse> {
  return new Promise<ListResponse>((resolve, reject) => {
    const req = request(url, { method: "GET", headers: { accept: "application/json" }, ...(options.agent === undefined ? {} : { agent: options.agent }) }, (res) => {
      const status = res.statusCode ?? 0;
      const link = typeof res.headers.link === "string" ? res.headers.link : null;
      if (status !== 200) {
        res.resume();
        resolve({ status, body: null, link: null });
        return;
      }
      readLimited(res, MAX_LIST_PAGE_BYTES, "manifest")
        .then((content) => {
          try {
            resolve({ status, body: JSON.parse(content.toString("utf8")) as unknown, link });
          } catch {
            reject(new UpstreamError(REGISTRY_SERVICE, `${options.action}: response is not JSON`, { retryable: false }));
          }
        })
        .catch((error: unknown) => {
          const tooLarge = error instanceof AppError && error.code === CONTENT_ERROR_CODES.tooLarge;
          reject(tooLarge ? new UpstreamError(REGISTRY_SERVICE, `${options.action}: page larger than ${MAX_LIST_PAGE_BYTES} bytes`, { retryable: false }) : toUpstreamError(error, { service: REGISTRY_SERVICE, action: options.action }));
        });
    });
    req.setTimeout(options.timeoutMs, () => req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (error) => reject(toUpstreamError(error, { service: REGISTRY_SERVICE, action: options.action })));
    req.end();
  });
}
