import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A throwaway CA and a server certificate for `127.0.0.1`, as PEM text and as files. */
export interface TestCertificates {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** Generates a CA and a server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`) under `dir` with openssl. */
export async function createTestCertificates(dir: string): Promise<TestCertificates> {
  const caKeyPath = join(dir, "ca.key");
  const caPath = join(dir, "ca.crt");
  const keyPath = join(dir, "server.key");
  const csrPath = join(dir, "server.csr");
  const certPath = join(dir, "server.crt");
  const extPath = join(dir, "server.ext");
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKeyPath, "-out", caPath, "-days", "1", "-subj", "/CN=ripple-test-ca"]);
  await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", csrPath, "-subj", "/CN=127.0.0.1"]);
  await writeFile(extPath, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  await run("openssl", ["x509", "-req", "-in", csrPath, "-CA", caPath, "-CAkey", caKeyPath, "-CAcreateserial", "-out", certPath, "-days", "1", "-extfile", extPath]);
  const [caPem, certPem, keyPem] = await Promise.all([readFile(caPath, "utf8"), readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
  return { caPem, certPem, keyPem, caPath, certPath, keyPath };
}
