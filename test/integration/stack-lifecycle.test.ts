/**
 * `ripple stack up` / `ripple stack down` as a user runs them: the built CLI as a child process, read
 * until its JSON arrives, never waited on to exit. Then where the stack's secrets end up.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile, stat, writeFile, mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isProcessRunning, stopOrphanedProcess } from "../../shared/local/processes.js";
import { startStack } from "../../shared/local/stack.js";
import { CLI, runCli } from "./helpers/run-cli.js";

interface StackInfo {
  pid: number;
  registry: string;
  hostUrl: string;
  webhookUrl: string;
  configPath: string;
}

interface RunningStackUp {
  child: ChildProcess;
  info: StackInfo;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
}

/** The settings whose values are secrets the stack generates (default configuration). */
const secretSettings = ["RIPPLE_WEBHOOK_SECRET", "RIPPLE_PAGERDUTY_ROUTING_KEY", "RIPPLE_SLACK_BOT_TOKEN", "RIPPLE_ALERT_WEBHOOK_SECRET"] as const;

let root: string;
const launched: RunningStackUp[] = [];
/** Every server pid a test saw, so a failed test leaves nothing running. */
const seenServers: Array<{ pid: number; command: string }> = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ripple-stack-lifecycle-"));
});

afterEach(async () => {
  for (const up of launched.splice(0)) {
    if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill("SIGTERM");
    await up.exited;
  }
  for (const server of seenServers.splice(0)) await stopOrphanedProcess(server);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function stackEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, RIPPLE_STACK_DIR: dir };
}

/** Spawns `ripple stack up --json [...args]` and resolves once its JSON is on stdout; rejects if it exits first. */
function startStackUp(dir: string, args: string[] = [], timeoutMs = 45_000): Promise<RunningStackUp> {
  const child = spawn(process.execPath, [CLI, "stack", "up", "--json", ...args], { cwd: root, env: stackEnv(dir), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => child.once("exit", (code, signal) => resolveExit({ code, signal })));
  const up: Omit<RunningStackUp, "info"> = { child, exited, stderr: () => stderr };
  return new Promise((resolveUp, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack up printed no JSON within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!stdout.trimEnd().endsWith("}")) return;
      try {
        const info = JSON.parse(stdout) as StackInfo;
        clearTimeout(timer);
        const running = { ...up, info };
        launched.push(running);
        resolveUp(running);
      } catch {
        // not the whole object yet
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`stack up exited (${code ?? signal}) before printing its JSON; stderr:\n${stderr}`));
    });
  });
}

/** Running (non-zombie) processes whose parent is `pid`, with their executable's base name, recursively. */
async function descendantsOf(pid: number): Promise<Array<{ pid: number; command: string }>> {
  const table: Array<{ pid: number; ppid: number; command: string }> = [];
  for (const entry of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const procStat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => undefined);
    if (procStat === undefined) continue;
    const [state, ppid] = procStat.slice(procStat.lastIndexOf(")") + 2).split(" ");
    if (state === "Z") continue;
    const command = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0")[0] ?? "";
    table.push({ pid: Number(entry), ppid: Number(ppid), command });
  }
  const found: Array<{ pid: number; command: string }> = [];
  const visit = (parent: number): void => {
    for (const row of table.filter((candidate) => candidate.ppid === parent)) {
      found.push({ pid: row.pid, command: row.command });
      visit(row.pid);
    }
  };
  visit(pid);
  seenServers.push(...found);
  return found;
}

