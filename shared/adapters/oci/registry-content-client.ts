import { createHash } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { request, type Agent } from "node:https";
import { Readable, pipeline } from "node:stream";
import { z } from "zod";
import { isDigest } from "../../domain/image-ref.js";
import { AppError, ConfigError, UpstreamError, ValidationError } from "../../errors.js";
import type { BlobContent, ManifestHead, RawManifest, RegistryContent } from "../../ports/registry-content.js";
import { toUpstreamError } from "../azure-errors.js";
import { nextPageUrl } from "./link-header.js";
import { CONTENT_ERROR_CODES, MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES, contentTooLarge } from "./parse-manifest.js";
import { REGISTRY_SERVICE, normalizeAdapterHost, readLimited } from "./read-manifest.js";

/** A registry account: sent to the token realm the registry names (Bearer) or to the registry itself (Basic), nowhere else. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Options of {@link createRegistryContentClient}. */
export interface RegistryContentClientOptions {
  /** `host[:port]` as in image references: `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  readonly host: string;
  /** `https://…` origin of the API; default `https://<host>`, and `https://registry-1.docker.io` for `docker.io`. */
  readonly endpoint?: string;
  /**
   * For an extra CA, e.g. `new https.Agent({ ca })`. Used for the registry, its token realm and blob
   * redirects alike; Node's `ca` replaces the public roots, so add `tls.rootCertificates` when those matter too.
   */
  readonly agent?: Agent;
  /** Anonymous when absent or null. */
  readonly credentials?: RegistryCredentials | null;
  /** Idle timeout of every request in milliseconds (default 30 000). */
  readonly timeoutMs?: number;
  /** `n` of each tag-list page (default 100). */
  readonly pageSize?: number;
  /** The clock token lifetimes are measured on, in epoch milliseconds (default `Date.now`; benchmarks simulate an hour). */
  readonly now?: () => number;
  /** Called once per HTTP response received (registry, token realm, blob redirects) with its method, URL and status: for metrics. */
  readonly onRequest?: (request: { readonly method: string; readonly url: string; readonly status: number }) => void;
}

/** One `WWW-Authenticate` challenge: the scheme in lower case, parameter names in lower case. */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

type Method = "GET" | "HEAD" | "PUT" | "POST";
type RequestBody = Buffer | NodeJS.ReadableStream;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

interface Client {
  readonly host: string;
  readonly endpoint: URL;
  readonly agent: Agent | undefined;
  readonly credentials: RegistryCredentials | null;
  readonly timeoutMs: number;
  readonly pageSize: number;
  /** Bearer tokens by the scope Ripple asked for (`repository:<name>:pull` or `…:pull,push`). */
  readonly tokens: Map<string, CachedToken>;
  /** Token requests in flight, so concurrent 401s of one scope fetch one token. */
  readonly pendingTokens: Map<string, Promise<string>>;
  /** Set once the registry asked for HTTP Basic: credentials then go with every registry request. */
  basic: boolean;
  /** The last Bearer challenge per scope: an expired token is renewed from it before the request, saving the 401. */
  readonly challenges: Map<string, AuthChallenge>;
  readonly now: () => number;
  readonly onRequest: ((request: { readonly method: string; readonly url: string; readonly status: number }) => void) | undefined;
}

/** One registry request, authorized as its repository and direction need. */
interface Exchange {
  readonly method: Method;
  readonly url: URL;
  readonly repository: string;
  readonly action: string;
  readonly push?: boolean;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: RequestBody;
}

const ACCEPT_MANIFESTS = Object.values(MANIFEST_MEDIA_TYPES).join(", ");
const DIGEST_ALGORITHMS: ReadonlySet<string> = new Set(["sha256", "sha512"]);
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const MAX_PAGES = 10_000;
const MAX_PAGE_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const DEFAULT_TOKEN_SECONDS = 60;
/** A token is dropped this long before it expires, so a request never reaches the registry with a dying token. */
const TOKEN_MARGIN_MS = 10_000;
const MAX_CACHED_TOKENS = 512;
const GENERIC_CONTENT_TYPES: ReadonlySet<string> = new Set(["application/json", "application/octet-stream", "text/plain"]);
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const CHALLENGE_PART = /\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?/y;

