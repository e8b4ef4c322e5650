import { odata, type TableClient } from "@azure/data-tables";
import { ValidationError } from "../../errors.js";
import type { PatchOriginRecord, UpstreamListingRecord, UpstreamTagRecord, UpstreamWatchRecords } from "../../ports/state-store.js";
import { assertInstant } from "../state-rules/apply-tag-move.js";
import { keepsPatchOrigin } from "../state-rules/compare-records.js";
import { packJson } from "./json-columns.js";
import { escapeKey } from "./table-keys.js";

/** The storage helpers of `createTableStateStore` (table-state-store.ts) that this module shares. */
export interface TableHelpers {
  call<T>(operation: string, action: () => Promise<T>): Promise<T>;
  readValue<T>(client: TableClient, partitionKey: string, rowKey: string, operation: string): Promise<T | null>;
  queryValues<T>(client: TableClient, filter: string | undefined, operation: string): Promise<Array<{ rowKey: string; value: T }>>;
  guardedWrite<T, R>(
    client: TableClient,
    partitionKey: string,
    rowKey: string,
    operation: string,
    compute: (current: T | null) => { write: T | null; result: R },
  ): Promise<R>;
  deleteIfPresent(client: TableClient, partitionKey: string, rowKey: string): Promise<void>;
}


const TAGS = "t|";
const ORIGINS = "o|";
// An escaped key that starts with `~` continues with an uppercase hex digit (`~XX`); the `~~` of a
// shortened key never comes first, and the hash after it is lowercase hex. `l` is none of these, so no
// escaped tag can equal this row key.
const LISTING_ROW = "~listing";

/**
 * The upstream-watch records in the `upstream` table: tag records and the listing record share one
 * partition per upstream repository (`t|`), patch origins have their own (`o|`). Throws as
 * `createTableStateStore` does, and ValidationError for a record with an invalid instant or a patch
 * that changes the tag it was given.
 */
export function createUpstreamRecords(client: TableClient, helpers: TableHelpers): UpstreamWatchRecords {
  const { call, readValue, queryValues, guardedWrite, deleteIfPresent } = helpers;

  return {
    getUpstreamTag(registry, repository, tag) {
      return readValue<UpstreamTagRecord>(client, tagPartition(registry, repository), escapeKey(tag), "get upstream tag");
    },

    saveUpstreamTag(registry, repository, tag, patch) {
      return guardedWrite<UpstreamTagRecord, UpstreamTagRecord>(client, tagPartition(registry, repository), escapeKey(tag), "save upstream tag", (current) => {
        const next = patch(current);
        checkUpstreamTag(next, { registry, repository, tag });
        return { write: next, result: next };
      });
    },

    async removeUpstreamTag(registry, repository, tag) {
      await call("remove upstream tag", () => deleteIfPresent(client, tagPartition(registry, repository), escapeKey(tag)));
    },

    async listUpstreamTags() {
      // `}` is the character after `|`: this range is exactly the tag partitions.
      const filter = odata`PartitionKey ge ${TAGS} and PartitionKey lt ${"t}"} and RowKey ne ${LISTING_ROW}`;
      const rows = await queryValues<UpstreamTagRecord>(client, filter, "list upstream tags");
      return rows.map((row) => row.value).sort(compareUpstreamTags);
    },

    getUpstreamListing(registry, repository) {
      return readValue<UpstreamListingRecord>(client, tagPartition(registry, repository), LISTING_ROW, "get upstream listing");
    },

    async putUpstreamListing(record) {
      assertInstant(record.listedAt);
      const entity = { partitionKey: tagPartition(record.registry, record.repository), rowKey: LISTING_ROW, ...packJson(record) };
      await call("put upstream listing", () => client.upsertEntity(entity, "Replace"));
    },

    async putPatchOrigin(record) {
      assertInstant(record.firstSeenAt);
      await guardedWrite<PatchOriginRecord, void>(client, originPartition(record.registry, record.repository), escapeKey(record.digest), "put patch origin", (current) => ({
        write: keepsPatchOrigin(current, record) ? null : record,
        result: undefined,
      }));
    },

    getPatchOrigin(registry, repository, digest) {
      return readValue<PatchOriginRecord>(client, originPartition(registry, repository), escapeKey(digest), "get patch origin");
    },
  };
}

function tagPartition(registry: string, repository: string): string {
  return `${TAGS}${escapeKey(registry)}|${escapeKey(repository)}`;
}

function originPartition(registry: string, repository: string): string {
  return `${ORIGINS}${escapeKey(registry)}|${escapeKey(repository)}`;
}

/** Throws ValidationError when a patch returned a record of another tag or an invalid `nextCheckAt`. */
function checkUpstreamTag(record: UpstreamTagRecord, key: { registry: string; repository: string; tag: string }): void {
  if (record.registry !== key.registry || record.repository !== key.repository || record.tag !== key.tag) {
    throw new ValidationError("an upstream tag patch may not change registry, repository or tag", [
      { path: "tag", message: "identity changed by patch" },
    ]);
  }
  assertInstant(record.nextCheckAt);
}

/** By registry, repository, tag (the order the memory store lists them in). */
function compareUpstreamTags(a: UpstreamTagRecord, b: UpstreamTagRecord): number {
  return compareText(a.registry, b.registry) || compareText(a.repository, b.repository) || compareText(a.tag, b.tag);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
