import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AccessToken, TokenCredential } from "@azure/identity";
import type { StackTls } from "../../../shared/local/tls.js";

/** The Entra ID token the fake credential hands out, and the tokens the fake ACR exchanges it for. */
export const AAD_TOKEN = "dummy-aad-token-do-not-log";
export const ACR_ACCESS_TOKEN = "acr-access-token-do-not-log";

/** One request the fake ACR saw: method, path with query, and whether it carried our ACR access token. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorized: boolean;
}

/** What a blob GET streamed before the client stopped reading or it finished. */
export interface StreamRecord {
  written: number;
  finished: boolean;
  closedEarly: boolean;
}

/**
 * A small HTTPS server that answers the Azure Container Registry data-plane routes the
 * `@azure/container-registry` SDK calls (api-version 2021-07-01): the token challenge and exchange
 * (`/oauth2/exchange`, `/oauth2/token`), `/acr/v1/_catalog`, `/acr/v1/{name}/_manifests` with `Link`
 * pagination, `/v2/{name}/manifests/{reference}` (GET, and PUT refusing a manifest whose blobs or child
 * manifests the repository does not hold, as a registry does), `/v2/{name}/blobs/{digest}` (answered
 * with a 307 to a storage route, as ACR does) and `DELETE /acr/v1/{name}/_tags/{tag}`. Faults can be
 * queued per route.
 */
export interface FakeAcrServer {
  readonly host: string;
  readonly requests: RecordedRequest[];
  /** Stores a blob and returns its digest. */
  addBlob(repository: string, content: Buffer): string;
  /** Serves `content` for `digest` whatever its real digest is. */
  addBlobAs(repository: string, digest: string, content: Buffer): void;
  /** Serves `totalBytes` zero bytes for `digest`, in 64 KiB chunks, recording how far the client read. */
  addStreamedBlob(repository: string, digest: string, totalBytes: number): StreamRecord;
  /** Stores a manifest under its digest and the given tags; returns the digest. */
  addManifest(repository: string, content: Buffer, mediaType: string, tags?: string[]): string;
  /** Serves `content` for `reference` with `Docker-Content-Digest: digest` whatever its real digest is. */
  addManifestAs(repository: string, reference: string, digest: string, content: Buffer, mediaType: string): void;
  /** The digest a tag points at; undefined when the repository has no such tag. */
  tagged(repository: string, tag: string): string | undefined;
  /** Answers the next `times` authenticated requests to `method path` (decoded path, no query) with `status` and `Retry-After: 0` (Infinity: always). */
  fail(method: string, path: string, status: number, times: number): void;
  stop(): Promise<void>;
}

interface StoredManifest {
  readonly digest: string;
  readonly content: Buffer;
  readonly mediaType: string;
}

interface Repository {
  readonly manifests: Map<string, StoredManifest>;
  readonly tags: Map<string, string>;
  readonly blobs: Map<string, Buffer | { size: number; record: StreamRecord }>;
}

interface Fault {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  remaining: number;
}

/** The api-version the SDK sends on `/acr/v1/` and `/oauth2/` routes. */
export const ACR_API_VERSION = "2021-07-01";

