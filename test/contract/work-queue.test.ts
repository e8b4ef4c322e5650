import { QueueServiceClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorageWorkQueue, queueNameFor } from "../../shared/adapters/storage-queue/storage-work-queue.js";
import { UpstreamError } from "../../shared/errors.js";
import type { LocalAzurite } from "../../shared/local/azurite.js";
import type { QueueName } from "../../shared/ports/work-queue.js";
import { startScratchAzurite } from "./helpers/scratch-azurite.js";

describe("queueNameFor", () => {
  it.each([
    ["ripple", "registry-events", "ripple-registry-events"],
    ["ripple", "rebuild", "ripple-rebuild"],
    ["team2", "pull-request", "team2-pull-request"],
    ["", "rebuild", "rebuild"],
  ] as const)("maps prefix %j and queue %j to %j", (prefix, name, expected) => {
    expect(queueNameFor(prefix, name)).toEqual(expected);
  });

  it.each([["Ripple"], ["rip_ple"], ["ripple-"], ["-ripple"], ["x".repeat(50)]])("rejects prefix %j", (prefix) => {
    expect(() => queueNameFor(prefix, "pull-request")).toThrow(expect.objectContaining({ code: "config_invalid" }));
  });
});

describe("storage work queue on Azurite", () => {
  let azurite: LocalAzurite;
  beforeAll(async () => {
    azurite = await startScratchAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  async function receiveAll(queueName: string): Promise<unknown[]> {
    const client = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(queueName);
    const response = await client.receiveMessages({ numberOfMessages: 32 });
    return response.receivedMessageItems.map((item) => JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown);
  }

  it("creates queues on first use and puts base64 JSON messages on them, in order", async () => {
    const queue = createStorageWorkQueue({ connectionString: azurite.connectionString, queuePrefix: "first" });
    const job = { v: 1, campaignId: "c/1", dependentKey: "registry.local:5000/app:1", base: "b", fromDigest: "sha256:aa", toDigest: "sha256:bb", note: "ü🐳" };
    await queue.enqueue("rebuild", job);
    await queue.enqueue("rebuild", { v: 1, n: 2 });
    await queue.enqueue("registry-events", { v: 1, eventKey: "k" });
    expect({
      rebuild: await receiveAll("first-rebuild"),
      events: await receiveAll("first-registry-events"),
      pullRequest: await QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient("first-pull-request").exists(),
    }).toEqual({ rebuild: [job, { v: 1, n: 2 }], events: [{ v: 1, eventKey: "k" }], pullRequest: false });
  });

  it("uses queues that already exist, from another process", async () => {
    await QueueServiceClient.fromConnectionString(azurite.connectionString).createQueue("second-pull-request");
    const queue = createStorageWorkQueue({ connectionString: azurite.connectionString, queuePrefix: "second" });
    await Promise.all([1, 2, 3].map((n) => queue.enqueue("pull-request", { n })));
    const received = (await receiveAll("second-pull-request")) as Array<{ n: number }>;
    expect(received.map((message) => message.n).sort()).toEqual([1, 2, 3]);
  });

  it.each([
    ["undefined", undefined],
    ["a function", () => 1],
    ["a message above 64 KiB encoded", { text: "x".repeat(50_000) }],
  ])("rejects %s without sending anything", async (_label, message) => {
    const queue = createStorageWorkQueue({ connectionString: azurite.connectionString, queuePrefix: "third" });
    await expect(queue.enqueue("rebuild" satisfies QueueName, message)).rejects.toMatchObject({ code: "validation_failed", retryable: false });
    expect(await QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient("third-rebuild").exists()).toEqual(false);
  });

  it("throws a retryable UpstreamError without secrets when storage is unreachable", async () => {
    const closed = azurite.connectionString.replace(/QueueEndpoint=http:\/\/127\.0\.0\.1:\d+/, "QueueEndpoint=http://127.0.0.1:9");
    const queue = createStorageWorkQueue({ connectionString: closed, queuePrefix: "fourth" });
    const error = await queue.enqueue("rebuild", { v: 1 }).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect({
      message: (error as UpstreamError).message,
      retryable: (error as UpstreamError).retryable,
      cause: (error as UpstreamError).cause,
    }).toEqual({
      message: "storage-queue: enqueue on rebuild failed (network error ECONNREFUSED)",
      retryable: true,
      cause: { name: "RestError", statusCode: null, code: "ECONNREFUSED" },
    });
  }, 120_000);
});

describe("storage work queue depths on Azurite", () => {
  let azurite: LocalAzurite;
  beforeAll(async () => {
    azurite = await startScratchAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("reads queue depths without creating, reading or hiding a message", async () => {
    const service = QueueServiceClient.fromConnectionString(azurite.connectionString);
    const queue = createStorageWorkQueue({ connectionString: azurite.connectionString, queuePrefix: "depth" });
    await queue.enqueue("rebuild", { v: 1, n: 1 });
    await queue.enqueue("rebuild", { v: 1, n: 2 });
    await queue.deadLetter("rebuild", { v: 1, n: 3 });
    await queue.enqueue("campaigns", { v: 1 });
    expect({
      rebuild: await queue.depth("rebuild"),
      campaigns: await queue.depth("campaigns"),
      scans: await queue.depth("scans"),
      scansCreated: await service.getQueueClient("depth-scans").exists(),
      rebuildStill: (await service.getQueueClient("depth-rebuild").peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((item) => JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown),
    }).toEqual({
      rebuild: { queueName: "depth-rebuild", messages: 2, poisonMessages: 1 },
      campaigns: { queueName: "depth-campaigns", messages: 1, poisonMessages: null },
      scans: { queueName: "depth-scans", messages: null, poisonMessages: null },
      scansCreated: false,
      rebuildStill: [{ v: 1, n: 1 }, { v: 1, n: 2 }],
    });
  });

  it("reports a refused depth read as an UpstreamError without secrets", async () => {
    const wrongKey = azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.from("not the key").toString("base64")}`);
    const error = await createStorageWorkQueue({ connectionString: wrongKey, queuePrefix: "fifth" }).depth("rebuild").then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect({ message: (error as UpstreamError).message, retryable: (error as UpstreamError).retryable, cause: (error as UpstreamError).cause }).toEqual({
      message: "storage-queue: reading properties of fifth-rebuild failed (status 403 AuthenticationFailed)",
      retryable: false,
      cause: { name: "RestError", statusCode: 403, code: "AuthenticationFailed" },
    });
  });
});
