import { randomBytes } from "node:crypto";
import { RestError, TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryStateStore } from "../doubles/memory-state-store.js";
import { packJson, unpackJson } from "../../shared/adapters/table-storage/json-columns.js";
import { toStorageError } from "../../shared/adapters/table-storage/storage-errors.js";
import { escapeKey, tableNameFor } from "../../shared/adapters/table-storage/table-keys.js";
import { createTableStateStore, type TableStateStore } from "../../shared/adapters/table-storage/table-state-store.js";
import type { Campaign, Obligation } from "../../shared/domain/campaign.js";
import { ConflictError, UpstreamError } from "../../shared/errors.js";
import type { LocalAzurite } from "../../shared/local/azurite.js";
import { startScratchAzurite } from "./helpers/scratch-azurite.js";
import { AWKWARD_KEYS, describeStateStoreContract } from "./state-store.contract.js";

describeStateStoreContract("memory", async () => createMemoryStateStore());

describe("Table Storage on Azurite", () => {
  let azurite: LocalAzurite;
  beforeAll(async () => {
    azurite = await startScratchAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  const newPrefix = () => `t${randomBytes(6).toString("hex")}`;
  async function newStore(prefix = newPrefix()): Promise<TableStateStore> {
    const store = createTableStateStore({ connectionString: azurite.connectionString, tablePrefix: prefix });
    await store.init();
    return store;
  }
  const rawTable = (prefix: string, table: "events" | "campaigns" | "edges" | "pulls") =>
    TableClient.fromConnectionString(azurite.connectionString, `${prefix}${table}`, { allowInsecureConnection: true });

  describeStateStoreContract("table storage (Azurite)", () => newStore());

  const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
  const header: Campaign = { id: "big", base: "r/base:1", fromDigest: digest(1), toDigest: digest(2), openedAt: "2024-05-01T00:00:00.000Z", trigger: "t", jobsQueuedAt: null };
  const obligationFor = (n: number): Obligation => ({
    campaignId: "big",
    dependentKey: `r/app-${String(n).padStart(3, "0")}:1`,
    dependent: { kind: "image", registry: "r", repository: `app-${String(n).padStart(3, "0")}`, tag: "1", digest: digest(3) },
    kind: "rebuild",
    state: "pending",
    fromDigest: digest(1),
    reason: null,
    runId: null,
    createdAt: "2024-05-01T00:00:00.000Z",
    updatedAt: "2024-05-01T00:00:00.000Z",
  });

  it("creates its tables idempotently", async () => {
    const prefix = newPrefix();
    const store = await newStore(prefix);
    await store.init();
    const client = rawTable(prefix, "campaigns");
    const rows: unknown[] = [];
    for await (const row of client.listEntities()) rows.push(row);
    expect(rows).toEqual([]);
  });

  it("completes a large campaign whose first attempt crashed before the header, keeping updated obligations", async () => {
    const prefix = newPrefix();
    const store = await newStore(prefix);
    const obligations = Array.from({ length: 150 }, (_, n) => obligationFor(n));
    // The crashed attempt wrote the first 120 obligations, and a worker already touched one of them.
    const crashed = obligations.slice(0, 120).map((item) => (item.dependentKey === "r/app-007:1" ? { ...item, state: "scheduled" as const, runId: "run-7" } : item));
    const table = rawTable(prefix, "campaigns");
    for (const item of crashed) await table.createEntity({ partitionKey: escapeKey("big"), rowKey: `ob|${escapeKey(item.dependentKey)}`, ...packJson(item) });

    const before = await store.getCampaign("big");
    const opened = await store.openCampaign(header, obligations);
    expect({ before, opened }).toEqual({
      before: null,
      opened: { created: true, campaign: header, obligations: [...crashed, ...obligations.slice(120)] },
    });
  });

  it("completes a small campaign whose obligations a crashed larger attempt left behind", async () => {
    const prefix = newPrefix();
    const store = await newStore(prefix);
    const table = rawTable(prefix, "campaigns");
    const left = obligationFor(1);
    await table.createEntity({ partitionKey: escapeKey("big"), rowKey: `ob|${escapeKey(left.dependentKey)}`, ...packJson(left) });
    const opened = await store.openCampaign(header, [obligationFor(1), obligationFor(2)]);
    expect(opened).toEqual({ created: true, campaign: header, obligations: [obligationFor(1), obligationFor(2)] });
  });

  it("heals a missing events index row when the event is delivered again", async () => {
    const prefix = newPrefix();
    const store = await newStore(prefix);
    const record = { key: "k", event: null, status: "rejected" as const, reason: "bad envelope", receivedAt: "2024-05-01T00:00:00.000Z" };
    await store.recordEvent(record);
    const table = rawTable(prefix, "events");
    for await (const row of table.listEntities({ queryOptions: { filter: "PartitionKey eq '~recent'" } })) {
      await table.deleteEntity(row.partitionKey ?? "", row.rowKey ?? "");
    }
    const lost = await store.listEvents(10);
    const duplicate = await store.recordEvent({ ...record, receivedAt: "2024-05-02T00:00:00.000Z" });
    expect({ lost, duplicate, healed: await store.listEvents(10) }).toEqual({ lost: [], duplicate: false, healed: [record] });
  });

  it("reads a pull-request row written before proposing leases existed as a slot without a lease, and keeps it readable after a lease comes and goes", async () => {
    const prefix = newPrefix();
    const store = await newStore(prefix);
    const record = {
      repository: "org/app", branch: "ripple/x", base: "r/base:1", digest: digest(3), campaignId: "c1", number: 4, url: "https://github.test/org/app/pull/4",
      state: "open" as const, title: "t", body: "b", dependents: ["file:org/app:Dockerfile:1"], files: ["Dockerfile"], openedAt: "2024-05-01T00:00:00.000Z", updatedAt: "2024-05-01T00:00:00.000Z",
    };
    await rawTable(prefix, "pulls").createEntity({ partitionKey: escapeKey("org/app"), rowKey: escapeKey("ripple/x"), ...packJson(record) });
    expect(await store.updatePullRequestSlot("org/app", "ripple/x", () => null)).toEqual({ record, lease: null });
    const lease = { holder: "w1", digest: digest(5), takenAt: "2024-05-01T00:01:00.000Z", until: "2024-05-01T00:02:00.000Z" };
    await store.updatePullRequestSlot("org/app", "ripple/x", (current) => ({ ...current, lease }));
    expect(await store.getPullRequest("org/app", "ripple/x")).toEqual(record);
    expect(await store.listPullRequests()).toEqual([record]);
    await store.updatePullRequestSlot("org/app", "ripple/x", (current) => ({ ...current, lease: null }));
    expect(await store.updatePullRequestSlot("org/app", "ripple/x", () => null)).toEqual({ record, lease: null });
  });

  it("keeps one base's dependents in one partition and nothing else there", async () => {
    const prefix = newPrefix();
    const store = await newStore(prefix);
    const dependent = { kind: "image", registry: "r", repository: "app", tag: "1", digest: digest(3) } as const;
    const edgeTo = (base: string, platform: string | null) => ({
      dependent,
      base,
      baseDigest: digest(1),
      evidence: "layer-prefix" as const,
      detail: "3 layers",
      platform,
      recordedAt: "2024-05-01T00:00:00.000Z",
    });
    await store.putEdge(edgeTo("r/base:1", "linux/amd64"));
    await store.putEdge(edgeTo("r/base:1", null));
    await store.putEdge(edgeTo("r/base:10", null));
    const partitions: Record<string, string[]> = {};
    for await (const row of rawTable(prefix, "edges").listEntities()) {
      (partitions[row.partitionKey ?? ""] ??= []).push(row.rowKey ?? "");
    }
    expect(partitions).toEqual({
      "b|r~2Fbase~3A1": ["r~2Fapp~3A1|layer-prefix|linux~2Famd64", "r~2Fapp~3A1|layer-prefix|~"].sort(),
      "b|r~2Fbase~3A10": ["r~2Fapp~3A1|layer-prefix|~"],
      "d|r~2Fapp~3A1": ["r~2Fbase~3A1|layer-prefix|linux~2Famd64", "r~2Fbase~3A1|layer-prefix|~", "r~2Fbase~3A10|layer-prefix|~"].sort(),
    });
  });

  it("throws a retryable UpstreamError without secrets when storage is unreachable", async () => {
    const closed = azurite.connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, "TableEndpoint=http://127.0.0.1:9");
    const store = createTableStateStore({ connectionString: closed, tablePrefix: "unreachable" });
    const error = await store.getEvent("k").then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect({
      message: (error as UpstreamError).message,
      retryable: (error as UpstreamError).retryable,
      status: (error as UpstreamError).status,
      cause: (error as UpstreamError).cause,
    }).toEqual({
      message: "table-storage: read event failed (network error ECONNREFUSED)",
      retryable: true,
      status: null,
      cause: { name: "RestError", statusCode: null, code: "ECONNREFUSED" },
    });
  }, 120_000);
});

describe("table storage helpers", () => {
  it.each([
    ["plain-name_1.0", "plain-name_1.0"],
    ["a/b", "a~2Fb"],
    ["a\\b#c?d", "a~5Cb~23c~3Fd"],
    ["x:y@z", "x~3Ay~40z"],
    ["~41", "~7E41"],
    ["%", "~25"],
    ["tab\t", "tab~09"],
    ["ü", "~C3~BC"],
    ["|", "~7C"],
  ])("escapes %j as %j", (input, expected) => {
    expect(escapeKey(input)).toEqual(expected);
  });

  it("keeps every escaped awkward key free of forbidden characters and distinct", () => {
    const escaped = AWKWARD_KEYS.map(escapeKey);
    expect({
      // Only letters, digits and `._~-` remain: no / \\ # ?, no control character, no `|` separator.
      forbidden: escaped.filter((key) => !/^[A-Za-z0-9._~-]+$/.test(key)),
      distinct: new Set(escaped).size,
    }).toEqual({ forbidden: [], distinct: AWKWARD_KEYS.length });
  });

  it("shortens very long keys with a hash, keeping distinct inputs distinct", () => {
    const long = "/".repeat(500);
    const escaped = [escapeKey(long), escapeKey(`${long}x`)];
    expect(escaped.map((key) => [key.length, key.slice(0, 12), /^[0-9a-f]{64}$/.test(key.slice(402))])).toEqual([
      [466, "~2F~2F~2F~2F", true],
      [466, "~2F~2F~2F~2F", true],
    ]);
    expect(escaped[0]).not.toEqual(escaped[1]);
  });

  it.each([
    ["ripple", "events", "rippleevents"],
    ["", "tags", "tags"],
    ["Team2", "campaigns", "Team2campaigns"],
  ] as const)("names table %j + %j as %j", (prefix, table, expected) => {
    expect(tableNameFor(prefix, table)).toEqual(expected);
  });

  it.each([["bad-prefix"], ["1starts"], ["x".repeat(60)]])("rejects table prefix %j", (prefix) => {
    expect(() => tableNameFor(prefix, "events")).toThrow(expect.objectContaining({ code: "config_invalid" }));
  });

  it("splits large JSON into columns below the property limit and reads it back", () => {
    // `{"text":"` is 9 characters, so the whale's high surrogate would end the first 30 000.
    const value = { text: `${"a".repeat(29_990)}🐳${"b".repeat(40_000)}` };
    const columns = packJson(value);
    expect({
      parts: columns.parts,
      lengths: [columns.json0, columns.json1, columns.json2].map((part) => String(part).length),
      back: unpackJson(columns),
    }).toEqual({ parts: 3, lengths: [29_999, 30_000, 10_004], back: value });
  });

  it.each([
    [412, ConflictError, true, null],
    [429, UpstreamError, true, 429],
    [503, UpstreamError, true, 503],
    [408, UpstreamError, true, 408],
    [400, UpstreamError, false, 400],
    [403, UpstreamError, false, 403],
  ] as const)("maps status %i to %o (retryable %s)", (status, type, retryable, reported) => {
    const sdkError = new RestError("Server failed to authenticate. Authorization: SharedKey devstoreaccount1:c2VjcmV0", { statusCode: status, code: "Code" });
    const mapped = toStorageError(sdkError, "read tag") as ConflictError | UpstreamError;
    expect({
      type: mapped instanceof type,
      retryable: mapped.retryable,
      status: "status" in mapped ? mapped.status : null,
      leaks: mapped.message.includes("SharedKey") || JSON.stringify(mapped.cause).includes("SharedKey"),
    }).toEqual({ type: true, retryable, status: reported, leaks: false });
  });
});
