/**
 * StateStore on Azure Table Storage (Azurite locally; Cosmos DB for Table takes the same adapter).
 *
 * Tables (each name is `${tablePrefix}${table}`, default prefix "ripple"; table names are alphanumeric).
 * Every key part is escaped with {@link escapeKey} (`~XX` per unsafe byte, so no `/ \ # ?` or control
 * characters reach a key); `|` separates escaped parts. Values are JSON in string columns
 * (`parts`, `json0`…, see {@link packJson}), which also keeps large facts and edges under the 64 KiB
 * property limit; the original (unescaped) identifiers always live inside that JSON.
 *
 * | table     | PartitionKey                    | RowKey                                        | holds |
 * |-----------|---------------------------------|-----------------------------------------------|-------|
 * | events    | esc(key)                        | `record`                                      | the EventRecord; dedupe = createEntity, 409 → duplicate |
 * | events    | `~recent`                       | (10^16 − receivedAt ms, 16 digits) `\|` esc(key) | `key`: the newest-first index listEvents reads |
 * | events    | `~unfinished`                   | (receivedAt ms, 16 digits) `\|` esc(key)      | `key`: the oldest-first index of accepted events listUnfinishedEvents reads |
 * | events    | `~failed`                       | (10^16 − receivedAt ms, 16 digits) `\|` esc(key) | `key`: the newest-first index of failed events listFailedEvents reads |
 * | tags      | esc(registry) `\|` esc(repository) | esc(tag)                                    | TagState incl. history (≤ 100 moves, ~12 KB) |
 * | manifests | esc(registry)                   | esc(digest)                                   | StoredManifest |
 * | edges     | `b\|` esc(base)                  | esc(dependentKey) `\|` evidence `\|` esc(platform) or `~` | the edge, by base |
 * | edges     | `d\|` esc(dependentKey)          | esc(base) `\|` evidence `\|` esc(platform) or `~` | the same edge, by dependent |
 * | campaigns | esc(campaign id)                | `campaign`                                    | the Campaign header |
 * | campaigns | esc(campaign id)                | `ob\|` esc(dependentKey)                       | one Obligation |
 * | runs      | esc(registry)                   | esc(run key)                                  | one RunRecord; claim = createEntity, 409 → taken |
 * | scans     | esc(repository)                 | `scan`                                        | the RepositoryScanRecord |
 * | pulls     | esc(repository)                 | esc(branch)                                   | one PullRequestRecord and the branch's proposing lease (pull-request-slots.ts) |
 * | upstream  | `t\|` esc(registry) `\|` esc(repository) | esc(tag)                               | one UpstreamTagRecord |
 * | upstream  | `t\|` esc(registry) `\|` esc(repository) | `~listing`                             | the UpstreamListingRecord |
 * | upstream  | `o\|` esc(registry) `\|` esc(repository) | esc(digest)                            | one PatchOriginRecord; guarded write, a later sighting replaces it |
 * | sla       | `~open`, `a\|`…, `~waivers`, `d\|`…     | see sla-records.ts                            | open-campaign index, alerts, waivers, durations |
 *
 * - `~recent`, `~unfinished`, `~failed` and `~listing` cannot collide with an escaped key: an escape is `~` plus
 *   two uppercase hex digits (upstream-records.ts covers shortened keys too). `~recent` is one
 *   partition, which Table Storage serves at roughly 2 000 writes per second; the events index is
 *   written after the record, and a duplicate delivery rewrites it (upsert) so a crash between the two
 *   writes heals on redelivery.
 * - `~unfinished` holds one row per `accepted` event (the stuck-event sweep reads it, oldest first, up
 *   to its cutoff: a key-range read however many events arrived since). A write that makes a record
 *   `accepted` (recordEvent, a replay through updateEvent) upserts the row before the record — a crash
 *   never leaves an accepted event unindexed — and again after it. A write that ends the event deletes
 *   the row after the record, so a crash leaves at most a stale row, and then re-reads the record: a
 *   replay racing the delete gets its row back. listUnfinishedEvents deletes a stale row (event ended,
 *   never recorded, or recorded at another time) with the ETag it listed: a writer that made the event
 *   accepted meanwhile rewrote the row after its record, so the delete either fails (412) or the record
 *   read already saw `accepted`. Three writes per accepted event on one partition (~650 events/s).
 * - `~failed` holds one row per `failed` event (`ripple events --failed` reads it, newest first) and is
 *   kept by the same code as `~unfinished` (an {@link EventIndex} per status): written before and after
 *   a record becomes `failed`, deleted after it leaves `failed` (replayed, processed), stale rows
 *   deleted with their ETag when listFailedEvents reads them.
 * - Edges: listDependents reads one `b|` partition; listBasesOf / removeEdgesOf read one `d|`
 *   partition. putEdge writes the by-dependent copy first and removeEdgesOf deletes the by-base copies
 *   first, so a crash can leave at most a by-dependent row whose retry (or the next removal) completes.
 * - Campaigns: one partition per campaign. With up to 99 obligations, openCampaign writes the
 *   obligations and the header in ONE transaction. A transaction takes at most 100 actions, so a
 *   larger campaign writes its obligations first, in create-only transactions of 100, and the header
 *   last: a crash leaves no header, readers see no campaign, and the retry creates only the
 *   obligations still missing (never overwriting one a racing opener already updated) and then the
 *   header. Whoever creates the header returns created: true; everyone else gets created: false.
 * - listTags, listEdges and listCampaigns scan their table (filtered server-side); they serve the
 *   read API and reconciliation, not the hot path.
 * - The upstream-watch records live in upstream-records.ts, which shares this store's helpers;
 *   listUpstreamTags reads the `t|` partitions (one key range) without their listing rows.
 * - Guarded writes (moveTag, setEventStatus, updateObligation, savePullRequest, updatePullRequestSlot, saveUpstreamTag) read
 *   the entity, compute, and write with its ETag (`Replace`) or createEntity when absent; 412/409
 *   re-read and retry with jittered backoff, then throw ConflictError.
 * - List orders match the memory store (see compare-records.ts); obligations come back ordered by
 *   dependent key.
 */
