/**
 * A local token service for the Docker registry token flow
 * (https://distribution.github.io/distribution/spec/auth/token/), so clients of a local registry with
 * `auth: token` meet the real `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge.
 *
 * Tokens are JWTs signed ES256 (P1363 signature encoding) whose header carries the signing certificate
 * in `x5c`. Distribution 2.8 verifies that chain against its `rootcertbundle` (extended key usage is not
 * checked; key usage is not checked either) and only then the signature. The signing certificate is
 * self-signed and is the whole root bundle, so the registry trusts this key alone — not every
 * certificate the stack CA signed, such as the loopback server certificate all local servers share.
 */
import { X509Certificate, createHash, generateKeyPairSync, randomBytes, sign, timingSafeEqual, type KeyObject } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { AppError } from "../errors.js";
import { runCommand, tailLines } from "./run-command.js";
import type { StackTls } from "./tls.js";

/** One entry of a token's `access` claim: what the bearer may do on one resource. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** The claim set Distribution 2.8 reads; `aud` must be a single string there, not an array. */
export interface RegistryTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: TokenAccess[];
}

/** The key that signs tokens and its certificate (base64 DER, leaf first), as sent in `x5c`. */
export interface TokenSigner {
  key: KeyObject;
  x5c: string[];
}

export interface StartTokenServiceOptions {
  /** The service's folder: the signing key (0600) and certificate go under it. */
  dir: string;
  /** The stack's TLS; the service answers with its loopback server certificate. */
  tls: StackTls;
  /** The `service` a client must name; also the tokens' audience. */
  service: string;
  /** The tokens' `iss`; the registry must be configured with the same issuer. */
  issuer: string;
  /** username → password; a known user with the right password gets pull and push. */
  users: Record<string, string>;
  /** Grant `pull` to anyone, credentials or not. */
  anonymousPull: boolean;
  /** Lifetime of issued tokens; default 300. Distribution adds 60 s of leeway to `exp` and `nbf`. */
  tokenTtlSeconds?: number;
  log?: (line: string) => void;
}

/** A running token service on 127.0.0.1 over TLS. */
export interface TokenService {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** `url + "/token"`: the registry's `auth.token.realm`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file to give the registry as `auth.token.rootcertbundle`. */
  rootCertBundlePath: string;
  /** Requests received so far, whatever their outcome (for tests). */
  readonly requests: number;
  /**
   * Signs a token for exactly `access`, bypassing authentication: for tests (expired or foreign tokens)
   * and tools. `issuedAt` is Unix seconds (default now); `ttlSeconds` defaults to the service's.
   */
  mintToken(opts: { subject: string; access: TokenAccess[]; issuedAt?: number; ttlSeconds?: number }): string;
  /** Stops listening and closes open connections. Idempotent. */
  stop(): Promise<void>;
}

/** Who a token request may act for, as decided from its query and `Authorization` header. */
export type TokenDecision =
  | { status: 200; subject: string; access: TokenAccess[] }
  | { status: 400 | 401; code: string; message: string };

/** What `decideTokenRequest` grants by. */
export interface TokenPolicy {
  service: string;
  users: ReadonlyMap<string, string>;
  anonymousPull: boolean;
}

const defaultTtlSeconds = 300;
const certDays = 365;
const userActions = ["pull", "push"] as const;
const repositoryName = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const resourceType = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;

/**
 * Generates a fresh signing key and certificate under `dir`, then serves `GET /token` on 127.0.0.1 (a
 * free port) with the stack's server certificate. Tokens from an earlier start do not verify against
 * the new root bundle.
 *
 * @throws AppError `stack_tls_failed` when openssl cannot make the signing certificate.
 */
