import { createHash, X509Certificate } from "node:crypto";
import { access, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { QueueServiceClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../shared/errors.js";
import { type LocalAzurite, startAzurite } from "../../shared/local/azurite.js";
import { type Buildah, createBuildah } from "../../shared/local/buildah.js";
import { createSystemPackageHost, ensureStackPackages, isStaticExecutable, stackPackages, type StackPackage, type StackPackageHost } from "../../shared/local/packages.js";
import { isProcessAlive, isProcessRunning, startProcess, stopStaleProcess } from "../../shared/local/processes.js";
import { type LocalRegistry, startRegistry } from "../../shared/local/registry.js";
import { ensureStackTls, type StackTls } from "../../shared/local/tls.js";
import { HOST_KEY_SETTINGS } from "../../shared/local/local-host.js";
import { startStack, type Stack } from "../../shared/local/stack.js";

const ociManifest = "application/vnd.oci.image.manifest.v1+json";
const ociIndex = "application/vnd.oci.image.index.v1+json";
const manifestAccept = [ociManifest, ociIndex, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");
const notifySecret = "local-stack-test-secret";

interface ReceivedPost {
  authorization: string | undefined;
  contentType: string | undefined;
  events: RegistryEventBody[];
}
interface RegistryEventBody {
  action: string;
  target: { mediaType: string; digest: string; repository: string; tag?: string };
}

async function waitUntil<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function fetchManifest(registry: LocalRegistry, tls: StackTls, repository: string, reference: string): Promise<{ digest: string; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${registry.url}/v2/${repository}/manifests/${reference}`, { ca: tls.caPem, headers: { Accept: manifestAccept }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        if (res.statusCode !== 200) return reject(new Error(`GET manifest ${repository}:${reference}: ${res.statusCode} ${bytes.toString()}`));
        resolve({ digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, body: JSON.parse(bytes.toString("utf8")) as Record<string, unknown> });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe("ensureStackPackages decisions", () => {
  const fakeHost = (present: readonly string[], canInstall: boolean, installs: readonly string[] = []): StackPackageHost & { calls: string[] } => {
    const installed = new Set(present);
    const calls: string[] = [];
    return {
      calls,
      isPresent: async (pkg: StackPackage) => installed.has(pkg.debianPackage),
      canInstall: async () => canInstall,
      run: async (command, args, env) => {
        calls.push(`${env.DEBIAN_FRONTEND ?? ""} ${command} ${args.join(" ")}`);
        if (args[0] === "install") for (const name of installs) installed.add(name);
        return { code: 0, output: "" };
      },
    };
  };
  const all = ["docker-registry", "buildah", "openssl", "busybox-static"];

  it("runs nothing when every package is present", async () => {
    const host = fakeHost(all, true);
    const log: string[] = [];
    await ensureStackPackages((line) => log.push(line), host);
    expect({ calls: host.calls, log }).toEqual({ calls: [], log: [] });
  });

  it("updates once and installs exactly the missing packages as root on Debian", async () => {
    const host = fakeHost(["openssl"], true, ["docker-registry", "buildah", "busybox-static"]);
    const log: string[] = [];
    await ensureStackPackages((line) => log.push(line), host);
    expect({ calls: host.calls, log }).toEqual({
      calls: ["noninteractive apt-get update", "noninteractive apt-get install -y --no-install-recommends docker-registry buildah busybox-static"],
      log: ["installing docker-registry, buildah, busybox-static with apt-get", "installed docker-registry, buildah, busybox-static"],
    });
  });

  it("names the packages to install when it may not install them", async () => {
    const host = fakeHost(["openssl", "docker-registry"], false);
    const error = await ensureStackPackages(() => undefined, host).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect({ code: (error as AppError).code, message: (error as AppError).message, calls: host.calls }).toEqual({
      code: "stack_packages_missing",
      message: "the local stack needs these Debian packages: buildah busybox-static (install them with: apt-get install -y --no-install-recommends buildah busybox-static)",
      calls: [],
    });
  });

  it("fails when apt-get reports success but a package is still missing", async () => {
    const host = fakeHost([], true, ["docker-registry", "buildah", "openssl"]);
    const error = await ensureStackPackages(() => undefined, host).catch((caught: unknown) => caught);
    expect({ code: (error as AppError).code, message: (error as AppError).message }).toEqual({
      code: "stack_packages_install_failed",
      message: "still missing after apt-get install: busybox-static",
    });
  });
});

describe("local stack on real components", () => {
  let root: string;
  let tls: StackTls;
  let registry: LocalRegistry | undefined;
  let azurite: LocalAzurite | undefined;
  let buildah: Buildah;
  let receiver: Server | undefined;
  const posts: ReceivedPost[] = [];
  let baseDigest: string;

  const manifestEvents = (): Array<{ action: string; repository: string; mediaType: string; digest: string; tag: string | null }> =>
    posts
      .flatMap((post) => post.events)
      .map((event) => ({ action: event.action, repository: event.target.repository, mediaType: event.target.mediaType, digest: event.target.digest, tag: event.target.tag ?? null }))
      .sort((a, b) => `${a.repository} ${a.digest}`.localeCompare(`${b.repository} ${b.digest}`));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "ripple-local-stack-"));
  });

  afterAll(async () => {
    await registry?.stop();
    await azurite?.stop();
    await new Promise<void>((resolve) => (receiver === undefined ? resolve() : receiver.close(() => resolve())));
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it("has the stack's packages afterwards (installing them as root on a fresh Debian)", async () => {
    await ensureStackPackages((line) => console.log(line));
    const host = createSystemPackageHost();
    const present = await Promise.all(stackPackages.map(async (pkg) => [pkg.debianPackage, await host.isPresent(pkg)] as const));
    expect(Object.fromEntries(present)).toEqual({ "docker-registry": true, buildah: true, openssl: true, "busybox-static": true });
  }, 300_000);

  it.each([
    ["/bin/busybox", true],
    [process.execPath, false],
    ["/etc/hostname", false],
    ["/nonexistent/busybox", false],
  ])("tells whether %s is a static executable", async (path, expected) => {
    expect(await isStaticExecutable(path)).toBe(expected);
  });

  it("makes a CA and a loopback server certificate once and reuses them", async () => {
    tls = await ensureStackTls(join(root, "stack"));
    const again = await ensureStackTls(join(root, "stack"));
    const cert = new X509Certificate(await readFile(tls.certPath));
    const ca = new X509Certificate(tls.caPem);
    expect(again).toEqual(tls);
    expect({
      caIsCa: ca.ca,
      signedByCa: cert.verify(ca.publicKey),
      ip: cert.checkIP("127.0.0.1"),
      host: cert.checkHost("localhost"),
      otherHost: cert.checkHost("example.com"),
      paths: [tls.caCertPath, tls.certPath, tls.keyPath, tls.certDir],
    }).toEqual({
      caIsCa: true,
      signedByCa: true,
      ip: "127.0.0.1",
      host: "localhost",
      otherHost: undefined,
      paths: ["ca.crt", "server.crt", "server.key", "certs"].map((name) => join(root, "stack", "tls", name)),
    });
  });

  it("regenerates the certificates when a file is damaged", async () => {
    const scratch = join(root, "tls-damaged");
    const first = await ensureStackTls(scratch);
    await writeFile(first.keyPath, "not a key");
    const second = await ensureStackTls(scratch);
    expect({ samePaths: second.certPath === first.certPath, newCa: second.caPem !== first.caPem }).toEqual({ samePaths: true, newCa: true });
  });

  it("reports a server that exits before it is ready, with its log tail", async () => {
    const error = await startProcess({
      name: "fails",
      command: "/bin/sh",
      args: ["-c", "echo boom >&2; exit 3"],
      cwd: root,
      dir: join(root, "proc"),
      ready: async () => false,
    }).catch((caught: unknown) => caught);
    expect({ code: (error as AppError).code, message: (error as AppError).message }).toEqual({
      code: "stack_process_failed",
      message: `fails exited before it was ready (exit code 3); log tail (${join(root, "proc", "fails.log")}):\nboom`,
    });
    expect(await exists(join(root, "proc", "fails.pid"))).toBe(false);
  });

  it("stops a server that is not ready by the deadline, with every process of its group", async () => {
    const dir = join(root, "proc");
    const started = Date.now();
    const error = await startProcess({
      name: "slow",
      command: "/bin/sh",
      args: ["-c", "sleep 60 & echo $! > slow-child.pid; wait"],
      cwd: dir,
      dir,
      ready: async () => false,
      timeoutMs: 300,
    }).catch((caught: unknown) => caught);
    const appError = error as AppError;
    const childPid = Number(await readFile(join(dir, "slow-child.pid"), "utf8"));
    expect({ code: appError.code, message: appError.message }).toEqual({ code: "stack_process_failed", message: "slow was not ready within 300 ms" });
    expect({
      leaderAlive: isProcessAlive(appError.details.pid as number),
      childRunning: await isProcessRunning(childPid),
      pidFile: await exists(join(dir, "slow.pid")),
      quick: Date.now() - started < 5_000,
    }).toEqual({ leaderAlive: false, childRunning: false, pidFile: false, quick: true });
  });

  it("stops a server left by an earlier run from its pid file, but never a process running something else", async () => {
    const dir = join(root, "stale");
    const server = await startProcess({ name: "stale", command: "sleep", args: ["60"], cwd: root, dir, ready: async () => true });
    const wrongCommand = await stopStaleProcess({ dir, name: "stale", command: "docker-registry" });
    await writeFile(server.pidPath, `${server.pid}\n`);
    const stillRunning = await isProcessRunning(server.pid);
    const stopped = await stopStaleProcess({ dir, name: "stale", command: "sleep" });
    expect({ wrongCommand, stillRunning, stopped, runningAfter: await isProcessRunning(server.pid), pidFile: await exists(server.pidPath) }).toEqual({
      wrongCommand: false,
      stillRunning: true,
      stopped: true,
      runningAfter: false,
      pidFile: false,
    });
    await server.stop();
  });

  it("starts the registry with notifications and Azurite, and serves tables and queues", async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const headers: IncomingHttpHeaders = req.headers;
        posts.push({ authorization: headers.authorization, contentType: headers["content-type"], events: (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: RegistryEventBody[] }).events });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver?.listen(0, "127.0.0.1", resolve));
    const address = receiver.address();
    const receiverPort = typeof address === "object" && address !== null ? address.port : 0;

    // Settle both before failing, so afterAll stops whichever did come up.
    const [registryStart, azuriteStart] = await Promise.allSettled([
      startRegistry({ dir: join(root, "stack", "registry"), tls, notify: { url: `http://127.0.0.1:${receiverPort}/events`, secret: notifySecret } }),
      startAzurite({ dir: join(root, "stack") }),
    ]);
    if (registryStart.status === "fulfilled") registry = registryStart.value;
    if (azuriteStart.status === "fulfilled") azurite = azuriteStart.value;
    if (registryStart.status === "rejected") throw registryStart.reason;
    if (azuriteStart.status === "rejected") throw azuriteStart.reason;
    const storage = azuriteStart.value;
    expect(registryStart.value.url).toBe(`https://${registryStart.value.host}`);
    expect(storage.connectionString).toMatch(/^DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=[^;]+;BlobEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;QueueEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;TableEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;$/);

    const table = TableClient.fromConnectionString(storage.connectionString, "ripplestack", { allowInsecureConnection: true });
    await table.createTable();
    await table.upsertEntity({ partitionKey: "base", rowKey: "busybox", digest: "sha256:abc" });
    const entity = await table.getEntity<{ digest: string }>("base", "busybox");
    const queue = QueueServiceClient.fromConnectionString(storage.connectionString).getQueueClient("ripple-jobs");
    await queue.create();
    await queue.sendMessage("rebuild");
    const received = await queue.receiveMessages();
    expect({ entity: { partitionKey: entity.partitionKey, rowKey: entity.rowKey, digest: entity.digest }, messages: received.receivedMessageItems.map((m) => m.messageText) }).toEqual({
      entity: { partitionKey: "base", rowKey: "busybox", digest: "sha256:abc" },
      messages: ["rebuild"],
    });
  });

  it("builds and pushes a busybox base, and the registry notifies the manifest push with the bearer secret", async () => {
    buildah = createBuildah({ dir: join(root, "stack", "buildah"), tls });
    const context = await buildah.makeBusyboxBaseContext(join(root, "contexts", "base"), "base v1\n");
    const host = registry?.host ?? "";
    await buildah.build({ context, tag: `${host}/ripple/busybox:1` });
    baseDigest = await buildah.push({ image: `${host}/ripple/busybox:1`, destination: `docker://${host}/ripple/busybox:1` });

    await waitUntil("the base manifest event", () => manifestEvents().find((event) => event.digest === baseDigest));
    expect(manifestEvents()).toEqual([{ action: "push", repository: "ripple/busybox", mediaType: ociManifest, digest: baseDigest, tag: "1" }]);
    expect([...new Set(posts.map((post) => `${post.authorization} ${post.contentType}`))]).toEqual([
      `Bearer ${notifySecret} application/vnd.docker.distribution.events.v1+json`,
    ]);
    expect({ isolation: await buildah.mountIsolation(), blobInfoCache: await exists(join(root, "stack", "buildah", "var-lib-containers", "cache", "blob-info-cache-v1.boltdb")) }).toEqual({
      isolation: "unshare",
      blobInfoCache: true,
    });
  });

  it("builds a derived image FROM the registry's base with a RUN step, annotated with the base and sharing its layers", async () => {
    const host = registry?.host ?? "";
    const context = join(root, "contexts", "app");
    await mkdir(context, { recursive: true });
    await writeFile(join(context, "Dockerfile"), `FROM ${host}/ripple/busybox:1\nARG GREETING\nRUN echo "$GREETING" > /greeting && cat /ripple-marker\n`);
    // A second builder with empty storage, so the base can only come from the registry (over TLS, trusting the CA).
    const appBuilder = createBuildah({ dir: join(root, "stack", "buildah-app"), tls });
    const logFile = join(root, "app-build.log");
    await appBuilder.build({ context, tag: `${host}/ripple/app:1`, buildArgs: { GREETING: "hello" }, logFile });
    const appDigest = await appBuilder.push({ image: `${host}/ripple/app:1`, destination: `${host}/ripple/app:1` });
    const buildLog = await readFile(logFile, "utf8");
    expect({ pulled: buildLog.includes(`Trying to pull ${host}/ripple/busybox:1...`), ran: buildLog.includes("base v1") }).toEqual({ pulled: true, ran: true });

    const base = await fetchManifest(registry as LocalRegistry, tls, "ripple/busybox", "1");
    const app = await fetchManifest(registry as LocalRegistry, tls, "ripple/app", "1");
    const baseLayers = base.body.layers as unknown[];
    const appLayers = app.body.layers as unknown[];
    expect({ digest: app.digest, mediaType: app.body.mediaType, annotations: app.body.annotations, prefix: appLayers.slice(0, baseLayers.length), added: appLayers.length - baseLayers.length }).toEqual({
      digest: appDigest,
      mediaType: ociManifest,
      annotations: { "org.opencontainers.image.base.name": `${host}/ripple/busybox:1`, "org.opencontainers.image.base.digest": baseDigest },
      prefix: baseLayers,
      added: 1,
    });
    await waitUntil("the app manifest event", () => manifestEvents().find((event) => event.digest === appDigest));
  });

  it("builds a two-platform COPY-only image and pushes an OCI index", async () => {
    const host = registry?.host ?? "";
    const context = await buildah.makeBusyboxBaseContext(join(root, "contexts", "multi"), "multi v1\n");
    await buildah.build({ context, tag: `${host}/ripple/multi:1`, platforms: ["linux/amd64", "linux/arm64"] });
    const indexDigest = await buildah.push({ image: `${host}/ripple/multi:1`, destination: `docker://${host}/ripple/multi:1`, manifestList: true });

    const index = await fetchManifest(registry as LocalRegistry, tls, "ripple/multi", "1");
    const children = index.body.manifests as Array<{ mediaType: string; digest: string; platform: { os: string; architecture: string } }>;
    expect({ digest: index.digest, mediaType: index.body.mediaType, platforms: children.map((child) => `${child.platform.os}/${child.platform.architecture}`).sort() }).toEqual({
      digest: indexDigest,
      mediaType: ociIndex,
      platforms: ["linux/amd64", "linux/arm64"],
    });

    await waitUntil("the index event", () => manifestEvents().find((event) => event.digest === indexDigest));
    const appDigest = (await fetchManifest(registry as LocalRegistry, tls, "ripple/app", "1")).digest;
    const expected = [
      { action: "push", repository: "ripple/app", mediaType: ociManifest, digest: appDigest, tag: "1" },
      { action: "push", repository: "ripple/busybox", mediaType: ociManifest, digest: baseDigest, tag: "1" },
      ...children.map((child) => ({ action: "push", repository: "ripple/multi", mediaType: ociManifest, digest: child.digest, tag: null })),
      { action: "push", repository: "ripple/multi", mediaType: ociIndex, digest: indexDigest, tag: "1" },
    ].sort((a, b) => `${a.repository} ${a.digest}`.localeCompare(`${b.repository} ${b.digest}`));
    // Only manifest events: the endpoint ignores blob (octet-stream) pushes and all pulls.
    expect(manifestEvents()).toEqual(expected);
  });

  it("stops the registry and Azurite, leaving no process and no pid file", async () => {
    const running = [registry, azurite].map((server) => {
      if (server === undefined) throw new Error("the stack did not start");
      return server;
    });
    await Promise.all(running.map((server) => server.stop()));
    expect(running.map((server) => ({ alive: isProcessAlive(server.pid) }))).toEqual([{ alive: false }, { alive: false }]);
    expect(await Promise.all([join(root, "stack", "registry", "registry.pid"), join(root, "stack", "azurite.pid")].map(exists))).toEqual([false, false]);
  });
});

