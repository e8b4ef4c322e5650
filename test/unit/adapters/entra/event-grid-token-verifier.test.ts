/**
 * The Entra token verifier on its own, its keys served by an injected `fetchJson` (no network): what it
 * fetches and when, how a failing issuer surfaces, and the settings that switch it on.
 */
import { describe, expect, it } from "vitest";
import { createEventGridTokenVerifier, eventGridTokenVerifierOf } from "../../../../shared/adapters/entra/event-grid-token-verifier.js";
import { loadSettings } from "../../../../shared/config.js";
import { UpstreamError } from "../../../../shared/errors.js";
import { createEntraSigningKey, eventGridTokenClaims, signEntraToken, type EntraSigningKey } from "../../../../shared/local/entra-issuer.js";

const TENANT = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
const AUDIENCE = "api://ripple-unit";
const CONFIGURATION_URL = `https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration`;
const KEYS_URL = `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`;

/** A fake issuer: answers the two documents, counts GETs by URL, and can be made to fail. */
function fakeIssuer(keys: EntraSigningKey[]) {
  const gets: string[] = [];
  let failure: Error | null = null;
  const fetchJson = async (url: string): Promise<unknown> => {
    gets.push(url);
    if (failure !== null) throw failure;
    if (url === CONFIGURATION_URL) return { issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, jwks_uri: KEYS_URL };
    if (url === KEYS_URL) return { keys: keys.map((key) => key.publicJwk) };
    throw new Error(`unexpected GET ${url}`);
  };
  return { gets, fetchJson, keys, fail: (error: Error | null) => void (failure = error) };
}

const token = (key: EntraSigningKey, overrides: Record<string, unknown> = {}) =>
  `Bearer ${signEntraToken(key, { ...eventGridTokenClaims({ tenantId: TENANT, audience: AUDIENCE }), ...overrides })}`;

describe("createEventGridTokenVerifier", () => {
  it("fetches the configuration and keys once for many tokens, and refuses without fetching what needs no key", async () => {
    const key = createEntraSigningKey("k1");
    const issuer = fakeIssuer([key]);
    const verifier = createEventGridTokenVerifier({ tenantId: TENANT, audiences: [AUDIENCE], fetchJson: issuer.fetchJson });
    const results = [
      await verifier.verify(undefined),
      await verifier.verify("Basic abc"),
      await verifier.verify(`Bearer ${"a".repeat(20_000)}`),
      await verifier.verify(token(key)),
      await verifier.verify(token(key)),
    ];
    expect({ results, gets: issuer.gets }).toEqual({
      results: [
        { ok: false, reason: "no bearer token (Authorization: Bearer <JWT>)" },
        { ok: false, reason: "no bearer token (Authorization: Bearer <JWT>)" },
        { ok: false, reason: "token longer than 16384 characters" },
        { ok: true, subject: "4962773b-9cdb-44cf-a8bf-237846a00ab7" },
        { ok: true, subject: "4962773b-9cdb-44cf-a8bf-237846a00ab7" },
      ],
      gets: [CONFIGURATION_URL, KEYS_URL],
    });
  });

  it("shares one key fetch among concurrent tokens naming a new key id", async () => {
    const first = createEntraSigningKey("k1");
    const rotated = createEntraSigningKey("k2");
    const issuer = fakeIssuer([first]);
    const verifier = createEventGridTokenVerifier({ tenantId: TENANT, audiences: [AUDIENCE], fetchJson: issuer.fetchJson });
    await verifier.verify(token(first));
    issuer.keys.push(rotated);
    const results = await Promise.all([1, 2, 3].map(() => verifier.verify(token(rotated))));
    expect({ results: results.map((result) => result.ok), gets: issuer.gets }).toEqual({ results: [true, true, true], gets: [CONFIGURATION_URL, KEYS_URL, KEYS_URL] });
  });

  it("throws a retryable UpstreamError when the issuer cannot be reached, and recovers once it can", async () => {
    const key = createEntraSigningKey("k1");
    const issuer = fakeIssuer([key]);
    const verifier = createEventGridTokenVerifier({ tenantId: TENANT, audiences: [AUDIENCE], fetchJson: issuer.fetchJson });
    issuer.fail(new UpstreamError("entra-openid", "GET failed", { status: 503 }));
    const failure = await verifier.verify(token(key)).then(() => null, (error: unknown) => error);
    issuer.fail(null);
    expect({ retryable: (failure as UpstreamError).retryable, name: (failure as Error).name, after: await verifier.verify(token(key)) }).toEqual({
      retryable: true,
      name: "UpstreamError",
      after: { ok: true, subject: "4962773b-9cdb-44cf-a8bf-237846a00ab7" },
    });
  });

  it("treats a key set of the wrong shape as a retryable failure of the issuer", async () => {
    const verifier = createEventGridTokenVerifier({ tenantId: TENANT, audiences: [AUDIENCE], fetchJson: async (url) => (url === CONFIGURATION_URL ? { jwks_uri: KEYS_URL } : { keys: "none" }) });
    const failure = (await verifier.verify(token(createEntraSigningKey("k1"))).then(() => null, (error: unknown) => error)) as UpstreamError;
    expect({ retryable: failure.retryable, message: failure.message }).toEqual({ retryable: true, message: "entra-openid: the tenant's JSON Web Key Set is not in the expected shape" });
  });

  it("checks lifetimes against the injected clock with 60 s of skew", async () => {
    const key = createEntraSigningKey("k1");
    const issuer = fakeIssuer([key]);
    let nowMs = Date.UTC(2025, 0, 1, 12, 0, 0);
    const verifier = createEventGridTokenVerifier({ tenantId: TENANT, audiences: [AUDIENCE], fetchJson: issuer.fetchJson, now: () => nowMs });
    const bearer = token(key, { iat: nowMs / 1000, nbf: nowMs / 1000, exp: nowMs / 1000 + 3600 });
    const at = async (offsetSeconds: number) => {
      nowMs = Date.UTC(2025, 0, 1, 12, 0, 0) + offsetSeconds * 1000;
      return verifier.verify(bearer);
    };
    expect([(await at(-59)).ok, await at(-61), (await at(3659)).ok, await at(3661)]).toEqual([
      true,
      { ok: false, reason: "token not yet valid (nbf)" },
      true,
      { ok: false, reason: "token expired" },
    ]);
  });
});

