import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { AppError } from "../errors.js";
import { findFreePort } from "./free-port.js";
import { startProcess } from "./processes.js";

/** A running Azurite (blob, queue, table) on loopback. */
export interface LocalAzurite {
  /** `https` with `oauth`, else `http`. */
  protocol: "http" | "https";
  /** With `oauth`: Azurite's debug log, which records every request's headers. */
  debugLogPath: string | null;
  /** devstoreaccount1 with explicit endpoints; pass `{ allowInsecureConnection: true }` to table clients. */
  connectionString: string;
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  pid: number;
  logPath: string;
  /** Stops Azurite; in-memory data is gone afterwards. Idempotent. */
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** Azurite's folder: workspace (`<dir>/azurite`), log and pid file. */
  dir: string;
  /** Keep data on disk under `<dir>/azurite` instead of in memory. Default false. */
  persist?: boolean;
  /**
   * Serve HTTPS with this certificate and accept OAuth bearer tokens (`--oauth basic`, which Azurite only
   * allows over HTTPS) besides shared keys: the mode identity-based connections are proven in. Requests are
   * logged to `debugLogPath` (Azurite's debug log), so a test can check what authentication each carried.
   */
  oauth?: { certPath: string; keyPath: string };
  /** Fixed ports (a restart on the ports the app was given); by default free ones are chosen. */
  ports?: { blob: number; queue: number; table: number };
}

/** Azurite's published development account; not a secret. */
export const devStorageAccount = {
  name: "devstoreaccount1",
  key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
} as const;

/** The path of azurite's CLI entry, resolved from this module's installed dependencies (not the cwd). */
export function resolveAzuriteEntry(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("azurite/package.json")), "dist", "src", "azurite.js");
}

/** A connection string for devstoreaccount1 with explicit endpoints. Pure. */
export function formatAzuriteConnectionString(endpoints: { blobEndpoint: string; queueEndpoint: string; tableEndpoint: string }): string {
  return [
    `DefaultEndpointsProtocol=${endpoints.tableEndpoint.startsWith("https:") ? "https" : "http"}`,
    `AccountName=${devStorageAccount.name}`,
    `AccountKey=${devStorageAccount.key}`,
    `BlobEndpoint=${endpoints.blobEndpoint}`,
    `QueueEndpoint=${endpoints.queueEndpoint}`,
    `TableEndpoint=${endpoints.tableEndpoint}`,
  ].join(";") + ";";
}

const serviceNames = ["blob", "queue", "table"] as const;
const portAttempts = 3;

/**
 * Starts Azurite with Node's own executable, on 127.0.0.1 and free ports, with telemetry off, the API
 * version check skipped (current SDKs are newer than Azurite), loose mode, and its workspace in
 * `<dir>/azurite` (`--location` when `persist`, otherwise `--inMemoryPersistence` with that folder as the
 * working directory, since Azurite rejects the two options together). Resolves once all three services answer HTTP.
 *
 * @throws AppError `stack_process_failed` with Azurite's log tail when it does not come up.
 */
export async function startAzurite(options: StartAzuriteOptions): Promise<LocalAzurite> {
  const opts = { ...options, dir: resolve(options.dir) };
  const location = join(opts.dir, "azurite");
  await mkdir(location, { recursive: true });
  const entry = resolveAzuriteEntry();
  for (let attempt = 1; ; attempt += 1) {
    const ports = opts.ports ?? { blob: await findFreePort(), queue: await findFreePort(), table: await findFreePort() };
    const args = [entry, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"];
    for (const service of serviceNames) args.push(`--${service}Host`, "127.0.0.1", `--${service}Port`, String(ports[service]));
    const debugLogPath = opts.oauth === undefined ? null : join(opts.dir, "azurite-debug.log");
    if (opts.oauth !== undefined) args.push("--oauth", "basic", "--cert", opts.oauth.certPath, "--key", opts.oauth.keyPath, "--debug", debugLogPath!);
    // The debug log records request headers, bearer tokens included: created for the owner alone.
    if (debugLogPath !== null) await writeFile(debugLogPath, "", { mode: 0o600 });
    const protocol = opts.oauth === undefined ? "http" : "https";
    // Azurite refuses --location together with --inMemoryPersistence; in memory it still keeps its
    // workspace in the current folder, which is why that folder is `<dir>/azurite` either way.
    args.push(...(opts.persist === true ? ["--location", location] : ["--inMemoryPersistence"]));
    try {
      const server = await startProcess({
        name: "azurite",
        command: process.execPath,
        args,
        cwd: location,
        dir: opts.dir,
        ready: async () => (await Promise.all(serviceNames.map((service) => probeHttp(ports[service], protocol)))).every(Boolean),
        timeoutMs: 30_000,
      });
      const endpoints = {
        blobEndpoint: `${protocol}://127.0.0.1:${ports.blob}/${devStorageAccount.name}`,
        queueEndpoint: `${protocol}://127.0.0.1:${ports.queue}/${devStorageAccount.name}`,
        tableEndpoint: `${protocol}://127.0.0.1:${ports.table}/${devStorageAccount.name}`,
      };
      return {
        protocol,
        debugLogPath,
        connectionString: formatAzuriteConnectionString(endpoints),
        ...endpoints,
        pid: server.pid,
        logPath: server.logPath,
        stop: () => server.stop(),
      };
    } catch (error) {
      if (opts.ports !== undefined || attempt >= portAttempts || !(error instanceof AppError) || !/EADDRINUSE/.test(error.message)) throw error;
    }
  }
}

/** True when something answers HTTP(S) on 127.0.0.1:port (any status: Azurite rejects the unsigned request). */
async function probeHttp(port: number, protocol: "http" | "https"): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const send = protocol === "https" ? httpsRequest : request;
    const req = send({ host: "127.0.0.1", port, path: "/", method: "GET", timeout: 2_000, agent: false, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** Storage requests per `Authorization` scheme (`Bearer`, `SharedKey`, …) in the debug log of an Azurite started with `oauth`. */
export async function storageAuthenticationCounts(debugLogPath: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const match of (await readFile(debugLogPath, "utf8")).matchAll(/"authorization":"([A-Za-z]+)[ "]/g)) counts[match[1]!] = (counts[match[1]!] ?? 0) + 1;
  return counts;
}