const TokenAnswer = z.object({
  token: z.string().min(1).nullish(),
  access_token: z.string().min(1).nullish(),
  expires_in: z.number().positive().nullish(),
  issued_at: z.string().nullish(),
});
const TagsPage = z.object({ tags: z.array(z.string()).nullish() });
const ErrorBody = z.object({ errors: z.array(z.object({ code: z.unknown() }).passthrough()).nullish() });

/**
 * The {@link RegistryContent} adapter for any registry speaking the OCI distribution API (Docker Hub,
 * MCR, GHCR, ACR, CNCF Distribution) over plain `node:https`. Requests go out anonymously or with the
 * cached token of their scope; a `401` Bearer challenge is answered with a token from the realm the
 * registry names (with the credentials, when given) and the request retried once.
 * @throws ConfigError for a host or endpoint that is not one.
 */
export function createRegistryContentClient(options: RegistryContentClientOptions): RegistryContent {
  const host = normalizeAdapterHost(options.host);
  const client: Client = {
    host,
    endpoint: parseEndpoint(options.endpoint ?? (host === "docker.io" ? "https://registry-1.docker.io" : `https://${host}`)),
    agent: options.agent,
    credentials: options.credentials ?? null,
    timeoutMs: options.timeoutMs ?? 30_000,
    pageSize: options.pageSize ?? 100,
    tokens: new Map(),
    pendingTokens: new Map(),
    basic: false,
    challenges: new Map(),
    now: options.now ?? (() => Date.now()),
    onRequest: options.onRequest,
  };
  // Async arrows, so an invalid name rejects the promise rather than throwing.
  return {
    host,
    headManifest: async (repository, reference) => headManifest(client, checkName(repository), checkReference(reference)),
    readRawManifest: async (repository, reference) => readRawManifest(client, checkName(repository), checkReference(reference)),
    listTags: async (repository) => listTags(client, checkName(repository)),
    openBlob: async (repository, digest) => openBlob(client, checkName(repository), checkDigest(digest)),
    hasBlob: async (repository, digest) => hasBlob(client, checkName(repository), checkDigest(digest)),
    writeBlob: async (repository, digest, content) => writeBlob(client, checkName(repository), checkDigest(digest), content),
    writeManifest: async (repository, reference, manifest) => writeManifest(client, checkName(repository), checkReference(reference), manifest),
  };
}

/**
 * Parses a `WWW-Authenticate` header into its challenges (`Bearer realm="…",service="…",scope="…"`,
 * `Basic realm="…"`, several in one header), honouring quoted values with commas and escapes. Pure.
 */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let position = 0;
  while (position < header.length) {
    CHALLENGE_PART.lastIndex = position;
    const match = CHALLENGE_PART.exec(header);
    if (match === null || match[0] === "") {
      position += 1;
      continue;
    }
    position = CHALLENGE_PART.lastIndex;
    const [, name = "", quoted, bare] = match;
    const value = quoted === undefined ? bare : quoted.replace(/\\(.)/g, "$1");
    if (value === undefined) challenges.push({ scheme: name.toLowerCase(), params: {} });
    else if (challenges.length > 0) (challenges[challenges.length - 1] as { params: Record<string, string> }).params[name.toLowerCase()] = value;
  }
  return challenges;
}