describe("eventGridTokenVerifierOf and the settings", () => {
  const base = { AzureWebJobsStorage: "UseDevelopmentStorage=true", RIPPLE_WEBHOOK_SECRET: "0123456789abcdef" };

  it("is null without the settings, one verifier per settings object with them", () => {
    const off = loadSettings(base);
    const on = loadSettings({ ...base, RIPPLE_EVENT_GRID_AAD_TENANT_ID: TENANT, RIPPLE_EVENT_GRID_AAD_AUDIENCE: `${AUDIENCE}, 6a0f3c52-4b8e-4f0a-9c1d-2e7b5d9a8c31` });
    expect({ off: eventGridTokenVerifierOf(off), on: eventGridTokenVerifierOf(on) !== null, same: eventGridTokenVerifierOf(on) === eventGridTokenVerifierOf(on) }).toEqual({ off: null, on: true, same: true });
  });

  it.each([
    [{ RIPPLE_EVENT_GRID_AAD_TENANT_ID: TENANT }, "settings: RIPPLE_EVENT_GRID_AAD_TENANT_ID: RIPPLE_EVENT_GRID_AAD_TENANT_ID and RIPPLE_EVENT_GRID_AAD_AUDIENCE go together"],
    [{ RIPPLE_EVENT_GRID_AAD_AUDIENCE: AUDIENCE }, "settings: RIPPLE_EVENT_GRID_AAD_TENANT_ID: RIPPLE_EVENT_GRID_AAD_TENANT_ID and RIPPLE_EVENT_GRID_AAD_AUDIENCE go together"],
    [{ RIPPLE_EVENT_GRID_AAD_TENANT_ID: "contoso.onmicrosoft.com", RIPPLE_EVENT_GRID_AAD_AUDIENCE: AUDIENCE }, "settings: RIPPLE_EVENT_GRID_AAD_TENANT_ID: a tenant id (GUID)"],
  ])("refuses %j", (extra, message) => {
    expect(() => loadSettings({ ...base, ...extra })).toThrow(message);
  });
});
