/** Small helpers the HTTP entry points share: reading a request, mapping errors to responses. */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { AppError, ValidationError } from "./errors.js";

/** Largest request body accepted by the webhooks; a larger one is refused with 413 before parsing. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function headersOf(request: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, key) => {
    headers[key.toLowerCase()] = value;
  });
  return headers;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { "content-type": "application/json", ...headers } };
}

/**
 * Maps a failure to a response: validation → 400 with the zod path, retryable upstream → 503 (the sender
 * retries), anything else → 500 with a fixed message. Never echoes internals or secrets.
 */
export function errorResponse(error: unknown, context: InvocationContext): HttpResponseInit {
  if (error instanceof ValidationError) {
    return json(400, { error: error.code, message: error.message, issues: error.issues });
  }
  if (error instanceof AppError && error.retryable) {
    context.warn("request failed, sender should retry", { code: error.code, message: error.message });
    return json(503, { error: error.code, message: "temporarily unavailable, retry later" }, { "retry-after": "5" });
  }
  context.error("request failed", { code: error instanceof AppError ? error.code : "internal", message: error instanceof Error ? error.message : String(error) });
  return json(500, { error: "internal", message: "internal error" });
}

/** The headers App Service Authentication puts on a request it authenticated (and strips from any client). */
export const PRINCIPAL_HEADERS = ["x-ms-client-principal", "x-ms-client-principal-id", "x-ms-client-principal-name", "x-ms-client-principal-idp"] as const;

/**
 * Who is signed in, as App Service Authentication (Easy Auth, Entra ID) vouches for them: the principal's
 * name (or id), or null. Trusted only when the platform says authentication is on (`WEBSITE_AUTH_ENABLED`),
 * because only then does App Service remove these headers from what a client sends. The local host stands
 * in for it on the loopback-only local stack.
 */
export function viewerOf(request: HttpRequest, env: NodeJS.ProcessEnv = process.env): string | null {
  if ((env.WEBSITE_AUTH_ENABLED ?? "").toLowerCase() !== "true") return null;
  const name = request.headers.get("x-ms-client-principal-name") ?? request.headers.get("x-ms-client-principal-id");
  return name !== null && name.trim() !== "" ? name.trim() : null;
}

/**
 * The answer for a page or API call nobody signed in for: 401, telling an operator what is missing (App
 * Service Authentication with Entra ID; see infra/README.md, "Pages and sign-in").
 */
export function signInRequired(): HttpResponseInit {
  return json(401, { error: "unauthenticated", message: "sign in required: Ripple's pages and read API are served to users signed in through App Service Authentication (Entra ID)" }, { "www-authenticate": 'Bearer realm="ripple"' });
}