/** A TokenCredential that returns {@link AAD_TOKEN}, as a managed identity would return a real one. */
export function createFakeAadCredential(): TokenCredential & { calls: number } {
  const credential = {
    calls: 0,
    getToken(): Promise<AccessToken> {
      credential.calls += 1;
      return Promise.resolve({ token: AAD_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  };
  return credential;
}

/** Starts the fake ACR on a free loopback port, serving the stack's server certificate. */
export async function startFakeAcrServer(tls: Pick<StackTls, "certPath" | "keyPath">): Promise<FakeAcrServer> {
  const repositories = new Map<string, Repository>();
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const refreshToken = createRefreshToken();
  let host = "";

  const repository = (name: string): Repository => {
    let found = repositories.get(name);
    if (found === undefined) {
      found = { manifests: new Map(), tags: new Map(), blobs: new Map() };
      repositories.set(name, found);
    }
    return found;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", `https://${host}`);
    const authorized = req.headers.authorization === `Bearer ${ACR_ACCESS_TOKEN}`;
    requests.push({ method: req.method ?? "", path: `${url.pathname}${url.search}`, authorized });
    const body = await readBody(req);

    if (req.method === "POST" && answerToken(url.pathname, body, { host, refreshToken }, res)) return;

    const storage = /^\/_storage\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && storage !== null) {
      serveBlob(res, repositories.get(url.searchParams.get("repository") ?? ""), decodeURIComponent(storage[1] ?? ""));
      return;
    }

    const scope = challengeScope(req.method ?? "", url.pathname);
    if (!authorized) {
      res.writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": `Bearer realm="https://${host}/oauth2/token",service="${host}",scope="${scope}"`,
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }

    // Faults come after authentication, so the failing request carries the access token.
    const decodedPath = decodeURIComponent(url.pathname);
    const fault = faults.find((candidate) => candidate.method === req.method && candidate.path === decodedPath && candidate.remaining > 0);
    if (fault !== undefined) {
      fault.remaining -= 1;
      const code = fault.status === 429 ? "TOOMANYREQUESTS" : fault.status === 403 ? "DENIED" : "UNAVAILABLE";
      sendJson(res, fault.status, { errors: [{ code, message: "injected fault" }] }, { "retry-after": "0" });
      return;
    }

    if (req.method === "GET" && url.pathname === "/acr/v1/_catalog") {
      const names = [...repositories.keys()].sort();
      sendPage(res, url, "/acr/v1/_catalog", names, (page) => ({ repositories: page }));
      return;
    }

    const manifestList = /^\/acr\/v1\/(.+)\/_manifests$/.exec(url.pathname);
    if (req.method === "GET" && manifestList !== null) {
      const name = decodeURIComponent(manifestList[1] ?? "");
      const repo = repositories.get(name);
      if (repo === undefined) {
        sendJson(res, 404, { errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry", detail: { name } }] });
        return;
      }
      const digests = [...new Set(repo.tags.values())].sort();
      sendPage(res, url, manifestList[0] ?? "", digests, (page) => ({
        registry: host,
        imageName: name,
        manifests: page.map((digest) => ({
          digest,
          imageSize: repo.manifests.get(digest)?.content.byteLength ?? 0,
          createdTime: "2024-07-22T18:05:00.0000000Z",
          lastUpdateTime: "2024-07-22T18:05:00.0000000Z",
          mediaType: repo.manifests.get(digest)?.mediaType,
          tags: [...repo.tags.entries()].filter(([, target]) => target === digest).map(([tag]) => tag),
          changeableAttributes: { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true },
        })),
      }));
      return;
    }

    if (answerWrite(req.method ?? "", url.pathname, body, req.headers["content-type"] ?? "", { repositories, repository }, res)) return;

    const content = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && content !== null) {
      const name = decodeURIComponent(content[1] ?? "");
      const reference = decodeURIComponent(content[3] ?? "");
      const repo = repositories.get(name);
      if (repo === undefined) {
        sendJson(res, 404, { errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry", detail: { name } }] });
        return;
      }
      if (content[2] === "blobs") {
        res.writeHead(307, { location: `/_storage/${encodeURIComponent(reference)}?repository=${encodeURIComponent(name)}`, "content-length": "0" });
        res.end();
        return;
      }
      const manifest = repo.manifests.get(repo.tags.get(reference) ?? reference);
      if (manifest === undefined) {
        sendJson(res, 404, { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: { Tag: reference } }] });
        return;
      }
      res.writeHead(200, { "content-type": manifest.mediaType, "docker-content-digest": manifest.digest, "content-length": String(manifest.content.byteLength) });
      res.end(manifest.content);
      return;
    }
    sendJson(res, 404, { errors: [{ code: "NOT_FOUND", message: `no route for ${req.method} ${url.pathname}` }] });
  };

  const [cert, key] = await Promise.all([readFile(tls.certPath), readFile(tls.keyPath)]);
  const server: Server = createServer({ cert, key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: "INTERNAL", message: String(error) }] });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  host = `127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;

  return {
    host,
    requests,
    addBlob(name, blob) {
      const digest = sha256(blob);
      repository(name).blobs.set(digest, blob);
      return digest;
    },
    addBlobAs(name, digest, blob) {
      repository(name).blobs.set(digest, blob);
    },
    addStreamedBlob(name, digest, totalBytes) {
      const record: StreamRecord = { written: 0, finished: false, closedEarly: false };
      repository(name).blobs.set(digest, { size: totalBytes, record });
      return record;
    },
    addManifest(name, manifest, mediaType, tags = []) {
      const digest = sha256(manifest);
      const repo = repository(name);
      repo.manifests.set(digest, { digest, content: manifest, mediaType });
      for (const tag of tags) repo.tags.set(tag, digest);
      return digest;
    },
    addManifestAs(name, reference, digest, manifest, mediaType) {
      repository(name).manifests.set(reference, { digest, content: manifest, mediaType });
    },
    tagged: (name, tag) => repositories.get(name)?.tags.get(tag),
    fail(method, path, status, times) {
      faults.push({ method, path, status, remaining: times });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Answers ACR's token exchange (`/oauth2/exchange`: Entra ID token → refresh token; `/oauth2/token`: → access token); false for any other path. */
function answerToken(path: string, body: Buffer, expected: { readonly host: string; readonly refreshToken: string }, res: ServerResponse): boolean {
  const form = new URLSearchParams(body.toString("utf8"));
  if (path === "/oauth2/exchange") {
    if (form.get("grant_type") !== "access_token" || form.get("access_token") !== AAD_TOKEN || form.get("service") !== expected.host) {
      sendJson(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "bad AAD token" }] });
    } else {
      sendJson(res, 200, { refresh_token: expected.refreshToken });
    }
    return true;
  }
  if (path !== "/oauth2/token") return false;
  if (form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== expected.refreshToken || !form.get("scope")) {
    sendJson(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "bad refresh token" }] });
  } else {
    sendJson(res, 200, { access_token: ACR_ACCESS_TOKEN });
  }
  return true;
}

/** Answers `PUT /v2/{name}/manifests/{reference}` and `DELETE /acr/v1/{name}/_tags/{tag}`; false for any other request. */
function answerWrite(
  method: string,
  path: string,
  body: Buffer,
  contentType: string,
  store: { readonly repositories: ReadonlyMap<string, Repository>; readonly repository: (name: string) => Repository },
  res: ServerResponse,
): boolean {
  const tagDelete = /^\/acr\/v1\/(.+)\/_tags\/([^/]+)$/.exec(path);
  if (method === "DELETE" && tagDelete !== null) {
    const tag = decodeURIComponent(tagDelete[2] ?? "");
    if (store.repositories.get(decodeURIComponent(tagDelete[1] ?? ""))?.tags.delete(tag) !== true) {
      sendJson(res, 404, { errors: [{ code: "TAG_UNKNOWN", message: "the specified tag does not exist", detail: { tag } }] });
    } else {
      res.writeHead(202, { "content-length": "0" });
      res.end();
    }
    return true;
  }
  const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
  if (method !== "PUT" || manifest === null) return false;
  const name = decodeURIComponent(manifest[1] ?? "");
  putManifest(res, name, store.repository(name), decodeURIComponent(manifest[2] ?? ""), body, contentType);
  return true;
}

/** Stores a pushed manifest once everything it references is in the repository, as a registry checks. */
function putManifest(res: ServerResponse, name: string, repo: Repository, reference: string, content: Buffer, mediaType: string): void {
  const digest = sha256(content);
  if (reference.startsWith("sha256:") && reference !== digest) {
    sendJson(res, 400, { errors: [{ code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" }] });
    return;
  }
  let parsed: { manifests?: Array<{ digest?: string }>; config?: { digest?: string }; layers?: Array<{ digest?: string }> };
  try {
    parsed = JSON.parse(content.toString("utf8")) as typeof parsed;
  } catch {
    sendJson(res, 400, { errors: [{ code: "MANIFEST_INVALID", message: "manifest invalid" }] });
    return;
  }
  const children = (parsed.manifests ?? []).map((child) => child.digest ?? "");
  const blobs = [parsed.config?.digest, ...(parsed.layers ?? []).map((layer) => layer.digest)].filter((blob): blob is string => blob !== undefined);
  const missing = [...children.filter((child) => !repo.manifests.has(child)), ...blobs.filter((blob) => !repo.blobs.has(blob))];
  if (missing.length > 0) {
    sendJson(res, 400, { errors: missing.map((unknown) => ({ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry", detail: unknown })) });
    return;
  }
  repo.manifests.set(digest, { digest, content, mediaType });
  if (!reference.startsWith("sha256:")) repo.tags.set(reference, digest);
  res.writeHead(201, { "docker-content-digest": digest, location: `/v2/${name}/manifests/${digest}`, "content-length": "0" });
  res.end();
}

function serveBlob(res: ServerResponse, repo: Repository | undefined, digest: string): void {
  const blob = repo?.blobs.get(digest);
  if (blob === undefined) {
    sendJson(res, 404, { errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry", detail: digest }] });
    return;
  }
  if (Buffer.isBuffer(blob)) {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(blob.byteLength), "docker-content-digest": digest });
    res.end(blob);
    return;
  }
  // A huge blob, written as the client drains it, so an early stop shows as a short write.
  const { size, record } = blob;
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size), "docker-content-digest": digest });
  const chunk = Buffer.alloc(64 * 1024);
  res.on("close", () => {
    if (!record.finished) record.closedEarly = true;
  });
  const pump = (): void => {
    while (record.written < size && !res.destroyed) {
      const piece = chunk.subarray(0, Math.min(chunk.byteLength, size - record.written));
      record.written += piece.byteLength;
      if (!res.write(piece)) {
        res.once("drain", pump);
        return;
      }
    }
    if (record.written >= size && !res.destroyed) {
      record.finished = true;
      res.end();
    }
  };
  pump();
}

function sendPage<T>(res: ServerResponse, url: URL, path: string, items: string[], toBody: (page: string[]) => T): void {
  const n = Number(url.searchParams.get("n") ?? "100");
  const last = url.searchParams.get("last");
  const start = last === null ? 0 : items.findIndex((item) => item > last);
  const page = start < 0 ? [] : items.slice(start, start + n);
  const headers: Record<string, string> = {};
  const lastOfPage = page[page.length - 1];
  if (start >= 0 && start + n < items.length && lastOfPage !== undefined) {
    headers.link = `<${path}?last=${encodeURIComponent(lastOfPage)}&n=${n}&orderby=>; rel="next"`;
  }
  sendJson(res, 200, toBody(page), headers);
}

/** The scope ACR's challenge names: what the request needs of its repository. */
function challengeScope(method: string, path: string): string {
  if (path === "/acr/v1/_catalog") return "registry:catalog:*";
  const match = /^\/(?:v2|acr\/v1)\/(.+?)\/(?:manifests|blobs|_manifests|_tags)/.exec(path);
  const actions = method === "DELETE" ? "delete" : method === "GET" || method === "HEAD" ? "pull" : "pull,push";
  return `repository:${decodeURIComponent(match?.[1] ?? "")}:${actions}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function createRefreshToken(): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${encode({ alg: "RS256", typ: "JWT" })}.${encode({ exp: Math.floor(Date.now() / 1000) + 3 * 3600, grant_type: "refresh_token" })}.signature`;
}

function sha256(content: Buffer): string {
  return `sha256:${createHash("sha256").update(content).digest("hex")}`;
}