export async function startTokenService(opts: StartTokenServiceOptions): Promise<TokenService> {
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const { signer, certPath } = await createTokenSigner(dir);
  const ttlSeconds = opts.tokenTtlSeconds ?? defaultTtlSeconds;
  const policy: TokenPolicy = { service: opts.service, users: new Map(Object.entries(opts.users)), anonymousPull: opts.anonymousPull };
  const mintToken: TokenService["mintToken"] = (mint) => {
    const iat = mint.issuedAt ?? Math.floor(Date.now() / 1000);
    const claims = describeClaims({ issuer: opts.issuer, service: opts.service, subject: mint.subject, access: mint.access, iat, ttlSeconds: mint.ttlSeconds ?? ttlSeconds });
    return signRegistryToken(signer, claims);
  };
  let requests = 0;
  const server = createServer({ cert: await readFile(opts.tls.certPath), key: await readFile(opts.tls.keyPath) }, (req, res) => {
    requests += 1;
    answerTokenRequest(req, res, { policy, ttlSeconds, mintToken, log: opts.log ?? (() => undefined) });
  });
  const port = await listenOnLoopback(server);
  const url = `https://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    url,
    realm: `${url}/token`,
    service: opts.service,
    issuer: opts.issuer,
    rootCertBundlePath: certPath,
    get requests() {
      return requests;
    },
    mintToken,
    stop() {
      stopping ??= closeServer(server);
      return stopping;
    },
  };
}

/**
 * Decides a token request: 400 for another service or a malformed scope, 401 for credentials that do not
 * match a user (wrong password, unknown user, a non-Basic scheme), otherwise the requested actions the
 * caller holds — `pull` for anyone when anonymous pulls are on, `pull` and `push` for a user — on
 * `repository` resources. Resources with nothing granted are left out. Pure apart from hashing.
 */
export function decideTokenRequest(policy: TokenPolicy, request: { service: string | null; scopes: readonly string[]; authorization: string | undefined }): TokenDecision {
  if (request.service !== policy.service) {
    return { status: 400, code: "INVALID_REQUEST", message: `unknown service; this token service serves ${policy.service}` };
  }
  const requested: TokenAccess[] = [];
  for (const scope of request.scopes.flatMap((value) => value.split(" ")).filter((value) => value !== "")) {
    const parsed = parseScope(scope);
    if (parsed === undefined) return { status: 400, code: "INVALID_REQUEST", message: `malformed scope ${JSON.stringify(scope)}` };
    requested.push(parsed);
  }
  const caller = authenticate(request.authorization, policy.users);
  if (caller === undefined) return { status: 401, code: "UNAUTHORIZED", message: "incorrect username or password" };
  const allowed: readonly string[] = caller.subject === "" ? (policy.anonymousPull ? ["pull"] : []) : userActions;
  const access = requested
    .map((entry) => ({ ...entry, actions: entry.type === "repository" ? entry.actions.filter((action) => allowed.includes(action)) : [] }))
    .filter((entry) => entry.actions.length > 0);
  return { status: 200, subject: caller.subject, access };
}

/** `type:name:action[,action]` (a resource name may hold `:`, e.g. a port); undefined when malformed. Pure. */
export function parseScope(scope: string): TokenAccess | undefined {
  const typeEnd = scope.indexOf(":");
  const actionsStart = scope.lastIndexOf(":");
  if (typeEnd <= 0 || actionsStart <= typeEnd) return undefined;
  const type = scope.slice(0, typeEnd);
  const name = scope.slice(typeEnd + 1, actionsStart);
  const actions = scope.slice(actionsStart + 1).split(",");
  if (!resourceType.test(type) || name === "" || actions.some((action) => !/^[a-z*]+$/.test(action))) return undefined;
  if (type === "repository" && !repositoryName.test(name)) return undefined;
  return { type, name, actions: [...new Set(actions)] };
}

/** A compact JWS: `{typ: "JWT", alg: "ES256", x5c}` header, the claims, an IEEE P1363 ES256 signature. */
export function signRegistryToken(signer: TokenSigner, claims: RegistryTokenClaims): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signingInput = `${encode({ typ: "JWT", alg: "ES256", x5c: signer.x5c })}.${encode(claims)}`;
  const signature = sign("sha256", Buffer.from(signingInput), { key: signer.key, dsaEncoding: "ieee-p1363" });
  return `${signingInput}.${signature.toString("base64url")}`;
}

function describeClaims(opts: { issuer: string; service: string; subject: string; access: TokenAccess[]; iat: number; ttlSeconds: number }): RegistryTokenClaims {
  return {
    iss: opts.issuer,
    sub: opts.subject,
    aud: opts.service,
    exp: opts.iat + opts.ttlSeconds,
    nbf: opts.iat,
    iat: opts.iat,
    jti: randomBytes(16).toString("hex"),
    access: opts.access,
  };
}

/** The caller named by a Basic `Authorization` header (`""` for none), or undefined when it does not check out. */
function authenticate(authorization: string | undefined, users: ReadonlyMap<string, string>): { subject: string } | undefined {
  if (authorization === undefined) return { subject: "" };
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  const decoded = match?.[1] === undefined ? "" : Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  const username = decoded.slice(0, colon);
  const expected = users.get(username);
  // Compare even for an unknown user, so the answer's timing does not tell which usernames exist.
  const matches = equalSecrets(decoded.slice(colon + 1), expected ?? randomBytes(16).toString("hex"));
  return matches && expected !== undefined ? { subject: username } : undefined;
}

/** Constant-time equality of two strings of any length (compared as SHA-256 digests). */
function equalSecrets(given: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

interface TokenContext {
  policy: TokenPolicy;
  ttlSeconds: number;
  mintToken: TokenService["mintToken"];
  log: (line: string) => void;
}

function answerTokenRequest(req: IncomingMessage, res: ServerResponse, ctx: TokenContext): void {
  try {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    if (url.pathname !== "/token") return sendJson(res, 404, errorBody("NOT_FOUND", "no such endpoint"));
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      return sendJson(res, 405, errorBody("UNSUPPORTED", "only GET is supported"));
    }
    const decision = decideTokenRequest(ctx.policy, { service: url.searchParams.get("service"), scopes: url.searchParams.getAll("scope"), authorization: req.headers.authorization });
    if (decision.status !== 200) {
      ctx.log(`token-service: refused status=${decision.status} code=${decision.code}`);
      if (decision.status === 401) res.setHeader("WWW-Authenticate", `Basic realm=${JSON.stringify(ctx.policy.service)}`);
      return sendJson(res, decision.status, errorBody(decision.code, decision.message));
    }
    const issuedAt = Math.floor(Date.now() / 1000);
    const token = ctx.mintToken({ subject: decision.subject, access: decision.access, issuedAt, ttlSeconds: ctx.ttlSeconds });
    ctx.log(`token-service: issued subject=${decision.subject || "anonymous"} access=${decision.access.map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(",")}`).join(" ") || "none"}`);
    sendJson(res, 200, { token, access_token: token, expires_in: ctx.ttlSeconds, issued_at: new Date(issuedAt * 1000).toISOString() });
  } catch {
    ctx.log("token-service: request failed");
    if (!res.headersSent) sendJson(res, 500, errorBody("UNKNOWN", "internal error"));
  }
}

function errorBody(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}

/** A new EC P-256 key (`token-signing.key`, 0600) and a self-signed certificate for it (`token-signing.crt`). */
async function createTokenSigner(dir: string): Promise<{ signer: TokenSigner; certPath: string }> {
  const keyPath = join(dir, "token-signing.key");
  const certPath = join(dir, "token-signing.crt");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  // Removed first: writeFile's mode applies only to a file it creates.
  await rm(keyPath, { force: true });
  await writeFile(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  const args = ["req", "-new", "-x509", "-key", keyPath, "-out", certPath, "-days", String(certDays), "-subj", "/CN=Ripple local token signing",
    "-set_serial", `0x${randomBytes(16).toString("hex")}`, "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature"];
  const result = await runCommand("openssl", args, { cwd: dir });
  if (result.code !== 0) throw new AppError("stack_tls_failed", `openssl req failed (exit ${result.code}):\n${tailLines(result.output)}`);
  const cert = new X509Certificate(await readFile(certPath));
  return { signer: { key: privateKey, x5c: [cert.raw.toString("base64")] }, certPath };
}

/** Listens on 127.0.0.1 on a free port; resolves the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
