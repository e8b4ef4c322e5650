/**
 * Microsoft Entra authentication of Event Grid webhook deliveries (issue #8, part 6), through the real
 * handler and composition root on Azurite, against a local issuer serving the tenant's OpenID
 * configuration and keys over HTTPS with the stack's CA: the verifier fetches and caches real keys.
 */
import { createHmac, createPublicKey } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../shared/composition.js";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import { createEntraSigningKey, eventGridTokenClaims, signEntraToken, startEntraIssuer, type EntraIssuer, type EntraSigningKey } from "../../shared/local/entra-issuer.js";
import { ensureStackTls } from "../../shared/local/tls.js";

const SECRET = "entra-test-secret-0123456789abcdef";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT = "11111111-2222-3333-4444-555555555555";
const APP_ID = "6a0f3c52-4b8e-4f0a-9c1d-2e7b5d9a8c31";
const APP_URI = "api://ripple-registry-webhook";
const ALPINE = "sha256:d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4";
const DISTRIBUTION = "application/vnd.docker.distribution.events.v1+json";
const ROLE = "AzureEventGridSecureWebhookSubscriber";
const SETTINGS = ["RIPPLE_EVENT_GRID_AAD_TENANT_ID", "RIPPLE_EVENT_GRID_AAD_AUDIENCE", "RIPPLE_EVENT_GRID_AAD_AUTHORITY", "RIPPLE_EVENT_GRID_AAD_CA_FILE"] as const;

const now = () => Math.floor(Date.now() / 1000);
const published = createEntraSigningKey("key-1");
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const claims = (overrides: Record<string, unknown> = {}) => ({ ...eventGridTokenClaims({ tenantId: TENANT, audience: APP_URI }), ...overrides });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const refused = (reason: string) => ({ error: "unauthorized", message: `Event Grid delivery needs a valid Microsoft Entra token: ${reason}` });
const NOTIFICATION = { "content-type": "application/json", "aeg-event-type": "Notification" };