/** Milliseconds a `Retry-After` value (delay seconds or an HTTP date) asks to wait; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  const trimmed = value?.trim() ?? "";
  if (trimmed === "") return null;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

// ---- operations ----

async function headManifest(client: Client, repository: string, reference: string): Promise<ManifestHead | null> {
  const action = `reading manifest ${displayName(repository, reference)}`;
  const response = await exchange(client, { method: "HEAD", url: repositoryUrl(client, repository, "manifests", reference), repository, action, headers: { accept: ACCEPT_MANIFESTS } });
  if (response.statusCode === 404) return discard(response, null);
  if (response.statusCode !== 200) throw await httpError(response, action);
  response.resume();
  const digest = headerDigest(response) ?? (isDigest(reference) ? reference : null);
  if (digest !== null) return { digest, mediaType: contentType(response) };
  // No Docker-Content-Digest: only the bytes tell which manifest the tag names now.
  const raw = await readRawManifest(client, repository, reference);
  return raw === null ? null : { digest: raw.digest, mediaType: raw.mediaType };
}

async function readRawManifest(client: Client, repository: string, reference: string): Promise<RawManifest | null> {
  const action = `reading manifest ${displayName(repository, reference)}`;
  const response = await exchange(client, { method: "GET", url: repositoryUrl(client, repository, "manifests", reference), repository, action, headers: { accept: ACCEPT_MANIFESTS } });
  if (response.statusCode === 404) return discard(response, null);
  if (response.statusCode !== 200) throw await httpError(response, action);
  const bytes = await readBody(response, MAX_MANIFEST_BYTES, action, "manifest");
  const announced = headerDigest(response);
  for (const expected of [isDigest(reference) ? reference : null, announced]) {
    if (expected !== null) verifyDigest(bytes, expected, "manifest", action);
  }
  const digest = isDigest(reference) ? reference : (announced ?? digestOf(bytes, "sha256"));
  return { digest, mediaType: manifestMediaType(contentType(response), bytes), bytes };
}

async function listTags(client: Client, repository: string): Promise<string[]> {
  const action = `listing tags of ${repository}`;
  const tags = new Set<string>();
  let url: URL | null = repositoryUrl(client, repository, "tags", "list");
  url.searchParams.set("n", String(client.pageSize));
  for (let page = 0; url !== null; page += 1) {
    if (page >= MAX_PAGES) throw new UpstreamError(REGISTRY_SERVICE, `${action}: more than ${MAX_PAGES} pages`, { retryable: false });
    const response = await exchange(client, { method: "GET", url, repository, action, headers: { accept: "application/json" } });
    if (response.statusCode === 404 && page === 0) return discard(response, []);
    if (response.statusCode !== 200) throw await httpError(response, action);
    const link = headerValue(response, "link");
    const parsed = TagsPage.safeParse(parseJson(await readBody(response, MAX_PAGE_BYTES, action)));
    if (!parsed.success) throw new UpstreamError(REGISTRY_SERVICE, `${action}: unexpected response body`, { retryable: false });
    for (const tag of parsed.data.tags ?? []) tags.add(tag);
    url = nextPageUrl(link, url, { origin: client.endpoint.origin, service: REGISTRY_SERVICE, action });
  }
  return [...tags].sort();
}

async function openBlob(client: Client, repository: string, digest: string): Promise<BlobContent> {
  const action = `reading blob ${digest} of ${repository}`;
  let url = repositoryUrl(client, repository, "blobs", digest);
  let response = await exchange(client, { method: "GET", url, repository, action });
  for (let hops = 1; REDIRECT_STATUSES.has(response.statusCode ?? 0); hops += 1) {
    response.resume();
    if (hops > MAX_REDIRECTS) throw new UpstreamError(REGISTRY_SERVICE, `${action}: more than ${MAX_REDIRECTS} redirects`, { retryable: false });
    url = redirectTarget(response, url, action);
    // Storage and CDN hosts get no Authorization: the signed URL is their credential.
    response = await send(client, { method: "GET", url, headers: {} }, action);
  }
  if (response.statusCode !== 200) throw await httpError(response, action);
  const size = contentLength(response);
  return { size, stream: verifyingStream(response, digest, size, action) };
}

async function hasBlob(client: Client, repository: string, digest: string): Promise<boolean> {
  const action = `checking blob ${digest} of ${repository}`;
  const response = await exchange(client, { method: "HEAD", url: repositoryUrl(client, repository, "blobs", digest), repository, action });
  const status = response.statusCode ?? 0;
  // A redirect to storage means the registry holds the blob.
  if (status === 200 || REDIRECT_STATUSES.has(status)) return discard(response, true);
  if (status === 404) return discard(response, false);
  throw await httpError(response, action);
}

async function writeBlob(client: Client, repository: string, digest: string, content: BlobContent): Promise<void> {
  const action = `uploading blob ${digest} to ${repository}`;
  const uploads = repositoryUrl(client, repository, "blobs", "uploads", "");
  const started = await exchange(client, { method: "POST", url: uploads, repository, action, push: true, body: Buffer.alloc(0) });
  if (started.statusCode !== 202) throw await httpError(started, action);
  started.resume();
  const location = uploadLocation(client, started, action);
  // Appended as text: the location's own query (an opaque upload state) must reach the registry unchanged.
  const target = new URL(`${location.href}${location.search === "" ? "?" : "&"}digest=${encodeURIComponent(digest)}`);
  const headers: OutgoingHttpHeaders = { "content-type": "application/octet-stream", ...(content.size === null ? {} : { "content-length": String(content.size) }) };
  const finished = await exchange(client, { method: "PUT", url: target, repository, action, push: true, headers, body: content.stream });
  if (finished.statusCode !== 201) throw await httpError(finished, action);
  finished.resume();
}

async function writeManifest(client: Client, repository: string, reference: string, manifest: RawManifest): Promise<string> {
  const action = `pushing manifest ${displayName(repository, reference)}`;
  const url = repositoryUrl(client, repository, "manifests", reference);
  const response = await exchange(client, { method: "PUT", url, repository, action, push: true, headers: { "content-type": manifest.mediaType }, body: manifest.bytes });
  if (response.statusCode !== 201) throw await httpError(response, action);
  response.resume();
  return headerDigest(response) ?? digestOf(manifest.bytes, "sha256");
}

// ---- authorization ----

/**
 * Sends a registry request with the credentials its scope has, answers a 401 challenge once and resends.
 * @throws UpstreamError 401 (not retryable) when the registry still refuses, or when a streamed body cannot be resent.
 */
