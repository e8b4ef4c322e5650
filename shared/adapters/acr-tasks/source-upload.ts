/**
 * Uploads a build's source archive to the registry's build-source storage, as `az acr build` does: ARM's
 * `listBuildSourceUploadUrl` hands out a short-lived SAS URL and the relative path a `DockerBuildRequest`
 * names as its `sourceLocation`. The SAS URL is used for one PUT and never stored, logged or put in an error.
 */
import { request as httpsRequest, type Agent } from "node:https";
import type { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import { UpstreamError } from "../../errors.js";
import { toUpstreamError } from "../azure-errors.js";

/** Where a registry's build sources are uploaded. */
export interface SourceUploadTarget {
  readonly client: ContainerRegistryManagementClient;
  readonly resourceGroup: string;
  readonly registryName: string;
  /** The agent of the PUT to the upload URL (a private CA on the local stack); Node's default otherwise. */
  readonly agent?: Agent;
  readonly service: string;
}

const UPLOAD_TIMEOUT_MS = 120_000;

/**
 * Uploads `archive` (a gzipped tar) and returns its relative path for `sourceLocation`. Not idempotent
 * (each call is a new blob), harmless to repeat.
 * @throws UpstreamError of `target.service`: ARM's failure, or the upload's HTTP status (retryable for
 * network errors, 408, 429 and 5xx); neither names the upload URL.
 */
export async function uploadBuildSource(target: SourceUploadTarget, archive: Uint8Array, action: string): Promise<string> {
  let definition: { uploadUrl?: string; relativePath?: string };
  try {
    definition = await target.client.registries.getBuildSourceUploadUrl(target.resourceGroup, target.registryName);
  } catch (error) {
    throw toUpstreamError(error, { service: target.service, action: `${action}: getting an upload location` });
  }
  const { uploadUrl, relativePath } = definition;
  if (uploadUrl === undefined || !uploadUrl.startsWith("https://") || relativePath === undefined || relativePath === "") {
    throw new UpstreamError(target.service, `${action} failed: ARM answered no https upload URL and relative path`, { status: null, retryable: false });
  }
  const status = await putBlockBlob(uploadUrl, archive, target.agent).catch(() => null);
  if (status === null) throw new UpstreamError(target.service, `${action} failed: network error uploading the source`, { status: null });
  if (status < 200 || status >= 300) throw new UpstreamError(target.service, `${action} failed: uploading the source answered HTTP ${status}`, { status });
  return relativePath;
}

/** PUTs `body` as a block blob; resolves the HTTP status. Errors carry no URL (the caller drops them). */
function putBlockBlob(url: string, body: Uint8Array, agent: Agent | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { "x-ms-blob-type": "BlockBlob", "content-type": "application/gzip", "content-length": String(body.byteLength) };
    const request = httpsRequest(url, { method: "PUT", headers, ...(agent === undefined ? {} : { agent }) }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
      response.on("error", reject);
    });
    request.setTimeout(UPLOAD_TIMEOUT_MS, () => request.destroy(new Error("upload timed out")));
    request.on("error", reject);
    request.end(body);
  });
}
