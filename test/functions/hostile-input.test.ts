/**
 * Hostile input against the HTTP endpoint `POST /api/registry/events` (issue #10, "The proof, kept"):
 * every schema the endpoint takes, through the real handler and composition root on Azurite. Each
 * payload is answered 400 / 401 / 413, or recorded as rejected (or ignored) with its reason; a refused
 * one writes no row to any table and queues nothing; no answer carries a stack trace or the secret; and
 * no connection is ever made to a host the configuration does not name (every outbound TCP connection
 * of this process is watched, and a listener stands in for a foreign registry named in the payloads).
 * Memory across 1,000 such requests is measured by `npm run bench` (test/bench/hostile-bench.ts).
 */
import { createHash, createHmac, createPublicKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../shared/composition.js";
import { dedupeKey, type EventSource, type RegistryEvent } from "../../shared/domain/registry-event.js";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import { createEntraSigningKey, eventGridTokenClaims, signEntraToken, startEntraIssuer, type EntraIssuer } from "../../shared/local/entra-issuer.js";
import { ensureStackTls } from "../../shared/local/tls.js";
import { startCountingListener } from "../doubles/counting-listener.js";

const SECRET = "hostile-test-secret-0123456789abcdef";
const NOW = "2025-01-01T00:00:00.000Z";
const PAST = "2024-07-01T10:00:00Z";
const PAST_ISO = "2024-07-01T10:00:00.000Z";
const DIGEST = "sha256:d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4";
const INDEX = "application/vnd.oci.image.index.v1+json";
const PUSHED = "Microsoft.ContainerRegistry.ImagePushed";
const DELETED = "Microsoft.ContainerRegistry.ImageDeleted";
const JSON_TYPE = "application/json";
const CLOUD = "application/cloudevents+json";
const CLOUD_BATCH = "application/cloudevents-batch+json";
const DISTRIBUTION = "application/vnd.docker.distribution.events.v1+json";
const MIB = 1024 * 1024;
/** Event Grid deliveries must bear a Microsoft Entra token of this tenant, for this application (issue #8). */
const TENANT = "3c5b1f0e-7d2a-4e8b-9f61-0a4d2c8e5b17";
const APP_URI = "api://ripple-hostile";
const ENTRA_SETTINGS = ["RIPPLE_EVENT_GRID_AAD_TENANT_ID", "RIPPLE_EVENT_GRID_AAD_AUDIENCE", "RIPPLE_EVENT_GRID_AAD_AUTHORITY", "RIPPLE_EVENT_GRID_AAD_CA_FILE"] as const;
const signingKey = createEntraSigningKey("hostile-key");



/** Every TCP connection this process opens, as `host:port`, recorded where all of Node's clients pass. */
function watchConnections(): { readonly targets: string[]; readonly restore: () => void } {
  const targets: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(this: net.Socket, ...args: unknown[]) {
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    if (typeof first === "number") targets.push(`${String(args[1] ?? "localhost")}:${first}`);
    else if (typeof first === "object" && first !== null && "port" in first) {
      const options = first as { host?: string; port: number | string };
      targets.push(`${options.host ?? "localhost"}:${options.port}`);
    } else if (typeof first === "object" && first !== null && "path" in first) targets.push(`unix:${String((first as { path: unknown }).path)}`);
    return (original as (...rest: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  return { targets, restore: () => void (net.Socket.prototype.connect = original) };
}

// ---------------------------------------------------------------------------------------------------
// Valid payloads of each schema, to be spoiled one field at a time.

type Json = Record<string, unknown>;

function target(overrides: Json = {}): Json {
  return { mediaType: INDEX, size: 9218, digest: DIGEST, length: 9218, repository: "base/alpine", tag: "3.20", ...overrides };
}

function eventGrid(host: string, overrides: Json = {}, data: Json = {}): Json {
  return {
    id: "eg-1",
    topic: "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/ripplebase",
    subject: "base/alpine:3.20",
    eventType: PUSHED,
    eventTime: PAST,
    data: { id: "d-1", action: "push", target: target(), request: { id: "r-1", host, method: "PUT", useragent: "docker" }, ...data },
    dataVersion: "1.0",
    metadataVersion: "1",
    ...overrides,
  };
}

function cloudEvent(host: string, overrides: Json = {}, data: Json = {}): Json {
  return {
    specversion: "1.0",
    id: "ce-1",
    source: "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/ripplebase",
    subject: "base/alpine:3.20",
    type: PUSHED,
    time: PAST,
    data: { id: "d-1", action: "push", target: target(), request: { id: "r-1", host, method: "PUT", useragent: "docker" }, ...data },
    ...overrides,
  };
}

function acrWebhook(host: string, overrides: Json = {}): Json {
  return { id: "acr-1", timestamp: PAST, action: "push", target: target(), request: { id: "r-1", host, method: "PUT", useragent: "docker" }, ...overrides };
}

function distributionEvent(host: string, overrides: Json = {}, targetOverrides: Json = {}): Json {
  return {
    id: "dist-1",
    timestamp: PAST,
    action: "push",
    target: { ...target(), url: `http://${host}/v2/base/alpine/manifests/${DIGEST}`, ...targetOverrides },
    request: { id: "r-1", addr: "127.0.0.1:51834", host, method: "PUT", useragent: "buildah/1.33.7" },
    actor: {},
    source: { addr: "registry:5000", instanceID: "i-1" },
    ...overrides,
  };
}

/** `depth` nested arrays around `inner`. */
function nested(depth: number, inner = "0"): string {
  return `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;
}

// ---------------------------------------------------------------------------------------------------
// Expected answers and rows.

type Headers = Record<string, string | null>;
interface Row {
  key: string;
  event: unknown;
  status: string;
  reason: string | null;
}

const WHAT = { eventgrid: "Event Grid notification", cloudevents: "CloudEvents notification", acr: "ACR webhook notification", distribution: "Distribution notification", unknown: "registry notification" } as const;

function invalid(what: keyof typeof WHAT, path: string, message: string, more: { path: string; message: string }[] = []) {
  return { error: "validation_failed", message: `${WHAT[what]}: ${path}: ${message}`, issues: [{ path, message }, ...more] };
}

const UNAUTHORIZED = { error: "unauthorized", message: "missing or wrong webhook secret" };
const TOO_LARGE = { error: "payload_too_large", message: `body over ${MIB} bytes` };

function tooMany(count: number) {
  return { error: "too_many_events", message: `${count} events in one request, over the limit of 500`, limit: 500 };
}

function recorded(counts: { accepted?: number; ignored?: number; duplicates?: number }, rejections: { path: string; reason: string }[] = []) {
  return { status: "recorded", accepted: counts.accepted ?? 0, duplicates: counts.duplicates ?? 0, ignored: counts.ignored ?? 0, rejected: rejections.length, rejections };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The row of a Distribution event refused on its own: keyed by the hash of its JSON, the event itself not kept. */
function rejectedEventRow(event: unknown, path: string, reason: string): Row {
  return { key: `rejected|${sha256(JSON.stringify(event))}`, event: null, status: "rejected", reason: `${path}: ${reason}` };
}

/** The row of a Distribution envelope that could not be read at all: keyed by the hash of the body. */
function rejectedEnvelopeRow(body: string, reason: string): Row {
  return { key: `rejected|${sha256(body)}`, event: null, status: "rejected", reason };
}

// Started before the tables below are built: the payloads name these hosts.
// Loopback listeners: one stands in for the configured Distribution registry, one for a foreign host.
const configured = await startCountingListener();
const foreign = await startCountingListener();
/** The configured registry: the host every payload names unless the case is about hosts. */
const OURS = configured.host;

/** A normalized event as the store keeps it. */
function stored(source: EventSource, id: string, registry: string, overrides: Partial<RegistryEvent> = {}): RegistryEvent {
  return { id, source, action: "push", registry, repository: "base/alpine", tag: "3.20", digest: DIGEST, mediaType: INDEX, occurredAt: PAST_ISO, ...overrides };
}

/** The row of an event from a registry the configuration does not name: recorded, never fetched. */
function ignoredRow(event: RegistryEvent): Row {
  return { key: dedupeKey(event), event, status: "ignored", reason: `registry ${event.registry} is not in the configuration` };
}

/** The row of a valid event dated too far ahead: recorded as rejected, with the path of its time. */
function futureRow(event: RegistryEvent, path: string): Row {
  return { key: dedupeKey(event), event, status: "rejected", reason: `${path}: ${futureReason(event.occurredAt)}` };
}

function futureReason(at: string): string {
  return `event time ${at} is more than 5 minutes ahead of the receiver's clock (${NOW})`;
}

const auth: Headers = { authorization: `Bearer ${SECRET}` };
const eg: Headers = { "content-type": JSON_TYPE, ...auth };
const ce: Headers = { "content-type": CLOUD, ...auth };
const ceBatch: Headers = { "content-type": CLOUD_BATCH, ...auth };
const dist: Headers = { "content-type": DISTRIBUTION, ...auth };
/** A Distribution envelope whose one (invalid) event carries a field nested deeper than JSON.stringify can go. */
const deepEnvelope = `{"events":[{"id":"deep","extra":${"[".repeat(10_000)}${"]".repeat(10_000)}}]}`;

const body = (value: unknown) => JSON.stringify(value);
const NONE: Row[] = [];

type Case = [name: string, headers: Headers, body: string, status: number, answer: unknown, rows: Row[]];

const pushFor = (host: string) => body([eventGrid(host)]);
const huge = "a".repeat(100_000);

/** Refused for their credentials: 401, whatever the body. Nothing is written anywhere. */
function authenticationCases(): Case[] {
  return [
    // --- authentication ---
    ["no secret", { "content-type": JSON_TYPE }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["a wrong bearer secret", { "content-type": JSON_TYPE, authorization: "Bearer not-the-secret" }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["the secret with one character more", { "content-type": JSON_TYPE, authorization: `Bearer ${SECRET}x` }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["a prefix of the secret", { "content-type": JSON_TYPE, authorization: `Bearer ${SECRET.slice(0, -1)}` }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["the secret without the Bearer scheme", { "content-type": JSON_TYPE, authorization: SECRET }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["the secret as Basic credentials", { "content-type": JSON_TYPE, authorization: `Basic ${Buffer.from(`ripple:${SECRET}`).toString("base64")}` }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["the secret in x-functions-key", { "content-type": JSON_TYPE, "x-functions-key": SECRET }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["the secret in aeg-sas-key", { "content-type": JSON_TYPE, "aeg-sas-key": SECRET }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["the secret in the body", { "content-type": JSON_TYPE }, body([{ ...eventGrid(OURS), secret: SECRET, authorization: `Bearer ${SECRET}` }]), 401, UNAUTHORIZED, NONE],
    ["the secret as a content-type parameter", { "content-type": `${JSON_TYPE}; authorization="Bearer ${SECRET}"` }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["an empty x-ripple-secret", { "content-type": JSON_TYPE, "x-ripple-secret": "" }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["a wrong bearer beside the right x-ripple-secret", { "content-type": JSON_TYPE, authorization: "Bearer wrong", "x-ripple-secret": SECRET }, pushFor(OURS), 401, UNAUTHORIZED, NONE],
    ["an unauthenticated Distribution envelope", { "content-type": DISTRIBUTION }, body({ events: [distributionEvent(OURS)] }), 401, UNAUTHORIZED, NONE],
    ["an unauthenticated validation handshake with a 100 KB code", { "content-type": JSON_TYPE, "aeg-event-type": "SubscriptionValidation" }, body([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: PAST, data: { validationCode: huge } }]), 401, tokenRefused(NO_BEARER), NONE],
    ["an unauthenticated push claiming to be a validation", { "content-type": JSON_TYPE, "aeg-event-type": "SubscriptionValidation" }, pushFor(OURS), 401, tokenRefused(NO_BEARER), NONE],
  ];
}

const NO_BEARER = "no bearer token (Authorization: Bearer <JWT>)";
const seconds = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const tokenClaims = (overrides: Json = {}) => ({ ...eventGridTokenClaims({ tenantId: TENANT, audience: APP_URI }), ...overrides });
/** An Event Grid delivery (`aeg-event-type: Notification`) bearing `token`. */
const delivery = (token: string): Headers => ({ "content-type": JSON_TYPE, "aeg-event-type": "Notification", authorization: `Bearer ${token}` });
const validToken = signEntraToken(signingKey, tokenClaims());

function tokenRefused(reason: string) {
  return { error: "unauthorized", message: `Event Grid delivery needs a valid Microsoft Entra token: ${reason}` };
}

/** Event Grid deliveries (`aeg-event-type`) with the Entra token missing, forged or wrong: 401 with the reason, nothing written. */
function tokenCases(): Case[] {
  const publicPem = createPublicKey(signingKey.privateKey).export({ type: "spki", format: "pem" }).toString();
  const hsInput = `${b64({ typ: "JWT", alg: "HS256", kid: signingKey.kid })}.${b64(tokenClaims())}`;
  const role = "AzureEventGridSecureWebhookSubscriber";
  const F = foreign.host;
  return [
    // --- Microsoft Entra tokens on Event Grid deliveries ---
    ["a valid token on a push from the foreign listener", delivery(validToken), body([eventGrid(F, { id: "eventgrid-t1" }, { target: target({ tag: "t1" }) })]), 202, recorded({ ignored: 1 }), [ignoredRow(stored("eventgrid", "eventgrid-t1", F, { tag: "t1" }))]],
    ["an Event Grid delivery with the shared secret instead of a token", { ...eg, "aeg-event-type": "Notification" }, pushFor(OURS), 401, tokenRefused("malformed token"), NONE],
    ["an Event Grid delivery with no credentials", { "content-type": JSON_TYPE, "aeg-event-type": "Notification" }, pushFor(OURS), 401, tokenRefused(NO_BEARER), NONE],
    ["a token for another audience", delivery(signEntraToken(signingKey, tokenClaims({ aud: "api://someone-else" }))), pushFor(OURS), 401, tokenRefused("token audience is not the configured application"), NONE],
    ["a token from another issuer", delivery(signEntraToken(signingKey, tokenClaims({ iss: "https://sts.windows.net/00000000-0000-0000-0000-000000000000/" }))), pushFor(OURS), 401, tokenRefused("token issuer is not the configured tenant"), NONE],
    ["an expired token", delivery(signEntraToken(signingKey, tokenClaims({ iat: seconds() - 7200, nbf: seconds() - 7200, exp: seconds() - 3600 }))), pushFor(OURS), 401, tokenRefused("token expired"), NONE],
    ["a token not yet valid", delivery(signEntraToken(signingKey, tokenClaims({ nbf: seconds() + 600 }))), pushFor(OURS), 401, tokenRefused("token not yet valid (nbf)"), NONE],
    ["a token without the Event Grid app role", delivery(signEntraToken(signingKey, tokenClaims({ roles: ["Other"] }))), pushFor(OURS), 401, tokenRefused(`token lacks the ${role} app role`), NONE],
    ["an unsigned token (alg none)", delivery(`${b64({ typ: "JWT", alg: "none" })}.${b64(tokenClaims())}.`), pushFor(OURS), 401, tokenRefused('token algorithm "none" is not accepted (RS256 only)'), NONE],
    ["an HS256 token keyed with the RSA public key", delivery(`${hsInput}.${createHmac("sha256", publicPem).update(hsInput).digest("base64url")}`), pushFor(OURS), 401, tokenRefused('token algorithm "HS256" is not accepted (RS256 only)'), NONE],
    ["a token signed by another key under the published kid", delivery(signEntraToken(createEntraSigningKey(signingKey.kid), tokenClaims())), pushFor(OURS), 401, tokenRefused("token signature does not verify"), NONE],
    ["a token of 100 KB", delivery(`${b64({ alg: "RS256", kid: signingKey.kid })}.${huge}.${huge}`), pushFor(OURS), 401, tokenRefused("token longer than 16384 characters"), NONE],
  ];
}

/** Refused for their size: 413 for bodies over 1 MiB or over 500 events, 400 for deep nesting and 100 KB strings. Nothing is written anywhere. */
function limitCases(): Case[] {
  return [
    // --- size and count ---
    ["a body over 1 MiB", eg, "x".repeat(MIB + 1), 413, TOO_LARGE, NONE],
    ["a body over 1 MiB under a small content-length", { ...eg, "content-length": "10" }, body([eventGrid(OURS, { pad: "p".repeat(MIB) })]), 413, TOO_LARGE, NONE],
    ["a body over 1 MiB without a content-length (chunked)", { ...eg, "content-length": null }, body([eventGrid(OURS, { pad: "p".repeat(MIB) })]), 413, TOO_LARGE, NONE],
    ["a content-length of 99 GB", { ...eg, "content-length": "99999999999" }, pushFor(OURS), 413, TOO_LARGE, NONE],
    ["501 Event Grid events", eg, body(Array.from({ length: 501 }, (_, index) => eventGrid(OURS, { id: `many-${index}` }))), 413, tooMany(501), NONE],
    ["501 CloudEvents in a batch", ceBatch, body(Array.from({ length: 501 }, (_, index) => cloudEvent(OURS, { id: `many-${index}` }))), 413, tooMany(501), NONE],
    ["a Distribution envelope of 501 events", dist, body({ events: Array.from({ length: 501 }, (_, index) => distributionEvent(OURS, { id: `many-${index}` })) }), 413, tooMany(501), NONE],
    ["100,000 zeros in an array", eg, body(Array.from({ length: 100_000 }, () => 0)), 413, tooMany(100_000), NONE],
    // --- deep nesting ---
    ["10,000 nested arrays", eg, nested(10_000), 400, invalid("eventgrid", "0", "Invalid input: expected object, received array"), NONE],
    ["10,000 nested objects in data.target", eg, `[{"id":"deep","eventType":"${PUSHED}","eventTime":"${PAST}","data":{"request":{"host":"${OURS}"},"target":${'{"a":'.repeat(10_000)}0${"}".repeat(10_000)}}}]`, 400, invalid("eventgrid", "0.data.target.repository", "required"), NONE],
    ["10,000 nested arrays as a CloudEvent id", ce, body(cloudEvent(OURS, { id: "placeholder" })).replace('"placeholder"', nested(10_000)), 400, invalid("cloudevents", "id", "Invalid input: expected string, received array"), NONE],
    // --- huge strings ---
    ["a 100 KB tag", eg, body([eventGrid(OURS, {}, { target: target({ tag: huge }) })]), 400, invalid("eventgrid", "0.data.target.tag", `tag "${"a".repeat(80)}…" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})`), NONE],
    ["a 100 KB repository", eg, body([eventGrid(OURS, {}, { target: target({ repository: huge }) })]), 400, invalid("eventgrid", "0.data.target.repository", "repository name is longer than 255 characters"), NONE],
    ["a 100 KB media type", eg, body([eventGrid(OURS, {}, { target: target({ mediaType: huge }) })]), 400, invalid("eventgrid", "0.data.target.mediaType", "longer than 255 characters"), NONE],
    ["a 100 KB registry host", eg, body([eventGrid(huge)]), 400, invalid("eventgrid", "0.data.request.host", "registry host is longer than 259 characters"), NONE],
    ["a 100 KB digest", eg, body([eventGrid(OURS, {}, { target: target({ digest: `sha256:${huge}` }) })]), 400, invalid("eventgrid", "0.data.target.digest", "sha256 digest must be 64 lowercase hex characters"), NONE],
    ["a 100 KB CloudEvent id", ce, body(cloudEvent(OURS, { id: huge })), 400, invalid("cloudevents", "id", "longer than 256 characters"), NONE],
    ["a 100 KB ACR webhook id", eg, body(acrWebhook(OURS, { id: huge })), 400, invalid("acr", "id", "longer than 256 characters"), NONE],
    ["a 100 KB validation code", eg, body([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: PAST, data: { validationCode: huge } }]), 400, invalid("eventgrid", "0.data.validationCode", "longer than 256 characters"), NONE],
  ];
}

/** Refused for their shape: not JSON, the wrong JSON, the wrong content type, hidden or duplicated keys (400). Nothing is written anywhere. */
function shapeCases(): Case[] {
  return [
    // --- not JSON, or JSON of the wrong shape ---
    ["an empty body", eg, "", 400, invalid("unknown", "(root)", "body is empty"), NONE],
    ["plain text", eg, "not json at all", 400, invalid("unknown", "(root)", "body is not valid JSON"), NONE],
    ["truncated JSON", eg, '[{"id": "x", "eventType": ', 400, invalid("unknown", "(root)", "body is not valid JSON"), NONE],
    ["JSON null", eg, "null", 400, invalid("unknown", "(root)", "expected a JSON object or array"), NONE],
    ["a JSON number", eg, "42", 400, invalid("unknown", "(root)", "expected a JSON object or array"), NONE],
    ["a JSON string", eg, '"[{}]"', 400, invalid("unknown", "(root)", "expected a JSON object or array"), NONE],
    ["an empty array", eg, "[]", 400, invalid("eventgrid", "(root)", "expected at least one event"), NONE],
    ["an empty object", eg, "{}", 400, invalid("unknown", "(root)", "unrecognized notification: expected an Event Grid event, a CloudEvent, an ACR webhook payload or a Distribution envelope"), NONE],
    ["an array of numbers", eg, "[1, 2]", 400, invalid("eventgrid", "0", "Invalid input: expected object, received number"), NONE],
    ["Event Grid data that is a string", eg, body([eventGrid(OURS, { data: "push base/alpine" })]), 400, invalid("eventgrid", "0.data", "Invalid input: expected object, received string"), NONE],
    ["a CloudEvents batch sent as a single CloudEvent", ce, body([cloudEvent(OURS)]), 400, invalid("cloudevents", "(root)", "expected a JSON object, not an array"), NONE],
    ["a single CloudEvent sent as a batch", ceBatch, body(cloudEvent(OURS)), 400, invalid("cloudevents", "(root)", "expected a JSON array of events"), NONE],
    ["an Event Grid batch whose second event is bad: nothing of it recorded", eg, body([eventGrid(OURS, { id: "batch-good" }), eventGrid(OURS, { id: "batch-bad" }, { target: target({ digest: "sha256:nope" }) })]), 400, invalid("eventgrid", "1.data.target.digest", "sha256 digest must be 64 lowercase hex characters"), NONE],
    // --- content types ---
    ["a content type smuggling two media types", { ...eg, "content-type": `${CLOUD}, ${DISTRIBUTION}` }, body(cloudEvent(OURS, { specversion: "0.3" })), 400, invalid("cloudevents", "specversion", 'Invalid input: expected "1.0"'), NONE],
    ["a CloudEvents content type in capitals on an Event Grid batch", { ...eg, "content-type": "APPLICATION/CLOUDEVENTS+JSON; charset=utf-8" }, pushFor(OURS), 400, invalid("cloudevents", "(root)", "expected a JSON object, not an array"), NONE],
    // --- CloudEvents ---
    ["CloudEvents specversion 0.3", ce, body(cloudEvent(OURS, { specversion: "0.3" })), 400, invalid("cloudevents", "specversion", 'Invalid input: expected "1.0"'), NONE],
    ["CloudEvents specversion as a number", ce, body(cloudEvent(OURS, { specversion: 1.0 })), 400, invalid("cloudevents", "specversion", 'Invalid input: expected "1.0"'), NONE],
    ["CloudEvents specversion with a trailing space", ceBatch, body([cloudEvent(OURS, { specversion: "1.0 " })]), 400, invalid("cloudevents", "0.specversion", 'Invalid input: expected "1.0"'), NONE],
    ["a CloudEvent without a source", ce, body(cloudEvent(OURS, { source: undefined })), 400, invalid("cloudevents", "source", "required"), NONE],
    ["a CloudEvents batch whose second event is bad: nothing of it recorded", ceBatch, body([cloudEvent(OURS, { id: "ce-good" }), cloudEvent(OURS, { id: "ce-bad", specversion: "2.0" })]), 400, invalid("cloudevents", "1.specversion", 'Invalid input: expected "1.0"'), NONE],
    // --- subscription validation mixed with events ---
    ["a validation event before a push", eg, body([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: PAST, data: { validationCode: "code" } }, eventGrid(OURS)]), 400, invalid("eventgrid", "0.eventType", "a subscription validation event must be the only event of its delivery (this one has 2)"), NONE],
    ["two validation events", eg, body([1, 2].map((n) => ({ id: `v${n}`, eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: PAST, data: { validationCode: `code${n}` } }))), 400, invalid("eventgrid", "0.eventType", "a subscription validation event must be the only event of its delivery (this one has 2)"), NONE],
    ["a push announced as a validation", { ...delivery(validToken), "aeg-event-type": "SubscriptionValidation" }, pushFor(OURS), 400, invalid("eventgrid", "(root)", "aeg-event-type is SubscriptionValidation but no Microsoft.EventGrid.SubscriptionValidationEvent is present"), NONE],
    // --- prototype pollution, duplicate keys ---
    ["an event whose fields hide under __proto__", eg, `[{"__proto__": ${body(eventGrid(OURS))}}]`, 400, invalid("eventgrid", "0.id", "required", [{ path: "0.eventType", message: "required" }]), NONE],
    ["a target hidden under __proto__", eg, body([eventGrid(OURS)]).replace('"target":', '"__proto__":'), 400, invalid("eventgrid", "0.data.target", "required"), NONE],
    ["a target hidden under constructor.prototype", ce, body(cloudEvent(OURS)).replace('"target":', '"constructor":{"prototype":{"polluted":true}},"x":'), 400, invalid("cloudevents", "data.target", "required"), NONE],
    ["a duplicate digest key whose last value is bad", eg, body([eventGrid(OURS)]).replace(`"digest":"${DIGEST}"`, `"digest":"${DIGEST}","digest":"sha256:nope"`), 400, invalid("eventgrid", "0.data.target.digest", "sha256 digest must be 64 lowercase hex characters"), NONE],
  ];
}

/** Refused for a field outside its grammar or contradicting the rest (400 with the path). Nothing is written anywhere. */
function grammarCases(): Case[] {
  return [
    // --- repositories, tags and hosts outside the grammar ---
    ["a repository climbing out with ../", eg, body([eventGrid(OURS, {}, { target: target({ repository: "../../etc/passwd" }) })]), 400, invalid("eventgrid", "0.data.target.repository", 'repository name "../../etc/passwd" has an invalid path component ".." (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'), NONE],
    ["a repository with .. inside", ce, body(cloudEvent(OURS, {}, { target: target({ repository: "base/../alpine" }) })), 400, invalid("cloudevents", "data.target.repository", 'repository name "base/../alpine" has an invalid path component ".." (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'), NONE],
    ["a repository with a NUL byte", eg, body([eventGrid(OURS, {}, { target: target({ repository: "base/alp\u0000ine" }) })]), 400, invalid("eventgrid", "0.data.target.repository", 'repository name "base/alp\\u0000ine" has an invalid path component "alp\\u0000ine" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'), NONE],
    ["a repository with a Cyrillic letter", eg, body([eventGrid(OURS, {}, { target: target({ repository: "b\u0430se/alpine" }) })]), 400, invalid("eventgrid", "0.data.target.repository", 'repository name "b\u0430se/alpine" has an invalid path component "b\u0430se" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'), NONE],
    ["a repository in capitals", eg, body([eventGrid(OURS, {}, { target: target({ repository: "Base/Alpine" }) })]), 400, invalid("eventgrid", "0.data.target.repository", 'repository name "Base/Alpine" must be lowercase'), NONE],
    ["a repository with a leading slash", eg, body([eventGrid(OURS, {}, { target: target({ repository: "/base/alpine" }) })]), 400, invalid("eventgrid", "0.data.target.repository", 'repository name "/base/alpine" has an invalid path component "" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'), NONE],
    ["a percent-encoded repository", eg, body([eventGrid(OURS, {}, { target: target({ repository: "%2e%2e/base" }) })]), 400, invalid("eventgrid", "0.data.target.repository", 'repository name "%2e%2e/base" has an invalid path component "%2e%2e" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'), NONE],
    ["a tag climbing out with ../", eg, body([eventGrid(OURS, {}, { target: target({ tag: "../../latest" }) })]), 400, invalid("eventgrid", "0.data.target.tag", 'tag "../../latest" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})'), NONE],
    ["a tag with a header injection", eg, body([eventGrid(OURS, {}, { target: target({ tag: "3.20\r\nX-Injected: 1" }) })]), 400, invalid("eventgrid", "0.data.target.tag", 'tag "3.20\\r\\nX-Injected: 1" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})'), NONE],
    ["a tag with a right-to-left override", eg, body(acrWebhook(OURS, { target: target({ tag: "3.20\u202e" }) })), 400, invalid("acr", "target.tag", 'tag "3.20\u202e" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})'), NONE],
    ["a host with a path", eg, body([eventGrid(`${foreign.host}/../v2`)]), 400, invalid("eventgrid", "0.data.request.host", `"${foreign.host}/../v2" is not a valid registry host`), NONE],
    ["a host with credentials", eg, body([eventGrid(`user:pass@${foreign.host}`)]), 400, invalid("eventgrid", "0.data.request.host", `"user:pass@${foreign.host}" is not a valid registry host`), NONE],
    // --- digests outside the grammar ---
    ["a digest that is not hex", eg, body([eventGrid(OURS, {}, { target: target({ digest: "sha256:nope" }) })]), 400, invalid("eventgrid", "0.data.target.digest", "sha256 digest must be 64 lowercase hex characters"), NONE],
    ["an md5 digest", eg, body([eventGrid(OURS, {}, { target: target({ digest: `md5:${"a".repeat(32)}` }) })]), 400, invalid("eventgrid", "0.data.target.digest", 'unsupported digest algorithm "md5" (expected sha256, sha512 or blake3)'), NONE],
    ["an uppercase sha256 digest", ce, body(cloudEvent(OURS, {}, { target: target({ digest: DIGEST.toUpperCase().replace("SHA256", "sha256") }) })), 400, invalid("cloudevents", "data.target.digest", "sha256 digest must be 64 lowercase hex characters"), NONE],
    ["a 63-character sha256 digest", eg, body(acrWebhook(OURS, { target: target({ digest: DIGEST.slice(0, -1) }) })), 400, invalid("acr", "target.digest", "sha256 digest must be 64 lowercase hex characters"), NONE],
    ["a digest without its algorithm", eg, body([eventGrid(OURS, {}, { target: target({ digest: DIGEST.slice(7) }) })]), 400, invalid("eventgrid", "0.data.target.digest", `"${DIGEST.slice(7, 87)}" is not a digest (expected algorithm:encoded, e.g. sha256:<64 hex>)`), NONE],
    ["a digest with a trailing newline", eg, body([eventGrid(OURS, {}, { target: target({ digest: `${DIGEST}\n` }) })]), 400, invalid("eventgrid", "0.data.target.digest", `"${DIGEST}\\n" is not a digest (expected algorithm:encoded, e.g. sha256:<64 hex>)`), NONE],
    ["a push without a digest", eg, body(acrWebhook(OURS, { target: target({ digest: null }) })), 400, invalid("acr", "target.digest", "required for a push"), NONE],
    ["a delete naming neither digest nor tag", eg, body(acrWebhook(OURS, { action: "delete", target: target({ digest: null, tag: null }) })), 400, invalid("acr", "target.digest", "required (a delete names a digest or a tag)"), NONE],
    // --- actions ---
    ["an unknown Event Grid action", eg, body([eventGrid(OURS, {}, { action: "explode" })]), 400, invalid("eventgrid", "0.data.action", 'Invalid option: expected one of "push"|"delete"|"quarantine"|"chart_push"|"chart_delete"'), NONE],
    ["an ImageDeleted saying push", eg, body([eventGrid(OURS, { eventType: DELETED })]), 400, invalid("eventgrid", "0.data.action", `"push" contradicts the event type ${DELETED} (expected "delete")`), NONE],
    ["a CloudEvents ImagePushed saying delete", ce, body(cloudEvent(OURS, {}, { action: "delete" })), 400, invalid("cloudevents", "data.action", `"delete" contradicts the event type ${PUSHED} (expected "push")`), NONE],
    ["an ACR webhook action in capitals", eg, body(acrWebhook(OURS, { action: "PUSH" })), 400, invalid("acr", "action", 'Invalid option: expected one of "push"|"delete"|"quarantine"|"chart_push"|"chart_delete"'), NONE],
    // --- sizes ---
    ["a negative size", eg, body([eventGrid(OURS, {}, { target: target({ size: -1 }) })]), 400, invalid("eventgrid", "0.data.target.size", "must not be negative"), NONE],
    ["a fractional size", ce, body(cloudEvent(OURS, {}, { target: target({ size: 1.5 }) })), 400, invalid("cloudevents", "data.target.size", "must be a whole number of bytes"), NONE],
    ["a size given as a string", eg, body(acrWebhook(OURS, { target: target({ length: "9218" }) })), 400, invalid("acr", "target.length", "expected a number of bytes"), NONE],
    ["an infinite size", eg, body([eventGrid(OURS, {}, { target: target({ size: 0 }) })]).replace('"size":0', '"size":1e999'), 400, invalid("eventgrid", "0.data.target.size", "expected a number of bytes"), NONE],
    // --- times ---
    ["an event time that is not a date", eg, body([eventGrid(OURS, { eventTime: "yesterday" })]), 400, invalid("eventgrid", "0.eventTime", "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z"), NONE],
    ["February 30th", ce, body(cloudEvent(OURS, { time: "2024-02-30T00:00:00Z" })), 400, invalid("cloudevents", "time", "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z"), NONE],
  ];
}

/** Payloads answered 202 with each refused event recorded as rejected (or, from a foreign host, ignored) and its reason. */
function recordedCases(): Case[] {
  const F = foreign.host;
  const future = (tag: string, at: string) => stored("eventgrid", `future-${tag}`, OURS, { tag, occurredAt: at });
  const badDigest = distributionEvent(F, { id: "bad-digest" }, { digest: "sha256:nope" });
  const badAction = distributionEvent(F, { id: "bad-action", action: "patch" });
  const badRepository = distributionEvent(F, { id: "bad-repository" }, { repository: "../../etc" });
  const hugeTag = distributionEvent(F, { id: "huge-tag" }, { tag: "t".repeat(100_000) });
  const fileUrl = { ...distributionEvent(F, { id: "file-url" }, { url: "file:///etc/passwd" }), request: undefined };
  const emptyEnvelope = body({ events: [] });
  const stringEnvelope = body({ events: "push" });
  const protoEnvelope = `{"__proto__": ${body({ events: [distributionEvent(OURS)] })}}`;
  const arrayEnvelope = body([distributionEvent(OURS)]);
  const goodFrom = (tag: string) => distributionEvent(F, { id: `good-${tag}` }, { tag });
  const goodRow = (tag: string) => ignoredRow(stored("distribution", `good-${tag}`, F, { tag }));
  return [
    // --- future-dated events of every format ---
    ["an Event Grid push dated in year 9999", eg, body([eventGrid(OURS, { id: "future-f1", eventTime: "9999-01-01T00:00:00Z" }, { target: target({ tag: "f1" }) })]), 202, recorded({}, [{ path: "0.eventTime", reason: futureReason("9999-01-01T00:00:00.000Z") }]), [futureRow(future("f1", "9999-01-01T00:00:00.000Z"), "0.eventTime")]],
    ["an Event Grid data.timestamp just past the allowed skew", eg, body([eventGrid(OURS, { id: "future-f2" }, { timestamp: "2025-01-01T00:05:01Z", target: target({ tag: "f2" }) })]), 202, recorded({}, [{ path: "0.data.timestamp", reason: futureReason("2025-01-01T00:05:01.000Z") }]), [futureRow(future("f2", "2025-01-01T00:05:01.000Z"), "0.data.timestamp")]],
    ["a CloudEvent dated six minutes ahead", ce, body(cloudEvent(OURS, { id: "future-f3", time: "2025-01-01T00:06:00+00:00" }, { target: target({ tag: "f3" }) })), 202, recorded({}, [{ path: "time", reason: futureReason("2025-01-01T00:06:00.000Z") }]), [futureRow({ ...future("f3", "2025-01-01T00:06:00.000Z"), source: "cloudevents" }, "time")]],
    ["an ACR webhook dated an hour ahead in another zone", eg, body(acrWebhook(OURS, { id: "future-f4", timestamp: "2025-01-01T03:00:00+02:00", target: target({ tag: "f4" }) })), 202, recorded({}, [{ path: "timestamp", reason: futureReason("2025-01-01T01:00:00.000Z") }]), [futureRow({ ...future("f4", "2025-01-01T01:00:00.000Z"), source: "acr-webhook" }, "timestamp")]],
    ["a Distribution event dated in year 3000", dist, body({ events: [distributionEvent(OURS, { id: "future-f5", timestamp: "3000-01-01T00:00:00Z" }, { tag: "f5" })] }), 202, recorded({}, [{ path: "events.0.timestamp", reason: futureReason("3000-01-01T00:00:00.000Z") }]), [futureRow({ ...future("f5", "3000-01-01T00:00:00.000Z"), source: "distribution" }, "events.0.timestamp")]],
    ["an Event Grid batch of a foreign push and a future one", eg, body([eventGrid(F, { id: "past-f6" }, { target: target({ tag: "f6" }) }), eventGrid(OURS, { id: "future-f6", eventTime: "9999-01-01T00:00:00Z" }, { target: target({ tag: "f6" }) })]), 202, recorded({ ignored: 1 }, [{ path: "1.eventTime", reason: futureReason("9999-01-01T00:00:00.000Z") }]), [futureRow(future("f6", "9999-01-01T00:00:00.000Z"), "1.eventTime"), ignoredRow(stored("eventgrid", "past-f6", F, { tag: "f6" }))]],

    // --- Distribution envelopes: the good event kept, the bad one rejected on its own ---
    ["a Distribution envelope with a bad digest beside a good event", dist, body({ events: [goodFrom("d1"), badDigest] }), 202, recorded({ ignored: 1 }, [{ path: "events.1.target.digest", reason: "sha256 digest must be 64 lowercase hex characters" }]), [goodRow("d1"), rejectedEventRow(badDigest, "events.1.target.digest", "sha256 digest must be 64 lowercase hex characters")]],
    ["a Distribution envelope with an unknown action beside a good event", dist, body({ events: [badAction, goodFrom("d2")] }), 202, recorded({ ignored: 1 }, [{ path: "events.0.action", reason: 'Invalid option: expected one of "push"|"pull"|"mount"|"delete"' }]), [goodRow("d2"), rejectedEventRow(badAction, "events.0.action", 'Invalid option: expected one of "push"|"pull"|"mount"|"delete"')]],
    ["a Distribution envelope with a ../ repository beside a good event", dist, body({ events: [goodFrom("d3"), badRepository] }), 202, recorded({ ignored: 1 }, [{ path: "events.1.target.repository", reason: 'repository name "../../etc" has an invalid path component ".." (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)' }]), [goodRow("d3"), rejectedEventRow(badRepository, "events.1.target.repository", 'repository name "../../etc" has an invalid path component ".." (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)')]],
    ["a Distribution event with a 100 KB tag", dist, body({ events: [hugeTag] }), 202, recorded({}, [{ path: "events.0.target.tag", reason: `tag "${"t".repeat(80)}…" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})` }]), [rejectedEventRow(hugeTag, "events.0.target.tag", `tag "${"t".repeat(80)}…" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})`)]],
    ["a Distribution event whose only host is a file: URL", dist, body({ events: [fileUrl] }), 202, recorded({}, [{ path: "events.0.target.url", reason: '"" is not a valid registry host' }]), [rejectedEventRow(fileUrl, "events.0.target.url", '"" is not a valid registry host')]],
    ["a Distribution envelope of no events", dist, emptyEnvelope, 202, { status: "rejected", reason: "Distribution notification: events: expected at least one event" }, [rejectedEnvelopeRow(emptyEnvelope, "Distribution notification: events: expected at least one event")]],
    ["a Distribution envelope whose events are a string", dist, stringEnvelope, 202, { status: "rejected", reason: "Distribution notification: events: Invalid input: expected array, received string" }, [rejectedEnvelopeRow(stringEnvelope, "Distribution notification: events: Invalid input: expected array, received string")]],
    ["a Distribution envelope hidden under __proto__", dist, protoEnvelope, 202, { status: "rejected", reason: "Distribution notification: events: required" }, [rejectedEnvelopeRow(protoEnvelope, "Distribution notification: events: required")]],
    ["a Distribution content type on an array", dist, arrayEnvelope, 202, { status: "rejected", reason: "Distribution notification: (root): expected a JSON object, not an array" }, [rejectedEnvelopeRow(arrayEnvelope, "Distribution notification: (root): expected a JSON object, not an array")]],
    ["a Distribution event carrying 10,000 nested arrays (too deep to hash as JSON: keyed by its path)", dist, deepEnvelope, 202, recorded({}, [{ path: "events.0.action", reason: "required" }]), [{ key: `rejected|${sha256("unserializable event at events.0.action")}`, event: null, status: "rejected", reason: "events.0.action: required" }]],
    ["an unreadable envelope sent as Distribution v2", { ...dist, "content-type": "application/vnd.docker.distribution.events.v2+json" }, "hello registry, v2", 202, { status: "rejected", reason: "Distribution notification: (root): body is not valid JSON" }, [rejectedEnvelopeRow("hello registry, v2", "Distribution notification: (root): body is not valid JSON")]],
    ["a Distribution content type on plain text", dist, "hello registry", 202, { status: "rejected", reason: "Distribution notification: (root): body is not valid JSON" }, [rejectedEnvelopeRow("hello registry", "Distribution notification: (root): body is not valid JSON")]],
  ];
}

/** Valid payloads naming hosts the configuration does not: recorded as ignored, and never contacted. */
function foreignCases(): Case[] {
  const F = foreign.host;
  const [, configuredPort] = OURS.split(":");
  const row = (source: EventSource, tag: string, registry: string, overrides: Partial<RegistryEvent> = {}) => ignoredRow(stored(source, `${source}-${tag}`, registry, { tag, ...overrides }));
  const withTag = (tag: string) => ({ target: target({ tag }) });
  const ignored = recorded({ ignored: 1 });
  return [
    ["an Event Grid push from the foreign listener", eg, body([eventGrid(F, { id: "eventgrid-g1" }, withTag("g1"))]), 202, ignored, [row("eventgrid", "g1", F)]],
    ["a CloudEvents push from the foreign listener", ce, body(cloudEvent(F, { id: "cloudevents-g2" }, withTag("g2"))), 202, ignored, [row("cloudevents", "g2", F)]],
    ["an ACR webhook tag delete from the foreign listener", eg, body(acrWebhook(F, { id: "acr-webhook-g3", action: "delete", target: target({ tag: "g3", digest: null, mediaType: null }) })), 202, ignored, [row("acr-webhook", "g3", F, { action: "delete", digest: null, mediaType: null })]],
    ["a Distribution push from the foreign listener", dist, body({ events: [distributionEvent(F, { id: "distribution-g4" }, { tag: "g4" })] }), 202, ignored, [row("distribution", "g4", F)]],
    ["a Distribution push naming the foreign listener only in its URL", dist, body({ events: [{ ...distributionEvent(F, { id: "distribution-g5" }, { tag: "g5" }), request: undefined }] }), 202, ignored, [row("distribution", "g5", F)]],
    ["a host that extends the configured ACR name", eg, body([eventGrid("RippleBase.azurecr.io.evil.test", { id: "eventgrid-g6" }, withTag("g6"))]), 202, ignored, [row("eventgrid", "g6", "ripplebase.azurecr.io.evil.test")]],
    ["a look-alike ACR name", ce, body(cloudEvent("ripp1ebase.azurecr.io", { id: "cloudevents-g7" }, withTag("g7"))), 202, ignored, [row("cloudevents", "g7", "ripp1ebase.azurecr.io")]],
    ["the configured port under another name", eg, body([eventGrid(`localhost:${configuredPort}`, { id: "eventgrid-g8" }, withTag("g8"))]), 202, ignored, [row("eventgrid", "g8", `localhost:${configuredPort}`)]],
    ["the configured port on another loopback address", dist, body({ events: [distributionEvent(`127.0.0.2:${configuredPort}`, { id: "distribution-g9" }, { tag: "g9" })] }), 202, ignored, [row("distribution", "g9", `127.0.0.2:${configuredPort}`)]],
    ["the foreign listener's port on IPv6 loopback", eg, body([eventGrid(`[::1]:${F.split(":")[1]}`, { id: "eventgrid-g10" }, withTag("g10"))]), 202, ignored, [row("eventgrid", "g10", `[::1]:${F.split(":")[1]}`)]],
    ["a duplicate host key, the configured host first", eg, body([eventGrid(OURS, { id: "eventgrid-g11" }, withTag("g11"))]).replace(`"host":"${OURS}"`, `"host":"${OURS}","host":"${F}"`), 202, ignored, [row("eventgrid", "g11", F)]],
    ["constructor and __proto__ keys beside a valid event", eg, body([{ ...eventGrid(F, { id: "eventgrid-g12" }, withTag("g12")), constructor: { prototype: { polluted: true } } }]).replace('"dataVersion"', '"__proto__":{"polluted":true},"dataVersion"'), 202, ignored, [row("eventgrid", "g12", F)]],
    ["a duplicate eventType key, a chart last", eg, body([eventGrid(F, { id: "eventgrid-g13" }, withTag("g13"))]).replace(`"eventType":"${PUSHED}"`, `"eventType":"${PUSHED}","eventType":"Microsoft.ContainerRegistry.ChartPushed"`), 202, ignored, NONE],
  ];
}

describe("registryWebhook under hostile input (issue #10)", () => {
  let dir: string;
  let azurite: LocalAzurite;
  let handler: typeof import("../../functions/registry-webhook.js").registryWebhook;
  let services: Services;
  let watch: ReturnType<typeof watchConnections>;
  let allowed: Set<string>;
  let restoreNow: Services["now"];
  let issuer: EntraIssuer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-hostile-"));
    azurite = await startAzurite({ dir: join(dir, "azurite") });
    await writeFile(join(dir, "ripple.yaml"), `version: 1\nregistries:\n  - host: ripplebase.azurecr.io\n  - host: ${configured.host}\n    kind: distribution\n`);
    const tls = await ensureStackTls(join(dir, "stack"));
    issuer = await startEntraIssuer({ tls, tenantId: TENANT, keys: [signingKey] });
    Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: SECRET, RIPPLE_TABLE_PREFIX: "hostile", RIPPLE_QUEUE_PREFIX: "hostile" });
    Object.assign(process.env, { RIPPLE_EVENT_GRID_AAD_TENANT_ID: TENANT, RIPPLE_EVENT_GRID_AAD_AUDIENCE: APP_URI, RIPPLE_EVENT_GRID_AAD_AUTHORITY: issuer.url, RIPPLE_EVENT_GRID_AAD_CA_FILE: tls.caCertPath });
    handler = (await import("../../functions/registry-webhook.js")).registryWebhook;
    services = await (await import("../../shared/composition.js")).getServices();
    restoreNow = services.now;
    Object.assign(services, { now: () => new Date(NOW) });
    const storageHosts = [azurite.blobEndpoint, azurite.queueEndpoint, azurite.tableEndpoint].map((endpoint) => new URL(endpoint)).map((url) => `${url.hostname}:${url.port}`);
    allowed = new Set([...storageHosts, ...storageHosts.map((host) => host.replace(/^localhost:/, "127.0.0.1:")), configured.host, new URL(issuer.url).host]);
    watch = watchConnections();
  });

  afterAll(async () => {
    watch?.restore();
    if (services !== undefined) Object.assign(services, { now: restoreNow });
    for (const name of ENTRA_SETTINGS) delete process.env[name];
    await issuer?.stop();
    await configured.close();
    await foreign.close();
    await azurite?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function call(body: string, headers: Headers, method = "POST") {
    const sent: Record<string, string> = { "content-length": String(Buffer.byteLength(body)) };
    for (const [name, value] of Object.entries(headers)) {
      if (value === null) delete sent[name];
      else sent[name] = value;
    }
    const request = new functions.HttpRequest({ method, url: "http://localhost/api/registry/events", headers: sent, ...(body ? { body: { string: body } } : {}) });
    const logs: string[] = [];
    const logHandler = (_level: unknown, ...args: unknown[]) => void logs.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" "));
    const context = new functions.InvocationContext({ functionName: "registryWebhook", logHandler });
    const response = await handler(request, context);
    return { status: response.status, body: response.jsonBody as unknown, headers: response.headers, logs };
  }

  async function queuedMessages(): Promise<number> {
    const { QueueServiceClient } = await import("@azure/storage-queue");
    const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient("hostile-registry-events");
    await queue.createIfNotExists();
    return (await queue.getProperties()).approximateMessagesCount ?? 0;
  }

  /** Everything a request could have written: event rows by key, and the size of every other table and the queue. */
  async function snapshot() {
    const store = services.store;
    const [events, tags, edges, campaigns, runs, pulls, upstreamTags, unfinished, failed, queued] = await Promise.all([
      store.listEvents(10_000),
      store.listTags(),
      store.listEdges(),
      store.listCampaigns(),
      store.listRuns(),
      store.listPullRequests(),
      store.listUpstreamTags(),
      store.listUnfinishedEvents("9999-12-31T23:59:59.999Z", 10_000),
      store.listFailedEvents(10_000),
      queuedMessages(),
    ]);
    const counts = { tags: tags.length, edges: edges.length, campaigns: campaigns.length, runs: runs.length, pulls: pulls.length, upstreamTags: upstreamTags.length, unfinished: unfinished.length, failed: failed.length, queued };
    return { events, counts };
  }

  /** Calls the endpoint; returns the answer, the event rows it added, and which other tables changed size. */
  async function callAndDiff(body: string, headers: Headers, method = "POST") {
    const before = await snapshot();
    const known = new Set(before.events.map((record) => record.key));
    const { headers: _headers, logs, ...response } = await call(body, headers, method);
    const after = await snapshot();
    const rows: Row[] = after.events.filter((record) => !known.has(record.key)).map(({ key, event, status, reason }) => ({ key, event, status, reason }));
    const changed = Object.fromEntries(Object.entries(after.counts).filter(([name, count]) => before.counts[name as keyof typeof before.counts] !== count));
    const text = JSON.stringify(response.body) ?? "";
    // Neither the answer nor a log line may carry the secret or the presented bearer credential (an Entra
    // token); the answer carries no stack trace or file path.
    const presented = /^Bearer\s+(.{8,})$/i.exec(headers["authorization"] ?? "")?.[1];
    const credentials = presented === undefined ? [SECRET] : [SECRET, presented];
    const leaks = { secret: credentials.some((credential) => text.includes(credential) || logs.some((line) => line.includes(credential))), stack: /\n\s+at |\.ts:\d+|node_modules/.test(text) };
    return { ...response, rows: rows.sort((a, b) => a.key.localeCompare(b.key)), changed, leaks };
  }

  it.each([...authenticationCases(), ...tokenCases(), ...limitCases(), ...shapeCases(), ...grammarCases(), ...recordedCases(), ...foreignCases()])("answers %s as expected and writes only what it should", async (_name, headers, payload, status, answer, rows) => {
    const result = await callAndDiff(payload, headers);
    expect(result).toEqual({ status, body: answer, rows: [...rows].sort((a, b) => a.key.localeCompare(b.key)), changed: {}, leaks: { secret: false, stack: false } });
  });

  it.each<[name: string, method: string, headers: Headers, body: string, status: number, answer: unknown, answerHeaders: Record<string, string> | undefined]>([
    ["an Event Grid validation, authenticated", "POST", { ...eg, "aeg-event-type": "SubscriptionValidation" }, body([{ id: "v1", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: PAST, data: { validationCode: "code-1" } }]), 200, { validationResponse: "code-1" }, {}],
    ["an Event Grid validation without delivery headers", "POST", { "content-type": JSON_TYPE, "aeg-event-type": "SubscriptionValidation" }, body([{ id: "v2", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", eventTime: PAST, data: { validationCode: "code-2" } }]), 200, { validationResponse: "code-2" }, {}],
    ["a CloudEvents OPTIONS handshake", "OPTIONS", { "webhook-request-origin": "eventgrid.azure.net", "content-length": null }, "", 200, undefined, { "WebHook-Allowed-Origin": "eventgrid.azure.net", "WebHook-Allowed-Rate": "*" }],
    ["an OPTIONS handshake without an origin", "OPTIONS", {}, "", 400, invalid("cloudevents", "headers.webhook-request-origin", "required for the CloudEvents webhook validation handshake"), { "content-type": "application/json" }],
    ["an OPTIONS handshake with a blank origin", "OPTIONS", { "webhook-request-origin": "   " }, "", 400, invalid("cloudevents", "headers.webhook-request-origin", "required for the CloudEvents webhook validation handshake"), { "content-type": "application/json" }],
  ])("answers the handshake of %s and writes nothing", async (_name, method, headers, payload, status, answer, answerHeaders) => {
    const before = await snapshot();
    const { logs: _logs, ...request } = await call(payload, headers, method);
    const after = await snapshot();
    expect({ ...request, events: after.events.length, counts: after.counts }).toEqual({ status, body: answer, headers: answerHeaders, events: before.events.length, counts: before.counts });
  });

  it("records the good event of a Distribution envelope (its URL naming a foreign host), rejects the bad one, and contacts only the configured registry", async () => {
    const good = distributionEvent(OURS, { id: "control-good" }, { tag: "control", url: `http://${foreign.host}/v2/base/alpine/manifests/${DIGEST}` });
    const bad = distributionEvent(foreign.host, { id: "control-bad" }, { digest: `sha256:${"A".repeat(64)}` });
    const reason = "sha256 digest must be 64 lowercase hex characters";
    const seen = watch.targets.length;
    const result = await callAndDiff(body({ events: [good, bad] }), dist);
    const goodEvent = stored("distribution", "control-good", OURS, { tag: "control" });
    // Processed at once: the stand-in registry drops the connection, so the event stays accepted for its queued copy.
    expect(result).toEqual({
      status: 202,
      body: recorded({ accepted: 1 }, [{ path: "events.1.target.digest", reason }]),
      rows: [{ key: dedupeKey(goodEvent), event: goodEvent, status: "accepted", reason: null }, rejectedEventRow(bad, "events.1.target.digest", reason)].sort((a, b) => a.key.localeCompare(b.key)),
      changed: { unfinished: 1, queued: 1 },
      leaks: { secret: false, stack: false },
    });
    // The watch does see connections: this one reached the configured registry (the last test checks that nothing else was reached).
    expect(watch.targets.slice(seen)).toContain(configured.host);
  });

  it("never connected to a host the configuration does not name, and left Object.prototype alone", () => {
    const polluted = (Object.prototype as Record<string, unknown>)["polluted"];
    expect({ foreign: foreign.connections(), unexpected: watch.targets.filter((host) => !allowed.has(host)), polluted }).toEqual({ foreign: 0, unexpected: [], polluted: undefined });
  });
});