async function exchange(client: Client, request: Exchange): Promise<IncomingMessage> {
  const scope = `repository:${request.repository}:${request.push === true ? "pull,push" : "pull"}`;
  const first = await sendAuthorized(client, request, cachedAuthorization(client, scope) ?? (await renewedAuthorization(client, scope, request)));
  if (first.statusCode !== 401) return first;
  first.resume();
  if (request.body !== undefined && !Buffer.isBuffer(request.body)) throw accessDenied(client, request);
  const authorization = await answerChallenge(client, headerValue(first, "www-authenticate") ?? "", scope, request);
  const second = await sendAuthorized(client, request, authorization);
  if (second.statusCode !== 401) return second;
  second.resume();
  throw accessDenied(client, request);
}

function sendAuthorized(client: Client, request: Exchange, authorization: string | null): Promise<IncomingMessage> {
  const headers = { ...request.headers, ...(authorization === null ? {} : { authorization }) };
  return send(client, { method: request.method, url: request.url, headers, ...(request.body === undefined ? {} : { body: request.body }) }, request.action);
}

function cachedAuthorization(client: Client, scope: string): string | null {
  if (client.basic && client.credentials !== null) return basicAuthorization(client.credentials);
  const now = client.now();
  // A push token also allows pulls of its repository.
  for (const candidate of scope.endsWith(":pull") ? [scope, `${scope},push`] : [scope]) {
    const cached = client.tokens.get(candidate);
    if (cached !== undefined && cached.expiresAt > now) return `Bearer ${cached.token}`;
  }
  return null;
}

/** A fresh token for a scope whose token expired, from the challenge the registry gave for it before; null when there was none. */
async function renewedAuthorization(client: Client, scope: string, request: Exchange): Promise<string | null> {
  const challenge = client.challenges.get(scope);
  return challenge === undefined ? null : `Bearer ${await tokenFor(client, challenge, scope, request)}`;
}

function tokenFor(client: Client, bearer: AuthChallenge, scope: string, request: Exchange): Promise<string> {
  const pending = client.pendingTokens.get(scope) ?? fetchToken(client, bearer, scope, request.action).finally(() => client.pendingTokens.delete(scope));
  client.pendingTokens.set(scope, pending);
  return pending;
}

async function answerChallenge(client: Client, header: string, scope: string, request: Exchange): Promise<string> {
  const challenges = parseAuthChallenges(header);
  const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
  if (bearer !== undefined) {
    client.challenges.set(scope, bearer);
    if (client.challenges.size > MAX_CACHED_TOKENS) client.challenges.delete(client.challenges.keys().next().value ?? "");
    return `Bearer ${await tokenFor(client, bearer, scope, request)}`;
  }
  if (client.credentials !== null && challenges.some((challenge) => challenge.scheme === "basic")) {
    client.basic = true;
    return basicAuthorization(client.credentials);
  }
  throw accessDenied(client, request);
}

