import { useContractTls } from "./helpers/contract-tls.js";
import { Agent } from "node:https";
import { join } from "node:path";
import { inspect } from "node:util";
import { ContainerRegistryContentClient } from "@azure/container-registry";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAcrRegistry } from "../../shared/adapters/acr/acr-registry.js";
import { anonymousCredential, createDistributionRegistry } from "../../shared/adapters/distribution/distribution-registry.js";
import type { ManifestFacts } from "../../shared/domain/image-facts.js";
import { UpstreamError } from "../../shared/errors.js";
import { startRegistry, type LocalRegistry } from "../../shared/local/registry.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { ImageRegistry } from "../../shared/ports/image-registry.js";
import { AAD_TOKEN, ACR_ACCESS_TOKEN, ACR_API_VERSION, createFakeAadCredential, startFakeAcrServer, type FakeAcrServer } from "./helpers/fake-acr-server.js";
import { DOCKER_MANIFEST, OCI_MANIFEST, buildImage, buildIndex, pushImage, pushIndex, sha256, type ImageContent } from "./helpers/image-content.js";
import { rejection, type ErrorShape } from "./helpers/rejection.js";

const BASE_ANNOTATIONS = { "org.opencontainers.image.base.name": "docker.io/library/alpine:3.20", "org.opencontainers.image.base.digest": sha256("alpine-index") };

const alpine = buildImage({
  format: "oci",
  layers: ["alpine-rootfs", "ca-certificates"],
  platform: { os: "linux", architecture: "arm64", variant: "v8" },
  labels: { "org.opencontainers.image.source": "https://github.com/example/base" },
  annotations: BASE_ANNOTATIONS,
});
const appAmd64 = buildImage({ format: "oci", layers: ["alpine-rootfs", "app-amd64"], platform: { os: "linux", architecture: "amd64", variant: null }, labels: {} });
const appArm = buildImage({ format: "oci", layers: ["alpine-rootfs", "app-arm"], platform: { os: "linux", architecture: "arm", variant: "v7" }, labels: {} });
const attestation = buildImage({ format: "oci", layers: ["in-toto"], platform: { os: "unknown", architecture: "unknown", variant: null } });
const appIndex = buildIndex({
  format: "oci",
  children: [
    { manifest: appAmd64.manifest, mediaType: OCI_MANIFEST, platform: appAmd64.facts.platform ?? never() },
    { manifest: appArm.manifest, mediaType: OCI_MANIFEST, platform: appArm.facts.platform ?? never() },
    {
      manifest: attestation.manifest,
      mediaType: OCI_MANIFEST,
      platform: { os: "unknown", architecture: "unknown", variant: null },
      annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": appAmd64.facts.digest },
    },
  ],
  annotations: { "org.opencontainers.image.created": "2024-07-22T18:05:00Z" },
});
const legacy = buildImage({ format: "docker", layers: ["debian-rootfs"], platform: { os: "linux", architecture: "amd64", variant: null }, labels: null, created: "2024-06-13T01:20:31.734617455Z" });
const legacyArm = buildImage({ format: "docker", layers: ["debian-rootfs-arm"], platform: { os: "linux", architecture: "arm64", variant: "v8" }, labels: { maintainer: "ops" } });
const legacyList = buildIndex({
  format: "docker",
  children: [
    { manifest: legacy.manifest, mediaType: DOCKER_MANIFEST, platform: legacy.facts.platform ?? never() },
    { manifest: legacyArm.manifest, mediaType: DOCKER_MANIFEST, platform: legacyArm.facts.platform ?? never() },
  ],
});
const emptyConfig = Buffer.from("{}");
const artifactManifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: "application/spdx+json",
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(emptyConfig), size: 2 },
    layers: [{ mediaType: "application/spdx+json", digest: sha256("layer:sbom"), size: 10 }],
  }),
);
const artifactFacts: ManifestFacts = {
  kind: "image",
  digest: sha256(artifactManifest),
  mediaType: OCI_MANIFEST,
  configDigest: sha256(emptyConfig),
  layers: [sha256("layer:sbom")],
  diffIds: [],
  annotations: {},
  labels: {},
  created: null,
  platform: null,
};

function never(): never {
  throw new Error("unreachable");
}


let dir: string;
let tls: StackTls;
let agent: Agent;

useContractTls("ripple-registry-contract-", (scratch) => ({ dir, tls, agent } = scratch), { keepAlive: false });