import type { Agent } from "node:https";
import { TableClient, odata, type TableEntity, type TransactionAction } from "@azure/data-tables";
import type { TokenCredential } from "@azure/identity";
import { campaignIdPrefix, type Campaign, type Obligation } from "../../domain/campaign.js";
import { dependentKey, type DependencyEdge } from "../../domain/dependency.js";
import { AppError, ConflictError } from "../../errors.js";
import type {
  RepositoryScanRecord,
  RunRecord,
  EventRecord,
  EventStatus,
  OpenedCampaign,
  StateStore,
  StoredManifest,
  TagMove,
  TagState,
} from "../../ports/state-store.js";
import { applyTagMove, assertInstant, instantMs } from "../state-rules/apply-tag-move.js";
import {
  checkCampaignInput,
  checkObligationPatch,
  compareCampaignsNewestFirst,
  compareEdges,
  compareEventsNewestFirst,
  compareObligations,
  compareRunsNewestFirst,
  compareTags,
} from "../state-rules/compare-records.js";
import { packJson, unpackJson } from "./json-columns.js";
import { statusOf, toStorageError } from "./storage-errors.js";
import { TABLES, escapeKey, tableNameFor, type TableKind } from "./table-keys.js";
import { createSlaRecords, openCampaignEntity } from "./sla-records.js";
import { createPullRequestSlots } from "./pull-request-slots.js";
import { createUpstreamRecords } from "./upstream-records.js";

/** A connection string (Azurite, or an account key), or the table endpoint and a token credential (identity-based). */
export type TableStorageConnection =
  | { readonly connectionString: string }
  | { readonly endpoint: string; readonly credential: TokenCredential; readonly agent?: Agent };

export type TableStateStoreOptions = TableStorageConnection & {
  /** Alphanumeric prefix of every table name. Default "ripple". */
  readonly tablePrefix?: string;
  /** Allow http endpoints (Azurite). Default: true when the connection string names an http endpoint. */
  readonly allowInsecureConnection?: boolean;
  /** Attempts of a guarded write before ConflictError. Default 12. */
  readonly maxWriteAttempts?: number;
};

/** A StateStore plus `init()`, which creates its tables (idempotent; call once at start-up). */
export interface TableStateStore extends StateStore {
  init(): Promise<void>;
}

const RECORD_ROW = "record";
const RECENT_PARTITION = "~recent";
const UNFINISHED_PARTITION = "~unfinished";
const FAILED_PARTITION = "~failed";
const CAMPAIGN_ROW = "campaign";
const OBLIGATION_PREFIX = "ob|";
const BY_BASE = "b|";
const BY_DEPENDENT = "d|";
const TRANSACTION_LIMIT = 100;
const INVERTED_EPOCH = 10_000_000_000_000_000;

type Entity = TableEntity<Record<string, unknown>>;