describe("registryWebhook with Microsoft Entra authentication of Event Grid deliveries", () => {
  let dir: string;
  let azurite: LocalAzurite;
  let issuer: EntraIssuer;
  let handler: typeof import("../../functions/registry-webhook.js").registryWebhook;
  let services: Services;
  let pushFixture: Record<string, unknown> & { data: Record<string, unknown> };
  let second = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-entra-"));
    const tls = await ensureStackTls(join(dir, "stack"));
    azurite = await startAzurite({ dir: join(dir, "azurite") });
    issuer = await startEntraIssuer({ tls, tenantId: TENANT, keys: [published] });
    await writeFile(join(dir, "ripple.yaml"), "version: 1\nregistries:\n  - host: ripplebase.azurecr.io\n  - host: 127.0.0.1:5000\n    kind: distribution\n");
    Object.assign(process.env, {
      AzureWebJobsStorage: azurite.connectionString,
      RIPPLE_CONFIG: join(dir, "ripple.yaml"),
      RIPPLE_WEBHOOK_SECRET: SECRET,
      RIPPLE_TABLE_PREFIX: "entra",
      RIPPLE_QUEUE_PREFIX: "entra",
      RIPPLE_EVENT_GRID_AAD_TENANT_ID: TENANT,
      RIPPLE_EVENT_GRID_AAD_AUDIENCE: `${APP_URI}, ${APP_ID}`,
      RIPPLE_EVENT_GRID_AAD_AUTHORITY: issuer.url,
      RIPPLE_EVENT_GRID_AAD_CA_FILE: tls.caCertPath,
    });
    handler = (await import("../../functions/registry-webhook.js")).registryWebhook;
    services = await (await import("../../shared/composition.js")).getServices();
    pushFixture = (JSON.parse(await readFile(new URL("../fixtures/events/eventgrid-image-pushed.json", import.meta.url), "utf8")) as (typeof pushFixture)[])[0]!;
  });

  afterAll(async () => {
    for (const name of SETTINGS) delete process.env[name];
    await issuer?.stop();
    await azurite?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** An Event Grid push of base/alpine:3.20 at a time no other test uses (so it is never a duplicate). */
  function push(): { body: string; key: string } {
    second += 1;
    const eventTime = new Date(Date.UTC(2024, 6, 1, 10, 0, second)).toISOString();
    const copy = structuredClone(pushFixture);
    delete copy.data["timestamp"];
    return { body: JSON.stringify([{ ...copy, id: `entra-${second}`, eventTime }]), key: `ripplebase.azurecr.io|base/alpine|${ALPINE}|push|3.20|${eventTime}` };
  }

  /** Calls the endpoint; returns the answer, the event rows it added, and whether a log line or the answer carried `token`. */
  async function call(body: string, headers: Record<string, string>, token = "\u0000", method = "POST") {
    const before = new Set((await services.store.listEvents(10_000)).map((record) => record.key));
    const logs: string[] = [];
    const logHandler = (_level: unknown, ...args: unknown[]) => void logs.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" "));
    const request = new functions.HttpRequest({ method, url: "http://localhost/api/registry/events", headers: { "content-length": String(Buffer.byteLength(body)), ...headers }, ...(body ? { body: { string: body } } : {}) });
    const response = await handler(request, new functions.InvocationContext({ functionName: "registryWebhook", logHandler }));
    const rows = (await services.store.listEvents(10_000)).filter((record) => !before.has(record.key)).map(({ key, status }) => ({ key, status }));
    const leaked = logs.some((line) => line.includes(token)) || JSON.stringify(response.jsonBody ?? null).includes(token);
    return { status: response.status, body: response.jsonBody as unknown, rows, leaked };
  }

  const recorded = { status: "recorded", accepted: 1, duplicates: 0, ignored: 0, rejected: 0, rejections: [] };

  it.each([
    ["a v1 token for the application id URI", () => signEntraToken(published, claims())],
    ["a v2 token for the application id", () => signEntraToken(published, eventGridTokenClaims({ tenantId: TENANT, audience: APP_ID, version: 2 }))],
    ["a token expired 30 s ago (within the clock skew)", () => signEntraToken(published, claims({ iat: now() - 3630, nbf: now() - 3630, exp: now() - 30 }))],
  ])("accepts an Event Grid delivery bearing %s and records the event", async (_name, mint) => {
    const token = mint();
    const { body, key } = push();
    expect(await call(body, { ...NOTIFICATION, ...bearer(token) }, token)).toEqual({ status: 202, body: recorded, rows: [{ key, status: "accepted" }], leaked: false });
  });

  const other = createEntraSigningKey("key-1");
  const publicPem = createPublicKey(published.privateKey).export({ type: "spki", format: "pem" }).toString();
  const hs256 = (() => {
    const input = `${encode({ typ: "JWT", alg: "HS256", kid: "key-1" })}.${encode(claims())}`;
    return `${input}.${createHmac("sha256", publicPem).update(input).digest("base64url")}`;
  })();

  it.each<[name: string, headers: Record<string, string>, token: string, reason: string]>([
    ["no Authorization header", {}, "\u0000", "no bearer token (Authorization: Bearer <JWT>)"],
    ["the shared secret instead of a token", bearer(SECRET), SECRET, "malformed token"],
    ["the shared secret in x-ripple-secret", { "x-ripple-secret": SECRET }, SECRET, "no bearer token (Authorization: Bearer <JWT>)"],
    ["a token for another audience", bearer(signEntraToken(published, claims({ aud: "api://someone-else" }))), "", "token audience is not the configured application"],
    ["a token from another tenant's issuer", bearer(signEntraToken(published, claims({ iss: `https://sts.windows.net/${OTHER_TENANT}/` }))), "", "token issuer is not the configured tenant"],
    ["an expired token", bearer(signEntraToken(published, claims({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }))), "", "token expired"],
    ["a token not valid for ten minutes yet", bearer(signEntraToken(published, claims({ iat: now() + 600, nbf: now() + 600, exp: now() + 4200 }))), "", "token not yet valid (nbf)"],
    ["a token without the app role", bearer(signEntraToken(published, claims({ roles: [] }))), "", `token lacks the ${ROLE} app role`],
    ["a token with another app role only", bearer(signEntraToken(published, claims({ roles: ["Reader"] }))), "", `token lacks the ${ROLE} app role`],
    ["a token without exp", bearer(signEntraToken(published, claims({ exp: undefined }))), "", "token claim exp is missing or invalid"],
    ["an unsigned token (alg none)", bearer(`${encode({ typ: "JWT", alg: "none" })}.${encode(claims())}.`), "", 'token algorithm "none" is not accepted (RS256 only)'],
    ["an HS256 token signed with the tenant's public key", bearer(hs256), "", 'token algorithm "HS256" is not accepted (RS256 only)'],
    ["a token naming the published kid, signed by another key", bearer(signEntraToken(other, claims())), "", "token signature does not verify"],
    ["a token whose payload was altered after signing", bearer(signEntraToken(published, claims()).replace(/\.[^.]+\./, `.${encode(claims({ aud: "api://someone-else", roles: [ROLE] }))}.`)), "", "token signature does not verify"],
    ["a truncated token", bearer(signEntraToken(published, claims()).split(".").slice(0, 2).join(".")), "", "malformed token"],
  ])("refuses an Event Grid delivery with %s: 401 with the reason, nothing recorded, the token in no log line", async (_name, headers, secret, reason) => {
    const token = secret || (headers["authorization"] ?? "").replace(/^Bearer /, "");
    expect(await call(push().body, { ...NOTIFICATION, ...headers }, token)).toEqual({ status: 401, body: refused(reason), rows: [], leaked: false });
  });

  it("fetches a rotated key once when a token names it, and refuses unknown key ids without fetching again", async () => {
    const valid = (key: EntraSigningKey) => ({ ...NOTIFICATION, ...bearer(signEntraToken(key, claims())) });
    const first = await call(push().body, valid(published));
    const before = { ...issuer.requests };
    const rotated = createEntraSigningKey("key-2");
    issuer.publish(rotated, { keep: false });
    const statuses = [
      (await call(push().body, valid(rotated))).status,
      (await call(push().body, valid(rotated))).status,
      (await call(push().body, valid(createEntraSigningKey("key-3")))).body,
      (await call(push().body, valid(createEntraSigningKey("key-4")))).body,
      // The withdrawn key no longer verifies: its id is unknown now, and the cool-down spares the issuer.
      (await call(push().body, valid(published))).body,
    ];
    expect({ first: first.status, statuses, fetched: { configuration: issuer.requests.configuration - before.configuration, keys: issuer.requests.keys - before.keys } }).toEqual({
      first: 202,
      statuses: [202, 202, refused("token key id (kid) is not published by the tenant"), refused("token key id (kid) is not published by the tenant"), refused("token key id (kid) is not published by the tenant")],
      fetched: { configuration: 0, keys: 2 },
    });
  });

  it("keeps the shared secret for senders other than Event Grid, where a token is just a wrong secret", async () => {
    const token = signEntraToken(published, claims());
    const envelope = JSON.parse(await readFile(new URL("../fixtures/events/distribution-push.json", import.meta.url), "utf8")) as { events: Record<string, unknown>[] };
    const distribution = (id: string) => JSON.stringify({ events: [{ ...envelope.events[2], id, timestamp: "2024-07-02T10:00:00Z" }] });
    const results = [
      await call(distribution("entra-dist-1"), { "content-type": DISTRIBUTION, ...bearer(token) }, token),
      await call(distribution("entra-dist-2"), { "content-type": DISTRIBUTION, ...bearer(SECRET) }),
      await call(push().body, { ...NOTIFICATION, ...bearer(SECRET) }, SECRET),
    ];
    expect(results.map(({ status, body, leaked }) => ({ status, body, leaked }))).toEqual([
      { status: 401, body: { error: "unauthorized", message: "missing or wrong webhook secret" }, leaked: false },
      { status: 202, body: { status: "recorded", accepted: 1, duplicates: 0, ignored: 0, rejected: 0, rejections: [] }, leaked: false },
      { status: 401, body: refused("malformed token"), leaked: false },
    ]);
  });

  it("answers the subscription validation handshakes without a token, but not a push that only claims to be one", async () => {
    const validation = JSON.stringify([{ id: "v-entra", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: "2024-07-01T10:00:00Z", data: { validationCode: "code-entra" } }]);
    const handshake = { "content-type": "application/json", "aeg-event-type": "SubscriptionValidation" };
    const results = [
      await call(validation, handshake),
      await call(validation, { ...handshake, ...bearer(signEntraToken(published, claims({ aud: "api://someone-else" }))) }),
      await call(push().body, handshake),
    ];
    const options = await handler(new functions.HttpRequest({ method: "OPTIONS", url: "http://localhost/api/registry/events", headers: { "webhook-request-origin": "eventgrid.azure.net" } }), new functions.InvocationContext({ functionName: "registryWebhook" }));
    expect({ results, options: options.status }).toEqual({
      results: [
        { status: 200, body: { validationResponse: "code-entra" }, rows: [], leaked: false },
        { status: 200, body: { validationResponse: "code-entra" }, rows: [], leaked: false },
        { status: 401, body: refused("no bearer token (Authorization: Bearer <JWT>)"), rows: [], leaked: false },
      ],
      options: 200,
    });
  });
});
