import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import type { TestCertificates } from "./test-certificates.js";

/** A running CNCF Distribution registry on loopback, over TLS. */
export interface DistributionServer {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  stop(): Promise<void>;
}

/** Asks the kernel for a free loopback port. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `docker-registry serve` with storage, config and logs under `dir`; resolves once `/v2/` answers. */
export async function startDistributionServer(dir: string, certificates: TestCertificates): Promise<DistributionServer> {
  const port = await findFreePort();
  const storage = join(dir, "storage");
  await mkdir(storage, { recursive: true });
  const configPath = join(dir, "registry.yml");
  await writeFile(
    configPath,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${storage}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "  relativeurls: true",
      "  tls:",
      `    certificate: ${certificates.certPath}`,
      `    key: ${certificates.keyPath}`,
      "",
    ].join("\n"),
  );
  const child = spawn("docker-registry", ["serve", configPath], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const host = `127.0.0.1:${port}`;
  await waitUntilReady(host, certificates.caPem, child, () => stderr);
  return { host, stop: () => stopChild(child) };
}

async function waitUntilReady(host: string, ca: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    if (await answers(host, ca)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stopChild(child);
  throw new Error(`docker-registry did not answer on ${host} within 10 s: ${stderr()}`);
}

function answers(host: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`https://${host}/v2/`, { ca, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
