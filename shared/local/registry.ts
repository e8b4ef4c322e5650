import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { AppError } from "../errors.js";
import { findFreePort } from "./free-port.js";
import { startProcess } from "./processes.js";
import type { StackTls } from "./tls.js";

/** A running CNCF Distribution registry on loopback, serving TLS from the stack CA. */
export interface LocalRegistry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  /** `https://127.0.0.1:PORT`. */
  url: string;
  pid: number;
  logPath: string;
  configPath: string;
  /** Stops the registry; its storage under `dir` stays. Idempotent. */
  stop(): Promise<void>;
}

/** Where the registry sends its notifications, and the bearer secret it presents. */
export interface RegistryNotifyTarget {
  url: string;
  secret: string;
}

/** Distribution's `auth.token`: clients get a Bearer challenge naming `realm` and `service`. */
export interface RegistryTokenAuth {
  /** URL of the token endpoint, e.g. `https://127.0.0.1:PORT/token`. */
  realm: string;
  /** The service name tokens must carry as audience. */
  service: string;
  /** The issuer tokens must carry. */
  issuer: string;
  /** PEM file of the certificates a token's `x5c` chain must lead to. */
  rootCertBundle: string;
}

export interface StartRegistryOptions {
  /** The registry's folder: config, storage, log and pid file go under it. */
  dir: string;
  tls: StackTls;
  /** A fixed port; by default a free one is chosen (and re-chosen if another process takes it first). */
  port?: number;
  notify?: RegistryNotifyTarget;
  /** Require bearer tokens from this token service; by default the registry is open. */
  auth?: RegistryTokenAuth;
}

/**
 * The Distribution configuration for the local stack: loopback TLS, relative URLs (needed for blob
 * uploads through the Azure SDK), deletes enabled, filesystem storage under `dir`, and at most one
 * notification endpoint that skips blob (octet-stream) events and pulls/mounts (then logging at `warn`,
 * so its bearer secret never reaches the log); with `auth`, token authentication. Pure.
 */
export function renderRegistryConfig(opts: { dir: string; tls: StackTls; port: number; notify?: RegistryNotifyTarget; auth?: RegistryTokenAuth; httpSecret: string }): string {
  const config = {
    version: 0.1,
    // Distribution logs every notification endpoint's headers at info level when it starts
    // ("configuring endpoint … headers=map[Authorization:[Bearer …]]"), and no option hides them: with a
    // notification secret, log warnings and errors only.
    log: { level: opts.notify === undefined ? "info" : "warn", accesslog: { disabled: true } },
    http: {
      addr: `127.0.0.1:${opts.port}`,
      secret: opts.httpSecret,
      relativeurls: true,
      tls: { certificate: opts.tls.certPath, key: opts.tls.keyPath },
    },
    storage: {
      filesystem: { rootdirectory: join(opts.dir, "data") },
      delete: { enabled: true },
    },
    ...(opts.auth === undefined
      ? {}
      : { auth: { token: { realm: opts.auth.realm, service: opts.auth.service, issuer: opts.auth.issuer, rootcertbundle: opts.auth.rootCertBundle } } }),
    notifications: {
      events: { includereferences: true },
      ...(opts.notify === undefined
        ? {}
        : {
            endpoints: [
              {
                name: "ripple",
                url: opts.notify.url,
                headers: { Authorization: [`Bearer ${opts.notify.secret}`] },
                timeout: "2s",
                threshold: 5,
                backoff: "1s",
                ignore: { mediatypes: ["application/octet-stream"], actions: ["pull", "mount"] },
              },
            ],
          }),
    },
  };
  return stringify(config);
}

const portAttempts = 3;

/**
 * Writes `<dir>/config.yml` and starts `docker-registry serve` on 127.0.0.1, resolving once `GET /v2/`
 * answers 200 (with `auth`: 401 with a Bearer challenge) over TLS verified against the stack CA. The
 * config holds the notification secret, so it is written owner-only.
 *
 * @throws AppError `stack_process_failed` with the registry's log tail when it does not come up.
 */
export async function startRegistry(options: StartRegistryOptions): Promise<LocalRegistry> {
  const opts = { ...options, dir: resolve(options.dir) };
  await mkdir(join(opts.dir, "data"), { recursive: true });
  const configPath = join(opts.dir, "config.yml");
  const httpSecret = randomBytes(16).toString("hex");
  for (let attempt = 1; ; attempt += 1) {
    const port = opts.port ?? (await findFreePort());
    // Removed first: writeFile's mode applies only to a file it creates (a persistent stack folder keeps it).
    await rm(configPath, { force: true });
    await writeFile(configPath, renderRegistryConfig({ ...opts, port, httpSecret }), { mode: 0o600 });
    const url = `https://127.0.0.1:${port}`;
    try {
      const server = await startProcess({
        name: "registry",
        command: "docker-registry",
        args: ["serve", configPath],
        cwd: opts.dir,
        dir: opts.dir,
        ready: () => probeRegistry(url, opts.tls.caPem, { tokenAuth: opts.auth !== undefined }),
        timeoutMs: 15_000,
      });
      return { host: `127.0.0.1:${port}`, url, pid: server.pid, logPath: server.logPath, configPath, stop: () => server.stop() };
    } catch (error) {
      // A chosen port can be taken between findFreePort and the bind; a fixed port is the caller's choice.
      if (opts.port !== undefined || attempt >= portAttempts || !(error instanceof AppError) || !/address already in use/.test(error.message)) {
        throw error;
      }
    }
  }
}

/**
 * True when `GET <url>/v2/` answers over TLS trusted through `caPem` alone as a ready registry does:
 * 200, or with `tokenAuth` (the anonymous probe cannot pass token auth) 401 with a Bearer challenge.
 */
export async function probeRegistry(url: string, caPem: string, opts: { tokenAuth?: boolean } = {}): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = request(`${url}/v2/`, { method: "GET", ca: caPem, timeout: 2_000, agent: false }, (res) => {
      res.resume();
      const challenged = res.statusCode === 401 && /^Bearer\s/i.test(res.headers["www-authenticate"] ?? "");
      resolve(opts.tokenAuth === true ? challenged : res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}