/**
 * Creates the Table Storage state store. Nothing is contacted until a method is called; call
 * `init()` once to create the tables. Every method throws UpstreamError (retryable for network
 * failures, 408, 429 and 5xx; service "table-storage") or ConflictError when a guarded write keeps
 * losing its race; unknown keys in `setEventStatus` / `updateObligation` throw AppError `not_found`.
 */
export function createTableStateStore(options: TableStateStoreOptions): TableStateStore {
  const prefix = options.tablePrefix ?? "ripple";
  const maxAttempts = options.maxWriteAttempts ?? 12;
  const clients = Object.fromEntries(TABLES.map((table) => [table, tableClientFor(options, tableNameFor(prefix, table))])) as Record<TableKind, TableClient>;
  const { events, tags, manifests, edges, campaigns, runs, scans, pulls } = clients;

  async function call<T>(operation: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw toStorageError(error, operation);
    }
  }

  async function readEntity(client: TableClient, partitionKey: string, rowKey: string, operation: string) {
    try {
      return await client.getEntity<Record<string, unknown>>(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw toStorageError(error, operation);
    }
  }

  async function readValue<T>(client: TableClient, partitionKey: string, rowKey: string, operation: string): Promise<T | null> {
    const entity = await readEntity(client, partitionKey, rowKey, operation);
    return entity === null ? null : (unpackJson(entity) as T);
  }

  async function queryValues<T>(client: TableClient, filter: string | undefined, operation: string): Promise<Array<{ rowKey: string; value: T }>> {
    return call(operation, async () => {
      const rows: Array<{ rowKey: string; value: T }> = [];
      for await (const entity of client.listEntities<Record<string, unknown>>(filter === undefined ? {} : { queryOptions: { filter } })) {
        rows.push({ rowKey: entity.rowKey ?? "", value: unpackJson(entity) as T });
      }
      return rows;
    });
  }

  /**
   * Read–compute–write under the entity's ETag (createEntity when absent). `compute` gets the stored
   * value (null when absent) and returns the value to store (null: write nothing) and the result.
   * 412/409 → re-read and compute again, up to `maxAttempts`, then ConflictError.
   */
  async function guardedWrite<T, R>(
    client: TableClient,
    partitionKey: string,
    rowKey: string,
    operation: string,
    compute: (current: T | null) => { write: T | null; result: R },
  ): Promise<R> {
    for (let attempt = 1; ; attempt += 1) {
      const entity = await readEntity(client, partitionKey, rowKey, operation);
      const { write, result } = compute(entity === null ? null : (unpackJson(entity) as T));
      if (write === null) return result;
      const next: Entity = { partitionKey, rowKey, ...packJson(write) };
      try {
        if (entity === null) await client.createEntity(next);
        else await client.updateEntity(next, "Replace", { etag: entity.etag });
        return result;
      } catch (error) {
        const status = statusOf(error);
        if (status !== 412 && status !== 409) throw toStorageError(error, operation);
        if (attempt >= maxAttempts) {
          throw new ConflictError(`table-storage: ${operation} lost ${attempt} ETag races in a row`, {
            statusCode: status,
          });
        }
        await backOff(attempt);
      }
    }
  }

  const sla = createSlaRecords(clients.sla, { call, readValue, queryValues, guardedWrite, deleteIfPresent });

  async function writeRecentIndex(key: string, receivedAt: string): Promise<void> {
    const rowKey = newestFirstRow({ key, receivedAt });
    await call("index event", () => events.upsertEntity({ partitionKey: RECENT_PARTITION, rowKey, key }, "Replace"));
  }

  async function getEvent(key: string): Promise<EventRecord | null> {
    return readValue<EventRecord>(events, escapeKey(key), RECORD_ROW, "read event");
  }

  /**
   * Deletes the index row of an event that just left the index's status; a writer that put it back
   * in that status between the record write and this delete (a replay, a second failure) gets its row
   * back (that writer's own rewrite may have come first).
   */
  async function unindexLeft(key: string, left: EventRecord): Promise<void> {
    const index = eventIndexOf(left.status);
    if (index === null) return;
    await unindexRow(events, index, index.row(left));
    const current = await getEvent(key);
    if (current !== null && eventIndexOf(current.status) === index) await indexEvent(events, current);
  }

  /**
   * The live records of an event index (read oldest row first, `filter` narrowing the rows), at most
   * `limit`; stale rows met on the way are deleted.
   */
  async function readIndex(index: EventIndex, filter: string, limit: number): Promise<EventRecord[]> {
    if (limit <= 0) return [];
    const live: EventRecord[] = [];
    await call(`list ${index.name} events`, async () => {
      const pages = events.listEntities<{ key: string }>({ queryOptions: { filter } }).byPage({ maxPageSize: Math.min(limit, 1000) });
      for await (const page of pages) {
        live.push(...(await readIndexPage(events, index, getEvent, page, limit - live.length)));
        if (live.length >= limit) break;
      }
    });
    return live;
  }

  /**
   * An ETag-guarded write of an event record that keeps the status indexes (`~unfinished`, `~failed`)
   * in step: a record entering an indexed status has its row written before the record (and again
   * after); a record leaving one has its row deleted after the record. `compute` may run more than
   * once (a lost race, the row written first).
   */
  async function writeEvent<R>(key: string, operation: string, compute: (current: EventRecord) => { write: EventRecord | null; result: R }): Promise<R> {
    type Step = { index: EventRecord } | { result: R; before: EventRecord; after: EventRecord | null };
    let indexedRow: string | null = null;
    for (;;) {
      const step = await guardedWrite<EventRecord, Step>(events, escapeKey(key), RECORD_ROW, operation, (current) => {
        if (current === null) throw notFound(`event "${key}"`);
        const { write, result } = compute(current);
        if (write !== null && write.key !== current.key) throw new AppError("state_corrupt", "an event patch may not change its key");
        const entering = write !== null && write.status !== current.status && eventIndexOf(write.status) !== null;
        if (entering && indexedRow !== indexRowId(write)) return { write: null, result: { index: write } };
        return { write, result: { result, before: current, after: write } };
      });
      if ("index" in step) {
        await indexEvent(events, step.index);
        indexedRow = indexRowId(step.index);
        continue;
      }
      const { before, after } = step;
      if (after !== null && after.status !== before.status) {
        await indexEvent(events, after);
        await unindexLeft(key, before);
      }
      return step.result;
    }
  }

  async function readCampaign(id: string): Promise<{ campaign: Campaign; obligations: Obligation[] } | null> {
    const rows = await queryValues<Campaign | Obligation>(campaigns, odata`PartitionKey eq ${escapeKey(id)}`, "read campaign");
    const header = rows.find((row) => row.rowKey === CAMPAIGN_ROW);
    if (header === undefined) return null;
    const obligations = rows
      .filter((row) => row.rowKey.startsWith(OBLIGATION_PREFIX))
      .map((row) => row.value as Obligation)
      .sort(compareObligations);
    return { campaign: header.value as Campaign, obligations };
  }

  async function createOnce(client: TableClient, entity: Entity, operation: string): Promise<boolean> {
    try {
      await client.createEntity(entity);
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw toStorageError(error, operation);
    }
  }

  /** Creates the entities (one partition) in transactions of 100; entities that exist are left alone. */
  async function createMissing(client: TableClient, entities: readonly Entity[], operation: string): Promise<void> {
    for (let start = 0; start < entities.length; start += TRANSACTION_LIMIT) {
      const chunk = entities.slice(start, start + TRANSACTION_LIMIT);
      try {
        await client.submitTransaction(chunk.map((entity): TransactionAction => ["create", entity]));
      } catch (error) {
        if (statusOf(error) !== 409) throw toStorageError(error, operation);
        // Part of this chunk exists (an earlier, interrupted attempt or a racing opener): add the rest
        // one by one without touching what is there.
        for (const entity of chunk) await createOnce(client, entity, operation);
      }
    }
  }

  function edgeEntities(edge: DependencyEdge): { byBase: Entity; byDependent: Entity } {
    const tail = `${edge.evidence}|${edge.platform === null ? "~" : escapeKey(edge.platform)}`;
    const key = escapeKey(dependentKey(edge.dependent));
    const base = escapeKey(edge.base);
    const columns = packJson(edge);
    return {
      byBase: { partitionKey: `${BY_BASE}${base}`, rowKey: `${key}|${tail}`, ...columns },
      byDependent: { partitionKey: `${BY_DEPENDENT}${key}`, rowKey: `${base}|${tail}`, ...columns },
    };
  }

  return {
    ...sla,
    ...createUpstreamRecords(clients.upstream, { call, readValue, queryValues, guardedWrite, deleteIfPresent }),
    ...createPullRequestSlots(pulls, { call, readValue, queryValues, guardedWrite, deleteIfPresent }),

    async init() {
      for (const table of TABLES) await call(`create table ${table}`, () => clients[table].createTable());
    },

    async recordEvent(record) {
      assertInstant(record.receivedAt);
      // The index row (unfinished, failed) goes first: a crash before the create leaves a stale row,
      // never an accepted event the sweep cannot find or a failed one `events --failed` cannot list.
      await indexEvent(events, record);
      const entity: Entity = { partitionKey: escapeKey(record.key), rowKey: RECORD_ROW, ...packJson(record) };
      const created = await createOnce(events, entity, "record event");
      const stored = created ? record : await getEvent(record.key);
      if (stored !== null) await writeRecentIndex(stored.key, stored.receivedAt);
      await settleIndexes(events, record, stored);
      return created;
    },

    getEvent,

    async updateEvent(key, patch) {
      return writeEvent<EventRecord>(key, "update event", (current) => {
        const next = patch(current);
        return { write: next, result: next };
      });
    },

    async leaseEvent(key, until, now) {
      return guardedWrite<EventRecord, boolean>(events, escapeKey(key), RECORD_ROW, "lease event", (current) => {
        if (current === null) throw notFound(`event "${key}"`);
        if (current.status !== "accepted" || (current.leaseUntil != null && instantMs(current.leaseUntil) > instantMs(now))) return { write: null, result: false };
        return { write: { ...current, leaseUntil: until }, result: true };
      });
    },

    async setEventStatus(key: string, status: EventStatus, reason: string | null) {
      await writeEvent<void>(key, "set event status", (current) => ({ write: { ...current, status, reason }, result: undefined }));
    },

    async listEvents(limit) {
      if (limit <= 0) return [];
      const keys: string[] = [];
      await call("list events", async () => {
        const pages = events
          .listEntities<{ key: string }>({ queryOptions: { filter: odata`PartitionKey eq ${RECENT_PARTITION}` } })
          .byPage({ maxPageSize: Math.min(limit, 1000) });
        for await (const page of pages) {
          for (const entity of page) if (keys.length < limit) keys.push(entity.key);
          if (keys.length >= limit) break;
        }
      });
      const records: EventRecord[] = [];
      for (let start = 0; start < keys.length; start += 20) {
        const found = await Promise.all(keys.slice(start, start + 20).map((key) => getEvent(key)));
        for (const record of found) if (record !== null) records.push(record);
      }
      return records.sort(compareEventsNewestFirst);
    },

    async listUnfinishedEvents(olderThan, limit) {
      const below = String(instantMs(olderThan) + 1).padStart(16, "0");
      const live = await readIndex(UNFINISHED_INDEX, odata`PartitionKey eq ${UNFINISHED_PARTITION} and RowKey lt ${below}`, limit);
      return live.sort(compareEventsOldestFirst);
    },

    async listFailedEvents(limit) {
      const live = await readIndex(FAILED_INDEX, odata`PartitionKey eq ${FAILED_PARTITION}`, limit);
      return live.sort(compareEventsNewestFirst);
    },

    async getTag(registry, repository, tag) {
      return readValue<TagState>(tags, tagPartition(registry, repository), escapeKey(tag), "read tag");
    },

    async moveTag(registry, repository, tag, digest, at) {
      return guardedWrite<TagState, TagMove>(tags, tagPartition(registry, repository), escapeKey(tag), "move tag", (current) => {
        const { next, move } = applyTagMove(current, { registry, repository, tag }, digest, at);
        return { write: next, result: move };
      });
    },

    async listTags(filter) {
      const rows = await queryValues<TagState>(tags, filter === undefined ? undefined : odata`PartitionKey eq ${tagPartition(filter.registry, filter.repository)}`, "list tags");
      return rows.map((row) => row.value).sort(compareTags);
    },

    async putManifest(manifest: StoredManifest) {
      const entity: Entity = { partitionKey: escapeKey(manifest.registry), rowKey: escapeKey(manifest.facts.digest), ...packJson(manifest) };
      await call("put manifest", () => manifests.upsertEntity(entity, "Replace"));
    },

    async getManifest(registry, digest) {
      return readValue<StoredManifest>(manifests, escapeKey(registry), escapeKey(digest), "read manifest");
    },

    async putEdge(edge) {
      const { byBase, byDependent } = edgeEntities(edge);
      await call("put edge", () => edges.upsertEntity(byDependent, "Replace"));
      await call("put edge", () => edges.upsertEntity(byBase, "Replace"));
    },

    async removeEdgesOf(key) {
      const partitionKey = `${BY_DEPENDENT}${escapeKey(key)}`;
      const rows = await queryValues<DependencyEdge>(edges, odata`PartitionKey eq ${partitionKey}`, "remove edges");
      for (const row of rows) {
        const { byBase } = edgeEntities(row.value);
        await call("remove edges", () => deleteIfPresent(edges, byBase.partitionKey, byBase.rowKey));
      }
      for (let start = 0; start < rows.length; start += TRANSACTION_LIMIT) {
        const chunk = rows.slice(start, start + TRANSACTION_LIMIT);
        await call("remove edges", async () => {
          try {
            await edges.submitTransaction(chunk.map((row): TransactionAction => ["delete", { partitionKey, rowKey: row.rowKey }]));
          } catch (error) {
            // A concurrent removal deleted some of them: delete the rest one by one.
            if (statusOf(error) !== 404) throw error;
            for (const row of chunk) await deleteIfPresent(edges, partitionKey, row.rowKey);
          }
        });
      }
    },

    async listDependents(base) {
      const rows = await queryValues<DependencyEdge>(edges, odata`PartitionKey eq ${BY_BASE + escapeKey(base)}`, "list dependents");
      return rows.map((row) => row.value).sort(compareEdges);
    },

    async listBasesOf(key) {
      const rows = await queryValues<DependencyEdge>(edges, odata`PartitionKey eq ${BY_DEPENDENT + escapeKey(key)}`, "list bases");
      return rows.map((row) => row.value).sort(compareEdges);
    },

    async listEdges() {
      // `}` is the character after `|`: this range is exactly the by-base partitions.
      const rows = await queryValues<DependencyEdge>(edges, odata`PartitionKey ge ${BY_BASE} and PartitionKey lt ${"b}"}`, "list edges");
      return rows.map((row) => row.value).sort(compareEdges);
    },

    async openCampaign(campaign, obligations): Promise<OpenedCampaign> {
      checkCampaignInput(campaign, obligations);
      const existing = await readCampaign(campaign.id);
      // The index entry goes first: a crash after the header still leaves the campaign monitored, and a
      // replay re-adds an entry the monitor removed (it is then settled again at the next tick).
      await createOnce(clients.sla, openCampaignEntity(campaign.id, campaign.openedAt), "index open campaign");
      if (existing !== null) return { created: false, ...existing };

      const partitionKey = escapeKey(campaign.id);
      const header: Entity = { partitionKey, rowKey: CAMPAIGN_ROW, ...packJson(campaign) };
      const rows = obligations.map(
        (obligation): Entity => ({ partitionKey, rowKey: OBLIGATION_PREFIX + escapeKey(obligation.dependentKey), ...packJson(obligation) }),
      );
      if (rows.length < TRANSACTION_LIMIT) {
        try {
          await campaigns.submitTransaction([...rows, header].map((entity): TransactionAction => ["create", entity]));
          return { created: true, campaign, obligations: [...obligations].sort(compareObligations) };
        } catch (error) {
          if (statusOf(error) !== 409) throw toStorageError(error, "open campaign");
          const raced = await readCampaign(campaign.id);
          if (raced !== null) return { created: false, ...raced };
          // No header: an interrupted larger attempt left obligations. Complete it below.
        }
      }
      await createMissing(campaigns, rows, "open campaign");
      const created = await createOnce(campaigns, header, "open campaign");
      const stored = await readCampaign(campaign.id);
      if (stored === null) throw new AppError("state_corrupt", `campaign "${campaign.id}" has no header after being opened`);
      return { created, ...stored };
    },

    getCampaign: readCampaign,

    async markCampaignQueued(id, at) {
      return guardedWrite<Campaign, Campaign>(campaigns, escapeKey(id), CAMPAIGN_ROW, "mark campaign queued", (current) => {
        if (current === null) throw notFound(`campaign "${id}"`);
        if (current.jobsQueuedAt != null) return { write: null, result: current };
        const next = { ...current, jobsQueuedAt: at };
        return { write: next, result: next };
      });
    },

    getObligation(campaignId, key) {
      return readValue<Obligation>(campaigns, escapeKey(campaignId), OBLIGATION_PREFIX + escapeKey(key), "get obligation");
    },

    async listCampaigns(filter) {
      if (filter === undefined) {
        const rows = await queryValues<Campaign>(campaigns, odata`RowKey eq ${CAMPAIGN_ROW}`, "list campaigns");
        return rows.map((row) => row.value).sort(compareCampaignsNewestFirst);
      }
      // Campaign ids of one base share a prefix (hex digits follow it, all below "~"): a range read.
      const low = escapeKey(campaignIdPrefix(filter.base));
      const rows = await queryValues<Campaign>(campaigns, odata`PartitionKey ge ${low} and PartitionKey lt ${`${low}~`} and RowKey eq ${CAMPAIGN_ROW}`, "list campaigns");
      return rows.map((row) => row.value).filter((campaign) => campaign.base === filter.base).sort(compareCampaignsNewestFirst);
    },

    async updateObligation(campaignId, key, patch) {
      let changed = false;
      const updated = await guardedWrite<Obligation, Obligation>(
        campaigns,
        escapeKey(campaignId),
        OBLIGATION_PREFIX + escapeKey(key),
        "update obligation",
        (current) => {
          if (current === null) throw notFound(`obligation "${key}" of campaign "${campaignId}"`);
          const next = checkObligationPatch(current, patch(current));
          // A patch that changes nothing (a redelivered job on a settled obligation) writes nothing.
          changed = JSON.stringify(next) !== JSON.stringify(current);
          return { write: changed ? next : null, result: next };
        },
      );
      if (changed) await sla.touchOpenCampaign(campaignId, updated.updatedAt);
      return updated;
    },

    async claimRun(record) {
      const claimed = await createOnce(runs, { partitionKey: escapeKey(record.registry), rowKey: escapeKey(record.key), ...packJson(record) }, "claim run");
      if (claimed) return { claimed, record };
      const stored = await readValue<RunRecord>(runs, escapeKey(record.registry), escapeKey(record.key), "claim run");
      if (stored === null) throw new AppError("state_corrupt", `run "${record.key}" was claimed but cannot be read`);
      return { claimed, record: stored };
    },

    getRun(registry, key) {
      return readValue<RunRecord>(runs, escapeKey(registry), escapeKey(key), "get run");
    },

    async updateRun(registry, key, patch) {
      return guardedWrite<RunRecord, RunRecord>(runs, escapeKey(registry), escapeKey(key), "update run", (current) => {
        if (current === null) throw notFound(`run "${key}"`);
        const next = patch(current);
        if (next.key !== current.key || next.registry !== current.registry) throw new AppError("state_corrupt", "a run patch may not change its key or registry");
        return { write: next, result: next };
      });
    },

    getRepositoryScan(repository) {
      return readValue<RepositoryScanRecord>(scans, escapeKey(repository), "scan", "get repository scan");
    },

    async putRepositoryScan(record) {
      await call("put repository scan", () => scans.upsertEntity({ partitionKey: escapeKey(record.repository), rowKey: "scan", ...packJson(record) }, "Replace"));
    },

    async listRuns(registry) {
      const rows = await queryValues<RunRecord>(runs, registry === undefined ? undefined : odata`PartitionKey eq ${escapeKey(registry)}`, "list runs");
      return rows.map((row) => row.value).sort(compareRunsNewestFirst);
    },
  };
}

