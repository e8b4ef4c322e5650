/**
 * A local stand-in for a Microsoft Entra tenant's token issuer, so the Entra authentication of Event Grid
 * webhook deliveries runs its real verification path offline: RS256 signing keys, and over HTTPS (the
 * stack's server certificate) the tenant's OpenID configuration
 * (`/{tenant}/v2.0/.well-known/openid-configuration`) and its JSON Web Key Set (`/{tenant}/discovery/v2.0/keys`).
 *
 * Tokens carry the issuer strings Entra itself uses (`https://sts.windows.net/{tenant}/` for v1, the
 * tokens Event Grid is seen to send, or `https://login.microsoftonline.com/{tenant}/v2.0`), so the
 * verifier needs no local exception: only where it reads the keys changes (RIPPLE_EVENT_GRID_AAD_AUTHORITY).
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { StackTls } from "./tls.js";
import { listenOnLoopback } from "./token-service.js";

/** The application id of Event Grid's own service principal in the public cloud (Microsoft's docs script). */
export const EVENT_GRID_APP_ID = "4962773b-9cdb-44cf-a8bf-237846a00ab7";

/** An RSA signing key and the public JWK published for it. */
export interface EntraSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: Record<string, unknown>;
}

/** Makes a 2048-bit RSA signing key (synchronous, so tests can mint tokens while their tables are built). */
export function createEntraSigningKey(kid: string = randomUUID()): EntraSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" });
  return { kid, privateKey, publicJwk: { kty: "RSA", use: "sig", kid, n: jwk.n, e: jwk.e } };
}

/** Signs `claims` RS256 with `key`, its `kid` in the header, as Entra does. */
export function signEntraToken(key: EntraSigningKey, claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signingInput = `${encode({ typ: "JWT", alg: "RS256", kid: key.kid })}.${encode(claims)}`;
  return `${signingInput}.${sign("sha256", Buffer.from(signingInput), key.privateKey).toString("base64url")}`;
}

export interface EventGridClaimsOptions {
  readonly tenantId: string;
  /** The webhook application's id or id URI, as configured on the subscription. */
  readonly audience: string;
  /** Unix seconds; default now. */
  readonly issuedAt?: number;
  /** Default 3600. */
  readonly ttlSeconds?: number;
  /** Token version: 1 (default, `sts.windows.net` issuer) or 2. */
  readonly version?: 1 | 2;
  /** Default `["AzureEventGridSecureWebhookSubscriber"]`. */
  readonly roles?: readonly string[];
}

/** The claims of an app-only access token Entra issues to Event Grid for the webhook's application. */
export function eventGridTokenClaims(options: EventGridClaimsOptions): Record<string, unknown> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const v2 = options.version === 2;
  return {
    aud: options.audience,
    iss: v2 ? `https://login.microsoftonline.com/${options.tenantId}/v2.0` : `https://sts.windows.net/${options.tenantId}/`,
    iat,
    nbf: iat,
    exp: iat + (options.ttlSeconds ?? 3600),
    ...(v2 ? { azp: EVENT_GRID_APP_ID, azpacr: "2" } : { appid: EVENT_GRID_APP_ID, appidacr: "2" }),
    idp: `https://sts.windows.net/${options.tenantId}/`,
    oid: "00000000-0000-0000-0000-00000000e9e1",
    sub: "00000000-0000-0000-0000-00000000e9e1",
    roles: [...(options.roles ?? ["AzureEventGridSecureWebhookSubscriber"])],
    tid: options.tenantId,
    ver: v2 ? "2.0" : "1.0",
  };
}

export interface EntraIssuer {
  /** `https://127.0.0.1:PORT`: the authority (RIPPLE_EVENT_GRID_AAD_AUTHORITY). */
  readonly url: string;
  readonly tenantId: string;
  /** GETs of the OpenID configuration and of the key set so far. */
  readonly requests: { readonly configuration: number; readonly keys: number };
  /** Publishes a key (key rotation); `keep: false` withdraws every other key. */
  publish(key: EntraSigningKey, options?: { keep?: boolean }): void;
  /** Stops listening and closes open connections. Idempotent. */
  stop(): Promise<void>;
}

/** Serves the tenant's OpenID configuration and `keys` (published in this order) on 127.0.0.1, a free port. */
export async function startEntraIssuer(options: { tls: StackTls; tenantId: string; keys: readonly EntraSigningKey[] }): Promise<EntraIssuer> {
  let published = [...options.keys];
  const requests = { configuration: 0, keys: 0 };
  let url = "";
  const server = createServer({ cert: await readFile(options.tls.certPath), key: await readFile(options.tls.keyPath) }, (req, res) => {
    const path = new URL(req.url ?? "/", "https://127.0.0.1").pathname;
    if (req.method === "GET" && path === `/${options.tenantId}/v2.0/.well-known/openid-configuration`) {
      requests.configuration += 1;
      return sendJson(res, 200, openIdConfiguration(url, options.tenantId));
    }
    if (req.method === "GET" && path === `/${options.tenantId}/discovery/v2.0/keys`) {
      requests.keys += 1;
      return sendJson(res, 200, { keys: published.map((key) => key.publicJwk) });
    }
    answerNotFound(req, res);
  });
  url = `https://127.0.0.1:${await listenOnLoopback(server)}`;
  let stopping: Promise<void> | undefined;
  return {
    url,
    tenantId: options.tenantId,
    requests,
    publish(key, publishOptions = {}) {
      published = publishOptions.keep === false ? [key] : [...published.filter((entry) => entry.kid !== key.kid), key];
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

function openIdConfiguration(url: string, tenantId: string): Record<string, unknown> {
  return {
    issuer: `https://login.microsoftonline.com/${tenantId}/v2.0`,
    jwks_uri: `${url}/${tenantId}/discovery/v2.0/keys`,
    token_endpoint: `${url}/${tenantId}/oauth2/v2.0/token`,
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
  };
}

function answerNotFound(_req: IncomingMessage, res: ServerResponse): void {
  sendJson(res, 404, { error: "not_found" });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}
