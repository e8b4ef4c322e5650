/**
 * What every local alert receiver shares: reading a request body (bounded), parsing it as JSON, and
 * listening on / closing a loopback server.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The most a receiver reads of one request: far above every service's own limit, so those still answer. */
export const MAX_RECEIVED_BYTES = 4 * 1024 * 1024;

/** A request body longer than {@link MAX_RECEIVED_BYTES}. */
export class RequestTooLarge extends Error {}

/** The whole body of a request. @throws RequestTooLarge past `maxBytes`. */
export async function readBody(req: IncomingMessage, maxBytes = MAX_RECEIVED_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > maxBytes) throw new RequestTooLarge(`request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The body as JSON, or null when it is empty or not JSON (the receiver then answers as the real service would). */
export function parseJsonBody(content: Buffer | string): unknown {
  const text = typeof content === "string" ? content : content.toString("utf8");
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Answers a request whose handler threw: 413 for an oversized body, else 500 (no detail: it may name a secret). */
export function answerFailure(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(error instanceof RequestTooLarge ? 413 : 500).end();
}

/** Listens on 127.0.0.1 and a port the kernel picks (free by construction); returns the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops listening and ends every connection, held ones included. Idempotent. */
export function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether `given` is `expected`, in time that does not depend on where they differ. */
export function sameSecret(given: string | null | undefined, expected: string): boolean {
  if (given === null || given === undefined) return false;
  const digest = (text: string): Buffer => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
