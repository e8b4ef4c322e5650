import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** A throwaway Azurite (in-memory, loopback only) for one test file. */
export interface AzuriteInstance {
  /** Connection string with explicit http endpoints for blob, queue and table. */
  readonly connectionString: string;
  readonly tablePort: number;
  readonly queuePort: number;
  /** Stops the process (SIGTERM, then SIGKILL after a deadline) and removes its workspace. Idempotent. */
  stop(): Promise<void>;
}

// Azurite's documented, public development account (not a secret: it is the same on every machine).
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const HOST = "127.0.0.1";
const AZURITE_MAIN = resolve(import.meta.dirname, "../../node_modules/azurite/dist/src/azurite.js");

/** Starts Azurite on free loopback ports and waits until its table and queue ports accept connections. */
export async function startAzurite(options: { readyTimeoutMs?: number } = {}): Promise<AzuriteInstance> {
  const location = await mkdtemp(join(tmpdir(), "ripple-azurite-"));
  const [blobPort, queuePort, tablePort] = await findFreePorts();
  const child = spawn(
    process.execPath,
    [
      AZURITE_MAIN,
      "--silent",
      "--disableTelemetry",
      "--skipApiVersionCheck",
      // Azurite refuses --location together with --inMemoryPersistence; the working directory is the
      // throwaway folder instead, so nothing it might write lands in the repository.
      "--inMemoryPersistence",
      "--blobHost", HOST, "--blobPort", String(blobPort),
      "--queueHost", HOST, "--queuePort", String(queuePort),
      "--tableHost", HOST, "--tablePort", String(tablePort),
    ],
    { cwd: location, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopChild(child);
    await rm(location, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
    await waitForPort(queuePort, deadline, child);
    await waitForPort(tablePort, deadline, child);
  } catch (error) {
    await stop();
    throw new Error(`Azurite did not start: ${(error as Error).message}\n${stderr}`);
  }

  const endpoint = (port: number) => `http://${HOST}:${port}/${DEV_ACCOUNT}`;
  const connectionString = [
    "DefaultEndpointsProtocol=http",
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    `BlobEndpoint=${endpoint(blobPort)}`,
    `QueueEndpoint=${endpoint(queuePort)}`,
    `TableEndpoint=${endpoint(tablePort)}`,
  ].join(";");
  return { connectionString, tablePort, queuePort, stop };
}

/** Asks the kernel for three free loopback ports (listen on port 0, read the port, close). */
async function findFreePorts(): Promise<[number, number, number]> {
  const servers = await Promise.all(
    [0, 1, 2].map(() =>
      new Promise<ReturnType<typeof createServer>>((done, fail) => {
        const server = createServer();
        server.once("error", fail);
        server.listen(0, HOST, () => done(server));
      }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port assigned");
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((done) => server.close(() => done()))));
  const [blob, queue, table] = ports;
  if (blob === undefined || queue === undefined || table === undefined) throw new Error("no port assigned");
  return [blob, queue, table];
}

async function waitForPort(port: number, deadline: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not ready before the deadline`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: HOST, port });
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => {
      socket.destroy();
      done(false);
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