/** Asks the challenge's realm for a token of the challenge's scope (else `scope`) and caches it under `scope`. */
async function fetchToken(client: Client, challenge: AuthChallenge, scope: string, action: string): Promise<string> {
  const url = tokenUrl(challenge, scope, action);
  if (client.credentials !== null && !realmMayReceiveCredentials(url.hostname, client.endpoint.hostname)) {
    throw new UpstreamError(REGISTRY_SERVICE, `${action} failed: the registry names a token realm on ${url.hostname}, outside its own domain; the credentials are not sent there`, { status: 401, retryable: false });
  }
  const headers: OutgoingHttpHeaders = { accept: "application/json", ...(client.credentials === null ? {} : { authorization: basicAuthorization(client.credentials) }) };
  const tokenAction = `${action}: token request`;
  const response = await send(client, { method: "GET", url, headers }, tokenAction);
  if (response.statusCode === 401 || response.statusCode === 403) {
    response.resume();
    const what = client.credentials === null ? "anonymous access" : "the credentials";
    throw new UpstreamError(REGISTRY_SERVICE, `${action} failed: the token service of ${client.host} refused ${what} (HTTP ${response.statusCode})`, { status: response.statusCode, retryable: false });
  }
  if (response.statusCode !== 200) throw await httpError(response, tokenAction);
  const answer = TokenAnswer.safeParse(parseJson(await readBody(response, MAX_TOKEN_BYTES, tokenAction)));
  const token = answer.success ? (answer.data.token ?? answer.data.access_token) : null;
  if (!answer.success || token === null || token === undefined) throw new UpstreamError(REGISTRY_SERVICE, `${tokenAction}: the answer holds no token`, { retryable: false });
  cacheToken(client, scope, token, answer.data);
  return token;
}

/**
 * Whether a token realm's host may receive the registry's credentials: the registry's own host, or a host
 * under the registry's parent domain when that is a domain of its own (Docker Hub's registry-1.docker.io
 * sends clients to auth.docker.io; ghcr.io keeps its realm on ghcr.io). Anonymous token requests carry no
 * secret and may go to any https realm the registry names.
 */
export function realmMayReceiveCredentials(realm: string, registry: string): boolean {
  if (realm === registry) return true;
  if (/^[\d.]+$/.test(registry) || registry.startsWith("[")) return false;
  const parent = registry.slice(registry.indexOf(".") + 1);
  return registry.includes(".") && parent.includes(".") && realm.endsWith(`.${parent}`);
}

function tokenUrl(challenge: AuthChallenge, scope: string, action: string): URL {
  const realm = URL.canParse(challenge.params.realm ?? "") ? new URL(challenge.params.realm ?? "") : null;
  if (realm === null || realm.protocol !== "https:") {
    throw new UpstreamError(REGISTRY_SERVICE, `${action} failed: the registry's token realm is not an https URL`, { status: 401, retryable: false });
  }
  if (challenge.params.service !== undefined) realm.searchParams.set("service", challenge.params.service);
  for (const part of (challenge.params.scope ?? scope).split(/\s+/).filter(Boolean)) realm.searchParams.append("scope", part);
  return realm;
}

function cacheToken(client: Client, scope: string, token: string, answer: z.infer<typeof TokenAnswer>): void {
  const now = client.now();
  const issuedAt = Date.parse(answer.issued_at ?? "");
  // A registry clock ahead of ours must not stretch the lifetime.
  const start = Number.isNaN(issuedAt) ? now : Math.min(issuedAt, now);
  const expiresAt = start + (answer.expires_in ?? DEFAULT_TOKEN_SECONDS) * 1000 - TOKEN_MARGIN_MS;
  client.tokens.delete(scope);
  if (client.tokens.size >= MAX_CACHED_TOKENS) client.tokens.delete(client.tokens.keys().next().value ?? "");
  client.tokens.set(scope, { token, expiresAt });
}