describe("Distribution adapter against docker-registry", () => {
  let server: LocalRegistry;
  let registry: ImageRegistry;

  beforeAll(async () => {
    server = await startRegistry({ dir: join(dir, "distribution"), tls });
    const client = (repository: string): ContainerRegistryContentClient =>
      new ContainerRegistryContentClient(server.url, repository, anonymousCredential(), { agent });
    const base = client("base/alpine");
    await pushImage(base, alpine, "3.20");
    for (const tag of ["3.20.1", "3", "latest"]) await base.setManifest(alpine.manifest, { mediaType: alpine.mediaType, tag });
    const app = client("team/app");
    for (const child of [appAmd64, appArm, attestation]) await pushImage(app, child);
    await pushIndex(app, appIndex, "1.0");
    await pushImage(client("legacy/app"), legacy, "2024");
    const multi = client("legacy/multi");
    for (const child of [legacy, legacyArm]) await pushImage(multi, child);
    await pushIndex(multi, legacyList, "latest");
    const sbom = client("artifacts/sbom");
    await sbom.uploadBlob(emptyConfig);
    await sbom.uploadBlob(Buffer.from("layer:sbom"));
    await sbom.setManifest(artifactManifest, { mediaType: OCI_MANIFEST, tag: "v1" });
    registry = createDistributionRegistry({ host: server.host, agent, pageSize: 2 });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it.each<{ name: string; repository: string; reference: () => string; expected: () => ManifestFacts }>([
    { name: "an OCI image by tag", repository: "base/alpine", reference: () => "3.20", expected: () => alpine.facts },
    { name: "an OCI image by digest", repository: "base/alpine", reference: () => alpine.facts.digest, expected: () => alpine.facts },
    { name: "an OCI index, without its attestation", repository: "team/app", reference: () => "1.0", expected: () => appIndex.facts },
    { name: "an index child by digest", repository: "team/app", reference: () => appArm.facts.digest, expected: () => appArm.facts },
    { name: "a Docker v2 image with null labels", repository: "legacy/app", reference: () => "2024", expected: () => legacy.facts },
    { name: "a Docker manifest list", repository: "legacy/multi", reference: () => "latest", expected: () => legacyList.facts },
    { name: "an OCI artifact, whose config is not read as an image config", repository: "artifacts/sbom", reference: () => "v1", expected: () => artifactFacts },
  ])("reads $name", async ({ repository, reference, expected }) => {
    expect(await registry.readManifest(repository, reference())).toEqual(expected());
  });

  it.each([
    ["an unknown tag", "base/alpine", "9.99"],
    ["an unknown digest", "base/alpine", sha256("absent")],
    ["an unknown repository", "missing/repo", "1.0"],
  ])("returns null for %s", async (_name, repository, reference) => {
    expect(await registry.readManifest(repository, reference)).toBeNull();
  });

  it("lists every repository across catalog pages of two", async () => {
    expect(await registry.listRepositories()).toEqual(["artifacts/sbom", "base/alpine", "legacy/app", "legacy/multi", "team/app"]);
  });

  it.each([
    ["base/alpine", ["3", "3.20", "3.20.1", "latest"]],
    ["team/app", ["1.0"]],
    ["missing/repo", []],
  ])("lists the tags of %s across pages of two", async (repository, expected) => {
    expect(await registry.listTags(repository)).toEqual(expected);
  });

  it("reports an unreachable registry as a retryable upstream failure", async () => {
    const closed = createDistributionRegistry({ host: "127.0.0.1:1", agent });
    expect(await rejection(closed.listRepositories())).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: "registry: listing repositories failed: network error ECONNREFUSED",
      retryable: true,
      details: { service: "registry", status: null },
    });
  });

  it.each(["https://127.0.0.1:5000", "127.0.0.1:5000/v2", ""])("refuses the host %j", (host) => {
    expect(() => createDistributionRegistry({ host })).toThrowError(expect.objectContaining({ code: "config_invalid" }));
  });
});