/** The stack's servers, by executable: two registries (local and upstream), Azurite and the Functions host. */
function serverKinds(servers: ReadonlyArray<{ command: string }>): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const { command } of servers) {
    const kind = command.endsWith("docker-registry") ? "docker-registry" : command === process.execPath ? "node" : command;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

async function stillRunning(servers: ReadonlyArray<{ pid: number }>): Promise<number[]> {
  const running: number[] = [];
  for (const { pid } of servers) if (await isProcessRunning(pid)) running.push(pid);
  return running;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Every file under `dir` with its permission bits. */
async function filesUnder(dir: string): Promise<Array<{ path: string; mode: number }>> {
  const files: Array<{ path: string; mode: number }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.push({ path, mode: (await stat(path)).mode & 0o777 });
  }
  return files;
}

/**
 * Files under `dir` that hold one of `secrets` while readable by anyone but the owner, or that are logs:
 * `file (mode): secret names`. Empty when the secrets are where they belong.
 */
async function exposedSecrets(dir: string, secrets: Readonly<Record<string, string>>): Promise<string[]> {
  const exposed: string[] = [];
  for (const file of await filesUnder(dir)) {
    const readableByOthers = (file.mode & 0o077) !== 0;
    if (!readableByOthers && !file.path.endsWith(".log")) continue;
    const content = await readFile(file.path, "latin1");
    const held = Object.entries(secrets).filter(([, value]) => content.includes(value)).map(([name]) => name);
    if (held.length > 0) exposed.push(`${relative(dir, file.path)} (${file.mode.toString(8)}): ${held.join(", ")}`);
  }
  return exposed;
}

/** Pushes a one-blob OCI image over TLS trusted through `caPem`, optionally with a bearer token. */
async function pushTinyImage(registryUrl: string, caPem: string, repository: string, tag: string, token?: string): Promise<void> {
  const auth: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: {} }));
  const configDigest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
  const upload = await send(`${registryUrl}/v2/${repository}/blobs/uploads/`, "POST", caPem, auth, undefined, 202);
  const location = new URL(upload.location ?? "", registryUrl);
  location.searchParams.set("digest", configDigest);
  await send(location.href, "PUT", caPem, { ...auth, "Content-Type": "application/octet-stream" }, config, 201);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.byteLength }, layers: [] }),
  );
  await send(`${registryUrl}/v2/${repository}/manifests/${tag}`, "PUT", caPem, { ...auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, manifest, 201);
}

