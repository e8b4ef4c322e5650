/**
 * A local stand-in for the managed identity endpoint Azure Functions and App Service give an app
 * (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01), so the app's real
 * `ManagedIdentityCredential` runs unchanged on the local stack. Its tokens are unsigned JWTs with the
 * claims Azurite's `--oauth basic` checks (issuer, audience, lifetime): the stack proves that no account
 * key is needed, not Entra ID's signatures.
 */
import { randomBytes, randomUUID, timingSafeEqual, createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface LocalIdentityEndpoint {
  /** `IDENTITY_ENDPOINT`: `http://127.0.0.1:PORT/msi/token` (App Service's endpoint is plain http on loopback too). */
  readonly endpoint: string;
  /** `IDENTITY_HEADER`: the secret every token request must carry as `X-IDENTITY-HEADER`. */
  readonly header: string;
  /** The environment the app needs: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`. */
  readonly env: Readonly<Record<string, string>>;
  /** Token requests answered so far, by resource. */
  readonly issued: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

const API_VERSION = "2019-08-01";
const TENANT = "72f988bf-0000-4000-8000-00000000beef";
const TOKEN_SECONDS = 3600;

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** An unsigned JWT for `resource` with Entra ID's claim names (`alg: none`: nothing verifies it locally). */
export function localAccessToken(resource: string, principalId: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  const claims = {
    aud: resource.replace(/\/\.default$/, ""),
    iss: `https://sts.windows.net/${TENANT}/`,
    iat: nowSeconds,
    nbf: nowSeconds - 60,
    exp: nowSeconds + TOKEN_SECONDS,
    oid: principalId,
    sub: principalId,
    tid: TENANT,
    idtyp: "app",
  };
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.`;
}

function matches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(createHash("sha256").update(presented).digest(), createHash("sha256").update(expected).digest());
}

/** Starts the endpoint on 127.0.0.1 and a free port. `stop()` is idempotent. */
export async function startLocalIdentityEndpoint(): Promise<LocalIdentityEndpoint> {
  const header = randomBytes(24).toString("hex");
  const principalId = randomUUID();
  const issued = new Map<string, number>();
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" || url.pathname !== "/msi/token") return answer(res, 404, { error: "not_found" });
    if (!matches(req.headers["x-identity-header"] as string | undefined, header)) return answer(res, 401, { error: "unauthorized", error_description: "X-IDENTITY-HEADER missing or wrong" });
    const resource = url.searchParams.get("resource");
    if (url.searchParams.get("api-version") !== API_VERSION || resource === null || resource === "") {
      return answer(res, 400, { error: "invalid_request", error_description: `api-version ${API_VERSION} and resource are required` });
    }
    issued.set(resource, (issued.get(resource) ?? 0) + 1);
    const now = Math.floor(Date.now() / 1000);
    answer(res, 200, { access_token: localAccessToken(resource, principalId, now), expires_on: String(now + TOKEN_SECONDS), resource, token_type: "Bearer", client_id: principalId });
  };
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the identity endpoint did not bind a port");
  const endpoint = `http://127.0.0.1:${address.port}/msi/token`;
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    header,
    env: { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: header },
    issued,
    stop() {
      stopping ??= new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return stopping;
    },
  };
}
