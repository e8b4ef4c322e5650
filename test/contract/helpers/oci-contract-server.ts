import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { StackTls } from "../../../shared/local/tls.js";
import { sha256 } from "./image-content.js";
import { parseJsonBody, readBody } from "./request-body.js";

/** The `service` the server's Bearer challenge names and its token endpoint expects. */
export const OCI_TOKEN_SERVICE = "ripple-contract-registry";

export type OciRoute =
  | "ping"
  | "headManifest"
  | "getManifest"
  | "putManifest"
  | "listTags"
  | "headBlob"
  | "getBlob"
  | "startUpload"
  | "finishUpload"
  | "storage"
  | "token";

/** One request either server saw. */
export interface OciRequest {
  /** `registry`, or `side`: the second origin standing in for auth.docker.io and a blob CDN. */
  readonly server: "registry" | "side";
  readonly method: string;
  readonly route: OciRoute | null;
  /** The path as sent (percent-encoded), without query. */
  readonly path: string;
  /** The query, decoded; a repeated parameter is joined with a space. */
  readonly query: Readonly<Record<string, string>>;
  /** The Authorization scheme, never its value. */
  readonly auth: "none" | "basic" | "bearer" | "other";
  readonly accept: string | null;
  readonly contentType: string | null;
  /** The `Content-Length` header, or `chunked`, or null. */
  readonly length: string | null;
  /** The status answered; 0 for a connection reset. */
  readonly status: number;
}

/** How the server behaves; {@link OciContractServer.configure} changes it, `reset` restores these defaults. */
export interface OciServerSettings {
  /** `none`: open registry; `bearer`: the token challenge; `basic`: HTTP Basic on every registry request. */
  auth: "none" | "bearer" | "basic";
  /** Required at the token endpoint (bearer) or the registry (basic); null: anonymous tokens. */
  credentials: { username: string; password: string } | null;
  /** `expires_in` of issued tokens in seconds (also their real lifetime); null omits it (the lifetime is then 60 s). */
  tokenExpiresIn: number | null;
  /** The field of the token answer holding the token. */
  tokenField: "token" | "access_token";
  /** Whether challenges name a scope. */
  challengeScope: boolean;
  /** Repositories whose tokens grant nothing (as Docker Hub answers for a private repository). */
  deniedRepositories: string[];
  /** Whether manifest answers carry `Docker-Content-Digest`. */
  digestHeader: boolean;
  /** Where blob GETs are sent: served directly, to `/_storage/…` on the registry, or to the side server. */
  blobRedirect: "none" | "same-origin" | "other-origin";
  /** How many redirects a redirected blob GET takes before the bytes. */
  redirectHops: number;
  /** The host name the challenge's realm names for the token service (default the side server's own, 127.0.0.1). */
  realmHost: string | null;
}

/**
 * A small HTTPS registry following the OCI distribution spec for manifests (HEAD/GET/PUT, `Accept`
 * honoured as Distribution does), tag lists (`n`, `last`, `Link`), blobs (HEAD/GET, optional redirects
 * to storage that refuses requests carrying Authorization) and monolithic uploads (`POST` then
 * `PUT ?digest=`, digests verified), with a Bearer token service on a second origin, HTTP Basic, and
 * queued faults per route.
 */
export interface OciContractServer {
  /** `127.0.0.1:<port>` of the registry. */
  readonly host: string;
  readonly url: string;
  /** `https://127.0.0.1:<port>` of the token service and blob CDN. */
  readonly sideUrl: string;
  readonly requests: OciRequest[];
  configure(settings: Partial<OciServerSettings>): void;
  /** Forgets repositories, uploads, tokens, faults and requests, and restores the default settings. */
  reset(): void;
  addBlob(repository: string, content: Buffer): string;
  /** Adds a manifest and points `tags` at it; returns its digest. */
  addManifest(repository: string, content: Buffer, mediaType: string, tags?: readonly string[]): string;
  /** Replaces what is served for a stored digest, the digest (and its header) unchanged. */
  tamper(kind: "blob" | "manifest", repository: string, digest: string, content: Buffer): void;
  manifest(repository: string, reference: string): { bytes: Buffer; mediaType: string } | undefined;
  blob(repository: string, digest: string): Buffer | undefined;
  /** Answers the next `times` authorized requests of `route` with `status` and a distribution error body, resets the connection, or never answers. */
  fail(route: OciRoute, status: number | "reset" | "hang", times: number, headers?: Record<string, string>): void;
  /** Invalidates every issued token, as a registry does when it rotates keys. */
  revokeTokens(): void;
  stop(): Promise<void>;
}

