import { useContractTls } from "./helpers/contract-tls.js";
import { Agent } from "node:https";
import { join } from "node:path";
import { ContainerRegistryContentClient } from "@azure/container-registry";
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from "vitest";
import { createAcrManifestStore, type ManifestStore } from "../../shared/adapters/acr/acr-manifest-store.js";
import { anonymousCredential } from "../../shared/adapters/distribution/distribution-registry.js";
import { startRegistry, type LocalRegistry } from "../../shared/local/registry.js";
import type { StackTls } from "../../shared/local/tls.js";
import { ACR_ACCESS_TOKEN, ACR_API_VERSION, AAD_TOKEN, createFakeAadCredential, startFakeAcrServer, type FakeAcrServer } from "./helpers/fake-acr-server.js";
import { DOCKER_MANIFEST, buildImage, buildIndex, pushImage, sha256, type ImageContent } from "./helpers/image-content.js";
import { rejection, type ErrorShape } from "./helpers/rejection.js";

const amd64 = buildImage({ format: "docker", layers: ["rootfs", "app-amd64"], platform: { os: "linux", architecture: "amd64", variant: null } });
const arm64 = buildImage({ format: "docker", layers: ["rootfs", "app-arm64"], platform: { os: "linux", architecture: "arm64", variant: "v8" } });
const list = buildIndex({
  format: "docker",
  children: [
    { manifest: amd64.manifest, mediaType: DOCKER_MANIFEST, platform: { os: "linux", architecture: "amd64", variant: null } },
    { manifest: arm64.manifest, mediaType: DOCKER_MANIFEST, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
  ],
});
const listManifest = { digest: list.facts.digest, mediaType: list.mediaType, bytes: list.manifest };

let dir: string;
let tls: StackTls;
let agent: Agent;

useContractTls("ripple-acr-manifest-store-", (scratch) => ({ dir, tls, agent } = scratch), { keepAlive: false });

function upstream(message: string, status: number | null, retryable: boolean): ErrorShape {
  return { name: "UpstreamError", code: "upstream_failed", message: `registry: ${message}`, retryable, details: { service: "registry", status } };
}

describe("ACR manifest store against a fake ACR", () => {
  let server: FakeAcrServer;
  let store: ManifestStore;

  const add = (repository: string, image: ImageContent, tags: string[] = []): void => {
    for (const blob of [image.config, ...image.layers]) server.addBlob(repository, blob);
    server.addManifest(repository, image.manifest, image.mediaType, tags);
  };

  beforeEach(async () => {
    server = await startFakeAcrServer(tls);
    add("team/api", amd64, ["scratch-amd64"]);
    add("team/api", arm64, ["scratch-arm64"]);
    store = createAcrManifestStore({ host: server.host, credential: createFakeAadCredential(), agent });
  });

  afterEach(async () => {
    await server.stop();
  });

  it("reads a manifest's exact bytes by tag and by digest, and null for one it does not hold", async () => {
    const expected = { digest: amd64.facts.digest, mediaType: DOCKER_MANIFEST, bytes: amd64.manifest };
    expect(await store.readRawManifest("team/api", "scratch-amd64")).toEqual(expected);
    expect(await store.readRawManifest("team/api", amd64.facts.digest)).toEqual(expected);
    expect(await store.readRawManifest("team/api", "missing")).toBeNull();
    expect(await store.readRawManifest("other/repo", "1.0")).toBeNull();
  });

  it("pushes an index over manifests the repository holds under a tag, with ACR's token for push", async () => {
    expect(await store.writeManifest("team/api", "1.0", listManifest)).toBe(list.facts.digest);
    expect(server.tagged("team/api", "1.0")).toBe(list.facts.digest);
    expect(await store.readRawManifest("team/api", "1.0")).toEqual(listManifest);
    expect(server.requests.filter((request) => request.method === "PUT")).toEqual([
      { method: "PUT", path: "/v2/team%2Fapi/manifests/1.0", authorized: false },
      { method: "PUT", path: "/v2/team%2Fapi/manifests/1.0", authorized: true },
    ]);
  });

  it("reports an index whose child the repository lacks as a non-retryable failure, and tags nothing", async () => {
    expect(await rejection(store.writeManifest("other/api", "1.0", listManifest))).toEqual(
      upstream(`pushing manifest ${list.facts.digest} to other/api:1.0 failed with HTTP 400 (MANIFEST_BLOB_UNKNOWN)`, 400, false),
    );
    expect(server.tagged("other/api", "1.0")).toBeUndefined();
  });

  it("removes a tag and keeps its manifest; a tag already gone is no error", async () => {
    await store.deleteTag("team/api", "scratch-arm64");
    await store.deleteTag("team/api", "scratch-arm64");
    expect(server.tagged("team/api", "scratch-arm64")).toBeUndefined();
    expect((await store.readRawManifest("team/api", arm64.facts.digest))?.digest).toBe(arm64.facts.digest);
    expect(server.requests.filter((request) => request.method === "DELETE").map(({ path, authorized }) => ({ path, authorized }))).toEqual([
      { path: `/acr/v1/team%2Fapi/_tags/scratch-arm64?api-version=${ACR_API_VERSION}`, authorized: false },
      { path: `/acr/v1/team%2Fapi/_tags/scratch-arm64?api-version=${ACR_API_VERSION}`, authorized: true },
      { path: `/acr/v1/team%2Fapi/_tags/scratch-arm64?api-version=${ACR_API_VERSION}`, authorized: true },
    ]);
  });

  it("reports a registry that keeps answering 503 as a retryable failure that names no token", async () => {
    server.fail("PUT", "/v2/team/api/manifests/1.0", 503, Infinity);
    const shape = await rejection(store.writeManifest("team/api", "1.0", listManifest), { secret: ACR_ACCESS_TOKEN });
    expect(shape).toEqual(upstream(`pushing manifest ${list.facts.digest} to team/api:1.0 failed with HTTP 503 (UNAVAILABLE)`, 503, true));
    expect(JSON.stringify(shape)).not.toContain(AAD_TOKEN);
  });
});

describe("ACR manifest store against docker-registry", () => {
  let registry: LocalRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ dir: join(dir, "distribution"), tls });
    const client = new ContainerRegistryContentClient(registry.url, "team/api", anonymousCredential(), { agent });
    for (const image of [amd64, arm64]) await pushImage(client, image);
  });

  afterAll(async () => {
    await registry?.stop();
  });

  it("pushes an index a real registry accepts, and refuses one over a manifest it lacks", async () => {
    const store = createAcrManifestStore({ host: registry.host, credential: anonymousCredential(), agent });
    expect(await store.writeManifest("team/api", "1.0", listManifest)).toBe(list.facts.digest);
    expect(await store.readRawManifest("team/api", "1.0")).toEqual(listManifest);
    const stray = buildIndex({ format: "docker", children: [{ manifest: Buffer.from("{}"), mediaType: DOCKER_MANIFEST, platform: { os: "linux", architecture: "s390x", variant: null } }] });
    const refused = await rejection(store.writeManifest("team/api", "2.0", { digest: sha256(stray.manifest), mediaType: stray.mediaType, bytes: stray.manifest }));
    expect(refused).toMatchObject({ name: "UpstreamError", retryable: false, details: { service: "registry", status: 400 } });
    expect(await store.readRawManifest("team/api", "2.0")).toBeNull();
  });
});
