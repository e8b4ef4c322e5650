import { constants } from "node:fs";
import { access, open, readFile } from "node:fs/promises";
import { basename, delimiter, dirname, join } from "node:path";
import { AppError } from "../errors.js";
import { runCommand, tailLines } from "./run-command.js";

/**
 * What the local stack needs from the operating system, and the Debian package that provides each.
 * busybox must be the static build: it is copied alone into `FROM scratch` base images, where no libc exists.
 */
export const stackPackages = [
  { debianPackage: "docker-registry", check: { kind: "command", name: "docker-registry" } },
  { debianPackage: "buildah", check: { kind: "command", name: "buildah" } },
  { debianPackage: "openssl", check: { kind: "command", name: "openssl" } },
  { debianPackage: "busybox-static", check: { kind: "static-binary", path: "/bin/busybox" } },
] as const;

export type StackPackage = (typeof stackPackages)[number];
export type StackPackageName = StackPackage["debianPackage"];

/** The machine facts `ensureStackPackages` decides on; injectable so the decision can be tested. */
export interface StackPackageHost {
  /** True when the requirement is met on this machine. */
  isPresent(pkg: StackPackage): Promise<boolean>;
  /** True when this process may run apt-get: root on a Debian-family system. */
  canInstall(): Promise<boolean>;
  /** Runs a command to completion; non-zero exits are reported, not thrown. */
  run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }>;
}

/**
 * Makes sure docker-registry, buildah, openssl and a static /bin/busybox are installed. Missing ones are
 * installed when running as root on Debian (`apt-get update` once, then one `apt-get install -y
 * --no-install-recommends` of exactly the missing packages, non-interactive); otherwise it throws.
 * Idempotent: with everything present it runs nothing.
 *
 * @throws AppError `stack_packages_missing` naming the Debian packages to install, when it may not install
 *   them; AppError `stack_packages_install_failed` with apt's output tail when apt-get fails or the
 *   packages are still missing afterwards.
 */
export async function ensureStackPackages(log: (line: string) => void, host: StackPackageHost = createSystemPackageHost()): Promise<void> {
  const missing = await findMissingPackages(host);
  if (missing.length === 0) return;
  if (!(await host.canInstall())) {
    throw new AppError(
      "stack_packages_missing",
      `the local stack needs these Debian packages: ${missing.join(" ")} (install them with: apt-get install -y --no-install-recommends ${missing.join(" ")})`,
      { details: { missing } },
    );
  }
  const env: NodeJS.ProcessEnv = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log(`installing ${missing.join(", ")} with apt-get`);
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", ...missing]]) {
    const result = await host.run("apt-get", args, env);
    if (result.code !== 0) {
      throw new AppError("stack_packages_install_failed", `apt-get ${args[0]} failed (exit ${result.code}):\n${tailLines(result.output)}`, {
        details: { missing },
      });
    }
  }
  const stillMissing = await findMissingPackages(host);
  if (stillMissing.length > 0) {
    throw new AppError("stack_packages_install_failed", `still missing after apt-get install: ${stillMissing.join(" ")}`, {
      details: { missing: stillMissing },
    });
  }
  log(`installed ${missing.join(", ")}`);
}

async function findMissingPackages(host: StackPackageHost): Promise<StackPackageName[]> {
  const missing: StackPackageName[] = [];
  for (const pkg of stackPackages) {
    if (!(await host.isPresent(pkg))) missing.push(pkg.debianPackage);
  }
  return missing;
}

/** The real machine: PATH lookups, an ELF check for the static busybox, root + /etc/debian_version. */
export function createSystemPackageHost(): StackPackageHost {
  return {
    async isPresent(pkg) {
      return pkg.check.kind === "command" ? (await findOnPath(pkg.check.name)) !== undefined : isStaticExecutable(pkg.check.path);
    },
    async canInstall() {
      if (process.getuid?.() !== 0) return false;
      return (await findOnPath("apt-get")) !== undefined && (await isReadable("/etc/debian_version"));
    },
    async run(command, args, env) {
      const result = await runCommand(command, args, { cwd: "/", env });
      return { code: result.code, output: result.output };
    },
  };
}

/** The absolute path of an executable found on PATH, if any. */
export async function findOnPath(name: string, pathVariable = process.env.PATH ?? ""): Promise<string | undefined> {
  for (const folder of pathVariable.split(delimiter)) {
    if (folder === "") continue;
    const candidate = join(folder, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

async function isReadable(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

const elfMagic = 0x464c457f; // "\x7fELF" read little-endian
const programInterpreter = 3; // PT_INTERP: present only in dynamically linked executables

/**
 * True when `path` is an executable 64-bit little-endian ELF file without a program interpreter, i.e. a
 * static binary that can run alone in an empty root filesystem. False for anything else, including a
 * missing file and a dynamically linked busybox (Debian's `busybox` rather than `busybox-static`).
 */
export async function isStaticExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
  } catch {
    return false;
  }
  const file = await open(path, "r");
  try {
    const header = Buffer.alloc(64);
    const { bytesRead } = await file.read(header, 0, 64, 0);
    // ELFCLASS64 (2) and ELFDATA2LSB (1): what Debian on amd64 and arm64 ships.
    if (bytesRead < 64 || header.readUInt32LE(0) !== elfMagic || header[4] !== 2 || header[5] !== 1) return false;
    const programHeaderOffset = Number(header.readBigUInt64LE(0x20));
    const entrySize = header.readUInt16LE(0x36);
    const entryCount = header.readUInt16LE(0x38);
    const table = Buffer.alloc(entrySize * entryCount);
    await file.read(table, 0, table.length, programHeaderOffset);
    for (let i = 0; i < entryCount; i += 1) {
      if (table.readUInt32LE(i * entrySize) === programInterpreter) return false;
    }
    return true;
  } finally {
    await file.close();
  }
}

/** Where Debian's `chromium` package puts the browser the page tests drive (through playwright-core). */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * Makes sure Debian's `chromium` is installed for the browser tests (the stack itself never needs it):
 * when {@link CHROMIUM_PATH} is missing, runs `apt-get update` and `apt-get install -y
 * --no-install-recommends chromium` as root on Debian. Idempotent: with the browser present it runs nothing.
 *
 * @throws AppError `stack_packages_missing` when it may not install it; `stack_packages_install_failed`
 *   with apt's output tail when apt-get fails or the browser is still missing afterwards.
 */
export async function ensureBrowser(log: (line: string) => void, host: StackPackageHost = createSystemPackageHost(), path = CHROMIUM_PATH): Promise<void> {
  const isPresent = async (): Promise<boolean> => (await findOnPath(basename(path), dirname(path))) !== undefined;
  if (await isPresent()) return;
  if (!(await host.canInstall())) {
    throw new AppError("stack_packages_missing", `the browser tests need Chromium at ${path} (install it with: apt-get install -y --no-install-recommends chromium)`, {
      details: { missing: ["chromium"] },
    });
  }
  const env: NodeJS.ProcessEnv = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log("installing chromium with apt-get");
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "chromium"]]) {
    const result = await host.run("apt-get", args, env);
    if (result.code !== 0) {
      throw new AppError("stack_packages_install_failed", `apt-get ${args[0]} failed (exit ${result.code}):\n${tailLines(result.output)}`, { details: { missing: ["chromium"] } });
    }
  }
  if (!(await isPresent())) throw new AppError("stack_packages_install_failed", `still missing after apt-get install: chromium (${path})`, { details: { missing: ["chromium"] } });
  log("installed chromium");
}