describe("the stack's local host keys (issue #10, defect 8)", () => {
  let dir: string;
  let stack: Stack | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-stack-keys-"));
    stack = await startStack({ dir });
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const running = (): Stack => {
    if (stack === undefined) throw new Error("the stack did not start");
    return stack;
  };

  /** Every file under `folder`, with its permission bits. */
  async function files(folder: string): Promise<{ path: string; mode: number }[]> {
    const entries = await readdir(folder, { withFileTypes: true, recursive: true });
    const found = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
    return Promise.all(found.map(async (path) => ({ path, mode: (await stat(path)).mode & 0o777 })));
  }

  it("generates distinct random keys at start and hands them to the host only through its settings", () => {
    const { hostKeys, settings } = running();
    expect(new Set([hostKeys.host, hostKeys.master, hostKeys.eventGrid]).size).toBe(3);
    expect([hostKeys.host, hostKeys.master, hostKeys.eventGrid].every((key) => /^[A-Za-z0-9_-]{43}$/.test(key))).toBe(true);
    expect({ host: settings[HOST_KEY_SETTINGS.host], master: settings[HOST_KEY_SETTINGS.master], eventGrid: settings[HOST_KEY_SETTINGS.eventGrid] }).toEqual(hostKeys);
  });

  it("has the running host refuse the Event Grid endpoint without the system key, and serve it with the key", async () => {
    const { hostUrl, hostKeys } = running();
    const url = `${hostUrl}/runtime/webhooks/EventGrid?functionName=registryEventGrid`;
    const handshake = { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation" }, body: JSON.stringify([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", subject: "", eventTime: "2026-11-23T00:00:00Z", dataVersion: "1", data: { validationCode: "code-1" } }]) };
    const delivery = { method: "POST", headers: { "aeg-event-type": "Notification" }, body: JSON.stringify([{ id: "no-key" }]) };
    expect([(await fetch(url, handshake)).status, (await fetch(url, delivery)).status, (await fetch(`${url}&code=${hostKeys.host}`, delivery)).status]).toEqual([401, 401, 401]);
    const answered = await fetch(`${url}&code=${hostKeys.eventGrid}`, handshake);
    expect({ status: answered.status, body: await answered.json() }).toEqual({ status: 200, body: { validationResponse: "code-1" } });
    const withHeader = await fetch(url, { ...handshake, headers: { ...handshake.headers, "x-functions-key": hostKeys.eventGrid } });
    expect(withHeader.status).toBe(200);
  });

  it("keeps the anonymous routes (pages, webhooks) open without a key", async () => {
    const { hostUrl } = running();
    expect((await fetch(`${hostUrl}/api/campaigns`)).status).toBe(200);
    // The registry webhook is anonymous at the Functions level: its own shared secret decides (an empty delivery is then a 400).
    const post = (headers: Record<string, string>) => fetch(`${hostUrl}/api/registry/events`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "[]" });
    expect([(await post({})).status, (await post({ authorization: `Bearer ${running().settings["RIPPLE_WEBHOOK_SECRET"]}` })).status]).toEqual([401, 400]);
  });

  it("writes the keys into no log and no file others can read", async () => {
    const { hostKeys } = running();
    const leaks: string[] = [];
    for (const file of await files(dir)) {
      const text = await readFile(file.path, "latin1");
      const holds = [hostKeys.host, hostKeys.master, hostKeys.eventGrid].some((key) => text.includes(key));
      if (holds && (file.path.endsWith(".log") || (file.mode & 0o077) !== 0)) leaks.push(`${file.path} (${file.mode.toString(8)})`);
    }
    expect(leaks).toEqual([]);
  });
});