interface StoredManifest {
  bytes: Buffer;
  readonly mediaType: string;
}

interface Repository {
  readonly manifests: Map<string, StoredManifest>;
  readonly tags: Map<string, string>;
  readonly blobs: Map<string, Buffer>;
}

interface Fault {
  readonly route: OciRoute;
  readonly status: number | "reset" | "hang";
  readonly headers: Record<string, string>;
  remaining: number;
}

interface State {
  settings: OciServerSettings;
  readonly repositories: Map<string, Repository>;
  readonly uploads: Map<string, { repository: string; state: string }>;
  readonly tokens: Map<string, { grants: Map<string, Set<string>>; expiresAt: number }>;
  readonly links: Map<string, { bytes: Buffer; hops: number; origin: "registry" | "side" }>;
  readonly faults: Fault[];
  readonly requests: OciRequest[];
  registryUrl: string;
  sideUrl: string;
}

interface Call {
  readonly state: State;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly body: Buffer;
  readonly name: string;
  readonly reference: string;
}

type Handler = (call: Call) => void;

const MANIFEST_TYPES = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);
const FAULT_CODES: Readonly<Record<number, string>> = { 400: "UNSUPPORTED", 403: "DENIED", 429: "TOOMANYREQUESTS" };
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

const REGISTRY_ROUTES: ReadonlyArray<readonly [OciRoute, string, RegExp, Handler]> = [
  ["ping", "GET", /^\/v2\/?$/, (call) => sendJson(call.res, 200, {})],
  ["startUpload", "POST", /^\/v2\/(.+)\/blobs\/uploads\/?$/, startUpload],
  ["finishUpload", "PUT", /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, finishUpload],
  ["headBlob", "HEAD", /^\/v2\/(.+)\/blobs\/([^/]+)$/, (call) => readBlob(call, true)],
  ["getBlob", "GET", /^\/v2\/(.+)\/blobs\/([^/]+)$/, (call) => readBlob(call, false)],
  ["headManifest", "HEAD", /^\/v2\/(.+)\/manifests\/([^/]+)$/, (call) => readManifest(call, true)],
  ["getManifest", "GET", /^\/v2\/(.+)\/manifests\/([^/]+)$/, (call) => readManifest(call, false)],
  ["putManifest", "PUT", /^\/v2\/(.+)\/manifests\/([^/]+)$/, putManifest],
  ["listTags", "GET", /^\/v2\/(.+)\/tags\/list$/, listTags],
];

export function defaultOciSettings(): OciServerSettings {
  return {
    auth: "none",
    credentials: null,
    tokenExpiresIn: 300,
    tokenField: "token",
    challengeScope: true,
    deniedRepositories: [],
    digestHeader: true,
    blobRedirect: "none",
    redirectHops: 1,
    realmHost: null,
  };
}

