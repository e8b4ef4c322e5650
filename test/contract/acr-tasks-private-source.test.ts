import { useContractTls } from "./helpers/contract-tls.js";
import { generateKeyPairSync } from "node:crypto";
import { Agent } from "node:https";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import type { TokenCredential } from "@azure/identity";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAcrTasksBuilder, type AcrTasksBuilderOptions } from "../../shared/adapters/acr-tasks/acr-tasks-builder.js";
import { keyVaultSecretUri, passwordCredentials } from "../../shared/adapters/acr-tasks/custom-registries.js";
import { repackSourceArchive } from "../../shared/adapters/acr-tasks/source-archive.js";
import type { ManifestStore } from "../../shared/adapters/acr/acr-manifest-store.js";
import { createGitHubOctokit } from "../../shared/adapters/github/github-client.js";
import { createGitHubSourceArchives } from "../../shared/adapters/github/github-source-archive.js";
import { customRegistriesFor } from "../../shared/composition.js";
import { parseConfig } from "../../shared/config.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { BuildRecipe, BuildRequest, BuildRun, ImageBuilder, SourceArchives } from "../../shared/ports/image-builder.js";
import { ARM_TASKS_API_VERSION, startArmContractServer, type ArmContractServer, type ArmRequest } from "./helpers/arm-contract-server.js";
import { startGitHubContractServer, type GitHubContractServer } from "./helpers/github-contract-server.js";
import { rejection } from "./helpers/rejection.js";
import { makeGitHubTarball, readTarball } from "./helpers/tarball.js";
import { ARM_TOKEN, REGISTRY, REGISTRY_NAME, REGISTRY_PATH, RESOURCE_GROUP, SUBSCRIPTION } from "./helpers/arm-fixture-ids.js";

const APP_ID = 424244;
const INSTALLATION_ID = 7003;
const PRIVATE_REPO = "contoso/api";
const PRIVATE_URL = "https://github.com/contoso/api.git";
const PUBLIC_URL = "https://github.com/example/public.git";
const BASE = { key: `${REGISTRY}/base/alpine:3.20`, digest: `sha256:${"a".repeat(64)}` };
const PASSWORD = "hub-password-Zq81";
const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});

const DOCKERFILE = "FROM rippleacr.azurecr.io/base/alpine:3.20\nCOPY src /app\n";
const LONG_NAME = `src/${"deeply-nested-folder/".repeat(5)}module-with-a-long-name.js`;
const FILES = {
  "README.md": "# api\n",
  "services/web/Dockerfile": "FROM scratch\n",
  "services/api/Dockerfile": DOCKERFILE,
  "services/api/src/app.js": "console.log('api');\n",
  [`services/api/${LONG_NAME}`]: "export {};\n",
  "services/api/current": { symlink: "src/app.js" },
};
const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const QUEUED: BuildRun = { runId: "cb1", status: "queued", logsUrl: null, startedAt: null, finishedAt: null, reason: null };

let tls: StackTls;
let agent: Agent;
let arm: ArmContractServer;
let github: GitHubContractServer;
let commit: string;
let archives: SourceArchives;

function sourceRequest(recipe: Partial<Extract<BuildRecipe, { kind: "source" }>> = {}): BuildRequest {
  return {
    image: `${REGISTRY}/team/api:1.0`,
    registry: REGISTRY,
    recipe: { kind: "source", repository: PRIVATE_URL, revision: commit, dockerfile: "services/api/Dockerfile", context: "services/api", args: {}, tags: [], platforms: ["linux/amd64"], ...recipe },
    base: BASE,
    idempotencyKey: "team/api:1.0@base",
  };
}

