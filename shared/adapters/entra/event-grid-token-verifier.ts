import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { ConfigError, UpstreamError } from "../../errors.js";
import type { DeliveryTokenVerifier, TokenCheck } from "../../ports/delivery-token-verifier.js";

/** The app role Event Grid's service principal is assigned on the webhook's Entra application. */
export const EVENT_GRID_APP_ROLE = "AzureEventGridSecureWebhookSubscriber";

/** Where tenants publish their OpenID configuration (public cloud). */
export const ENTRA_AUTHORITY = "https://login.microsoftonline.com";

/** Allowed difference between our clock and the issuer's, for `exp` and `nbf`. */
export const CLOCK_SKEW_SECONDS = 60;

/** Published keys older than this are fetched again on the next token. */
const KEYS_MAX_AGE_MS = 60 * 60 * 1000;

/** After a refetch that still lacks a token's key id, unknown key ids are refused without fetching for this long. */
const UNKNOWN_KEY_COOLDOWN_MS = 5 * 60 * 1000;

/** Entra access tokens are a few KB; longer ones are refused before any decoding or cryptography. */
export const MAX_TOKEN_CHARS = 16 * 1024;

const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 256 * 1024;
const SERVICE = "entra-openid";

export interface EventGridTokenVerifierOptions {
  /** The directory (tenant) id of the webhook's Entra application: a GUID. */
  readonly tenantId: string;
  /** Accepted `aud` values: the application id and/or its application id URI, as set on the subscription. */
  readonly audiences: readonly string[];
  /** Where the tenant's OpenID configuration is read; default {@link ENTRA_AUTHORITY} (the local stack names its own issuer). */
  readonly authority?: string;
  /** PEM of an extra CA trusted for the authority (the local stack's). */
  readonly caPem?: string;
  /** GETs a JSON document; default an HTTPS GET with {@link FETCH_TIMEOUT_MS} and a size limit. */
  readonly fetchJson?: (url: string) => Promise<unknown>;
  /** Milliseconds since the epoch; default `Date.now`. */
  readonly now?: () => number;
}

const OpenIdConfiguration = z.object({ jwks_uri: z.string().url() });
const KeySet = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

type KeyResolver = JWTVerifyGetKey;

/**
 * A verifier of the bearer tokens Event Grid sends with webhook deliveries to a Microsoft Entra protected
 * endpoint: RS256 only, signed by a key the tenant publishes (fetched from its OpenID configuration,
 * cached for an hour and fetched again once when a token names an unknown key id), issued by the tenant
 * (v1 `https://sts.windows.net/{tenant}/` or v2 `https://login.microsoftonline.com/{tenant}/v2.0`), for
 * one of `audiences`, within its lifetime (with {@link CLOCK_SKEW_SECONDS} of skew), and carrying the
 * {@link EVENT_GRID_APP_ROLE} app role.
 */
export function createEventGridTokenVerifier(options: EventGridTokenVerifierOptions): DeliveryTokenVerifier {
  const now = options.now ?? Date.now;
  const keys = createKeyCache({ ...options, now });
  const issuers = [`https://sts.windows.net/${options.tenantId}/`, `${ENTRA_AUTHORITY}/${options.tenantId}/v2.0`];
  return {
    async verify(authorization) {
      const presented = authorization ?? "";
      if (!/^Bearer\s/i.test(presented)) return refuse("no bearer token (Authorization: Bearer <JWT>)");
      if (presented.length > MAX_TOKEN_CHARS) return refuse(`token longer than ${MAX_TOKEN_CHARS} characters`);
      const token = bearerTokenOf(presented);
      if (token === null) return refuse("malformed token");
      const header = headerOf(token);
      if (header === null) return refuse("malformed token");
      if (header.alg !== "RS256") return refuse(`token algorithm ${JSON.stringify(header.alg ?? null)} is not accepted (RS256 only)`);
      if (typeof header.kid !== "string" || header.kid === "") return refuse("token has no key id (kid)");
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys.resolve, {
          algorithms: ["RS256"],
          issuer: issuers,
          audience: [...options.audiences],
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ["exp", "nbf"],
          currentDate: new Date(now()),
        }));
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        return refuse(reasonOf(error));
      }
      const roles = Array.isArray(payload["roles"]) ? payload["roles"] : [];
      if (!roles.includes(EVENT_GRID_APP_ROLE)) return refuse(`token lacks the ${EVENT_GRID_APP_ROLE} app role`);
      return { ok: true, subject: String(payload["appid"] ?? payload["azp"] ?? payload.sub ?? "") };
    },
  };
}

function refuse(reason: string): TokenCheck {
  return { ok: false, reason };
}

function bearerTokenOf(authorization: string): string | null {
  const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization);
  return match?.[1] ?? null;
}

function headerOf(token: string): { alg?: string; kid?: string } | null {
  try {
    return decodeProtectedHeader(token);
  } catch {
    return null;
  }
}

/** A short reason for a refused token, from jose's error; never the token or its claims' values. */
function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "token not yet valid (nbf)";
    if (error.claim === "iss") return "token issuer is not the configured tenant";
    if (error.claim === "aud") return "token audience is not the configured application";
    return `token claim ${error.claim} is missing or invalid`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "token key id (kid) is not published by the tenant";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "token signature does not verify";
  if (error instanceof errors.JOSEAlgNotAllowed) return "token algorithm is not accepted (RS256 only)";
  return "malformed token";
}

