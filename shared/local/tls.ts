import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AppError } from "../errors.js";
import { runCommand, tailLines } from "./run-command.js";

/** The stack's certificate authority and the loopback server certificate it signed, as files under the stack folder. */
export interface StackTls {
  /** PEM file of the CA: give it to Node as NODE_EXTRA_CA_CERTS or read `caPem`. */
  caCertPath: string;
  /** PEM server certificate for SAN IP:127.0.0.1 and DNS:localhost. */
  certPath: string;
  /** PEM private key of the server certificate. */
  keyPath: string;
  /** The CA certificate itself, for an explicit `ca` option of Node's https/tls. */
  caPem: string;
  /** A folder holding only `ca.crt`, for buildah's `--cert-dir`. */
  certDir: string;
}

const caDays = 365;
/** A reused certificate must stay valid at least this long, so a long demo never outlives it. */
const minRemainingMs = 24 * 60 * 60 * 1000;

/**
 * Returns the stack's CA and server certificate under `<dir>/tls`, generating them with openssl (EC P-256)
 * when they are missing, unreadable, expiring within a day, not matching each other, or not valid for
 * 127.0.0.1 and localhost. Idempotent: a valid set is reused as is, so a CA the caller already trusts
 * stays trusted across restarts. The CA key never leaves `<dir>/tls`.
 *
 * @throws AppError `stack_tls_failed` with openssl's output tail when generation fails.
 */
export async function ensureStackTls(dir: string): Promise<StackTls> {
  const tlsDir = resolve(dir, "tls");
  const existing = await readValidTls(tlsDir);
  if (existing !== undefined) return existing;

  await mkdir(resolve(dir), { recursive: true });
  const staging = resolve(dir, `tls.staging-${randomBytes(6).toString("hex")}`);
  await mkdir(join(staging, "certs"), { recursive: true });
  try {
    await generateTls(staging);
    await rm(tlsDir, { recursive: true, force: true });
    await rename(staging, tlsDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const created = await readValidTls(tlsDir);
  if (created === undefined) throw new AppError("stack_tls_failed", `openssl produced certificates that do not verify in ${tlsDir}`);
  return created;
}

function describeTls(tlsDir: string, caPem: string): StackTls {
  return {
    caCertPath: join(tlsDir, "ca.crt"),
    certPath: join(tlsDir, "server.crt"),
    keyPath: join(tlsDir, "server.key"),
    caPem,
    certDir: join(tlsDir, "certs"),
  };
}

async function readValidTls(tlsDir: string): Promise<StackTls | undefined> {
  const files = describeTls(tlsDir, "");
  try {
    const [caPem, certPem, keyPem, certDirCa] = await Promise.all([
      readFile(files.caCertPath, "utf8"),
      readFile(files.certPath, "utf8"),
      readFile(files.keyPath, "utf8"),
      readFile(join(files.certDir, "ca.crt"), "utf8"),
    ]);
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(certPem);
    const freshUntil = Date.now() + minRemainingMs;
    const valid =
      certDirCa === caPem &&
      ca.ca &&
      !cert.ca &&
      cert.verify(ca.publicKey) &&
      cert.checkPrivateKey(createPrivateKey(keyPem)) &&
      cert.checkIP("127.0.0.1") !== undefined &&
      cert.checkHost("localhost") !== undefined &&
      Date.parse(ca.validTo) > freshUntil &&
      Date.parse(cert.validTo) > freshUntil;
    return valid ? describeTls(tlsDir, caPem) : undefined;
  } catch {
    return undefined;
  }
}

async function generateTls(folder: string): Promise<void> {
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await writeFile(
    join(folder, "server.ext"),
    [
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  const steps: string[][] = [
    ["req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(caDays), "-subj", "/CN=Ripple local stack CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ["req", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
    // An explicit random serial: openssl's -CAcreateserial would leave a ca.srl file behind.
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(16).toString("hex")}`,
      "-out", "server.crt", "-days", String(caDays), "-extfile", "server.ext"],
  ];
  for (const args of steps) {
    const result = await runCommand("openssl", args, { cwd: folder });
    if (result.code !== 0) {
      throw new AppError("stack_tls_failed", `openssl ${args[0]} failed (exit ${result.code}):\n${tailLines(result.output)}`);
    }
  }
  await chmod(join(folder, "ca.key"), 0o600);
  await chmod(join(folder, "server.key"), 0o600);
  await writeFile(join(folder, "certs", "ca.crt"), await readFile(join(folder, "ca.crt")));
  await rm(join(folder, "server.csr"));
  await rm(join(folder, "server.ext"));
}