function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`;
}

function accessDenied(client: Client, request: Exchange): UpstreamError {
  return new UpstreamError(REGISTRY_SERVICE, `${request.action} failed: ${client.host} refused access to repository ${request.repository} (HTTP 401)`, { status: 401, retryable: false });
}

// ---- transport ----

/** One HTTPS request with an idle timeout; resolves with the response head, its body unread. */
function send(client: Pick<Client, "agent" | "timeoutMs" | "onRequest">, outgoing: { method: Method; url: URL; headers: OutgoingHttpHeaders; body?: RequestBody }, action: string): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const { body } = outgoing;
    let bodyError: unknown = null;
    const fail = (error: unknown): void => reject(toUpstreamError(error, { service: REGISTRY_SERVICE, action }));
    const headers = Buffer.isBuffer(body) ? { ...outgoing.headers, "content-length": String(body.byteLength) } : outgoing.headers;
    const options = { method: outgoing.method, headers, ...(client.agent === undefined ? {} : { agent: client.agent }) };
    const req = request(outgoing.url, options, (response) => {
      client.onRequest?.({ method: outgoing.method, url: outgoing.url.href, status: response.statusCode ?? 0 });
      if (bodyError === null) return resolve(response);
      response.resume();
      fail(bodyError);
    });
    req.setTimeout(client.timeoutMs, () => req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (error) => fail(bodyError ?? error));
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    // A source that fails (a blob that does not match its digest) aborts the upload with its own error,
    // whatever the registry answers to the truncated body.
    else {
      pipeline(body, req, (error) => {
        if (error === null || error === undefined) return;
        bodyError = error;
        fail(error);
      });
    }
  });
}

/** The error for a response Ripple did not expect: status, the registry's error codes and `retryAfterMs`. */
async function httpError(response: IncomingMessage, action: string): Promise<UpstreamError> {
  const status = response.statusCode ?? 0;
  const codes = await readErrorCodes(response);
  const error = new UpstreamError(REGISTRY_SERVICE, `${action} failed with HTTP ${status}${codes.length > 0 ? ` (${codes.join(", ")})` : ""}`, { status });
  const retryAfterMs = parseRetryAfter(headerValue(response, "retry-after"));
  if (error.retryable && retryAfterMs !== null) Object.assign(error.details, { retryAfterMs });
  return error;
}

/** The `errors[].code` of a distribution error body: fixed words, never the body's free text. */
async function readErrorCodes(response: IncomingMessage): Promise<string[]> {
  try {
    const parsed = ErrorBody.safeParse(parseJson(await readLimited(response, MAX_ERROR_BODY_BYTES, "manifest")));
    const codes = parsed.success ? (parsed.data.errors ?? []).map((entry) => entry.code) : [];
    return [...new Set(codes.filter((code): code is string => typeof code === "string" && /^[A-Z][A-Z_]{0,63}$/.test(code)))];
  } catch {
    return [];
  }
}

/**
 * A response body up to `maxBytes`. Past it: `manifest_too_large` for a manifest, a non-retryable
 * UpstreamError for any other answer (a tag page, a token).
 */
async function readBody(response: IncomingMessage, maxBytes: number, action: string, part: "manifest" | "answer" = "answer"): Promise<Buffer> {
  try {
    const declared = contentLength(response);
    if (declared !== null && declared > maxBytes) {
      response.destroy();
      throw contentTooLarge("manifest", maxBytes);
    }
    return await readLimited(response, maxBytes, "manifest");
  } catch (error) {
    const tooLarge = error instanceof AppError && error.code === CONTENT_ERROR_CODES.tooLarge;
    if (tooLarge && part === "answer") throw new UpstreamError(REGISTRY_SERVICE, `${action}: answer larger than ${maxBytes} bytes`, { retryable: false });
    throw toUpstreamError(error, { service: REGISTRY_SERVICE, action });
  }
}

/**
 * The blob's bytes as the consumer reads them, hashed on the way: the stream errors with
 * `digest_mismatch` at its end when the digest differs, or as soon as more bytes than `Content-Length`
 * arrive. It pulls from the response only when read, so a failure never fires before the consumer
 * listens (an `error` event nobody listens to would end the process); one that happens earlier is
 * delivered on the next read.
 */
function verifyingStream(response: IncomingMessage, digest: string, size: number | null, action: string): NodeJS.ReadableStream {
  const algorithm = digest.slice(0, digest.indexOf(":"));
  const hash = createHash(algorithm);
  let received = 0;
  let failure: Error | null = null;
  const stream = new Readable({
    read() {
      if (failure !== null) this.destroy(failure);
      else response.resume();
    },
    destroy(error, callback) {
      response.destroy();
      callback(error);
    },
  });
  const fail = (error: Error): void => {
    failure ??= error;
    response.pause();
    if (stream.listenerCount("error") > 0) stream.destroy(failure);
  };
  response.pause();
  response.on("data", (chunk: Buffer) => {
    received += chunk.byteLength;
    if (size !== null && received > size) return fail(digestMismatch(action, "blob", digest, `more than ${size} bytes`));
    hash.update(chunk);
    if (!stream.push(chunk)) response.pause();
  });
  response.on("end", () => {
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (actual === digest && (size === null || received === size)) stream.push(null);
    else fail(digestMismatch(action, "blob", digest, actual));
  });
  response.on("error", (error) => fail(toUpstreamError(error, { service: REGISTRY_SERVICE, action })));
  return stream;
}

function redirectTarget(response: IncomingMessage, current: URL, action: string): URL {
  const location = headerValue(response, "location");
  const target = location !== null && URL.canParse(location, current.href) ? new URL(location, current) : null;
  if (target === null || target.protocol !== "https:") {
    throw new UpstreamError(REGISTRY_SERVICE, `${action}: redirect to a location that is not an https URL`, { retryable: false });
  }
  return target;
}

function uploadLocation(client: Client, response: IncomingMessage, action: string): URL {
  const location = headerValue(response, "location");
  const target = location !== null && URL.canParse(location, client.endpoint.href) ? new URL(location, client.endpoint) : null;
  // The upload carries the registry's token: it may only go back to the registry.
  if (target === null || target.origin !== client.endpoint.origin) {
    throw new UpstreamError(REGISTRY_SERVICE, `${action}: the upload location is missing or on another host`, { retryable: false });
  }
  return target;
}

// ---- small helpers ----

function parseEndpoint(endpoint: string): URL {
  const url = URL.canParse(endpoint) ? new URL(endpoint) : null;
  if (url === null || url.protocol !== "https:" || url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError(`registry endpoint "${endpoint}" must be an https origin without path`, [{ path: "endpoint", message: "invalid endpoint" }]);
  }
  return url;
}

function repositoryUrl(client: Client, repository: string, ...rest: string[]): URL {
  return new URL(`/v2/${[...repository.split("/"), ...rest].map(encodeURIComponent).join("/")}`, client.endpoint);
}

function checkName(repository: string): string {
  if (repository.length > 255 || !repository.split("/").every((component) => NAME_COMPONENT.test(component))) {
    throw new ValidationError(`"${repository}" is not a valid repository name`, [{ path: "repository", message: "invalid repository name" }]);
  }
  return repository;
}

function checkReference(reference: string): string {
  if (TAG.test(reference)) return reference;
  return checkDigest(reference);
}

function checkDigest(digest: string): string {
  if (!isDigest(digest) || !DIGEST_ALGORITHMS.has(digest.slice(0, digest.indexOf(":")))) {
    throw new ValidationError(`"${digest}" is not a supported digest`, [{ path: "digest", message: "invalid digest" }]);
  }
  return digest;
}

function displayName(repository: string, reference: string): string {
  return `${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
}

