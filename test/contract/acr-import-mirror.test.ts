import { useContractTls } from "./helpers/contract-tls.js";
import { Agent, request as httpsRequest } from "node:https";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import type { TokenCredential } from "@azure/identity";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAcrImportMirror, type SourceCredentials } from "../../shared/adapters/acr-import/acr-import-mirror.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { ImageMirror, MirrorRequest, MirrorResult } from "../../shared/ports/image-mirror.js";
import { ARM_IMPORT_API_VERSION, ARM_TASKS_API_VERSION, startArmContractServer, type ArmContractServer, type ArmRequest, type ArmRoute } from "./helpers/arm-contract-server.js";
import { rejection as rejectionOf, type ErrorShape } from "./helpers/rejection.js";

const SUBSCRIPTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const RESOURCE_GROUP = "rg-ripple";
const REGISTRY_NAME = "rippleacr";
const REGISTRY_HOST = "rippleacr.azurecr.io";
const TOKEN = "test-token";
const PASSWORD = "dckr_pat_s3cret-0f9a";
const REGISTRY_PATH = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ContainerRegistry/registries/${REGISTRY_NAME}`;
const OPERATIONS_PATH = `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.ContainerRegistry/locations/westeurope`;
const DIGEST = `sha256:${"d".repeat(64)}`;
const ACTION = `importing docker.io/library/alpine@${DIGEST} as mirror/alpine:3.20`;

const IMPORTED: MirrorResult = { digest: DIGEST, method: "import", blobsCopied: 0, blobsSkipped: 0 };

function mirrorRequest(source: Partial<MirrorRequest["source"]> = {}, target: Partial<MirrorRequest["target"]> = {}): MirrorRequest {
  return { source: { registry: "docker.io", repository: "library/alpine", digest: DIGEST, ...source }, target: { repository: "mirror/alpine", tag: "3.20", ...target } };
}

/** The `importImage` body of {@link mirrorRequest}, as the SDK serializes it, with `source` overrides. */
function importBody(source: Record<string, unknown> = {}): Record<string, unknown> {
  return { source: { registryUri: "docker.io", sourceImage: `library/alpine@${DIGEST}`, ...source }, targetTags: ["mirror/alpine:3.20"], mode: "Force" };
}

/** A request as the adapter must send it: authenticated, on the package's default api-version. */
function armRequest(method: string, route: ArmRoute, path: string, body: unknown = null): ArmRequest {
  return { method, route, path, apiVersion: ARM_IMPORT_API_VERSION, authorization: `Bearer ${TOKEN}`, body };
}

const importCall = (body: unknown = importBody()): ArmRequest => armRequest("POST", "importImage", `${REGISTRY_PATH}/importImage`, body);
const statusCall = (operationId: string): ArmRequest => armRequest("GET", "operationStatus", `${OPERATIONS_PATH}/operationStatuses/${operationId}`);
const resultCall = (operationId: string): ArmRequest => armRequest("GET", "operationResult", `${OPERATIONS_PATH}/operationResults/${operationId}`);
const routes = (server: ArmContractServer): Array<ArmRoute | null> => server.requests.map((request) => request.route);

/** The rejection's AppError fields; fails when the promise resolves or the error names the token or the password. */
async function rejection(promise: Promise<unknown>): Promise<ErrorShape> {
  const shape = await rejectionOf(promise, { secret: TOKEN });
  expect(JSON.stringify(shape)).not.toContain(PASSWORD);
  return shape;
}

function upstream(message: string, status: number | null, retryable: boolean): ErrorShape {
  return { name: "UpstreamError", code: "upstream_failed", message: `acr-import: ${message}`, retryable, details: { service: "acr-import", status } };
}

let tls: StackTls;
let agent: Agent;
let server: ArmContractServer;
let mirror: ImageMirror;

function createClient(options: { token?: string; endpoint?: string } = {}): ContainerRegistryManagementClient {
  const credential: TokenCredential = { getToken: () => Promise.resolve({ token: options.token ?? TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  return new ContainerRegistryManagementClient(credential, SUBSCRIPTION, {
    endpoint: options.endpoint ?? server.url,
    agent,
    retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
  });
}

function createMirror(options: { client?: ContainerRegistryManagementClient; sourceCredentials?: (registry: string) => SourceCredentials | null } = {}): ImageMirror {
  return createAcrImportMirror({
    client: options.client ?? createClient(),
    subscriptionId: SUBSCRIPTION,
    resourceGroup: RESOURCE_GROUP,
    registryName: REGISTRY_NAME,
    registryHost: REGISTRY_HOST,
    pollIntervalMs: 10,
    ...(options.sourceCredentials === undefined ? {} : { sourceCredentials: options.sourceCredentials }),
  });
}

const withPassword = (): SourceCredentials => ({ username: "ripplebot", password: PASSWORD });

useContractTls("ripple-acr-import-contract-", (scratch) => ({ tls, agent } = scratch), { keepAlive: false });

beforeEach(async () => {
  server = await startArmContractServer({ tls, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, token: TOKEN });
  mirror = createMirror();
});

afterEach(async () => {
  await server.stop();
});

describe("mirror", () => {
  it.each([200, 204] as const)("imports by digest with mode Force and no credentials when ARM answers %i at once", async (syncStatus) => {
    server.importNext({ mode: "sync", syncStatus });
    expect(await mirror.mirror(mirrorRequest())).toEqual(IMPORTED);
    expect(server.requests).toEqual([importCall()]);
  });

  it("follows a 202 through Azure-AsyncOperation polls to the empty result at Location", async () => {
    server.importNext({ mode: "async", inProgressPolls: 2 });
    expect(await mirror.mirror(mirrorRequest())).toEqual(IMPORTED);
    expect(server.requests).toEqual([importCall(), ...Array.from({ length: 3 }, () => statusCall("registries-import-1")), resultCall("registries-import-1")]);
  });

  it("follows a 202 that carries only Location until Location answers 200", async () => {
    server.importNext({ mode: "async", polling: "location", inProgressPolls: 2 });
    expect(await mirror.mirror(mirrorRequest())).toEqual(IMPORTED);
    expect(server.requests).toEqual([importCall(), ...Array.from({ length: 3 }, () => resultCall("registries-import-1"))]);
  });

  it("sends the source credentials the callback gives for the source host, and none when it gives none", async () => {
    const asked: string[] = [];
    const credentials = createMirror({ sourceCredentials: (registry) => (asked.push(registry), registry === "docker.io" ? withPassword() : null) });
    await credentials.mirror(mirrorRequest());
    await credentials.mirror(mirrorRequest({ registry: "ghcr.io", repository: "example/base" }));
    expect(asked).toEqual(["docker.io", "ghcr.io"]);
    expect(server.requests).toEqual([
      importCall(importBody({ credentials: { username: "ripplebot", password: PASSWORD } })),
      importCall(importBody({ registryUri: "ghcr.io", sourceImage: `example/base@${DIGEST}` })),
    ]);
  });

  it.each([
    ["Docker Hub's registry host and an official image's short name", { registry: "registry-1.docker.io", repository: "alpine" }, {}],
    ["an upper-case host", { registry: "MCR.Microsoft.com", repository: "dotnet/runtime" }, { registryUri: "mcr.microsoft.com", sourceImage: `dotnet/runtime@${DIGEST}` }],
    ["a host with a port", { registry: "registry.example.com:5000", repository: "base/debian" }, { registryUri: "registry.example.com:5000", sourceImage: `base/debian@${DIGEST}` }],
  ])("names the source as ACR documents it for %s", async (_name, source, expected) => {
    await mirror.mirror(mirrorRequest(source));
    expect(server.requests).toEqual([importCall(importBody(expected))]);
  });

  it.each<[string, MirrorRequest, string]>([
    ["a source by tag", mirrorRequest({ repository: "library/alpine:3.20" }), 'the source repository "library/alpine:3.20" names a tag; ACR imports by digest only'],
    ["a malformed digest", mirrorRequest({ digest: "sha256:abc" }), '"sha256:abc" is not a valid digest'],
    ["a registry that is not a host", mirrorRequest({ registry: "hub" }), '"hub" is not a registry host'],
    ["a target tag that is not a tag", mirrorRequest({}, { tag: "-latest" }), '"-latest" is not a valid tag'],
    ["a target repository in upper case", mirrorRequest({}, { repository: "Mirror/Alpine" }), '"Mirror/Alpine" is not a valid repository name'],
  ])("refuses %s without calling ARM", async (_name, request, reason) => {
    const { source, target } = request;
    expect(await rejection(mirror.mirror(request))).toEqual({
      name: "AppError",
      code: "mirror_request_invalid",
      message: `cannot import ${source.registry}/${source.repository}@${source.digest} with ACR: ${reason}`,
      retryable: false,
      details: { source, target },
    });
    expect(server.requests).toEqual([]);
  });

});

describe("mirror, when ARM fails", () => {
  it("waits out a 429's Retry-After through the SDK's own retry, then imports", async () => {
    server.fail("importImage", 429, 1, { "Retry-After": "1" });
    const started = Date.now();
    expect(await mirror.mirror(mirrorRequest())).toEqual(IMPORTED);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(routes(server)).toEqual(["importImage", "importImage"]);
  });

  it("reports a 429 that outlasts the SDK's retries as a retryable upstream failure", async () => {
    server.fail("importImage", 429, Infinity, { "Retry-After": "0" });
    expect(await rejection(mirror.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed with HTTP 429 (TooManyRequests)`, 429, true));
    expect(routes(server)).toEqual(["importImage", "importImage"]);
  });

  it.each([500, 503])("reports a persistent %i as a retryable upstream failure after the SDK's retries, without the password", async (status) => {
    server.fail("importImage", status, Infinity);
    const credentials = createMirror({ sourceCredentials: withPassword });
    const code = status === 500 ? "InternalServerError" : "ServiceUnavailable";
    expect(await rejection(credentials.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed with HTTP ${status} (${code})`, status, true));
    expect(routes(server)).toEqual(["importImage", "importImage"]);
  });

  it("reports a 400 InvalidParameters as a non-retryable upstream failure without retrying", async () => {
    server.fail("importImage", 400, Infinity, {}, "InvalidParameters");
    expect(await rejection(mirror.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed with HTTP 400 (InvalidParameters)`, 400, false));
    expect(routes(server)).toEqual(["importImage"]);
  });

  it.each([
    ["InvalidParameters", `Image 'library/alpine@${DIGEST}' not found in source registry.`, false],
    ["Unauthorized", "The source registry refused the credentials.", false],
    ["InternalServerError", "An internal error occurred.", true],
    ["TooManyRequests", "The source registry throttled the import.", true],
  ])("judges an import operation that ends Failed with %s by its code", async (code, message, retryable) => {
    server.importNext({ mode: "async", inProgressPolls: 1, outcome: "Failed", error: { code, message } });
    expect(await rejection(mirror.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed: the import operation ended Failed with ${code}: ${message}`, null, retryable));
    expect(routes(server)).toEqual(["importImage", "operationStatus", "operationStatus"]);
  });

  it("keeps the source password out of an operation error that quotes it", async () => {
    server.importNext({ mode: "async", inProgressPolls: 0, outcome: "Failed", error: { code: "InvalidParameters", message: `login to docker.io with ripplebot:${PASSWORD} failed` } });
    const credentials = createMirror({ sourceCredentials: withPassword });
    expect(await rejection(credentials.mirror(mirrorRequest()))).toEqual(
      upstream(`${ACTION} failed: the import operation ended Failed with InvalidParameters: login to docker.io with ripplebot:*** failed`, null, false),
    );
  });

  it("reports a Location that answers an error as an upstream failure of that status", async () => {
    server.importNext({ mode: "async", polling: "location", inProgressPolls: 0, outcome: "Failed", failedStatus: 400, error: { code: "InvalidParameters", message: "Image not found." } });
    expect(await rejection(mirror.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed with HTTP 400 (InvalidParameters)`, 400, false));
  });

  it("reports a rejected token as a non-retryable 401 that does not name the token", async () => {
    const rejected = createMirror({ client: createClient({ token: "another-token" }) });
    expect(await rejection(rejected.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed with HTTP 401 (AuthenticationFailed)`, 401, false));
    expect(server.requests.map((request) => request.authorization)).toEqual(["Bearer another-token"]);
  });

  it("reports an unreachable ARM endpoint as a retryable network failure", async () => {
    const unreachable = createMirror({ client: createClient({ endpoint: "https://127.0.0.1:1" }) });
    expect(await rejection(unreachable.mirror(mirrorRequest()))).toEqual(upstream(`${ACTION} failed: network error ECONNREFUSED`, null, true));
  });
});

describe("createAcrImportMirror", () => {
  it("writes to the registry's login server", () => {
    expect(createAcrImportMirror({ client: createClient(), resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, registryHost: "RippleACR.azurecr.io" }).registry).toBe(REGISTRY_HOST);
  });

  it.each([
    ["a subscription other than its client's", { subscriptionId: "00000000-0000-0000-0000-000000000000" }, "the ACR import mirror's subscriptionId differs from its ARM client's"],
    ["a registry host that is not a host", { registryHost: "rippleacr" }, 'the ACR import mirror\'s registryHost "rippleacr" is not a login server'],
  ])("refuses %s", (_name, overrides, message) => {
    const options = { client: createClient(), resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, registryHost: REGISTRY_HOST, ...overrides };
    expect(() => createAcrImportMirror(options)).toThrowError(expect.objectContaining({ code: "config_invalid", message }));
  });
});

describe("ARM contract server, importImage", () => {
  const invalidParameters = (message: string): unknown => ({ error: { code: "InvalidParameters", message } });

  it.each([
    ["a missing source.sourceImage", { source: { registryUri: "docker.io" }, mode: "Force" }, invalidParameters("The parameter 'source.sourceImage' is required.")],
    ["a source without registry", { source: { sourceImage: "library/alpine" } }, invalidParameters("One of 'source.registryUri' or 'source.resourceId' is required.")],
    ["credentials without a password", { source: { registryUri: "docker.io", sourceImage: "a", credentials: { username: "u" } } }, invalidParameters("The parameter 'source.credentials.password' is required when credentials are given.")],
    ["a bad mode", { ...importBody(), mode: "Overwrite" }, invalidParameters("The import mode 'Overwrite' is not supported.")],
    ["bad target tags", { ...importBody(), targetTags: "mirror/alpine:3.20" }, invalidParameters("The parameter 'targetTags' must be a list of non-empty strings.")],
  ])("answers 400 InvalidParameters to %s, as ARM does", async (_name, body, expected) => {
    expect(await rawPost(`${server.url}${REGISTRY_PATH}/importImage?api-version=${ARM_IMPORT_API_VERSION}`, body)).toEqual({ status: 400, body: expected });
  });

  it("answers 400 to the tasks api-version on importImage", async () => {
    expect(await rawPost(`${server.url}${REGISTRY_PATH}/importImage?api-version=${ARM_TASKS_API_VERSION}`, importBody())).toEqual({
      status: 400,
      body: { error: { code: "InvalidApiVersionParameter", message: `The api-version '${ARM_TASKS_API_VERSION}' is invalid. The supported versions are '${ARM_IMPORT_API_VERSION}'.` } },
    });
  });
});

function rawPost(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: "POST", agent, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}