function tagPartition(registry: string, repository: string): string {
  return `${escapeKey(registry)}|${escapeKey(repository)}`;
}

/** The `~unfinished` row of an event: oldest first, by receipt (to the millisecond), then key. */
function unfinishedRow(record: EventRecord): string {
  return `${String(instantMs(record.receivedAt)).padStart(16, "0")}|${escapeKey(record.key)}`;
}

/** The `~recent` and `~failed` row of an event: newest first, by receipt (to the millisecond), then key. */
function newestFirstRow(record: Pick<EventRecord, "key" | "receivedAt">): string {
  return `${String(INVERTED_EPOCH - instantMs(record.receivedAt)).padStart(16, "0")}|${escapeKey(record.key)}`;
}

/** An index of the events in one status: one row per such event, in `partition`, at `row(record)`. */
interface EventIndex {
  readonly name: string;
  readonly status: EventStatus;
  readonly partition: string;
  readonly row: (record: EventRecord) => string;
}

const UNFINISHED_INDEX: EventIndex = { name: "unfinished", status: "accepted", partition: UNFINISHED_PARTITION, row: unfinishedRow };
const FAILED_INDEX: EventIndex = { name: "failed", status: "failed", partition: FAILED_PARTITION, row: newestFirstRow };

/** The index that holds events in `status`, or null for a status nothing indexes. */
function eventIndexOf(status: EventStatus): EventIndex | null {
  return [UNFINISHED_INDEX, FAILED_INDEX].find((index) => index.status === status) ?? null;
}

