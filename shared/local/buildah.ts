import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AppError } from "../errors.js";
import { type CommandResult, logSize, readLogSince, readLogTail, runCommand, tailLines } from "./run-command.js";
import type { StackTls } from "./tls.js";

/** buildah confined to a stack folder: its own storage, registries.conf, signature policy and caches. */
export interface Buildah {
  /**
   * `buildah bud --layers=false --pull=true --format oci --timestamp 0`, trusting the stack CA for pulls.
   * With `platforms`, builds each platform into the manifest list named `tag` (replacing a list of that
   * name left by an earlier build); otherwise tags a single image `tag`. Output goes to `logFile`
   * (default: a new file under `<dir>/logs`). With `annotations: false` the image is written in Docker
   * format (`--format docker`), which carries no manifest annotations: no `org.opencontainers.image.base.*`,
   * as ACR Tasks builds.
   * @throws AppError `buildah_failed` with the log tail.
   */
  build(opts: { context: string; dockerfile?: string; tag: string; platforms?: readonly string[]; buildArgs?: Readonly<Record<string, string>>; logFile?: string; annotations?: boolean }): Promise<void>;
  /**
   * Pushes a local image (or, with `manifestList`, a manifest list and all its images) to `destination`
   * (`127.0.0.1:PORT/repo:tag`, with or without `docker://`) trusting the stack CA, and returns the
   * digest of the pushed manifest or index. Pushing the same content again returns the same digest. A
   * manifest the registry refuses for an unknown blob is pushed again (three tries in all; see
   * `isUnknownBlobRefusal`).
   * `credentials` (a registry with token auth) go through an auth file (mode 0600, removed after the
   * push), never the command line.
   * @throws AppError `buildah_failed` with the log tail.
   */
  push(opts: { image: string; destination: string; manifestList?: boolean; logFile?: string; credentials?: { username: string; password: string } }): Promise<string>;
  /**
   * Writes a build context `FROM scratch` + `COPY rootfs/ /` whose rootfs holds the static /bin/busybox,
   * a symlink per applet (sh, ls, cat, echo, …) and `/ripple-marker` containing `marker`, so bases with
   * different markers get different digests and `RUN` works under chroot isolation. Replaces an earlier
   * context in `dir`. Returns `dir`.
   */
  makeBusyboxBaseContext(dir: string, marker: string): Promise<string>;
  /**
   * "unshare" when buildah runs in a private mount namespace with `<dir>/var-lib-containers` over
   * /var/lib/containers (root's blob-info cache stays in the stack folder), "direct" when that is not
   * possible here. Known after the first build or push, or after `prepare()`.
   */
  mountIsolation(): Promise<"unshare" | "direct">;
}

export interface CreateBuildahOptions {
  /** buildah's folder: storage, configuration, temporary files and logs. */
  dir: string;
  tls: StackTls;
  /** Told once when buildah has to run without its own mount namespace. */
  log?: (line: string) => void;
}

/** The environment that confines buildah to `dir` (vfs storage, chroot isolation, own config files). Pure. */
export function formatBuildahEnv(dir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    STORAGE_DRIVER: "vfs",
    BUILDAH_ISOLATION: "chroot",
    BUILDAH_FORMAT: "oci",
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
    CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf"),
    REGISTRY_AUTH_FILE: join(dir, "auth.json"),
    TMPDIR: join(dir, "tmp"),
  };
}

/**
 * How often a push is tried when the registry refuses its manifest for an unknown blob. Two pushes of the
 * same layers to one repository at once race in the Distribution registry: one can be told a blob it has
 * just been sent (or that the other push is committing) is unknown. Pushing again uploads what is missing.
 */
const pushAttempts = 3;

/**
 * Whether buildah's closing error (the last `Error: …` and what follows it) says the registry refused a
 * manifest for a blob it does not know (Distribution's MANIFEST_BLOB_UNKNOWN, HTTP 400: `writing manifest:
 * … manifest blob unknown: blob unknown to registry`). Pure.
 */
export function isUnknownBlobRefusal(output: string): boolean {
  const start = output.lastIndexOf("Error: ");
  return start >= 0 && /\bwriting manifest\b[\s\S]*\bblob unknown\b/i.test(output.slice(start));
}

