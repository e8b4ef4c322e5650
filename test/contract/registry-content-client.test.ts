import { useContractTls } from "./helpers/contract-tls.js";
import { Agent } from "node:https";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { nextPageUrl } from "../../shared/adapters/oci/link-header.js";
import {
  realmMayReceiveCredentials,
  createRegistryContentClient,
  parseAuthChallenges,
  parseRetryAfter,
  type AuthChallenge,
  type RegistryContentClientOptions,
} from "../../shared/adapters/oci/registry-content-client.js";
import type { Platform } from "../../shared/domain/image-facts.js";
import { startRegistry, type LocalRegistry } from "../../shared/local/registry.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { RawManifest, RegistryContent } from "../../shared/ports/registry-content.js";
import { OCI_INDEX, OCI_MANIFEST, buildImage, buildIndex, sha256, type ImageContent } from "./helpers/image-content.js";
import { OCI_TOKEN_SERVICE, startOciContractServer, type OciContractServer, type OciRoute, type OciServerSettings } from "./helpers/oci-contract-server.js";
import { rejection, type ErrorShape } from "./helpers/rejection.js";

const AMD64: Platform = { os: "linux", architecture: "amd64", variant: null };
const ARM64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };
const amd64 = buildImage({ format: "oci", layers: ["rootfs", "app-amd64"], platform: AMD64 });
const arm64 = buildImage({ format: "oci", layers: ["rootfs", "app-arm64"], platform: ARM64 });
const index = buildIndex({
  format: "oci",
  children: [
    { manifest: amd64.manifest, mediaType: OCI_MANIFEST, platform: AMD64 },
    { manifest: arm64.manifest, mediaType: OCI_MANIFEST, platform: ARM64 },
  ],
});
const ALL_MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
];
const CREDENTIALS = { username: "ripple", password: "do-not-leak-this-password" };
const LAYER = amd64.layers[1] ?? Buffer.alloc(0);
const LAYER_DIGEST = sha256(LAYER);

let dir: string;
let tls: StackTls;
let agent: Agent;

useContractTls("ripple-registry-content-", (scratch) => ({ dir, tls, agent } = scratch), { keepAlive: false });

function upstream(message: string, status: number | null, retryable: boolean, details: Record<string, unknown> = {}): ErrorShape {
  return { name: "UpstreamError", code: "upstream_failed", message: `registry: ${message}`, retryable, details: { service: "registry", status, ...details } };
}

function mismatch(action: string, part: string, expected: string, actual: string): ErrorShape {
  return { name: "AppError", code: "digest_mismatch", message: `${action}: ${part} content does not match digest ${expected}`, retryable: false, details: { part, expected, actual } };
}

function raw(content: { manifest: Buffer; mediaType: string }): RawManifest {
  return { digest: sha256(content.manifest), mediaType: content.mediaType, bytes: content.manifest };
}