function send(url: string, method: string, caPem: string, headers: Record<string, string>, body: Buffer | undefined, expected: number): Promise<{ text: string; location: string | undefined }> {
  return new Promise((resolveSend, reject) => {
    const req = request(url, { method, ca: caPem, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === expected) resolveSend({ text, location: res.headers.location });
        else reject(new Error(`${method} ${url}: ${res.statusCode} ${text}`));
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The `--config` example of README's "Local stack" section, as documented. */
async function readmeStackConfigExample(): Promise<string> {
  const readme = await readFile(resolve(import.meta.dirname, "../../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Local stack"), readme.indexOf("\n## ", readme.indexOf("## Local stack") + 1));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (example === undefined) throw new Error("README's Local stack section has no yaml example");
  return example;
}

describe("ripple stack up / stack down", () => {
  it("stays up serving the host until `ripple stack down`, which stops it and every server it started", async () => {
    const dir = join(root, "down");
    const up = await startStackUp(dir);
    const servers = await descendantsOf(up.info.pid);
    // Not waiting for something to happen: checking that nothing does (the process must not exit).
    const early = await Promise.race([up.exited.then(() => "exited"), new Promise((resolveWait) => setTimeout(() => resolveWait("running"), 4_000))]);
    const campaigns = await fetch(`${up.info.hostUrl}/api/campaigns`);
    const whileUp = { early, pid: up.info.pid === up.child.pid, hostStatus: campaigns.status, servers: serverKinds(servers), running: (await stillRunning(servers)).length, stackFileMode: (await stat(join(dir, "stack.json"))).mode & 0o777 };
    expect(whileUp).toEqual({ early: "running", pid: true, hostStatus: 200, servers: { "docker-registry": 2, node: 2 }, running: 4, stackFileMode: 0o600 });

    const down = await runCli(["stack", "down"], stackEnv(dir));
    const exit = await up.exited;
    expect({ down: { code: down.code, stdout: down.stdout }, exit, running: await stillRunning(servers), stackFile: await exists(join(dir, "stack.json")) }).toEqual({
      down: { code: 0, stdout: "stack down\n" },
      exit: { code: 0, signal: null },
      running: [],
      stackFile: false,
    });
  });

  it("stops every server it started on SIGTERM, then exits 0", async () => {
    const dir = join(root, "sigterm");
    const up = await startStackUp(dir);
    const servers = await descendantsOf(up.info.pid);
    up.child.kill("SIGTERM");
    const exit = await up.exited;
    expect({ servers: servers.length, exit, running: await stillRunning(servers), stackFile: await exists(join(dir, "stack.json")), said: up.stderr().endsWith("stack down\n") }).toEqual({
      servers: 4,
      exit: { code: 0, signal: null },
      running: [],
      stackFile: false,
      said: true,
    });
  });

  it("has `stack down` stop the servers of a stack whose `stack up` was killed (SIGKILL)", async () => {
    const dir = join(root, "killed");
    const up = await startStackUp(dir);
    const servers = await descendantsOf(up.info.pid);
    up.child.kill("SIGKILL");
    await up.exited;
    const orphaned = (await stillRunning(servers)).length;
    const down = await runCli(["stack", "down"], stackEnv(dir));
    expect({ orphaned, code: down.code, stdout: down.stdout, running: await stillRunning(servers), stackFile: await exists(join(dir, "stack.json")) }).toEqual({
      orphaned: 4,
      code: 0,
      stdout: "stack down (stopped 4 servers left by a stack that was no longer running)\n",
      running: [],
      stackFile: false,
    });
  });

  it("takes a --config file in the shape README documents, and refuses one with registries before starting anything", async () => {
    const dir = join(root, "config");
    const configFile = join(root, "stack-config.yaml");
    await writeFile(configFile, await readmeStackConfigExample());
    const up = await startStackUp(dir, ["--config", configFile]);
    const written = await readFile(up.info.configPath, "utf8");
    const applied = { pagerduty: written.includes("RIPPLE_PAGERDUTY_KEY"), companyBase: written.includes(`${up.info.registry}/ripple/company-base`), defaultSinks: written.includes("oncall-slack") };
    up.child.kill("SIGTERM");
    expect({ applied, exit: await up.exited }).toEqual({ applied: { pagerduty: true, companyBase: true, defaultSinks: false }, exit: { code: 0, signal: null } });

    const withRegistries = join(root, "with-registries.yaml");
    await writeFile(withRegistries, "registries: [{ host: 127.0.0.1:5000, kind: distribution }]\n");
    const refused = await runCli(["stack", "up", "--json", "--config", withRegistries], stackEnv(join(root, "refused")));
    expect({ code: refused.code, stderr: refused.stderr, started: await exists(join(root, "refused")) }).toEqual({
      code: 2,
      stderr: `ripple: ${withRegistries}: registries: leave it out; the stack adds its own registry ({{registry}})\n`,
      started: false,
    });
  });
});

describe("the stack's secrets", () => {
  it("go only into owner-only files and never into a log (ripple stack up, with a push notified to the host)", async () => {
    const dir = join(root, "secrets");
    const up = await startStackUp(dir);
    const stackFile = JSON.parse(await readFile(join(dir, "stack.json"), "utf8")) as { settings: Record<string, string> };
    const secrets = Object.fromEntries(secretSettings.map((name) => [name, stackFile.settings[name] ?? `missing ${name}`]));
    await pushTinyImage(`https://${up.info.registry}`, await readFile(join(dir, "tls", "ca.crt"), "utf8"), "lifecycle/secrets", "1");
    const whileUp = await exposedSecrets(dir, secrets);
    up.child.kill("SIGTERM");
    await up.exited;
    expect({ whileUp, afterwards: await exposedSecrets(dir, secrets), settingsPresent: Object.values(secrets).every((value) => !value.startsWith("missing")) }).toEqual({
      whileUp: [],
      afterwards: [],
      settingsPresent: true,
    });
  });

  it("keep the upstream publisher's password out of every file", async () => {
    const dir = join(root, "publisher");
    const stack = await startStack({ dir });
    try {
      const { publisher, tokenService } = stack.upstream;
      const basic = Buffer.from(`${publisher.username}:${publisher.password}`).toString("base64");
      const answer = await send(`${tokenService.realm}?service=${encodeURIComponent(tokenService.service)}&scope=${encodeURIComponent("repository:lifecycle/published:pull,push")}`, "GET", stack.tls.caPem, { Authorization: `Basic ${basic}` }, undefined, 200);
      await pushTinyImage(stack.upstream.url, stack.tls.caPem, "lifecycle/published", "1", (JSON.parse(answer.text) as { token: string }).token);
      await stack.stop();
      const holders: string[] = [];
      for (const file of await filesUnder(dir)) if ((await readFile(file.path, "latin1")).includes(publisher.password)) holders.push(relative(dir, file.path));
      expect(holders).toEqual([]);
    } finally {
      await stack.stop();
    }
  });
});
