import { odata, type TableClient } from "@azure/data-tables";
import type { OpenObligationCounts } from "../../ports/sla-metrics.js";
import type { AlertRecord, CampaignProgress, DurationSamples, MergeLatencySamples, OpenCampaignEntry, SlaRecords, WaiverRecord } from "../../ports/state-store.js";
import { assertInstant } from "../state-rules/apply-tag-move.js";
import { addDurationSample, addMergeLatencySample, compareAlertsNewestFirst, compareWaiversNewestFirst } from "../state-rules/sla-rules.js";
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
const PROGRESS_ROW = "progress";
const DURATIONS_ROW = "durations";
const MERGE_LATENCIES = "m|";
const MERGE_LATENCIES_ROW = "merge-latency";

/**
 * The SLA records in the `sla` table:
 * - `~open` / esc(campaign id): the open-campaign index, in plain string columns (`campaignId`, `openedAt`,
 *   `checkedAt`, `nextCheckAt`, `counts` as JSON; "" for null) so an obligation update makes it due (`nextCheckAt` "") with
 *   one blind Merge upsert — no read, no ETag race between workers of one campaign; the entity's ETag is
 *   the entry's `version`;
 * - `a|` esc(campaign id) / `alert`: the AlertRecord; / `progress`: the CampaignProgress (guarded writes);
 * - `~waivers` / esc(id): WaiverRecords; `d|` esc(dependent key) / `durations`: DurationSamples;
 *   `m|` esc(repository) / `merge-latency`: MergeLatencySamples.
 * Throws as `createTableStateStore` does.
 */
export function createSlaRecords(client: TableClient, helpers: TableHelpers): SlaRecords {
  const { call, readValue, queryValues, guardedWrite } = helpers;

  return {
    async listOpenCampaigns() {
      return call("list open campaigns", async () => {
        const entries: OpenCampaignEntry[] = [];
        for await (const entity of client.listEntities<Record<string, string | undefined>>({ queryOptions: { filter: odata`PartitionKey eq ${OPEN_PARTITION}` } })) {
          entries.push(entryOf(entity, entity.etag));
        }
        return entries.sort((a, b) => (a.campaignId < b.campaignId ? -1 : a.campaignId > b.campaignId ? 1 : 0));
      });
    },

    async touchOpenCampaign(campaignId, at) {
      assertInstant(at);
      // `openedAt` only fills a gap: Merge keeps the columns it does not name, but a re-added entry needs one.
      await call("touch open campaign", async () => {
        try {
          await client.updateEntity({ partitionKey: OPEN_PARTITION, rowKey: escapeKey(campaignId), nextCheckAt: "" }, "Merge");
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
          await client.upsertEntity({ partitionKey: OPEN_PARTITION, rowKey: escapeKey(campaignId), campaignId, openedAt: at, checkedAt: "", nextCheckAt: "" }, "Merge");
        }
      });
    },

    async markCampaignChecked(campaignId, version, checkedAt, nextCheckAt, settled, counts) {
      assertInstant(checkedAt);
      const rowKey = escapeKey(campaignId);
      return call("mark campaign checked", async () => {
        try {
          if (settled) await client.deleteEntity(OPEN_PARTITION, rowKey, { etag: version });
          else await client.updateEntity({ partitionKey: OPEN_PARTITION, rowKey, checkedAt, nextCheckAt: nextCheckAt ?? "", ...(counts === undefined ? {} : { counts: JSON.stringify(counts) }) }, "Merge", { etag: version });
          return true;
        } catch (error) {
          // 412: touched since it was listed (it stays due); 404: gone already.
          const status = statusOf(error);
          if (status !== 412 && status !== 404) throw error;
          return false;
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

    getProgress(campaignId) {
      return readValue<CampaignProgress>(client, `${ALERTS}${escapeKey(campaignId)}`, PROGRESS_ROW, "get campaign progress");
    },

    saveProgress(campaignId, patch) {
      return guardedWrite<CampaignProgress, CampaignProgress>(client, `${ALERTS}${escapeKey(campaignId)}`, PROGRESS_ROW, "save campaign progress", (current) => {
        const next = patch(current);
        return { write: next, result: next };
      });
    },

    async listAlerts() {
      // `}` is the character after `|`: this range is exactly the alert partitions.
      const rows = await queryValues<AlertRecord>(client, odata`PartitionKey ge ${ALERTS} and PartitionKey lt ${"a}"} and RowKey eq ${ALERT_ROW}`, "list alerts");
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

    getMergeLatencies(repository) {
      return readValue<MergeLatencySamples>(client, `${MERGE_LATENCIES}${escapeKey(repository)}`, MERGE_LATENCIES_ROW, "get merge latencies");
    },

    async addMergeLatency(repository, obligation, ms) {
      await guardedWrite<MergeLatencySamples, void>(client, `${MERGE_LATENCIES}${escapeKey(repository)}`, MERGE_LATENCIES_ROW, "add merge latency", (current) => ({
        write: addMergeLatencySample(current, repository, obligation, ms),
        result: undefined,
      }));
    },
  };
}

function entryOf(entity: Record<string, unknown>, etag: string | undefined): OpenCampaignEntry {
  const text = (name: string): string | null => {
    const value = entity[name];
    return typeof value === "string" && value !== "" ? value : null;
  };
  const counts = text("counts");
  return { campaignId: String(entity["campaignId"]), openedAt: text("openedAt") ?? new Date(0).toISOString(), checkedAt: text("checkedAt"), nextCheckAt: text("nextCheckAt"), version: etag ?? "", counts: counts === null ? null : (JSON.parse(counts) as OpenObligationCounts) };
}

/** The index entity of a newly opened campaign (create-only: a replay leaves the entry as it is). */
export function openCampaignEntity(campaignId: string, openedAt: string): Record<string, string> & { partitionKey: string; rowKey: string } {
  return { partitionKey: OPEN_PARTITION, rowKey: escapeKey(campaignId), campaignId, openedAt, checkedAt: "", nextCheckAt: "" };
}