function blobOf(content: Buffer, size: number | null = content.byteLength): { size: number | null; stream: NodeJS.ReadableStream } {
  return { size, stream: Readable.from([content]) };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

describe("which token realms may receive credentials", () => {
  it.each([
    ["auth.docker.io", "registry-1.docker.io", true],
    ["ghcr.io", "ghcr.io", true],
    ["evil.io", "ghcr.io", false],
    ["login.example.co.uk", "registry.example.co.uk", true],
    ["other.co.uk", "registry.example.co.uk", false],
    ["127.0.0.1", "127.0.0.1", true],
    ["localhost", "127.0.0.1", false],
    ["evil-docker.io", "registry-1.docker.io", false],
  ])("%s for %s: %s", (realm, registry, allowed) => {
    expect(realmMayReceiveCredentials(realm, registry)).toBe(allowed);
  });
});

describe("registry protocol details", () => {
  it.each<[string, string, AuthChallenge[]]>([
    [
      "a Docker Hub challenge with a comma inside the scope",
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [{ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" } }],
    ],
    ["Basic", 'Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    [
      "spaces, upper-case names and an error parameter",
      'BEARER Realm = "https://a.example/token" , Scope="repository:a:pull", error="insufficient_scope"',
      [{ scheme: "bearer", params: { realm: "https://a.example/token", scope: "repository:a:pull", error: "insufficient_scope" } }],
    ],
    [
      "two challenges in one header",
      'Basic realm="x", Bearer realm="https://a.example/token",service="s"',
      [{ scheme: "basic", params: { realm: "x" } }, { scheme: "bearer", params: { realm: "https://a.example/token", service: "s" } }],
    ],
    ["escaped quotes", 'Bearer realm="https://a.example/t",note="say \\"hi\\", ok"', [{ scheme: "bearer", params: { realm: "https://a.example/t", note: 'say "hi", ok' } }]],
    ["unquoted values", "bearer realm=https://a.example/t,service=s", [{ scheme: "bearer", params: { realm: "https://a.example/t", service: "s" } }]],
    ["nothing", "", []],
  ])("parses %s", (_name, header, expected) => {
    expect(parseAuthChallenges(header)).toEqual(expected);
  });

  const now = Date.parse("2024-07-22T18:00:00Z");
  it.each<[string | null, number | null]>([
    ["2", 2000],
    ["0", 0],
    ["Mon, 22 Jul 2024 18:00:05 GMT", 5000],
    ["Mon, 22 Jul 2024 17:00:00 GMT", 0],
    ["soon", null],
    [null, null],
  ])("reads Retry-After %j as %j ms", (value, expected) => {
    expect(parseRetryAfter(value, now)).toEqual(expected);
  });

  const page = { origin: "https://r.example", service: "registry", action: "listing tags of a" };
  it.each<[string | null, string | null]>([
    ['</v2/a/tags/list?last=b&n=2>; rel="next"', "https://r.example/v2/a/tags/list?last=b&n=2"],
    ["<https://r.example/v2/a/tags/list?last=b>; rel=next", "https://r.example/v2/a/tags/list?last=b"],
    ['<https://r.example/p/1>; rel="prev", <https://r.example/p/3>; rel="next"', "https://r.example/p/3"],
    ['<https://r.example/p/3>; title="a, b"; rel="next last"', "https://r.example/p/3"],
    ['<https://r.example/p/1>; rel="prev"', null],
    [null, null],
  ])("takes the next page of Link %j", (link, expected) => {
    expect(nextPageUrl(link, "https://r.example/v2/a/tags/list?n=2", page)?.href ?? null).toEqual(expected);
  });

  it("refuses a next page on another origin", () => {
    expect(() => nextPageUrl('<https://evil.example/v2/a/tags/list>; rel="next"', "https://r.example/v2/a/tags/list", page)).toThrowError(
      expect.objectContaining({ code: "upstream_failed", retryable: false, message: "registry: listing tags of a: pagination link points at another host" }),
    );
  });

  it.each(["http://127.0.0.1:5000", "https://127.0.0.1:5000/v2", "https://u:p@r.example", "not a url"])("refuses the endpoint %j", (endpoint) => {
    expect(() => createRegistryContentClient({ host: "r.example", endpoint })).toThrowError(expect.objectContaining({ code: "config_invalid" }));
  });
});

let server: OciContractServer;

/** Starts a contract server for the enclosing describe, resets it before each test and restores real time after. */
function useContractServer(): void {
  beforeAll(async () => {
    server = await startOciContractServer(tls);
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    server.reset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

function clientFor(options: Partial<RegistryContentClientOptions> = {}): RegistryContent {
  return createRegistryContentClient({ host: server.host, endpoint: server.url, agent, ...options });
}

function seedImage(repository: string, image: ImageContent, tags: string[] = []): void {
  for (const blob of [image.config, ...image.layers]) server.addBlob(repository, blob);
  server.addManifest(repository, image.manifest, image.mediaType, tags);
}

function seedIndex(repository: string, tags: string[]): void {
  seedImage(repository, amd64);
  seedImage(repository, arm64);
  server.addManifest(repository, index.manifest, index.mediaType, tags);
}

/** Each request as `server method route auth status`. */
function trace(): string[] {
  return server.requests.map((entry) => `${entry.server} ${entry.method} ${entry.route ?? "-"} ${entry.auth} ${entry.status}`);
}

function tokenQueries(): Array<Record<string, string>> {
  return server.requests.filter((entry) => entry.route === "token").map((entry) => ({ ...entry.query }));
}

function configure(settings: Partial<OciServerSettings>): void {
  server.configure(settings);
}

describe("OCI contract server: Bearer tokens", () => {
  useContractServer();

  it.each<[string, Partial<OciServerSettings>]>([
    ["a scoped challenge answered with `token`", { tokenField: "token" }],
    ["a challenge without scope answered with `access_token`", { tokenField: "access_token", challengeScope: false }],
  ])("answers %s with an anonymous token, then reuses the token for the scope", async (_name, settings) => {
    configure({ auth: "bearer", ...settings });
    seedImage("team/app", amd64, ["1.0"]);
    const client = clientFor();

    expect(await client.headManifest("team/app", "1.0")).toEqual({ digest: amd64.facts.digest, mediaType: OCI_MANIFEST });
    expect(await client.readRawManifest("team/app", "1.0")).toEqual(raw(amd64));
    expect(trace()).toEqual([
      "registry HEAD headManifest none 401",
      "side GET token none 200",
      "registry HEAD headManifest bearer 200",
      "registry GET getManifest bearer 200",
    ]);
    expect(tokenQueries()).toEqual([{ service: OCI_TOKEN_SERVICE, scope: "repository:team/app:pull" }]);
  });

  it("reuses a token until it expires, then renews it from the remembered challenge before the request (no 401)", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.parse("2024-07-22T18:00:00Z") });
    configure({ auth: "bearer", tokenExpiresIn: 60 });
    seedImage("team/app", amd64, ["1.0"]);
    const client = clientFor();

    await client.headManifest("team/app", "1.0");
    vi.setSystemTime(Date.parse("2024-07-22T18:00:30Z"));
    await client.headManifest("team/app", "1.0");
    // Past expires_in less the client's safety margin, though the registry would still take it.
    vi.setSystemTime(Date.parse("2024-07-22T18:00:55Z"));
    await client.headManifest("team/app", "1.0");
    expect(trace()).toEqual([
      "registry HEAD headManifest none 401",
      "side GET token none 200",
      "registry HEAD headManifest bearer 200",
      "registry HEAD headManifest bearer 200",
      "side GET token none 200",
      "registry HEAD headManifest bearer 200",
    ]);
  });

  it("measures token lifetimes on the clock it is given and reports every response", async () => {
    configure({ auth: "bearer", tokenExpiresIn: 300 });
    seedImage("team/app", amd64, ["1.0"]);
    let now = Date.parse("2024-07-22T18:00:00Z");
    const seen: string[] = [];
    const client = clientFor({ now: () => now, onRequest: (request) => seen.push(`${request.method} ${new URL(request.url).pathname} ${request.status}`) });
    for (let minute = 0; minute < 10; minute += 1) {
      await client.headManifest("team/app", "1.0");
      now += 60_000;
    }
    // Ten HEADs over ten simulated minutes: a token at 0 and one renewed at 5 minutes (300 s less the margin).
    expect(seen.filter((line) => line.startsWith("GET /token"))).toHaveLength(2);
    expect(seen.filter((line) => line.startsWith("HEAD"))).toEqual([
      "HEAD /v2/team/app/manifests/1.0 401",
      ...Array.from({ length: 10 }, () => "HEAD /v2/team/app/manifests/1.0 200"),
    ]);
    expect(seen).toHaveLength(server.requests.length);
  });

  it("fetches a fresh token when the registry refuses a cached one", async () => {
    configure({ auth: "bearer" });
    seedImage("team/app", amd64, ["1.0"]);
    const client = clientFor();

    await client.headManifest("team/app", "1.0");
    server.revokeTokens();
    expect(await client.headManifest("team/app", "1.0")).toEqual({ digest: amd64.facts.digest, mediaType: OCI_MANIFEST });
    expect(trace().slice(3)).toEqual(["registry HEAD headManifest bearer 401", "side GET token none 200", "registry HEAD headManifest bearer 200"]);
  });
});

describe("OCI contract server: credentials and scopes", () => {
  useContractServer();

  it("never sends credentials to a token realm outside the registry's own domain, while anonymous tokens may come from any https realm", async () => {
    configure({ auth: "bearer", credentials: CREDENTIALS, realmHost: "localhost" });
    seedImage("team/app", amd64, ["1.0"]);
    await expect(clientFor({ credentials: CREDENTIALS }).headManifest("team/app", "1.0")).rejects.toMatchObject({
      code: "upstream_failed",
      retryable: false,
      message: "registry: reading manifest team/app:1.0 failed: the registry names a token realm on localhost, outside its own domain; the credentials are not sent there",
    });
    expect(trace()).toEqual(["registry HEAD headManifest none 401"]);

    server.reset();
    configure({ auth: "bearer", realmHost: "localhost" });
    seedImage("team/app", amd64, ["1.0"]);
    expect(await clientFor().headManifest("team/app", "1.0")).toEqual({ digest: amd64.facts.digest, mediaType: OCI_MANIFEST });
  });

  it("sends credentials to the token realm only, never to the registry nor to the blob redirect target", async () => {
    configure({ auth: "bearer", credentials: CREDENTIALS, blobRedirect: "other-origin" });
    seedImage("team/app", amd64, ["1.0"]);
    const client = clientFor({ credentials: CREDENTIALS });

    expect(await client.headManifest("team/app", "1.0")).toEqual({ digest: amd64.facts.digest, mediaType: OCI_MANIFEST });
    const blob = await client.openBlob("team/app", LAYER_DIGEST);
    expect({ size: blob.size, bytes: await readAll(blob.stream) }).toEqual({ size: LAYER.byteLength, bytes: LAYER });
    expect(trace()).toEqual([
      "registry HEAD headManifest none 401",
      "side GET token basic 200",
      "registry HEAD headManifest bearer 200",
      "registry GET getBlob bearer 307",
      "side GET storage none 200",
    ]);
  });

  it("uses HTTP Basic when the registry asks for it", async () => {
    configure({ auth: "basic", credentials: CREDENTIALS });
    seedImage("team/app", amd64, ["1.0"]);
    const client = clientFor({ credentials: CREDENTIALS });

    await client.headManifest("team/app", "1.0");
    expect(await client.listTags("team/app")).toEqual(["1.0"]);
    expect(trace()).toEqual(["registry HEAD headManifest none 401", "registry HEAD headManifest basic 200", "registry GET listTags basic 200"]);
  });


  it("asks for a push token for writes and reads with it afterwards", async () => {
    configure({ auth: "bearer", credentials: CREDENTIALS });
    seedImage("team/app", amd64);
    const client = clientFor({ credentials: CREDENTIALS });

    expect(await client.writeManifest("team/app", "1.0", raw(amd64))).toEqual(amd64.facts.digest);
    expect(await client.hasBlob("team/app", LAYER_DIGEST)).toBe(true);
    expect(trace()).toEqual(["registry PUT putManifest none 401", "side GET token basic 200", "registry PUT putManifest bearer 201", "registry HEAD headBlob bearer 200"]);
    expect(tokenQueries()).toEqual([{ service: OCI_TOKEN_SERVICE, scope: "repository:team/app:pull,push" }]);
  });

  it.each<[string, Partial<OciServerSettings>, RegistryContentClientOptions["credentials"], (host: string) => string]>([
    ["wrong credentials", { auth: "bearer", credentials: CREDENTIALS }, { ...CREDENTIALS, password: "wrong" }, (host) => `the token service of ${host} refused the credentials (HTTP 401)`],
    ["no credentials where the token service needs them", { auth: "bearer", credentials: CREDENTIALS }, null, (host) => `the token service of ${host} refused anonymous access (HTTP 401)`],
    ["a fresh token that grants nothing", { auth: "bearer", deniedRepositories: ["team/app"] }, null, (host) => `${host} refused access to repository team/app (HTTP 401)`],
    ["a Basic registry without credentials", { auth: "basic", credentials: CREDENTIALS }, null, (host) => `${host} refused access to repository team/app (HTTP 401)`],
  ])("fails without retry on %s", async (_name, settings, credentials, reason) => {
    configure(settings);
    seedImage("team/app", amd64, ["1.0"]);
    const error = await rejection(clientFor({ credentials }).headManifest("team/app", "1.0"), { secret: CREDENTIALS.password });
    expect(error).toEqual(upstream(`reading manifest team/app:1.0 failed: ${reason(server.host)}`, 401, false));
  });
});

describe("OCI contract server: failures", () => {
  useContractServer();

  it.each([
    ["delay seconds", "2", 2000],
    ["an HTTP date", "Mon, 22 Jul 2024 18:00:05 GMT", 5000],
  ])("reports 429 with Retry-After in %s as retryable with retryAfterMs", async (_name, retryAfter, retryAfterMs) => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.parse("2024-07-22T18:00:00Z") });
    seedImage("team/app", amd64, ["1.0"]);
    server.fail("headManifest", 429, 1, { "Retry-After": retryAfter });
    expect(await rejection(clientFor().headManifest("team/app", "1.0"))).toEqual(
      upstream("reading manifest team/app:1.0 failed with HTTP 429", 429, true, { retryAfterMs }),
    );
  });

  it.each<[OciRoute, number | "reset" | "hang", (client: RegistryContent) => Promise<unknown>, ErrorShape]>([
    ["headManifest", 503, (client) => client.headManifest("team/app", "1.0"), upstream("reading manifest team/app:1.0 failed with HTTP 503", 503, true)],
    ["getManifest", "reset", (client) => client.readRawManifest("team/app", "1.0"), upstream("reading manifest team/app:1.0 failed: network error ECONNRESET", null, true)],
    ["listTags", 500, (client) => client.listTags("team/app"), upstream("listing tags of team/app failed with HTTP 500 (UNAVAILABLE)", 500, true)],
    ["getBlob", "hang", (client) => client.openBlob("team/app", LAYER_DIGEST), upstream(`reading blob ${LAYER_DIGEST} of team/app failed: network error ETIMEDOUT`, null, true)],
    ["headBlob", 403, (client) => client.hasBlob("team/app", LAYER_DIGEST), upstream(`checking blob ${LAYER_DIGEST} of team/app failed with HTTP 403`, 403, false)],
    ["startUpload", 400, (client) => client.writeBlob("team/app", LAYER_DIGEST, blobOf(LAYER)), upstream(`uploading blob ${LAYER_DIGEST} to team/app failed with HTTP 400 (UNSUPPORTED)`, 400, false)],
  ])("maps a %s answered with %s", async (route, status, run, expected) => {
    seedImage("team/app", amd64, ["1.0"]);
    server.fail(route, status, 1);
    expect(await rejection(run(clientFor({ timeoutMs: 300 })))).toEqual(expected);
  });

  it.each<[string, (client: RegistryContent) => Promise<unknown>, unknown]>([
    ["an unknown tag", (client) => client.headManifest("team/app", "9.9"), null],
    ["an unknown digest", (client) => client.readRawManifest("team/app", sha256("absent")), null],
    ["an unknown repository", (client) => client.readRawManifest("missing/app", "1.0"), null],
    ["the tags of an unknown repository", (client) => client.listTags("missing/app"), []],
    ["an absent blob", (client) => client.hasBlob("team/app", sha256("absent")), false],
  ])("answers %s as not found", async (_name, run, expected) => {
    seedImage("team/app", amd64, ["1.0"]);
    expect(await run(clientFor())).toEqual(expected);
  });

  it("reports an absent blob's GET as a non-retryable failure", async () => {
    seedImage("team/app", amd64, ["1.0"]);
    const absent = sha256("absent");
    expect(await rejection(clientFor().openBlob("team/app", absent))).toEqual(upstream(`reading blob ${absent} of team/app failed with HTTP 404 (BLOB_UNKNOWN)`, 404, false));
  });

  it.each([
    ["a repository name with a path step", "team/../admin"],
    ["an upper-case repository name", "Team/App"],
  ])("refuses %s before any request", async (_name, repository) => {
    expect(await rejection(clientFor().headManifest(repository, "1.0"))).toEqual(
      expect.objectContaining({ code: "validation_failed", message: `"${repository}" is not a valid repository name`, retryable: false }),
    );
    expect(server.requests).toEqual([]);
  });
});