function createBuilder(options: Partial<AcrTasksBuilderOptions> = {}): ImageBuilder {
  const credential: TokenCredential = { getToken: () => Promise.resolve({ token: ARM_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const client = new ContainerRegistryManagementClient(credential, SUBSCRIPTION, { endpoint: arm.url, agent, retryOptions: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 20 } });
  return createAcrTasksBuilder({ client, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, pollIntervalMs: 10, uploadAgent: agent, sourceArchives: archives, ...options });
}

const armCall = (method: string, route: ArmRequest["route"], path: string, body: unknown = null): ArmRequest => ({
  method,
  route,
  path: `${REGISTRY_PATH}/${path}`,
  apiVersion: ARM_TASKS_API_VERSION,
  authorization: `Bearer ${ARM_TOKEN}`,
  body,
});

function dockerBuildBody(sourceLocation: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "DockerBuildRequest",
    sourceLocation,
    dockerFilePath: "Dockerfile",
    imageNames: ["team/api:1.0"],
    isPushEnabled: true,
    platform: { os: "linux", architecture: "amd64" },
    arguments: [
      { name: "RIPPLE_BASE_IMAGE", value: BASE.key, isSecret: false },
      { name: "RIPPLE_BASE_DIGEST", value: BASE.digest, isSecret: false },
    ],
    timeout: 3600,
    ...overrides,
  };
}

useContractTls("ripple-acr-private-source-", (scratch) => ({ tls, agent } = scratch));

beforeEach(async () => {
  arm = await startArmContractServer({ tls, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, token: ARM_TOKEN });
  github = await startGitHubContractServer({ tls, appId: APP_ID, appPublicKey: publicKey, installationId: INSTALLATION_ID });
  commit = github.addRepository(PRIVATE_REPO, FILES);
  const octokit = createGitHubOctokit({ appId: APP_ID, privateKey, installationId: INSTALLATION_ID, baseUrl: github.url, agent, retries: 0, log: QUIET });
  archives = createGitHubSourceArchives({ octokit, fullNameOf: (repository) => (repository === PRIVATE_URL || repository === PRIVATE_REPO ? PRIVATE_REPO : null) });
});

afterEach(async () => {
  await Promise.all([arm.stop(), github.stop()]);
});

/** The one uploaded source's relative path and files. */
function uploadedSource(): { relativePath: string; files: Record<string, string> } {
  expect(arm.sources.size).toBe(1);
  const [[relativePath, bytes]] = [...arm.sources] as [[string, Buffer]];
  return { relativePath, files: readTarball(bytes) };
}

describe("a private GitHub repository's source build", () => {
  it("uploads the context as a block blob and schedules the run from its relative path", async () => {
    expect(await createBuilder().start(sourceRequest())).toEqual(QUEUED);

    const { relativePath, files } = uploadedSource();
    expect(files).toEqual({ Dockerfile: DOCKERFILE, "src/app.js": "console.log('api');\n", [LONG_NAME]: "export {};\n", current: "-> src/app.js" });
    expect(arm.uploads.map(({ blobType, status }) => ({ blobType, status }))).toEqual([{ blobType: "BlockBlob", status: 201 }]);
    expect(arm.requests).toEqual([armCall("POST", "listBuildSourceUploadUrl", "listBuildSourceUploadUrl"), armCall("POST", "scheduleRun", "scheduleRun", dockerBuildBody(relativePath))]);
    expect(github.requests.filter((request) => request.auth === "token").map((request) => `${request.method} ${request.path}`)).toEqual([`GET /repos/${PRIVATE_REPO}/tarball/${commit}`]);
  });

  it("puts neither the installation token nor the upload signature in anything ARM saw or the run", async () => {
    const run = await createBuilder().start(sourceRequest({ context: ".", dockerfile: "services/api/Dockerfile" }));
    const token = github.installationToken;
    const signature = new URL(arm.uploads[0]!.url, arm.url).searchParams.get("sig") ?? "";
    expect(token).not.toBe("");
    expect(signature).not.toBe("");
    const recorded = JSON.stringify({ requests: arm.requests, run });
    expect(recorded).not.toContain(token);
    expect(recorded).not.toContain(signature);
    expect(Buffer.concat(arm.uploads.map((upload) => upload.bytes)).includes(token)).toBe(false);
    expect(uploadedSource().files).toMatchObject({ "services/api/Dockerfile": DOCKERFILE, "README.md": "# api\n" });
  });

  it("uploads once for a multi-platform build, each platform's run naming the same source", async () => {
    const manifests = {} as ManifestStore;
    const run = await createBuilder({ manifests }).start(sourceRequest({ platforms: ["linux/amd64", "linux/arm64"] }));
    expect(run.runId).toBe("cb1+cb2");
    const { relativePath } = uploadedSource();
    const scheduled = arm.requests.filter((request) => request.route === "scheduleRun").map((request) => (request.body as { sourceLocation: string }).sourceLocation);
    expect(scheduled).toEqual([relativePath, relativePath]);
  });

  it("keeps the git URL of a public repository and uploads nothing", async () => {
    await createBuilder().start(sourceRequest({ repository: PUBLIC_URL, revision: "main" }));
    expect(arm.uploads).toEqual([]);
    expect(arm.requests).toEqual([armCall("POST", "scheduleRun", "scheduleRun", dockerBuildBody(`${PUBLIC_URL}#main:services/api`))]);
  });

  it("fails without scheduling when the revision is not on GitHub", async () => {
    const error = await rejection(createBuilder().start(sourceRequest({ revision: "no-such-branch" })), { secret: github.installationToken || "unused" });
    expect(error).toMatchObject({ code: "source_not_found", retryable: false });
    expect(arm.requests).toEqual([]);
  });

  it("fails retryable, scheduling nothing, when ARM hands out no upload location", async () => {
    arm.fail("listBuildSourceUploadUrl", 503, Infinity);
    const error = await rejection(createBuilder().start(sourceRequest()));
    expect(error).toMatchObject({ code: "upstream_failed", retryable: true, details: { service: "acr-tasks", status: 503 } });
    expect(arm.requests.map((request) => request.route)).toEqual(["listBuildSourceUploadUrl", "listBuildSourceUploadUrl"]);
    expect(arm.uploads).toEqual([]);
  });

  it.each([
    [503, true],
    [403, false],
  ])("fails without scheduling or naming the upload URL when the upload answers %i (retryable: %s)", async (status, retryable) => {
    arm.fail("uploadSource", status, 1);
    const error = await rejection(createBuilder().start(sourceRequest()));
    expect(error).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: `acr-tasks: uploading the source of ${REGISTRY}/team/api:1.0 failed: uploading the source answered HTTP ${status}`,
      retryable,
      details: { service: "acr-tasks", status },
    });
    expect(arm.requests.map((request) => request.route)).toEqual(["listBuildSourceUploadUrl"]);
  });

  it("refuses a context the archive does not hold", async () => {
    const error = await rejection(createBuilder().start(sourceRequest({ context: "services/none", dockerfile: "services/none/Dockerfile" })));
    expect(error).toMatchObject({ code: "build_request_invalid", retryable: false });
    expect(arm.requests).toEqual([]);
  });
});