/** Starts the registry and its side server on loopback ports with the stack's TLS. */
export async function startOciContractServer(tls: Pick<StackTls, "certPath" | "keyPath">): Promise<OciContractServer> {
  const state: State = {
    settings: defaultOciSettings(),
    repositories: new Map(),
    uploads: new Map(),
    tokens: new Map(),
    links: new Map(),
    faults: [],
    requests: [],
    registryUrl: "",
    sideUrl: "",
  };
  const [cert, key] = await Promise.all([readFile(tls.certPath), readFile(tls.keyPath)]);
  const registry = await listen(createServer({ cert, key }, (req, res) => serve(state, "registry", req, res)));
  const side = await listen(createServer({ cert, key }, (req, res) => serve(state, "side", req, res)));
  state.registryUrl = registry.url;
  state.sideUrl = side.url;
  return {
    host: new URL(registry.url).host,
    url: registry.url,
    sideUrl: side.url,
    requests: state.requests,
    configure: (settings) => void Object.assign(state.settings, settings),
    reset: () => resetState(state),
    addBlob: (repository, content) => {
      repositoryOf(state, repository).blobs.set(sha256(content), content);
      return sha256(content);
    },
    addManifest: (repository, content, mediaType, tags = []) => storeManifest(repositoryOf(state, repository), content, mediaType, tags),
    tamper: (kind, repository, digest, content) => tamper(state, kind, repository, digest, content),
    manifest: (repository, reference) => findManifest(state.repositories.get(repository), reference),
    blob: (repository, digest) => state.repositories.get(repository)?.blobs.get(digest),
    fail: (route, status, times, headers = {}) => void state.faults.push({ route, status, headers, remaining: times }),
    revokeTokens: () => state.tokens.clear(),
    stop: async () => {
      await Promise.all([registry.stop(), side.stop()]);
    },
  };
}

function resetState(state: State): void {
  state.settings = defaultOciSettings();
  state.repositories.clear();
  state.uploads.clear();
  state.tokens.clear();
  state.links.clear();
  state.faults.length = 0;
  state.requests.length = 0;
}

function tamper(state: State, kind: "blob" | "manifest", repository: string, digest: string, content: Buffer): void {
  const stored = state.repositories.get(repository);
  if (kind === "blob") stored?.blobs.set(digest, content);
  const manifest = stored?.manifests.get(digest);
  if (kind === "manifest" && manifest !== undefined) manifest.bytes = content;
}

