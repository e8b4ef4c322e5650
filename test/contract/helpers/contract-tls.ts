import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { ensureStackTls, type StackTls } from "../../../shared/local/tls.js";

/** A scratch folder with the stack's CA, and an HTTPS agent trusting it: what a contract server over TLS needs. */
export interface ContractTls {
  readonly dir: string;
  readonly tls: StackTls;
  readonly agent: Agent;
}

/**
 * Registers the file's `beforeAll` that makes the scratch folder, the CA and the agent (handed to `use`),
 * and the `afterAll` that destroys the agent and removes the folder.
 */
export function useContractTls(prefix: string, use: (scratch: ContractTls) => void, options: { keepAlive?: boolean } = {}): void {
  let scratch: ContractTls | null = null;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const tls = await ensureStackTls(dir);
    scratch = { dir, tls, agent: new Agent({ ca: tls.caPem, ...(options.keepAlive === false ? {} : { keepAlive: true }) }) };
    use(scratch);
  });
  afterAll(async () => {
    scratch?.agent.destroy();
    if (scratch !== null) await rm(scratch.dir, { recursive: true, force: true });
  });
}