describe("OCI contract server: manifests and tags", () => {
  useContractServer();

  it("lists all four manifest media types in Accept", async () => {
    seedIndex("team/app", ["1.0"]);
    const client = clientFor();
    await client.headManifest("team/app", "1.0");
    await client.readRawManifest("team/app", "1.0");
    expect(server.requests.map((entry) => (entry.accept ?? "").split(",").map((type) => type.trim()).sort())).toEqual([ALL_MANIFEST_TYPES, ALL_MANIFEST_TYPES]);
  });

  it("answers HEAD from Docker-Content-Digest without a GET", async () => {
    seedIndex("team/app", ["1.0"]);
    expect(await clientFor().headManifest("team/app", "1.0")).toEqual({ digest: index.facts.digest, mediaType: OCI_INDEX });
    expect(trace()).toEqual(["registry HEAD headManifest none 200"]);
  });

  it("falls back to a GET and hashes the bytes when HEAD carries no Docker-Content-Digest", async () => {
    configure({ digestHeader: false });
    seedIndex("team/app", ["1.0"]);
    expect(await clientFor().headManifest("team/app", "1.0")).toEqual({ digest: index.facts.digest, mediaType: OCI_INDEX });
    expect(trace()).toEqual(["registry HEAD headManifest none 200", "registry GET getManifest none 200"]);
  });

  it.each([
    ["by tag", "1.0"],
    ["by digest", index.facts.digest],
  ])("reads a multi-platform index raw %s, digest verified", async (_name, reference) => {
    seedIndex("team/app", ["1.0"]);
    expect(await clientFor().readRawManifest("team/app", reference)).toEqual(raw(index));
  });

  it.each([
    ["by digest", index.facts.digest, `team/app@${index.facts.digest}`],
    ["by tag, against Docker-Content-Digest", "1.0", "team/app:1.0"],
  ])("refuses a tampered manifest read %s", async (_name, reference, name) => {
    seedIndex("team/app", ["1.0"]);
    const tampered = Buffer.from(index.manifest.toString("utf8").replace("amd64", "s390x"));
    server.tamper("manifest", "team/app", index.facts.digest, tampered);
    expect(await rejection(clientFor().readRawManifest("team/app", reference))).toEqual(mismatch(`reading manifest ${name}`, "manifest", index.facts.digest, sha256(tampered)));
  });

  it("refuses a manifest larger than 4 MiB", async () => {
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, padding: "x".repeat(4 * 1024 * 1024) }));
    server.addManifest("team/app", huge, OCI_MANIFEST, ["huge"]);
    expect(await rejection(clientFor().readRawManifest("team/app", "huge"))).toEqual({
      name: "AppError",
      code: "manifest_too_large",
      message: "manifest is larger than 4194304 bytes",
      retryable: false,
      details: { part: "manifest", maxBytes: 4194304 },
    });
  });

  it("lists tags across three Link pages", async () => {
    server.addManifest("team/app", amd64.manifest, OCI_MANIFEST, ["latest", "1.0", "2.1", "1.1", "2.0"]);
    expect(await clientFor({ pageSize: 2 }).listTags("team/app")).toEqual(["1.0", "1.1", "2.0", "2.1", "latest"]);
    expect(server.requests.map((entry) => entry.query)).toEqual([{ n: "2" }, { last: "1.1", n: "2" }, { last: "2.1", n: "2" }]);
  });
});