async function listen(server: Server): Promise<{ url: string; stop: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    url: `https://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

// ---- dispatch ----

function serve(state: State, server: "registry" | "side", req: IncomingMessage, res: ServerResponse): void {
  handle(state, server, req, res).catch((error: unknown) => {
    if (!res.headersSent) sendError(res, 500, "UNKNOWN", `contract server failure: ${String(error)}`);
    else res.destroy();
  });
}

async function handle(state: State, server: "registry" | "side", req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", server === "registry" ? state.registryUrl : state.sideUrl);
  const body = await readBody(req);
  const match = server === "registry" ? matchRegistryRoute(req.method ?? "", url.pathname) : matchSideRoute(req.method ?? "", url.pathname);
  const entry = record(state, server, req, url, match?.route ?? null);
  const call: Call = { state, req, res, url, body, name: match?.name ?? "", reference: match?.reference ?? "" };
  if (match === null) sendError(res, 404, "NOT_FOUND", "no such route");
  else if (match.route === "storage") serveStorage(call, match.reference);
  else if (match.route === "token") issueToken(call);
  else if (match.route !== "ping" && !match.name.split("/").every((part) => NAME_COMPONENT.test(part))) sendError(res, 400, "NAME_INVALID", "invalid repository name");
  else answerRegistry(call, match);
  entry.status = res.destroyed && !res.headersSent ? 0 : res.statusCode;
}

function answerRegistry(call: Call, match: RouteMatch): void {
  if (!authorized(call, match.route)) return;
  const fault = call.state.faults.find((candidate) => candidate.route === match.route && candidate.remaining > 0);
  if (fault !== undefined) {
    fault.remaining -= 1;
    if (fault.status === "reset") call.res.destroy();
    else if (fault.status !== "hang") sendError(call.res, fault.status, FAULT_CODES[fault.status] ?? "UNAVAILABLE", "injected fault", fault.headers);
    return;
  }
  match.handler(call);
}

interface RouteMatch {
  readonly route: OciRoute;
  readonly handler: Handler;
  readonly name: string;
  readonly reference: string;
}

function matchRegistryRoute(method: string, path: string): RouteMatch | null {
  const storage = /^\/_storage\/([^/]+)$/.exec(path);
  if (storage !== null && method === "GET") return { route: "storage", handler: () => undefined, name: "", reference: storage[1] ?? "" };
  for (const [route, routeMethod, pattern, handler] of REGISTRY_ROUTES) {
    const match = method === routeMethod ? pattern.exec(path) : null;
    if (match === null) continue;
    const name = (match[1] ?? "").split("/").map(decodeURIComponent).join("/");
    return { route, handler, name, reference: decodeURIComponent(match[2] ?? "") };
  }
  return null;
}

function matchSideRoute(method: string, path: string): RouteMatch | null {
  if (method !== "GET") return null;
  if (path === "/token") return { route: "token", handler: () => undefined, name: "", reference: "" };
  const cdn = /^\/cdn\/([^/]+)$/.exec(path);
  return cdn === null ? null : { route: "storage", handler: () => undefined, name: "", reference: cdn[1] ?? "" };
}

function record(state: State, server: "registry" | "side", req: IncomingMessage, url: URL, route: OciRoute | null): { status: number } {
  const query: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(" ");
  const scheme = req.headers.authorization?.split(" ")[0]?.toLowerCase();
  const entry = {
    server,
    method: req.method ?? "",
    route,
    path: url.pathname,
    query,
    auth: scheme === undefined ? "none" : scheme === "basic" || scheme === "bearer" ? scheme : "other",
    accept: req.headers.accept ?? null,
    contentType: req.headers["content-type"] ?? null,
    length: req.headers["transfer-encoding"] === "chunked" ? "chunked" : (req.headers["content-length"] ?? null),
    status: 0,
  } satisfies OciRequest;
  state.requests.push(entry);
  return entry;
}

// ---- authentication ----

function authorized(call: Call, route: OciRoute): boolean {
  const { settings } = call.state;
  if (settings.auth === "none") return true;
  const authorization = call.req.headers.authorization ?? "";
  if (settings.auth === "basic") {
    if (authorization === basic(settings.credentials)) return true;
    sendError(call.res, 401, "UNAUTHORIZED", "authentication required", { "www-authenticate": 'Basic realm="ripple-contract"' });
    return false;
  }
  const action = call.req.method === "GET" || call.req.method === "HEAD" ? "pull" : "push";
  const token = call.state.tokens.get(authorization.replace(/^Bearer /, ""));
  const granted = token !== undefined && token.expiresAt > Date.now() && (route === "ping" || (token.grants.get(call.name)?.has(action) ?? false));
  if (authorization.startsWith("Bearer ") && granted) return true;
  const scope = route === "ping" || !call.state.settings.challengeScope ? "" : `,scope="repository:${call.name}:${action === "pull" ? "pull" : "pull,push"}"`;
  const realm = new URL("/token", call.state.sideUrl);
  if (call.state.settings.realmHost !== null) realm.hostname = call.state.settings.realmHost;
  const challenge = `Bearer realm="${realm.href}",service="${OCI_TOKEN_SERVICE}"${scope}`;
  sendError(call.res, 401, "UNAUTHORIZED", "authentication required", { "www-authenticate": challenge });
  return false;
}

function issueToken(call: Call): void {
  const { settings } = call.state;
  const authorization = call.req.headers.authorization;
  const credentialsOk = settings.credentials === null ? authorization === undefined || authorization === basic(null) : authorization === basic(settings.credentials);
  if (!credentialsOk || call.url.searchParams.get("service") !== OCI_TOKEN_SERVICE) {
    sendJson(call.res, 401, { details: "incorrect username or password" });
    return;
  }
  const grants = new Map<string, Set<string>>();
  for (const scope of call.url.searchParams.getAll("scope").flatMap((value) => value.split(" "))) {
    const [kind, name = "", actions = ""] = scope.split(":");
    if (kind === "repository" && !settings.deniedRepositories.includes(name)) grants.set(name, new Set(actions.split(",")));
  }
  const token = `tok-${randomBytes(12).toString("hex")}`;
  const lifetime = settings.tokenExpiresIn ?? 60;
  call.state.tokens.set(token, { grants, expiresAt: Date.now() + lifetime * 1000 });
  sendJson(call.res, 200, {
    [settings.tokenField]: token,
    ...(settings.tokenExpiresIn === null ? {} : { expires_in: settings.tokenExpiresIn }),
    issued_at: new Date().toISOString(),
  });
}

function basic(credentials: { username: string; password: string } | null): string {
  return credentials === null ? "" : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
}

// ---- manifests and tags ----

function readManifest(call: Call, head: boolean): void {
  const repository = call.state.repositories.get(call.name);
  if (repository === undefined) return sendError(call.res, 404, "NAME_UNKNOWN", "repository name not known to registry");
  const digest = DIGEST.test(call.reference) ? call.reference : repository.tags.get(call.reference);
  const stored = digest === undefined ? undefined : repository.manifests.get(digest);
  // Distribution answers 404 for a manifest whose media type the client does not accept.
  const accepted = (call.req.headers.accept ?? "").split(",").map((type) => type.split(";")[0]?.trim());
  if (digest === undefined || stored === undefined || !accepted.includes(stored.mediaType)) return sendError(call.res, 404, "MANIFEST_UNKNOWN", "manifest unknown");
  call.res.writeHead(200, {
    "content-type": stored.mediaType,
    "content-length": String(stored.bytes.byteLength),
    ...(call.state.settings.digestHeader ? { "docker-content-digest": digest } : {}),
  });
  call.res.end(head ? undefined : stored.bytes);
}

function putManifest(call: Call): void {
  const mediaType = call.req.headers["content-type"]?.split(";")[0]?.trim() ?? "";
  const digest = sha256(call.body);
  const document = parseJsonBody(call.body) as { config?: { digest?: string }; layers?: Array<{ digest?: string }>; manifests?: Array<{ digest?: string }> } | null;
  if (!MANIFEST_TYPES.has(mediaType) || document === null) return sendError(call.res, 400, "MANIFEST_INVALID", "manifest invalid");
  if (DIGEST.test(call.reference) && call.reference !== digest) return sendError(call.res, 400, "DIGEST_INVALID", "provided digest did not match uploaded content");
  const repository = repositoryOf(call.state, call.name);
  const blobs = [document.config?.digest, ...(document.layers ?? []).map((layer) => layer.digest)].filter((entry) => entry !== undefined);
  const children = (document.manifests ?? []).map((child) => child.digest ?? "");
  if (blobs.some((blob) => !repository.blobs.has(blob)) || children.some((child) => !repository.manifests.has(child))) {
    return sendError(call.res, 400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry");
  }
  storeManifest(repository, call.body, mediaType, DIGEST.test(call.reference) ? [] : [call.reference]);
  call.res.writeHead(201, { location: `/v2/${call.name}/manifests/${digest}`, "docker-content-digest": digest, "content-length": "0" });
  call.res.end();
}

function listTags(call: Call): void {
  const repository = call.state.repositories.get(call.name);
  if (repository === undefined) return sendError(call.res, 404, "NAME_UNKNOWN", "repository name not known to registry");
  const last = call.url.searchParams.get("last");
  const n = Number(call.url.searchParams.get("n") ?? "1000");
  const remaining = [...repository.tags.keys()].sort().filter((tag) => last === null || tag > last);
  const page = remaining.slice(0, n);
  const more = remaining.length > n;
  const link = `</v2/${call.name}/tags/list?last=${encodeURIComponent(page.at(-1) ?? "")}&n=${n}>; rel="next"`;
  sendJson(call.res, 200, { name: call.name, tags: page }, more ? { link } : {});
}

function storeManifest(repository: Repository, content: Buffer, mediaType: string, tags: readonly string[]): string {
  const digest = sha256(content);
  repository.manifests.set(digest, { bytes: content, mediaType });
  for (const tag of tags) repository.tags.set(tag, digest);
  return digest;
}

function findManifest(repository: Repository | undefined, reference: string): { bytes: Buffer; mediaType: string } | undefined {
  const digest = DIGEST.test(reference) ? reference : repository?.tags.get(reference);
  const stored = digest === undefined ? undefined : repository?.manifests.get(digest);
  return stored === undefined ? undefined : { bytes: stored.bytes, mediaType: stored.mediaType };
}

// ---- blobs ----

function readBlob(call: Call, head: boolean): void {
  const content = call.state.repositories.get(call.name)?.blobs.get(call.reference);
  if (content === undefined) return sendError(call.res, 404, "BLOB_UNKNOWN", "blob unknown to registry");
  const { blobRedirect, redirectHops } = call.state.settings;
  if (head || blobRedirect === "none") {
    call.res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(content.byteLength), "docker-content-digest": call.reference });
    call.res.end(head ? undefined : content);
    return;
  }
  redirect(call, content, blobRedirect === "same-origin" ? "registry" : "side", redirectHops - 1);
}

function redirect(call: Call, content: Buffer, origin: "registry" | "side", hops: number): void {
  const signature = randomBytes(8).toString("hex");
  call.state.links.set(signature, { bytes: content, hops, origin });
  const location = origin === "registry" ? `/_storage/${signature}?sig=${signature}` : `${call.state.sideUrl}/cdn/${signature}?sig=${signature}`;
  call.res.writeHead(307, { location, "content-length": "0" });
  call.res.end();
}

/** Storage answers signed links only, and refuses a request that also carries Authorization (as S3 does). */
function serveStorage(call: Call, signature: string): void {
  const link = call.state.links.get(signature);
  if (link === undefined || call.url.searchParams.get("sig") !== signature) return sendError(call.res, 403, "DENIED", "bad signature");
  if (call.req.headers.authorization !== undefined) return sendError(call.res, 400, "INVALID_ARGUMENT", "only one auth mechanism allowed");
  if (link.hops > 0) return redirect(call, link.bytes, link.origin, link.hops - 1);
  call.res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(link.bytes.byteLength) });
  call.res.end(link.bytes);
}

function startUpload(call: Call): void {
  repositoryOf(call.state, call.name);
  const uuid = randomBytes(8).toString("hex");
  // An opaque state with characters a careless client re-encodes.
  const state = `${randomBytes(9).toString("base64")}+/==`;
  call.state.uploads.set(uuid, { repository: call.name, state });
  call.res.writeHead(202, {
    location: `/v2/${call.name}/blobs/uploads/${uuid}?_state=${encodeURIComponent(state)}`,
    "docker-upload-uuid": uuid,
    range: "0-0",
    "content-length": "0",
  });
  call.res.end();
}

function finishUpload(call: Call): void {
  const upload = call.state.uploads.get(call.reference);
  if (upload === undefined || upload.repository !== call.name || call.url.searchParams.get("_state") !== upload.state) {
    return sendError(call.res, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
  }
  const digest = call.url.searchParams.get("digest") ?? "";
  if (!DIGEST.test(digest) || sha256(call.body) !== digest) return sendError(call.res, 400, "DIGEST_INVALID", "provided digest did not match uploaded content");
  call.state.uploads.delete(call.reference);
  repositoryOf(call.state, call.name).blobs.set(digest, call.body);
  call.res.writeHead(201, { location: `/v2/${call.name}/blobs/${digest}`, "docker-content-digest": digest, "content-length": "0" });
  call.res.end();
}

// ---- plumbing ----

function repositoryOf(state: State, name: string): Repository {
  let found = state.repositories.get(name);
  if (found === undefined) {
    found = { manifests: new Map(), tags: new Map(), blobs: new Map() };
    state.repositories.set(name, found);
  }
  return found;
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: OutgoingHttpHeaders = {}): void {
  sendJson(res, status, { errors: [{ code, message, detail: null }] }, headers);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}
