/**
 * A second local registry that plays a public upstream such as Docker Hub: a Distribution registry with
 * token authentication (anonymous pulls, pushes only for known users) and no notifications, behind our
 * own token service.
 */
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { startRegistry, type LocalRegistry } from "./registry.js";
import type { StackTls } from "./tls.js";
import { startTokenService, type TokenService } from "./token-service.js";

export const upstreamService = "ripple-upstream";
export const upstreamIssuer = "ripple-local-token-service";
const publisherName = "publisher";

export interface StartUpstreamRegistryOptions {
  /** The upstream's folder: `registry/` and `token-service/` go under it. */
  dir: string;
  tls: StackTls;
  /** Further accounts (username → password) that may push; a `publisher` entry is replaced by the generated one. */
  users?: Record<string, string>;
  log?: (line: string) => void;
}

export interface UpstreamRegistry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  /** `https://127.0.0.1:PORT`. */
  url: string;
  registry: LocalRegistry;
  tokenService: TokenService;
  /** The generated account that may push; the password lives only in memory. */
  publisher: { username: string; password: string };
  /** Stops the registry, then the token service; storage under `dir` stays. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the token service (service `ripple-upstream`, issuer `ripple-local-token-service`, anonymous
 * pull, a `publisher` with a random password) and a registry under `dir` that trusts only its tokens.
 * Whatever was started is stopped again when a step fails.
 *
 * @throws AppError `stack_process_failed` or `stack_tls_failed` when a component does not come up.
 */
export async function startUpstreamRegistry(opts: StartUpstreamRegistryOptions): Promise<UpstreamRegistry> {
  const dir = resolve(opts.dir);
  const publisher = { username: publisherName, password: randomBytes(24).toString("base64url") };
  const tokenService = await startTokenService({
    dir: join(dir, "token-service"),
    tls: opts.tls,
    service: upstreamService,
    issuer: upstreamIssuer,
    users: { ...opts.users, [publisher.username]: publisher.password },
    anonymousPull: true,
    log: opts.log,
  });
  let registry: LocalRegistry;
  try {
    registry = await startRegistry({
      dir: join(dir, "registry"),
      tls: opts.tls,
      auth: { realm: tokenService.realm, service: tokenService.service, issuer: tokenService.issuer, rootCertBundle: tokenService.rootCertBundlePath },
    });
  } catch (error) {
    await tokenService.stop();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    host: registry.host,
    url: registry.url,
    registry,
    tokenService,
    publisher,
    stop() {
      stopping ??= (async () => {
        try {
          await registry.stop();
        } finally {
          await tokenService.stop();
        }
      })();
      return stopping;
    },
  };
}