describe("OCI contract server: blobs", () => {
  useContractServer();

  it.each<[OciServerSettings["blobRedirect"], number, string[]]>([
    ["none", 1, ["registry GET getBlob bearer 200"]],
    ["same-origin", 1, ["registry GET getBlob bearer 307", "registry GET storage none 200"]],
    ["other-origin", 5, ["registry GET getBlob bearer 307", ...Array<string>(4).fill("side GET storage none 307"), "side GET storage none 200"]],
  ])("streams a blob with redirects %s (%i hops) that never carry Authorization", async (blobRedirect, redirectHops, expected) => {
    configure({ auth: "bearer", blobRedirect, redirectHops });
    seedImage("team/app", amd64);
    const client = clientFor();
    await client.hasBlob("team/app", LAYER_DIGEST);
    server.requests.length = 0;
    const blob = await client.openBlob("team/app", LAYER_DIGEST);
    expect({ size: blob.size, bytes: await readAll(blob.stream) }).toEqual({ size: LAYER.byteLength, bytes: LAYER });
    expect(trace()).toEqual(expected);
  });

  it("gives up after five redirects", async () => {
    configure({ blobRedirect: "other-origin", redirectHops: 6 });
    seedImage("team/app", amd64);
    expect(await rejection(clientFor().openBlob("team/app", LAYER_DIGEST))).toEqual(upstream(`reading blob ${LAYER_DIGEST} of team/app: more than 5 redirects`, null, false));
  });

  it("fails the stream with digest_mismatch when the bytes do not match", async () => {
    seedImage("team/app", amd64);
    const tampered = Buffer.from("layer:app-amd65");
    server.tamper("blob", "team/app", LAYER_DIGEST, tampered);
    const blob = await clientFor().openBlob("team/app", LAYER_DIGEST);
    expect(await rejection(readAll(blob.stream))).toEqual(mismatch(`reading blob ${LAYER_DIGEST} of team/app`, "blob", LAYER_DIGEST, sha256(tampered)));
  });

  it("uploads blobs and pushes an image and an index, then reads them back", async () => {
    configure({ auth: "bearer", credentials: CREDENTIALS });
    const client = clientFor({ credentials: CREDENTIALS });
    for (const image of [amd64, arm64]) {
      await client.writeBlob("team/app", sha256(image.config), blobOf(image.config));
      for (const layer of image.layers) await client.writeBlob("team/app", sha256(layer), blobOf(layer, null));
      expect(await client.writeManifest("team/app", image.facts.digest, raw(image))).toEqual(image.facts.digest);
    }
    expect(await client.writeManifest("team/app", "1.0", raw(index))).toEqual(index.facts.digest);

    expect(server.requests.filter((entry) => entry.route === "finishUpload" && entry.status === 201).map((entry) => [entry.length, entry.contentType])).toEqual(
      [amd64, arm64].flatMap((image) => [[String(image.config.byteLength), "application/octet-stream"], ...image.layers.map(() => ["chunked", "application/octet-stream"])]),
    );
    expect(server.manifest("team/app", "1.0")).toEqual({ bytes: index.manifest, mediaType: OCI_INDEX });
    expect(await client.readRawManifest("team/app", "1.0")).toEqual(raw(index));
    expect(await client.readRawManifest("team/app", arm64.facts.digest)).toEqual(raw(arm64));
    const blob = await client.openBlob("team/app", sha256(arm64.config));
    expect(await readAll(blob.stream)).toEqual(arm64.config);
  });

  it("reports content that does not match the digest as the registry's DIGEST_INVALID", async () => {
    const digest = sha256("what was promised");
    expect(await rejection(clientFor().writeBlob("team/app", digest, blobOf(Buffer.from("what was sent"))))).toEqual(
      upstream(`uploading blob ${digest} to team/app failed with HTTP 400 (DIGEST_INVALID)`, 400, false),
    );
  });

  it("aborts an upload with the source's digest_mismatch when mirroring a tampered blob", async () => {
    seedImage("team/app", amd64);
    const tampered = Buffer.from("layer:app-amd65");
    server.tamper("blob", "team/app", LAYER_DIGEST, tampered);
    const client = clientFor();
    const source = await client.openBlob("team/app", LAYER_DIGEST);
    expect(await rejection(client.writeBlob("mirror/app", LAYER_DIGEST, source))).toEqual(mismatch(`reading blob ${LAYER_DIGEST} of team/app`, "blob", LAYER_DIGEST, sha256(tampered)));
    expect(server.blob("mirror/app", LAYER_DIGEST)).toBeUndefined();
  });
});