describe("credentials of other registries", () => {
  const config = parseConfig(`
version: 1
registries:
  - { host: rippleacr.azurecr.io, tasks: { subscriptionId: ${SUBSCRIPTION}, resourceGroup: ${RESOURCE_GROUP}, registryName: ${REGISTRY_NAME} } }
  - { host: sharedbase.azurecr.io }
  - { host: 127.0.0.1:5000, kind: distribution }
bases:
  - { image: docker.io/library/alpine, tags: ["3.*"] }
  - { image: ghcr.io/contoso/base, tags: ["1"] }
  - { image: quay.io/contoso/tools, tags: ["1"] }
  - { image: mcr.microsoft.com/dotnet/runtime, tags: ["8.0"] }
upstream:
  registries:
    - { host: docker.io, credentials: { usernameSetting: HUB_USER, passwordSetting: HUB_PASSWORD } }
    - { host: ghcr.io, credentials: { usernameSetting: GHCR_USER, passwordSetting: GHCR_PASSWORD } }
    - { host: quay.io, credentials: { usernameSetting: QUAY_USER, passwordSetting: QUAY_PASSWORD } }
`);
  const env = {
    HUB_USER: "contoso",
    HUB_PASSWORD: PASSWORD,
    GHCR_USER: "contoso-bot",
    GHCR_PASSWORD: "@Microsoft.KeyVault(SecretUri=https://ripple-kv.vault.azure.net/secrets/ghcr-token/)",
  };

  it("gives upstream registries their settings (Key Vault references stay references), and no identity login to another ACR without a build identity", () => {
    expect(customRegistriesFor(config, env, config.registries[0])).toEqual({
      "docker.io": { userName: { type: "Opaque", value: "contoso" }, password: { type: "Opaque", value: PASSWORD } },
      "ghcr.io": {
        userName: { type: "Opaque", value: "contoso-bot" },
        password: { type: "Vaultsecret", value: "https://ripple-kv.vault.azure.net/secrets/ghcr-token/" },
        identity: "system",
      },
    });
  });

  it("logs in to every other ACR, not the building one or a Distribution registry, with the build identity's client id when one is configured", () => {
    const clientId = "6b1f0a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
    const resourceId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ripple-builds`;
    const building = { ...config.registries[0]!, tasks: { ...config.registries[0]!.tasks!, identity: { clientId, resourceId } } };
    expect(customRegistriesFor({ ...config, registries: [building, ...config.registries.slice(1)] }, {}, building)).toEqual({ "sharedbase.azurecr.io": { identity: clientId } });
  });

  it("sends them on a source build's run request", async () => {
    const customRegistries = { "docker.io": passwordCredentials("contoso", PASSWORD) };
    await createBuilder({ customRegistries }).start(sourceRequest({ repository: PUBLIC_URL, revision: "main" }));
    expect(arm.requests).toEqual([
      armCall("POST", "scheduleRun", "scheduleRun", dockerBuildBody(`${PUBLIC_URL}#main:services/api`, { credentials: { customRegistries: JSON.parse(JSON.stringify(customRegistries)) as unknown } })),
    ]);
  });

  it("keeps the password out of a refused run's error", async () => {
    arm.fail("scheduleRun", 400, Infinity);
    const error = await rejection(createBuilder({ customRegistries: { "docker.io": passwordCredentials("contoso", PASSWORD) } }).start(sourceRequest({ repository: PUBLIC_URL })), { secret: PASSWORD });
    expect(error).toMatchObject({ code: "upstream_failed", retryable: false });
  });

  it.each([
    ["@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/a/b1)", "https://kv.vault.azure.net/secrets/a/b1"],
    ["@Microsoft.KeyVault(VaultName=kv;SecretName=a)", "https://kv.vault.azure.net/secrets/a"],
    ["@Microsoft.KeyVault(VaultName=kv;SecretName=a;SecretVersion=b1)", "https://kv.vault.azure.net/secrets/a/b1"],
    ["@Microsoft.KeyVault(SecretUri=http://kv/secrets/a)", null],
    ["plain-password", null],
  ])("reads the Key Vault reference %s", (value, expected) => {
    expect(keyVaultSecretUri(value)).toBe(expected);
  });
});

describe("re-packing a GitHub tarball", () => {
  it("keeps the context's files at the root, long paths included, and drops the rest", () => {
    const long = `${"a-rather-long-folder-name/".repeat(8)}file.txt`;
    const tarball = makeGitHubTarball("contoso-api-abc1234", "abc1234", { "ctx/Dockerfile": { content: "FROM scratch\n" }, [`ctx/${long}`]: { content: "x" }, "other/file": { content: "y" } });
    expect(readTarball(repackSourceArchive(tarball, "ctx"))).toEqual({ Dockerfile: "FROM scratch\n", [long]: "x" });
    expect(readTarball(repackSourceArchive(tarball, "."))).toEqual({ "ctx/Dockerfile": "FROM scratch\n", [`ctx/${long}`]: "x", "other/file": "y" });
  });
});
