import { createHash } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isProcessRunning } from "../../shared/local/processes.js";
import { ensureStackTls, type StackTls } from "../../shared/local/tls.js";
import { parseScope, startTokenService, type RegistryTokenClaims, type TokenAccess } from "../../shared/local/token-service.js";
import { startUpstreamRegistry, upstreamIssuer, upstreamService, type UpstreamRegistry } from "../../shared/local/upstream-registry.js";

const ociManifest = "application/vnd.oci.image.manifest.v1+json";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let root: string;
let tls: StackTls;
let upstream: UpstreamRegistry;

/** One HTTPS request trusting only the stack CA, without keep-alive. Rejects on network errors. */
async function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? "GET", headers: init.headers, ca: tls.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

function basic(username: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` };
}

async function requestToken(scopes: readonly string[], headers: Record<string, string> = {}, opts: { realm?: string; service?: string } = {}): Promise<Reply> {
  const url = new URL(opts.realm ?? upstream.tokenService.realm);
  url.searchParams.set("service", opts.service ?? upstreamService);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  return send(url.href, { headers });
}

function decodeToken(token: string): { header: Record<string, unknown>; claims: RegistryTokenClaims } {
  const [header = "", claims = ""] = token.split(".");
  const decode = (part: string): unknown => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  return { header: decode(header) as Record<string, unknown>, claims: decode(claims) as RegistryTokenClaims };
}

async function tokenFor(scopes: readonly string[], headers: Record<string, string> = {}): Promise<{ token: string; claims: RegistryTokenClaims }> {
  const reply = await requestToken(scopes, headers);
  expect(reply.status, reply.body.toString()).toBe(200);
  const token = (JSON.parse(reply.body.toString("utf8")) as { token: string }).token;
  return { token, claims: decodeToken(token).claims };
}

/** `Bearer realm="…",service="…"` as scheme and parameters. */
function parseChallenge(header: string | undefined): { scheme: string; params: Record<string, string> } {
  const match = /^(\S+)\s+(.*)$/.exec(header ?? "");
  if (match?.[1] === undefined || match[2] === undefined) throw new Error(`not a challenge: ${header}`);
  const params: Record<string, string> = {};
  for (const param of match[2].matchAll(/([a-z_]+)="([^"]*)"(?:,|$)/g)) params[param[1] ?? ""] = param[2] ?? "";
  return { scheme: match[1], params };
}

function errorCodes(reply: Reply): string[] {
  return (JSON.parse(reply.body.toString("utf8")) as { errors: Array<{ code: string }> }).errors.map((error) => error.code);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A monolithic blob upload: POST a session, then PUT the bytes with `?digest=`. */
async function pushBlob(token: string, repository: string, bytes: Buffer): Promise<string> {
  const session = await send(`${upstream.url}/v2/${repository}/blobs/uploads/`, { method: "POST", headers: bearer(token) });
  expect(session.status, session.body.toString()).toBe(202);
  const location = new URL(session.headers.location ?? "", upstream.url);
  const digest = sha256(bytes);
  location.searchParams.set("digest", digest);
  const headers = { ...bearer(token), "Content-Type": "application/octet-stream", "Content-Length": String(bytes.length) };
  const done = await send(location.href, { method: "PUT", headers, body: bytes });
  expect({ status: done.status, digest: done.headers["docker-content-digest"] }).toEqual({ status: 201, digest });
  return digest;
}

// One upstream for the whole file; the describes below run in order and the last one stops it.
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ripple-upstream-"));
  tls = await ensureStackTls(join(root, "stack"));
  upstream = await startUpstreamRegistry({ dir: join(root, "upstream"), tls });
});

afterAll(async () => {
  await upstream?.stop();
  await rm(root, { recursive: true, force: true });
});

describe("upstream registry: anonymous pulls", () => {
  it("challenges an anonymous GET /v2/ with the token service's realm and service", async () => {
    const reply = await send(`${upstream.url}/v2/`);
    expect(reply.status).toBe(401);
    expect(parseChallenge(reply.headers["www-authenticate"])).toEqual({
      scheme: "Bearer",
      params: { realm: `${upstream.tokenService.url}/token`, service: "ripple-upstream" },
    });
    expect(upstream.tokenService.realm).toBe(`${upstream.tokenService.url}/token`);
  });

  it("issues an anonymous pull token that the registry accepts", async () => {
    const before = upstream.tokenService.requests;
    const reply = await requestToken(["repository:lib/busybox:pull"]);
    expect(upstream.tokenService.requests).toBe(before + 1);
    const body = JSON.parse(reply.body.toString("utf8")) as Record<string, unknown>;
    expect(body).toEqual({ token: expect.any(String), access_token: body.token, expires_in: 300, issued_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    const { header, claims } = decodeToken(String(body.token));
    expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(10);
    expect({ alg: header.alg, typ: header.typ, chain: (header.x5c as unknown[]).length }).toEqual({ alg: "ES256", typ: "JWT", chain: 1 });
    expect(claims).toEqual({
      iss: upstreamIssuer,
      sub: "",
      aud: upstreamService,
      iat: claims.iat,
      nbf: claims.iat,
      exp: claims.iat + 300,
      jti: expect.stringMatching(/^[0-9a-f]{32}$/),
      access: [{ type: "repository", name: "lib/busybox", actions: ["pull"] }],
    });

    const tags = await send(`${upstream.url}/v2/lib/busybox/tags/list`, { headers: bearer(String(body.token)) });
    expect({ status: tags.status, codes: errorCodes(tags) }).toEqual({ status: 404, codes: ["NAME_UNKNOWN"] });
  });

  it("grants an anonymous caller only pull, so a push attempt is refused", async () => {
    const { token, claims } = await tokenFor(["repository:lib/busybox:pull,push"]);
    expect(claims.access).toEqual([{ type: "repository", name: "lib/busybox", actions: ["pull"] }]);

    const push = await send(`${upstream.url}/v2/lib/busybox/blobs/uploads/`, { method: "POST", headers: bearer(token) });
    expect(push.status).toBe(401);
    const { scope = "", ...params } = parseChallenge(push.headers["www-authenticate"]).params;
    // Distribution lists the actions in map order, which varies from one request to the next.
    expect({ ...params, scope: parseScope(scope)?.actions.sort() }).toEqual({
      realm: upstream.tokenService.realm,
      service: upstreamService,
      scope: ["pull", "push"],
      error: "insufficient_scope",
    });
    expect(parseScope(scope)?.name).toBe("lib/busybox");
  });

});

describe("upstream registry: publisher pushes", () => {
  it("lets the publisher push blobs and an OCI manifest that an anonymous puller then reads", async () => {
    const repository = "lib/published";
    const { token, claims } = await tokenFor([`repository:${repository}:pull,push`], basic(upstream.publisher.username, upstream.publisher.password));
    expect({ sub: claims.sub, access: claims.access }).toEqual({ sub: "publisher", access: [{ type: "repository", name: repository, actions: ["pull", "push"] }] });

    const layerTar = Buffer.from("not really a tar, the registry does not look inside\n");
    const layer = gzipSync(layerTar);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(layerTar)] } }));
    const configDigest = await pushBlob(token, repository, config);
    const layerDigest = await pushBlob(token, repository, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: ociManifest,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length }],
      }),
    );
    const put = await send(`${upstream.url}/v2/${repository}/manifests/1.0`, { method: "PUT", headers: { ...bearer(token), "Content-Type": ociManifest }, body: manifest });
    expect({ status: put.status, digest: put.headers["docker-content-digest"] }).toEqual({ status: 201, digest: sha256(manifest) });

    const pull = await tokenFor([`repository:${repository}:pull`]);
    const got = await send(`${upstream.url}/v2/${repository}/manifests/1.0`, { headers: { ...bearer(pull.token), Accept: ociManifest } });
    expect({ status: got.status, digest: got.headers["docker-content-digest"], body: got.body.toString("utf8") }).toEqual({
      status: 200,
      digest: sha256(manifest),
      body: manifest.toString("utf8"),
    });
  });

});

describe("upstream registry: refusals", () => {
  it.each([
    { case: "a wrong password", headers: () => basic("publisher", "wrong"), service: upstreamService, status: 401, code: "UNAUTHORIZED" },
    { case: "an unknown user", headers: () => basic("nobody", "secret"), service: upstreamService, status: 401, code: "UNAUTHORIZED" },
    { case: "a non-Basic scheme", headers: () => bearer("anything"), service: upstreamService, status: 401, code: "UNAUTHORIZED" },
    { case: "an unknown service", headers: () => ({}), service: "registry.docker.io", status: 400, code: "INVALID_REQUEST" },
  ])("the token service refuses $case with $status", async ({ headers, service, status, code }) => {
    const reply = await requestToken(["repository:lib/busybox:pull"], headers(), { service });
    expect({ status: reply.status, codes: errorCodes(reply) }).toEqual({ status, codes: [code] });
  });

  it("refuses a malformed scope with 400", async () => {
    const reply = await requestToken(["repository:Lib/Busybox:pull"]);
    expect({ status: reply.status, codes: errorCodes(reply) }).toEqual({ status: 400, codes: ["INVALID_REQUEST"] });
  });

  it("refuses an expired token (past Distribution's 60 s leeway) but accepts a fresh one", async () => {
    const access: TokenAccess[] = [{ type: "repository", name: "lib/busybox", actions: ["pull"] }];
    const now = Math.floor(Date.now() / 1000);
    const expired = upstream.tokenService.mintToken({ subject: "publisher", access, issuedAt: now - 600, ttlSeconds: 300 });
    const fresh = upstream.tokenService.mintToken({ subject: "publisher", access });

    const refused = await send(`${upstream.url}/v2/lib/busybox/tags/list`, { headers: bearer(expired) });
    expect(refused.status).toBe(401);
    expect(parseChallenge(refused.headers["www-authenticate"]).params.error).toBe("invalid_token");
    const accepted = await send(`${upstream.url}/v2/lib/busybox/tags/list`, { headers: bearer(fresh) });
    expect(accepted.status).toBe(404);
  });

  it("refuses a token signed by another key with the same issuer and service", async () => {
    const foreign = await startTokenService({ dir: join(root, "foreign"), tls, service: upstreamService, issuer: upstreamIssuer, users: {}, anonymousPull: false, tokenTtlSeconds: 42 });
    try {
      const anonymous = await requestToken(["repository:lib/busybox:pull"], {}, { realm: foreign.realm });
      const body = JSON.parse(anonymous.body.toString("utf8")) as { token: string; expires_in: number };
      expect({ status: anonymous.status, expiresIn: body.expires_in, access: decodeToken(body.token).claims.access }).toEqual({ status: 200, expiresIn: 42, access: [] });

      const token = foreign.mintToken({ subject: "publisher", access: [{ type: "repository", name: "lib/busybox", actions: ["pull"] }] });
      const reply = await send(`${upstream.url}/v2/lib/busybox/tags/list`, { headers: bearer(token) });
      expect({ status: reply.status, error: parseChallenge(reply.headers["www-authenticate"]).params.error }).toEqual({ status: 401, error: "invalid_token" });
    } finally {
      await foreign.stop();
    }
  });

});

describe("upstream registry: files and shutdown", () => {
  it("keeps the token-signing key owner-only", async () => {
    const key = await stat(join(root, "upstream", "token-service", "token-signing.key"));
    expect(key.mode & 0o777).toBe(0o600);
  });

  it("stop() ends the registry and the token service (idempotent)", async () => {
    await Promise.all([upstream.stop(), upstream.stop()]);
    await upstream.stop();
    expect(await isProcessRunning(upstream.registry.pid)).toBe(false);
    await expect(send(`${upstream.url}/v2/`)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await expect(requestToken(["repository:lib/busybox:pull"])).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});