/** Runs a push (`attempt`), pushing again while the registry refuses its manifest for an unknown blob, at most {@link pushAttempts} times in all. */
async function pushRetryingUnknownBlobs(logFile: string, attempt: () => Promise<void>): Promise<void> {
  for (let tries = 1; ; tries += 1) {
    const logged = await logSize(logFile);
    try {
      return await attempt();
    } catch (error) {
      if (tries >= pushAttempts || !isUnknownBlobRefusal(await readLogSince(logFile, logged))) throw error;
      await writeFile(logFile, `# the registry refused the manifest for a blob it had just been sent (concurrent pushes of the same layers race in the registry); pushing again, attempt ${tries + 1} of ${pushAttempts}\n`, { flag: "a" });
    }
  }
}

/** The busybox-static binary copied into base images. */
const busyboxPath = "/bin/busybox";
const digestPattern = /^sha256:[0-9a-f]{64}$/;

// $0 is a label; $1 and $2 are the stack's stand-ins for the two machine-wide folders buildah writes as root.
const namespaceScript = 'mount --bind "$1" /var/lib/containers && mount --bind "$2" /run/containers && shift 2 && exec buildah "$@"';

/**
 * Creates a buildah runner whose state lives under `dir`. Nothing is written until the first call.
 * Registries are reached only by fully qualified names (no unqualified-search registries), and the
 * signature policy accepts anything: the only registry it talks to is the stack's own.
 */
