import type { IncomingMessage } from "node:http";

/** The whole body of a request a contract server received. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The body as JSON, or null when it is empty or not JSON (the server then answers as the real service would). */
export function parseJsonBody(content: Buffer | string): unknown {
  const text = typeof content === "string" ? content : content.toString("utf8");
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
