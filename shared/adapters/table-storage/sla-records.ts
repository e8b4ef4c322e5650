import { odata, type TableClient } from "@azure/data-tables";
import type { AlertRecord, DurationSamples, OpenCampaignEntry, SlaRecords, WaiverRecord } from "../../ports/state-store.js";
import { assertInstant } from "../state-rules/apply-tag-move.js";
import { addDurationSample, compareAlertsNewestFirst, compareWaiversNewestFirst, isStaleCheck } from "../state-rules/sla-rules.js";
import { packJson } from "./json-columns.js";
import { statusOf } from "./storage-errors.js";
import { escapeKey } from "./table-keys.js";
import type { TableHelpers } from "./upstream-records.js";

// `~open` and `~waivers` cannot equal an escaped key (an escape is `~` plus two uppercase hex digits).
const OPEN_PARTITION = "~open";
const WAIVER_PARTITION = "~waivers";
const ALERTS = "a|";
const DURATIONS = "d|";
const ALERT_ROW = "alert";
const DURATIONS_ROW = "durations";

/**
 * The SLA records in the `sla` table:
 * - `~open` / esc(campaign id): the open-campaign index, in plain string columns (`campaignId`, `openedAt`,
 *   `changedAt`, `checkedAt`, `nextCheckAt`) so an obligation update touches `changedAt` with one blind
 *   Merge upsert — no read, no ETag race between workers of one campaign;
 * - `a|` esc(campaign id) / `alert`: the AlertRecord (guarded write);
 * - `~waivers` / esc(id): WaiverRecords; `d|` esc(dependent key) / `durations`: DurationSamples.
 * Throws as `createTableStateStore` does.
 */
export function createSlaRecords(client: TableClient, helpers: TableHelpers): SlaRecords {
  const { call, readValue, queryValues, guardedWrite } = helpers;

  return {
    async listOpenCampaigns() {
      return call("list open campaigns", async () => {
        const entries: OpenCampaignEntry[] = [];
        for await (const entity of client.listEntities<Record<string, string | undefined>>({ queryOptions: { filter: odata`PartitionKey eq ${OPEN_PARTITION}` } })) {
          entries.push(entryOf(entity));
        }
        return entries.sort((a, b) => (a.campaignId < b.campaignId ? -1 : a.campaignId > b.campaignId ? 1 : 0));
      });
    },

    async touchOpenCampaign(campaignId, at) {
      assertInstant(at);
      await call("touch open campaign", () => client.upsertEntity({ partitionKey: OPEN_PARTITION, rowKey: escapeKey(campaignId), campaignId, changedAt: at }, "Merge"));
    },

    async markCampaignChecked(campaignId, checkedAt, nextCheckAt, settled) {
      assertInstant(checkedAt);
      const rowKey = escapeKey(campaignId);
      await call("mark campaign checked", async () => {
        for (let attempt = 1; attempt <= 5; attempt += 1) {
          let entity;
          try {
            entity = await client.getEntity<Record<string, string | undefined>>(OPEN_PARTITION, rowKey);
          } catch (error) {
            if (statusOf(error) === 404) return;
            throw error;
          }
          const stale = isStaleCheck(entryOf(entity), checkedAt);
          try {
            if (settled && !stale) await client.deleteEntity(OPEN_PARTITION, rowKey, { etag: entity.etag });
            else await client.updateEntity({ partitionKey: OPEN_PARTITION, rowKey, checkedAt, nextCheckAt: stale ? checkedAt : (nextCheckAt ?? "") }, "Merge", { etag: entity.etag });
            return;
          } catch (error) {
            const status = statusOf(error);
            if (status === 404) return;
            if (status !== 412) throw error;
          }
        }
      });
    },

    getAlert(campaignId) {
      return readValue<AlertRecord>(client, `${ALERTS}${escapeKey(campaignId)}`, ALERT_ROW, "get alert");
    },

    saveAlert(campaignId, patch) {
      return guardedWrite<AlertRecord, AlertRecord>(client, `${ALERTS}${escapeKey(campaignId)}`, ALERT_ROW, "save alert", (current) => {
        const next = patch(current);
        return { write: next, result: next };
      });
    },

    async listAlerts() {
      // `}` is the character after `|`: this range is exactly the alert partitions.
      const rows = await queryValues<AlertRecord>(client, odata`PartitionKey ge ${ALERTS} and PartitionKey lt ${"a}"}`, "list alerts");
      return rows.map((row) => row.value).sort(compareAlertsNewestFirst);
    },

    async putWaiver(waiver: WaiverRecord) {
      assertInstant(waiver.until);
      assertInstant(waiver.createdAt);
      await call("put waiver", () => client.upsertEntity({ partitionKey: WAIVER_PARTITION, rowKey: escapeKey(waiver.id), ...packJson(waiver) }, "Replace"));
    },

    async listWaivers() {
      const rows = await queryValues<WaiverRecord>(client, odata`PartitionKey eq ${WAIVER_PARTITION}`, "list waivers");
      return rows.map((row) => row.value).sort(compareWaiversNewestFirst);
    },

    getDurations(dependentKey) {
      return readValue<DurationSamples>(client, `${DURATIONS}${escapeKey(dependentKey)}`, DURATIONS_ROW, "get durations");
    },

    async addDuration(dependentKey, obligation, ms) {
      await guardedWrite<DurationSamples, void>(client, `${DURATIONS}${escapeKey(dependentKey)}`, DURATIONS_ROW, "add duration", (current) => ({
        write: addDurationSample(current, dependentKey, obligation, ms),
        result: undefined,
      }));
    },
  };
}

function entryOf(entity: Record<string, unknown>): OpenCampaignEntry {
  const text = (name: string): string | null => {
    const value = entity[name];
    return typeof value === "string" && value !== "" ? value : null;
  };
  const changedAt = text("changedAt") ?? text("openedAt") ?? new Date(0).toISOString();
  return { campaignId: String(entity["campaignId"]), openedAt: text("openedAt") ?? changedAt, changedAt, checkedAt: text("checkedAt"), nextCheckAt: text("nextCheckAt") };
}

/** The index entity of a newly opened campaign (create-only: a replay leaves the entry as it is). */
export function openCampaignEntity(campaignId: string, openedAt: string): Record<string, string> & { partitionKey: string; rowKey: string } {
  return { partitionKey: OPEN_PARTITION, rowKey: escapeKey(campaignId), campaignId, openedAt, changedAt: openedAt, checkedAt: "", nextCheckAt: "" };
}