/** Where a record's index row is (partition and row), or null when its status is not indexed. */
function indexRowId(record: EventRecord): string | null {
  const index = eventIndexOf(record.status);
  return index === null ? null : `${index.partition}/${index.row(record)}`;
}

/** Writes the index row of a record in an indexed status (upsert); a no-op for other statuses. */
async function indexEvent(events: TableClient, record: EventRecord): Promise<void> {
  const index = eventIndexOf(record.status);
  if (index === null) return;
  try {
    await events.upsertEntity({ partitionKey: index.partition, rowKey: index.row(record), key: record.key }, "Replace");
  } catch (error) {
    throw toStorageError(error, `index ${index.name} event`);
  }
}

/** Deletes an index row; with `etag`, only if nobody rewrote it since it was read. */
async function unindexRow(events: TableClient, index: EventIndex, rowKey: string, etag?: string): Promise<void> {
  try {
    await events.deleteEntity(index.partition, rowKey, etag === undefined ? {} : { etag });
  } catch (error) {
    // 404: already gone; 412: a writer put its event back in the index's status and rewrote the row.
    const status = statusOf(error);
    if (status !== 404 && status !== 412) throw toStorageError(error, `unindex ${index.name} event`);
  }
}

/**
 * Records of one page of index rows that are still in the index's status at that row (at most
 * `room`); stale rows are deleted.
 */