describe("ACR adapter against a fake ACR", () => {
  let server: FakeAcrServer;
  let registry: ImageRegistry;
  const corruptConfig = Buffer.from('{"os":"linux","architecture":"amd64","tampered":true}');
  const hugeConfigDigest = sha256("a config that is far too large");
  const withConfig = (configDigest: string): Buffer =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: 1 }, layers: [] }));

  const add = (repository: string, image: ImageContent, tags: string[] = []): void => {
    for (const blob of [image.config, ...image.layers]) server.addBlob(repository, blob);
    server.addManifest(repository, image.manifest, image.mediaType, tags);
  };

  beforeAll(async () => {
    server = await startFakeAcrServer(tls);
    add("base/alpine", alpine, ["3.20", "3.20.1", "3", "latest"]);
    for (const child of [appAmd64, appArm, attestation]) add("team/app", child);
    server.addManifest("team/app", appIndex.manifest, appIndex.mediaType, ["1.0"]);
    add("legacy/app", legacy, ["2024"]);
    add("flaky/app", appAmd64, ["1.0"]);
    add("limited/app", appAmd64, ["1.0"]);
    server.addBlobAs("corrupt/app", sha256(appAmd64.config), corruptConfig);
    server.addManifest("corrupt/app", withConfig(sha256(appAmd64.config)), OCI_MANIFEST, ["config"]);
    server.addManifestAs("corrupt/app", sha256("what was asked for"), sha256("what was asked for"), appAmd64.manifest, OCI_MANIFEST);
    server.addStreamedBlob("huge/app", hugeConfigDigest, 64 * 1024 * 1024);
    server.addManifest("huge/app", withConfig(hugeConfigDigest), OCI_MANIFEST, ["1.0"]);
    server.addManifest("huge/app", Buffer.concat([appAmd64.manifest, Buffer.alloc(5 * 1024 * 1024, " ")]), OCI_MANIFEST, ["big"]);
    registry = createAcrRegistry({ host: server.host, credential: createFakeAadCredential(), agent, pageSize: 2 });
  });

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(() => {
    server.requests.length = 0;
  });

  it("reads an image through ACR's token exchange and follows the blob redirect without the token", async () => {
    expect(await registry.readManifest("base/alpine", "3.20")).toEqual(alpine.facts);
    const blob = encodeURIComponent(alpine.facts.configDigest);
    expect(server.requests).toEqual([
      { method: "GET", path: "/v2/base%2Falpine/manifests/3.20", authorized: false },
      { method: "POST", path: `/oauth2/exchange?api-version=${ACR_API_VERSION}`, authorized: false },
      { method: "POST", path: `/oauth2/token?api-version=${ACR_API_VERSION}`, authorized: false },
      { method: "GET", path: "/v2/base%2Falpine/manifests/3.20", authorized: true },
      { method: "GET", path: `/v2/base%2Falpine/blobs/${blob}`, authorized: true },
      { method: "GET", path: `/_storage/${blob}?repository=base%2Falpine`, authorized: false },
    ]);
  });

  it.each<{ name: string; repository: string; reference: () => string; expected: () => ManifestFacts }>([
    { name: "an OCI index, without its attestation", repository: "team/app", reference: () => "1.0", expected: () => appIndex.facts },
    { name: "an index child by digest", repository: "team/app", reference: () => appAmd64.facts.digest, expected: () => appAmd64.facts },
    { name: "a Docker v2 image", repository: "legacy/app", reference: () => "2024", expected: () => legacy.facts },
  ])("reads $name", async ({ repository, reference, expected }) => {
    expect(await registry.readManifest(repository, reference())).toEqual(expected());
  });

  it("retries a 503 and then reads the manifest", async () => {
    server.fail("GET", "/v2/flaky/app/manifests/1.0", 503, 1);
    expect(await registry.readManifest("flaky/app", "1.0")).toEqual(appAmd64.facts);
    expect(server.requests.filter((request) => request.path === "/v2/flaky%2Fapp/manifests/1.0")).toEqual([
      { method: "GET", path: "/v2/flaky%2Fapp/manifests/1.0", authorized: false },
      { method: "GET", path: "/v2/flaky%2Fapp/manifests/1.0", authorized: true },
      { method: "GET", path: "/v2/flaky%2Fapp/manifests/1.0", authorized: true },
    ]);
  });

  it("reports a lasting 429 as a retryable upstream failure without tokens in it", async () => {
    server.fail("GET", "/v2/limited/app/manifests/1.0", 429, Number.POSITIVE_INFINITY);
    let thrown: unknown;
    try {
      await registry.readManifest("limited/app", "1.0");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UpstreamError);
    const error = thrown as UpstreamError;
    expect({ message: error.message, retryable: error.retryable, service: error.service, status: error.status, cause: error.cause }).toEqual({
      message: "registry: reading manifest limited/app:1.0 failed with HTTP 429 (TOOMANYREQUESTS)",
      retryable: true,
      service: "registry",
      status: 429,
      cause: undefined,
    });
    const everything = `${inspect(error, { depth: 10, showHidden: true })}${JSON.stringify(error)}`;
    expect([AAD_TOKEN, ACR_ACCESS_TOKEN, "authorization"].filter((secret) => everything.toLowerCase().includes(secret.toLowerCase()))).toEqual([]);
    // The first try plus the SDK's three retries, all authenticated.
    expect(server.requests.filter((request) => request.path === "/v2/limited%2Fapp/manifests/1.0" && request.authorized)).toHaveLength(4);
  });

  it("reports a 403 as a non-retryable upstream failure", async () => {
    server.fail("GET", "/v2/legacy/app/manifests/denied", 403, 1);
    expect(await rejection(registry.readManifest("legacy/app", "denied"))).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: "registry: reading manifest legacy/app:denied failed with HTTP 403 (DENIED)",
      retryable: false,
      details: { service: "registry", status: 403 },
    });
  });

  it.each([
    ["an unknown tag (404 MANIFEST_UNKNOWN)", "base/alpine", "9.99"],
    ["an unknown repository (404 NAME_UNKNOWN)", "missing/repo", "1.0"],
  ])("returns null for %s", async (_name, repository, reference) => {
    expect(await registry.readManifest(repository, reference)).toBeNull();
  });

  it.each<{ name: string; repository: string; reference: string; expected: Omit<ErrorShape, "message"> }>([
    {
      name: "a config blob that does not match its digest",
      repository: "corrupt/app",
      reference: "config",
      expected: { name: "AppError", code: "digest_mismatch", retryable: false, details: { part: "config", expected: sha256(appAmd64.config), actual: sha256(corruptConfig) } },
    },
    {
      name: "a manifest that does not match the digest asked for",
      repository: "corrupt/app",
      reference: sha256("what was asked for"),
      expected: { name: "AppError", code: "digest_mismatch", retryable: false, details: { part: "manifest", expected: sha256("what was asked for"), actual: appAmd64.facts.digest } },
    },
    {
      name: "a manifest past 4 MiB",
      repository: "huge/app",
      reference: "big",
      expected: { name: "AppError", code: "manifest_too_large", retryable: false, details: { part: "manifest", maxBytes: 4 * 1024 * 1024 } },
    },
  ])("rejects $name", async ({ repository, reference, expected }) => {
    const { message: _message, ...shape } = await rejection(registry.readManifest(repository, reference));
    expect(shape).toEqual(expected);
  });

  it("stops reading a config blob past 8 MiB", async () => {
    const record = server.addStreamedBlob("huge/app", hugeConfigDigest, 64 * 1024 * 1024);
    const { message: _message, ...shape } = await rejection(registry.readManifest("huge/app", "1.0"));
    expect(shape).toEqual({ name: "AppError", code: "manifest_too_large", retryable: false, details: { part: "config", maxBytes: 8 * 1024 * 1024 } });
    const deadline = Date.now() + 5_000;
    while (!record.closedEarly && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect({ closedEarly: record.closedEarly, finished: record.finished, readPastCap: record.written > 16 * 1024 * 1024 }).toEqual({ closedEarly: true, finished: false, readPastCap: false });
  });

  it("lists every repository across catalog pages of two", async () => {
    expect(await registry.listRepositories()).toEqual(["base/alpine", "corrupt/app", "flaky/app", "huge/app", "legacy/app", "limited/app", "team/app"]);
    expect(server.requests.filter((request) => request.authorized).map((request) => request.path)).toEqual([
      `/acr/v1/_catalog?n=2&api-version=${ACR_API_VERSION}`,
      "/acr/v1/_catalog?last=corrupt%2Fapp&n=2&orderby=",
      "/acr/v1/_catalog?last=huge%2Fapp&n=2&orderby=",
      "/acr/v1/_catalog?last=limited%2Fapp&n=2&orderby=",
    ]);
  });

  it.each([
    ["base/alpine", ["3", "3.20", "3.20.1", "latest"]],
    ["team/app", ["1.0"]],
    ["missing/repo", []],
  ])("lists the tags of %s from its manifests", async (repository, expected) => {
    expect(await registry.listTags(repository)).toEqual(expected);
  });

  it("pages through _manifests for tags", async () => {
    const many = buildImage({ format: "oci", layers: ["x"], platform: { os: "linux", architecture: "amd64", variant: null } });
    const other = buildImage({ format: "oci", layers: ["y"], platform: { os: "linux", architecture: "amd64", variant: null } });
    const third = buildImage({ format: "oci", layers: ["z"], platform: { os: "linux", architecture: "amd64", variant: null } });
    add("paged/app", many, ["a", "b"]);
    add("paged/app", other, ["c"]);
    add("paged/app", third, ["d"]);
    expect(await registry.listTags("paged/app")).toEqual(["a", "b", "c", "d"]);
    expect(server.requests.filter((request) => request.authorized).length).toEqual(2);
  });

  it("reports a lasting 503 on the catalog as a retryable upstream failure", async () => {
    server.fail("GET", "/acr/v1/_catalog", 503, Number.POSITIVE_INFINITY);
    expect(await rejection(registry.listRepositories())).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: "registry: listing repositories failed with HTTP 503 (UNAVAILABLE)",
      retryable: true,
      details: { service: "registry", status: 503 },
    });
  });
});
