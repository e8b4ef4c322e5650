/**
 * Standard Webhooks 1.0 symmetric signatures (https://www.standardwebhooks.com, `spec/standard-webhooks.md`):
 * the sender puts three headers on the request —
 * - `webhook-id`: the message id, the same for every retry of one message (an idempotency key);
 * - `webhook-timestamp`: the attempt's time, integer Unix seconds;
 * - `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` signatures of `<id>.<timestamp>.<raw body>`,
 *   keyed with the secret's bytes: the secret is written `whsec_<base64>` (at least 24 bytes once decoded).
 * A receiver recomputes the HMAC over the raw body it received (before any JSON parsing), compares it in
 * constant time with each `v1` entry, and refuses a timestamp further than a tolerance (5 min) from its clock.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { ConfigError } from "../../../errors.js";

export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** The spec's minimum secret size, in bytes. */
export const MIN_WEBHOOK_SECRET_BYTES = 24;
/** How far a `webhook-timestamp` may be from the receiver's clock, either way (the reference libraries' 5 min). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The three Standard Webhooks headers of one attempt. */
export interface WebhookSignatureHeaders {
  readonly "webhook-id": string;
  readonly "webhook-timestamp": string;
  readonly "webhook-signature": string;
}

/** A received request, as a receiver sees it: its headers (any case) and its raw body. */
export interface ReceivedWebhook {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: string | Uint8Array;
}

export type WebhookVerification =
  | { readonly valid: true; readonly id: string; readonly timestamp: number }
  | { readonly valid: false; readonly reason: "missing-headers" | "bad-timestamp" | "stale-timestamp" | "future-timestamp" | "no-matching-signature" };

/**
 * The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries).
 * @throws ConfigError naming `setting`, never the value, when it is not base64 of at least 24 bytes.
 */
export function parseWebhookSecret(secret: string, setting: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, "base64") : Buffer.alloc(0);
  if (key.length < MIN_WEBHOOK_SECRET_BYTES) {
    throw new ConfigError(`${setting}: must be a Standard Webhooks secret (whsec_ and base64 of at least ${MIN_WEBHOOK_SECRET_BYTES} bytes)`);
  }
  return key;
}

/** The headers that sign `body` as message `id` sent at `timestampSeconds`. `id` must not contain a `.`. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string | Uint8Array): WebhookSignatureHeaders {
  const timestamp = String(Math.floor(timestampSeconds));
  return { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${hmac(key, id, timestamp, body).toString("base64")}` };
}

/**
 * Checks a received request against `secret` as the spec asks: all three headers present, the timestamp
 * within `toleranceSeconds` (default 300) of `now`, and one `v1` signature equal (constant time) to the
 * HMAC of `<id>.<timestamp>.<raw body>`. Other signature versions (`v1a`) are skipped.
 * @throws ConfigError when `secret` itself is malformed (the receiver's configuration, not the request).
 */
export function verifyWebhookSignature(
  secret: string,
  received: ReceivedWebhook,
  options: { readonly now?: Date; readonly toleranceSeconds?: number } = {},
): WebhookVerification {
  const key = parseWebhookSecret(secret, "webhook secret");
  const id = header(received.headers, "webhook-id");
  const timestamp = header(received.headers, "webhook-timestamp");
  const signatures = header(received.headers, "webhook-signature");
  if (id === null || timestamp === null || signatures === null) return { valid: false, reason: "missing-headers" };
  if (!/^\d{1,15}$/.test(timestamp)) return { valid: false, reason: "bad-timestamp" };
  const seconds = Number(timestamp);
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (nowSeconds - seconds > tolerance) return { valid: false, reason: "stale-timestamp" };
  if (seconds - nowSeconds > tolerance) return { valid: false, reason: "future-timestamp" };
  const expected = Buffer.from(hmac(key, id, timestamp, received.body).toString("base64"));
  const matches = signatures.split(" ").some((entry) => {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || value === undefined) return false;
    const given = Buffer.from(value);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? { valid: true, id, timestamp: seconds } : { valid: false, reason: "no-matching-signature" };
}

function hmac(key: Buffer, id: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
}

function header(headers: ReceivedWebhook["headers"], name: string): string | null {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const text = typeof value === "string" ? value : value?.[0];
    return text === undefined || text === "" ? null : text;
  }
  return null;
}