async function readIndexPage(
  events: TableClient,
  index: EventIndex,
  getEvent: (key: string) => Promise<EventRecord | null>,
  rows: ReadonlyArray<{ rowKey?: string; etag: string; key: string }>,
  room: number,
): Promise<EventRecord[]> {
  const live: EventRecord[] = [];
  for (let start = 0; start < rows.length && live.length < room; start += 20) {
    const chunk = rows.slice(start, start + 20);
    const records = await Promise.all(chunk.map((row) => getEvent(row.key)));
    for (const [position, record] of records.entries()) {
      const row = chunk[position]!;
      if (record?.status === index.status && index.row(record) === row.rowKey) {
        if (live.length < room) live.push(record);
      } else {
        await unindexRow(events, index, row.rowKey ?? "", row.etag);
      }
    }
  }
  return live;
}

/**
 * After recordEvent's create: the stored record's row is (re)written while it is in an indexed status
 * — after a new record, or healing a duplicate delivery — and a row written for a duplicate that does
 * not match the stored record is removed.
 */
async function settleIndexes(events: TableClient, record: EventRecord, stored: EventRecord | null): Promise<void> {
  if (stored !== null) await indexEvent(events, stored);
  const index = eventIndexOf(record.status);
  if (index !== null && (stored === null || indexRowId(stored) !== indexRowId(record))) await unindexRow(events, index, index.row(record));
}