export function createBuildah(opts: CreateBuildahOptions): Buildah {
  const dir = resolve(opts.dir);
  const { tls } = opts;
  const env = formatBuildahEnv(dir);
  const policyPath = join(dir, "policy.json");
  const logDir = join(dir, "logs");
  let prepared: Promise<"unshare" | "direct"> | undefined;

  const namespaceArgs = (script: string): string[] => [
    "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "ripple-buildah", join(dir, "var-lib-containers"), join(dir, "run-containers"),
  ];

  const prepare = (): Promise<"unshare" | "direct"> => {
    prepared ??= (async () => {
      for (const folder of ["graph", "run", "tmp", "logs", "var-lib-containers", "run-containers"]) {
        await mkdir(join(dir, folder), { recursive: true });
      }
      await writeFile(join(dir, "storage.conf"), `[storage]\ndriver = "vfs"\ngraphroot = ${JSON.stringify(join(dir, "graph"))}\nrunroot = ${JSON.stringify(join(dir, "run"))}\n`);
      await writeFile(join(dir, "registries.conf"), 'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n');
      await writeFile(policyPath, `${JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] })}\n`);
      await writeFile(join(dir, "auth.json"), "{}\n", { mode: 0o600 });
      return detectMountIsolation();
    })();
    return prepared;
  };

  const detectMountIsolation = async (): Promise<"unshare" | "direct"> => {
    if (process.getuid?.() !== 0) {
      opts.log?.("buildah: not root, so no private mount namespace; buildah keeps its caches in the user's folders");
      return "direct";
    }
    // The mount points must exist on the machine; an empty folder is all that is left there.
    await mkdir("/var/lib/containers", { recursive: true });
    await mkdir("/run/containers", { recursive: true });
    const probe = await runCommand("unshare", namespaceArgs(namespaceScript.replace('exec buildah "$@"', "true")), { cwd: dir, env }).catch(
      (error: unknown) => ({ code: null, output: String(error) }),
    );
    if (probe.code === 0) return "unshare";
    opts.log?.(`buildah: cannot make a private mount namespace (${tailLines(probe.output, 3)}); buildah will write its blob-info cache under /var/lib/containers`);
    return "direct";
  };

  /** Runs buildah (inside the private mount namespace when there is one) with its output appended to `logFile`. */
  const execBuildah = async (args: readonly string[], logFile: string): Promise<CommandResult> => {
    const isolation = await prepare();
    return isolation === "unshare"
      ? runCommand("unshare", [...namespaceArgs(namespaceScript), ...args], { cwd: dir, env, logFile })
      : runCommand("buildah", args, { cwd: dir, env, logFile });
  };

  const runBuildah = async (args: readonly string[], logFile: string, what: string): Promise<void> => {
    await prepare();
    await writeFile(logFile, `$ buildah ${args.join(" ")}\n`, { flag: "a" });
    const result = await execBuildah(args, logFile);
    if (result.code !== 0) {
      const exit = result.signal === null ? `exit ${result.code}` : `signal ${result.signal}`;
      throw new AppError("buildah_failed", `buildah ${what} failed (${exit}); log tail (${logFile}):\n${await readLogTail(logFile)}`, {
        details: { logFile, exitCode: result.code },
      });
    }
  };

  const newLogFile = (kind: string, name: string): string =>
    join(logDir, `${kind}-${name.replace(/[^A-Za-z0-9_.-]+/g, "_")}-${Date.now()}-${randomBytes(3).toString("hex")}.log`);

  return {
    async build(build) {
      await prepare();
      const logFile = build.logFile ?? newLogFile("build", build.tag);
      const args = ["bud", "--signature-policy", policyPath, "--cert-dir", tls.certDir, "--layers=false", "--pull=true", "--format", build.annotations === false ? "docker" : "oci", "--timestamp", "0"];
      if (build.platforms !== undefined && build.platforms.length > 0) {
        if (await manifestListExists(build.tag, logFile)) await runBuildah(["manifest", "rm", build.tag], logFile, `manifest rm ${build.tag}`);
        args.push("--platform", build.platforms.join(","), "--manifest", build.tag);
      } else {
        args.push("-t", build.tag);
      }
      for (const [key, value] of Object.entries(build.buildArgs ?? {})) args.push("--build-arg", `${key}=${value}`);
      args.push("-f", build.dockerfile ?? join(build.context, "Dockerfile"), build.context);
      await runBuildah(args, logFile, `build of ${build.tag}`);
    },

    async push(push) {
      await prepare();
      const logFile = push.logFile ?? newLogFile("push", push.destination);
      const digestFile = join(dir, "tmp", `digest-${randomBytes(6).toString("hex")}`);
      const destination = push.destination.startsWith("docker://") ? push.destination : `docker://${push.destination}`;
      const command = push.manifestList === true ? ["manifest", "push", "--all"] : ["push"];
      const authFile = join(dir, "tmp", `auth-${randomBytes(6).toString("hex")}.json`);
      try {
        const auth: string[] = [];
        if (push.credentials !== undefined) {
          const host = destination.slice("docker://".length).split("/")[0]!;
          const token = Buffer.from(`${push.credentials.username}:${push.credentials.password}`).toString("base64");
          await writeFile(authFile, JSON.stringify({ auths: { [host]: { auth: token } } }), { mode: 0o600 });
          auth.push("--authfile", authFile);
        }
        const args = [...command, "--signature-policy", policyPath, "--cert-dir", tls.certDir, ...auth, "--digestfile", digestFile, push.image, destination];
        await pushRetryingUnknownBlobs(logFile, () => runBuildah(args, logFile, `push of ${push.image}`));
        const digest = (await readFile(digestFile, "utf8")).trim();
        if (!digestPattern.test(digest)) throw new AppError("buildah_failed", `buildah push of ${push.image} wrote no digest (got ${JSON.stringify(digest)})`, { details: { logFile } });
        return digest;
      } finally {
        await rm(digestFile, { force: true });
        await rm(authFile, { force: true });
      }
    },

    async makeBusyboxBaseContext(contextDir, marker) {
      const rootfs = join(contextDir, "rootfs");
      await rm(rootfs, { recursive: true, force: true });
      await mkdir(join(rootfs, "bin"), { recursive: true });
      for (const folder of ["etc", "tmp", "root"]) await mkdir(join(rootfs, folder), { recursive: true });
      await chmod(join(rootfs, "tmp"), 0o1777);
      await copyFile(busyboxPath, join(rootfs, "bin", "busybox"));
      await chmod(join(rootfs, "bin", "busybox"), 0o755);
      await Promise.all((await listBusyboxApplets()).map((applet) => symlink("busybox", join(rootfs, "bin", applet))));
      await writeFile(join(rootfs, "ripple-marker"), marker);
      await writeFile(join(contextDir, "Dockerfile"), 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["/bin/sh"]\n');
      return contextDir;
    },

    mountIsolation: prepare,
  };

  async function manifestListExists(name: string, logFile: string): Promise<boolean> {
    return (await execBuildah(["manifest", "exists", name], logFile)).code === 0;
  }
}

/** The applets of the installed busybox, as names for symlinks in /bin. */
async function listBusyboxApplets(): Promise<string[]> {
  const result = await runCommand(busyboxPath, ["--list"], { cwd: "/" });
  if (result.code !== 0) throw new AppError("buildah_failed", `${busyboxPath} --list failed: ${tailLines(result.output, 5)}`);
  return result.output.split("\n").map((line) => line.trim()).filter((name) => /^[A-Za-z0-9_.[-]+$/.test(name) && name !== "busybox");
}