function digestOf(content: Uint8Array, algorithm: string): string {
  return `${algorithm}:${createHash(algorithm).update(content).digest("hex")}`;
}

function verifyDigest(content: Uint8Array, expected: string, part: string, action: string): void {
  const algorithm = expected.slice(0, expected.indexOf(":"));
  if (!DIGEST_ALGORITHMS.has(algorithm)) return;
  const actual = digestOf(content, algorithm);
  if (actual !== expected) throw digestMismatch(action, part, expected, actual);
}

function digestMismatch(action: string, part: string, expected: string, actual: string): AppError {
  return new AppError(CONTENT_ERROR_CODES.digestMismatch, `${action}: ${part} content does not match digest ${expected}`, {
    retryable: false,
    details: { part, expected, actual },
  });
}

function headerValue(response: IncomingMessage, name: string): string | null {
  const value = response.headers[name];
  const text = Array.isArray(value) ? value.join(", ") : value;
  return text === undefined || text === "" ? null : text;
}

function headerDigest(response: IncomingMessage): string | null {
  const digest = headerValue(response, "docker-content-digest")?.trim() ?? null;
  return digest !== null && isDigest(digest) ? digest : null;
}

function contentType(response: IncomingMessage): string | null {
  const bare = headerValue(response, "content-type")?.split(";")[0]?.trim().toLowerCase();
  return bare ? bare : null;
}

function contentLength(response: IncomingMessage): number | null {
  const value = headerValue(response, "content-length");
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/** The served media type, unless it is a generic one; then the document's own `mediaType`. */
function manifestMediaType(served: string | null, bytes: Buffer): string {
  if (served !== null && !GENERIC_CONTENT_TYPES.has(served)) return served;
  const declared = (parseJson(bytes) as { mediaType?: unknown } | null)?.mediaType;
  return typeof declared === "string" && declared !== "" ? declared : (served ?? "application/octet-stream");
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch {
    return null;
  }
}

function discard<T>(response: IncomingMessage, value: T): T {
  response.resume();
  return value;
}