/** The order of `~unfinished` (the memory store lists the same way). */
function compareEventsOldestFirst(a: EventRecord, b: EventRecord): number {
  return instantMs(a.receivedAt) - instantMs(b.receivedAt) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

async function deleteIfPresent(client: TableClient, partitionKey: string, rowKey: string): Promise<void> {
  try {
    await client.deleteEntity(partitionKey, rowKey);
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
}

/** One table's client: from the connection string, or from the endpoint with the token credential (no key anywhere). */
function tableClientFor(options: TableStateStoreOptions, table: string): TableClient {
  if ("connectionString" in options) {
    const allowInsecureConnection = options.allowInsecureConnection ?? isHttpConnectionString(options.connectionString);
    return TableClient.fromConnectionString(options.connectionString, table, { allowInsecureConnection });
  }
  return new TableClient(options.endpoint, table, options.credential, options.agent === undefined ? {} : { agent: options.agent });
}

function isHttpConnectionString(connectionString: string): boolean {
  const settings = new Map(
    connectionString.split(";").map((part) => {
      const at = part.indexOf("=");
      return [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim().toLowerCase()] as const;
    }),
  );
  const endpoint = settings.get("tableendpoint");
  if (endpoint !== undefined) return endpoint.startsWith("http:");
  return settings.get("usedevelopmentstorage") === "true" || settings.get("defaultendpointsprotocol") === "http";
}

function notFound(what: string): AppError {
  return new AppError("not_found", `${what} is not in the state store`);
}

function backOff(attempt: number): Promise<void> {
  // Full jitter: racing writers spread out instead of colliding again on the next attempt.
  const ceiling = Math.min(200, 10 * 2 ** attempt);
  return new Promise((done) => setTimeout(done, Math.random() * ceiling));
}
