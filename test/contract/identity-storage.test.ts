/**
 * The table and queue adapters with identity-based connections, as deployed with managed identity: Azurite
 * over HTTPS accepting OAuth tokens, the adapters given an endpoint and the app's real
 * ManagedIdentityCredential (answered by the local managed identity endpoint), no account key at all.
 * Azurite's debug log records every request's headers: the last test shows none carried a shared key.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthenticationError, CredentialUnavailableError, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorageWorkQueue, queueNameFor, queueServiceFor } from "../../shared/adapters/storage-queue/storage-work-queue.js";
import { createTableStateStore } from "../../shared/adapters/table-storage/table-state-store.js";
import { startAzurite, storageAuthenticationCounts, type LocalAzurite } from "../../shared/local/azurite.js";
import { startLocalIdentityEndpoint, type LocalIdentityEndpoint } from "../../shared/local/identity-endpoint.js";
import { ensureStackTls, type StackTls } from "../../shared/local/tls.js";
import { isRetryable } from "../../shared/errors.js";
import { describeStateStoreContract } from "./state-store.contract.js";

let dir: string;
let tls: StackTls;
let azurite: LocalAzurite;
let identity: LocalIdentityEndpoint;
let agent: Agent;
const saved = { IDENTITY_ENDPOINT: process.env["IDENTITY_ENDPOINT"], IDENTITY_HEADER: process.env["IDENTITY_HEADER"] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ripple-identity-"));
  tls = await ensureStackTls(dir);
  identity = await startLocalIdentityEndpoint();
  // What the platform sets for the app in Azure; the credential reads it from the environment.
  Object.assign(process.env, identity.env);
  azurite = await startAzurite({ dir: join(dir, "azurite"), oauth: { certPath: tls.certPath, keyPath: tls.keyPath } });
  agent = new Agent({ ca: tls.caPem, keepAlive: true });
});

afterAll(async () => {
  agent?.destroy();
  await azurite?.stop();
  await identity?.stop();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

let prefixes = 0;
describeStateStoreContract("table storage (Azurite over HTTPS, managed identity, no account key)", async () => {
  prefixes += 1;
  const store = createTableStateStore({ endpoint: azurite.tableEndpoint, credential: new ManagedIdentityCredential(), agent, tablePrefix: `mi${prefixes}x${Date.now().toString(36)}` });
  await store.init();
  return store;
});

describe("storage work queue with a managed identity", () => {
  it("puts base64 JSON messages on a queue it creates, read back with the same identity", async () => {
    const credential = new ManagedIdentityCredential();
    const queue = createStorageWorkQueue({ endpoint: azurite.queueEndpoint, credential, agent, queuePrefix: "mi" });
    await queue.enqueue("scans", { v: 1, repository: "/repos/a" });
    await queue.enqueue("scans", { v: 1, repository: "/repos/b" });
    const client = queueServiceFor({ endpoint: azurite.queueEndpoint, credential, agent }).getQueueClient(queueNameFor("mi", "scans"));
    const received = await client.receiveMessages({ numberOfMessages: 10 });
    expect(received.receivedMessageItems.map((item) => JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown)).toEqual([
      { v: 1, repository: "/repos/a" },
      { v: 1, repository: "/repos/b" },
    ]);
  });

  it("refuses a request without a token over HTTPS (the OAuth check is real)", async () => {
    const anonymous = createTableStateStore({ endpoint: azurite.tableEndpoint, credential: { getToken: async () => ({ token: "not-a-jwt", expiresOnTimestamp: Date.now() + 60_000 }) }, agent, tablePrefix: "nope" });
    await expect(anonymous.init()).rejects.toMatchObject({ code: "upstream_failed", retryable: false, details: { status: 403 } });
  });
});

describe("a token the identity cannot get yet", () => {
  // MSAL keeps managed identity tokens in a process-wide cache, so a real endpoint cannot be made to fail
  // here once it answered: the credential itself throws what @azure/identity throws on an IMDS timeout.
  const failing = (error: Error): TokenCredential => ({ getToken: () => Promise.reject(error) });
  it.each([
    ["the managed identity endpoint not answering", new CredentialUnavailableError("ManagedIdentityCredential: IMDS did not answer in time"), true],
    ["the token service failing (503)", new AuthenticationError(503, { error: "temporarily_unavailable", error_description: "try again" }), true],
    ["the token service refusing the identity (400)", new AuthenticationError(400, { error: "invalid_client", error_description: "no such identity" }), false],
  ])("%s: retryable %s", async (_, error, retryable) => {
    const store = createTableStateStore({ endpoint: azurite.tableEndpoint, credential: failing(error), agent, tablePrefix: "down" });
    const queue = createStorageWorkQueue({ endpoint: azurite.queueEndpoint, credential: failing(error), agent, queuePrefix: "down" });
    const thrown = await store.getEvent("k").then(() => null, (caught: unknown) => caught);
    expect(isRetryable(thrown)).toBe(retryable);
    if (retryable) {
      expect(thrown).toMatchObject({ code: "upstream_failed", message: `table-storage: read event failed: no token for the app's identity yet (${error.name}); retried` });
      await expect(queue.enqueue("scans", { v: 1, repository: "x" })).rejects.toMatchObject({ code: "upstream_failed", retryable: true });
    } else {
      expect(thrown).toMatchObject({ code: "upstream_failed", message: "table-storage: read event failed: the token service refused the app's identity (HTTP 400); check the identity and its role assignments" });
    }
  });
});

describe("what the requests carried", () => {
  it("sent bearer tokens only: no request carried a shared-key signature", async () => {
    const counts = await storageAuthenticationCounts(azurite.debugLogPath!);
    expect(counts["SharedKey"]).toBeUndefined();
    expect(counts["Bearer"]).toBeGreaterThan(100);
    expect(identity.issued.get("https://storage.azure.com")).toBeGreaterThan(0);
  });

  it("keeps Azurite's debug log, which holds those tokens, readable by its owner alone", async () => {
    expect(((await stat(azurite.debugLogPath!)).mode & 0o777).toString(8)).toEqual("600");
  });
});