/**
 * The tenant's signing keys: fetched on first use and after {@link KEYS_MAX_AGE_MS}; a token whose key id
 * is unknown triggers one refetch (key rotation), then unknown ids are refused without fetching for
 * {@link UNKNOWN_KEY_COOLDOWN_MS} so a stream of forged key ids cannot make us hammer the issuer.
 */
function createKeyCache(options: EventGridTokenVerifierOptions & { now: () => number }) {
  const fetchJson = options.fetchJson ?? ((url: string) => getJson(url, options.caPem));
  const configurationUrl = `${(options.authority ?? ENTRA_AUTHORITY).replace(/\/+$/, "")}/${options.tenantId}/v2.0/.well-known/openid-configuration`;
  let jwksUri: string | null = null;
  let current: { resolver: KeyResolver; fetchedAt: number } | null = null;
  let cooldownUntil = 0;
  let inFlight: Promise<KeyResolver> | null = null;

  async function load(): Promise<KeyResolver> {
    jwksUri ??= parseDocument(OpenIdConfiguration, await fetchJson(configurationUrl), "OpenID configuration").jwks_uri;
    const set = parseDocument(KeySet, await fetchJson(jwksUri), "JSON Web Key Set") as JSONWebKeySet;
    const resolver = createLocalJWKSet(set);
    current = { resolver, fetchedAt: options.now() };
    return resolver;
  }

  function refresh(): Promise<KeyResolver> {
    // One fetch at a time: concurrent deliveries with a new key id share it.
    inFlight ??= load().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  const resolve: KeyResolver = async (header, token) => {
    const fresh = current === null || options.now() - current.fetchedAt > KEYS_MAX_AGE_MS;
    const resolver = fresh ? await refresh() : current!.resolver;
    try {
      return await resolver(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || fresh || options.now() < cooldownUntil) throw error;
    }
    try {
      return await (await refresh())(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) cooldownUntil = options.now() + UNKNOWN_KEY_COOLDOWN_MS;
      throw error;
    }
  };
  return { resolve };
}

function parseDocument<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UpstreamError(SERVICE, `the tenant's ${what} is not in the expected shape`, { status: null, retryable: true });
  return parsed.data;
}

/** GETs a JSON document over HTTPS (trusting `caPem` too); network errors, 429 and 5xx are retryable. */
function getJson(url: string, caPem: string | undefined): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const failed = (message: string, status: number | null, cause?: unknown) => reject(new UpstreamError(SERVICE, message, { status, cause }));
    const target = new URL(url);
    if (target.protocol !== "https:") return failed(`refusing to fetch keys over ${target.protocol}`, null);
    const request = httpsRequest(target, { method: "GET", headers: { accept: "application/json" }, timeout: FETCH_TIMEOUT_MS, ...(caPem === undefined ? {} : { ca: caPem }) }, (response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_DOCUMENT_BYTES) response.destroy(new Error("document too large"));
        else chunks.push(chunk);
      });
      response.on("error", (error) => failed(`GET ${target.pathname} failed`, null, error));
      response.on("end", () => {
        if (status < 200 || status > 299) return failed(`GET ${target.pathname} answered ${status}`, status);
        try {
          resolvePromise(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (error) {
          failed(`GET ${target.pathname} answered invalid JSON`, null, error);
        }
      });
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (error) => failed(`GET ${target.pathname} failed`, null, error));
    request.end();
  });
}

/** The settings that turn Entra authentication of Event Grid deliveries on (see `Settings` in config.ts). */
export interface EventGridTokenSettings {
  readonly RIPPLE_EVENT_GRID_AAD_TENANT_ID?: string | undefined;
  readonly RIPPLE_EVENT_GRID_AAD_AUDIENCE?: string | undefined;
  readonly RIPPLE_EVENT_GRID_AAD_AUTHORITY?: string | undefined;
  readonly RIPPLE_EVENT_GRID_AAD_CA_FILE?: string | undefined;
}

const verifiers = new WeakMap<EventGridTokenSettings, DeliveryTokenVerifier | null>();

/**
 * The verifier the settings ask for, or null when the tenant and audience settings are unset (Event Grid
 * deliveries then present the shared secret). One per settings object, so its key cache lives with the app.
 * @throws ConfigError when the CA file cannot be read.
 */
export function eventGridTokenVerifierOf(settings: EventGridTokenSettings): DeliveryTokenVerifier | null {
  if (verifiers.has(settings)) return verifiers.get(settings)!;
  const tenantId = settings.RIPPLE_EVENT_GRID_AAD_TENANT_ID;
  const audiences = (settings.RIPPLE_EVENT_GRID_AAD_AUDIENCE ?? "").split(",").map((value) => value.trim()).filter((value) => value !== "");
  let verifier: DeliveryTokenVerifier | null = null;
  if (tenantId !== undefined && audiences.length > 0) {
    const caFile = settings.RIPPLE_EVENT_GRID_AAD_CA_FILE;
    const caPem = caFile === undefined ? undefined : readCaFile(caFile);
    verifier = createEventGridTokenVerifier({ tenantId, audiences, ...(settings.RIPPLE_EVENT_GRID_AAD_AUTHORITY === undefined ? {} : { authority: settings.RIPPLE_EVENT_GRID_AAD_AUTHORITY }), ...(caPem === undefined ? {} : { caPem }) });
  }
  verifiers.set(settings, verifier);
  return verifier;
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read RIPPLE_EVENT_GRID_AAD_CA_FILE ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}