describe("client against CNCF Distribution (docker-registry)", () => {
  let registry: LocalRegistry;
  let client: RegistryContent;

  beforeAll(async () => {
    registry = await startRegistry({ dir: join(dir, "distribution"), tls });
    client = createRegistryContentClient({ host: registry.host, agent, pageSize: 2 });
    for (const image of [amd64, arm64]) {
      for (const blob of [image.config, ...image.layers]) await client.writeBlob("team/app", sha256(blob), blobOf(blob, blob === image.config ? blob.byteLength : null));
      await client.writeManifest("team/app", image.facts.digest, raw(image));
    }
    for (const tag of ["1.0", "1.0.1", "1", "latest"]) await client.writeManifest("team/app", tag, raw(index));
  });

  afterAll(async () => {
    await registry?.stop();
  });

  it.each([
    ["the index by tag", "latest", { digest: index.facts.digest, mediaType: OCI_INDEX }],
    ["a child by digest", arm64.facts.digest, { digest: arm64.facts.digest, mediaType: OCI_MANIFEST }],
    ["an unknown tag", "9.9", null],
  ])("HEADs %s", async (_name, reference, expected) => {
    expect(await client.headManifest("team/app", reference)).toEqual(expected);
  });

  it.each([
    ["the index by tag", "1.0", raw(index)],
    ["the index by digest", index.facts.digest, raw(index)],
    ["a child by digest", amd64.facts.digest, raw(amd64)],
  ])("reads %s raw", async (_name, reference, expected) => {
    expect(await client.readRawManifest("team/app", reference)).toEqual(expected);
  });

  it.each([
    ["team/app", ["1", "1.0", "1.0.1", "latest"]],
    ["missing/app", []],
  ])("lists the tags of %s across pages of two", async (repository, expected) => {
    expect(await client.listTags(repository)).toEqual(expected);
  });

  it("streams a blob back, verified", async () => {
    const blob = await client.openBlob("team/app", LAYER_DIGEST);
    expect({ size: blob.size, bytes: await readAll(blob.stream) }).toEqual({ size: LAYER.byteLength, bytes: LAYER });
  });

  it.each([
    [LAYER_DIGEST, true],
    [sha256("absent"), false],
  ])("knows whether it holds %s", async (digest, expected) => {
    expect(await client.hasBlob("team/app", digest)).toBe(expected);
  });
});
