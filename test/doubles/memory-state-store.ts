import type { Campaign, Obligation } from "../../shared/domain/campaign.js";
import { dependentKey, type DependencyEdge } from "../../shared/domain/dependency.js";
import { AppError, ValidationError } from "../../shared/errors.js";
import type {
  PatchOriginRecord,
  PullRequestSlot,
  RepositoryScanRecord,
  RunRecord,
  EventRecord,
  EventStatus,
  OpenedCampaign,
  AlertRecord,
  CampaignProgress,
  DurationSamples,
  MergeLatencySamples,
  OpenCampaignEntry,
  SlaRecords,
  StateStore,
  UpstreamWatchRecords,
  WaiverRecord,
  StoredManifest,
  TagMove,
  TagState,
  UpstreamListingRecord,
  UpstreamTagRecord,
} from "../../shared/ports/state-store.js";
import { applyTagMove, assertInstant, instantMs } from "../../shared/adapters/state-rules/apply-tag-move.js";
import {
  keepsPatchOrigin,
  checkCampaignInput,
  checkObligationPatch,
  compareCampaignsNewestFirst,
  compareEdges,
  compareEventsNewestFirst,
  compareObligations,
  compareRunsNewestFirst,
  compareTags,
} from "../../shared/adapters/state-rules/compare-records.js";
import { addDurationSample, addMergeLatencySample, compareAlertsNewestFirst, compareWaiversNewestFirst } from "../../shared/adapters/state-rules/sla-rules.js";

/**
 * An in-memory StateStore for domain unit tests only (never for integration tests or the demo).
 * Same semantics and list orders as the Table Storage adapter: event dedupe by key, tag moves applied
 * only when strictly newer, idempotent campaigns, obligations ordered by dependent key. Values are
 * deep-copied in and out, so callers cannot change stored state through a reference.
 * Unknown keys in `setEventStatus` / `updateObligation` throw AppError `not_found`.
 */
export function createMemoryStateStore(): StateStore {
  const events = new Map<string, EventRecord>();
  // The unfinished- and failed-event indexes: keys of the `accepted` and of the `failed` events, kept
  // in step with every event write.
  const unfinished = new Set<string>();
  const failed = new Set<string>();
  const storeEvent = (record: EventRecord) => {
    events.set(record.key, copy(record));
    for (const [index, status] of [[unfinished, "accepted"], [failed, "failed"]] as const) {
      if (record.status === status) index.add(record.key);
      else index.delete(record.key);
    }
  };
  const tags = new Map<string, TagState>();
  const manifests = new Map<string, StoredManifest>();
  // Edge id → edge; the id is the same identity the table adapter uses for its RowKeys.
  const edges = new Map<string, DependencyEdge>();
  const campaigns = new Map<string, { campaign: Campaign; obligations: Map<string, Obligation> }>();
  const runs = new Map<string, RunRecord>();
  const scans = new Map<string, RepositoryScanRecord>();
  const pulls = new Map<string, PullRequestSlot>();
  const runId = (registry: string, key: string) => JSON.stringify([registry, key]);

  const tagId = (registry: string, repository: string, tag: string) => JSON.stringify([registry, repository, tag]);
  const edgeId = (edge: DependencyEdge) =>
    JSON.stringify([edge.base, dependentKey(edge.dependent), edge.evidence, edge.platform]);

  const readCampaign = (id: string) => {
    const stored = campaigns.get(id);
    if (stored === undefined) return null;
    return copy({ campaign: stored.campaign, obligations: [...stored.obligations.values()].sort(compareObligations) });
  };

  const sla = createSlaMemory();

  return {
    ...createUpstreamMemory(),
    ...sla,

    async recordEvent(record) {
      assertInstant(record.receivedAt);
      if (events.has(record.key)) return false;
      storeEvent(record);
      return true;
    },

    async getEvent(key) {
      return copyOrNull(events.get(key));
    },

    async updateEvent(key, patch) {
      const record = events.get(key);
      if (record === undefined) throw notFound(`event "${key}"`);
      const next = patch(copy(record));
      if (next.key !== record.key) throw new AppError("state_corrupt", "an event patch may not change its key");
      storeEvent(next);
      return copy(next);
    },

    async leaseEvent(key, until, now) {
      const record = events.get(key);
      if (record === undefined) throw notFound(`event "${key}"`);
      if (record.status !== "accepted" || (record.leaseUntil != null && instantMs(record.leaseUntil) > instantMs(now))) return false;
      events.set(key, { ...record, leaseUntil: until });
      return true;
    },

    async setEventStatus(key: string, status: EventStatus, reason: string | null) {
      const record = events.get(key);
      if (record === undefined) throw notFound(`event "${key}"`);
      storeEvent({ ...record, status, reason });
    },

    async listEvents(limit) {
      return copy([...events.values()].sort(compareEventsNewestFirst).slice(0, Math.max(0, limit)));
    },

    async listUnfinishedEvents(olderThan, limit) {
      const cutoff = instantMs(olderThan);
      const due = [...unfinished].map((key) => events.get(key)!).filter((record) => instantMs(record.receivedAt) <= cutoff);
      return copy(due.sort(compareEventsOldestFirst).slice(0, Math.max(0, limit)));
    },

    async listFailedEvents(limit) {
      const all = [...failed].map((key) => events.get(key)!);
      return copy(all.sort(compareEventsNewestFirst).slice(0, Math.max(0, limit)));
    },

    async getTag(registry, repository, tag) {
      return copyOrNull(tags.get(tagId(registry, repository, tag)));
    },

    async moveTag(registry, repository, tag, digest, at): Promise<TagMove> {
      const id = tagId(registry, repository, tag);
      const { next, move } = applyTagMove(tags.get(id) ?? null, { registry, repository, tag }, digest, at);
      if (next !== null) tags.set(id, copy(next));
      return move;
    },

    async listTags(filter) {
      const all = [...tags.values()].filter((tag) => filter === undefined || (tag.registry === filter.registry && tag.repository === filter.repository));
      return copy(all.sort(compareTags));
    },

    async putManifest(manifest) {
      manifests.set(JSON.stringify([manifest.registry, manifest.facts.digest]), copy(manifest));
    },

    async getManifest(registry, digest) {
      return copyOrNull(manifests.get(JSON.stringify([registry, digest])));
    },

    async putEdge(edge) {
      edges.set(edgeId(edge), copy(edge));
    },

    async removeEdgesOf(key) {
      for (const [id, edge] of edges) if (dependentKey(edge.dependent) === key) edges.delete(id);
    },

    async listDependents(base) {
      return copy([...edges.values()].filter((edge) => edge.base === base).sort(compareEdges));
    },

    async listBasesOf(key) {
      return copy([...edges.values()].filter((edge) => dependentKey(edge.dependent) === key).sort(compareEdges));
    },

    async listEdges() {
      return copy([...edges.values()].sort(compareEdges));
    },

    async openCampaign(campaign, obligations): Promise<OpenedCampaign> {
      checkCampaignInput(campaign, obligations);
      const existing = readCampaign(campaign.id);
      sla.index(campaign.id, campaign.openedAt);
      if (existing !== null) return { created: false, ...existing };
      campaigns.set(campaign.id, {
        campaign: copy(campaign),
        obligations: new Map(obligations.map((obligation) => [obligation.dependentKey, copy(obligation)])),
      });
      const stored = readCampaign(campaign.id);
      if (stored === null) throw new AppError("state_corrupt", "campaign vanished after being written");
      return { created: true, ...stored };
    },

    async getCampaign(id) {
      return readCampaign(id);
    },

    async listCampaigns(filter) {
      const all = [...campaigns.values()].map((stored) => stored.campaign).filter((campaign) => filter === undefined || campaign.base === filter.base);
      return copy(all.sort(compareCampaignsNewestFirst));
    },

    async markCampaignQueued(id, at) {
      const stored = campaigns.get(id);
      if (stored === undefined) throw notFound(`campaign "${id}"`);
      if (stored.campaign.jobsQueuedAt == null) stored.campaign = { ...stored.campaign, jobsQueuedAt: at };
      return copy(stored.campaign);
    },

    async getObligation(campaignId, key) {
      const stored = campaigns.get(campaignId)?.obligations.get(key);
      return stored === undefined ? null : copy(stored);
    },

    async updateObligation(campaignId, key, patch) {
      const current = campaigns.get(campaignId)?.obligations.get(key);
      if (current === undefined) throw notFound(`obligation "${key}" of campaign "${campaignId}"`);
      const next = checkObligationPatch(current, patch(copy(current)));
      if (JSON.stringify(next) === JSON.stringify(current)) return copy(next);
      campaigns.get(campaignId)?.obligations.set(key, copy(next));
      await sla.touchOpenCampaign(campaignId, next.updatedAt);
      return copy(next);
    },

    async claimRun(record) {
      const existing = runs.get(runId(record.registry, record.key));
      if (existing !== undefined) return { claimed: false, record: copy(existing) };
      runs.set(runId(record.registry, record.key), copy(record));
      return { claimed: true, record: copy(record) };
    },

    async getRun(registry, key) {
      const stored = runs.get(runId(registry, key));
      return stored === undefined ? null : copy(stored);
    },

    async updateRun(registry, key, patch) {
      const current = runs.get(runId(registry, key));
      if (current === undefined) throw notFound(`run "${key}"`);
      const next = patch(copy(current));
      if (next.key !== current.key || next.registry !== current.registry) throw new AppError("state_corrupt", "a run patch may not change its key or registry");
      runs.set(runId(registry, key), copy(next));
      return copy(next);
    },

    async getRepositoryScan(repository) {
      const stored = scans.get(repository);
      return stored === undefined ? null : copy(stored);
    },

    async putRepositoryScan(record) {
      scans.set(record.repository, copy(record));
    },

    async getPullRequest(repository, branch) {
      const stored = pulls.get(JSON.stringify([repository, branch]))?.record;
      return stored == null ? null : copy(stored);
    },

    async savePullRequest(repository, branch, patch) {
      const key = JSON.stringify([repository, branch]);
      const stored = pulls.get(key);
      const next = patch(stored?.record == null ? null : copy(stored.record));
      pulls.set(key, { record: copy(next), lease: stored?.lease ?? null });
      return copy(next);
    },

    async updatePullRequestSlot(repository, branch, patch) {
      const key = JSON.stringify([repository, branch]);
      const current: PullRequestSlot = copy(pulls.get(key) ?? { record: null, lease: null });
      const next = patch(copy(current));
      if (next === null) return current;
      pulls.set(key, copy(next));
      return copy(next);
    },

    async listPullRequests() {
      const records = [...pulls.values()].flatMap((slot) => (slot.record === null ? [] : [slot.record]));
      return copy(records.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0)));
    },

    async listRuns(registry) {
      return [...runs.values()]
        .filter((run) => registry === undefined || run.registry === registry)
        .sort(compareRunsNewestFirst)
        .map(copy);
    },
  };
}


/** The SLA records, with the same semantics and order as table-storage/sla-records.ts. */
function createSlaMemory(): SlaRecords & { index(campaignId: string, openedAt: string): void } {
  const open = new Map<string, OpenCampaignEntry>();
  const alerts = new Map<string, AlertRecord>();
  const progress = new Map<string, CampaignProgress>();
  const waivers = new Map<string, WaiverRecord>();
  const durations = new Map<string, DurationSamples>();
  const mergeLatencies = new Map<string, MergeLatencySamples>();
  let versions = 0;
  const put = (entry: Omit<OpenCampaignEntry, "version">) => open.set(entry.campaignId, { ...entry, version: String((versions += 1)) });
  const fresh = (campaignId: string, openedAt: string): Omit<OpenCampaignEntry, "version"> => ({ campaignId, openedAt, checkedAt: null, nextCheckAt: null, counts: null });

  return {
    index(campaignId, openedAt) {
      if (!open.has(campaignId)) put(fresh(campaignId, openedAt));
    },
    async listOpenCampaigns() {
      return copy([...open.values()].sort((a, b) => compareText(a.campaignId, b.campaignId)));
    },
    async touchOpenCampaign(campaignId, at) {
      assertInstant(at);
      const entry = open.get(campaignId);
      put(entry === undefined ? fresh(campaignId, at) : { ...entry, nextCheckAt: null });
    },
    async markCampaignChecked(campaignId, version, checkedAt, nextCheckAt, settled, counts) {
      assertInstant(checkedAt);
      const entry = open.get(campaignId);
      if (entry === undefined || entry.version !== version) return false;
      if (settled) open.delete(campaignId);
      else put({ ...entry, checkedAt, nextCheckAt, ...(counts === undefined ? {} : { counts }) });
      return true;
    },
    async getAlert(campaignId) {
      return copyOrNull(alerts.get(campaignId));
    },
    async saveAlert(campaignId, patch) {
      const next = patch(copyOrNull(alerts.get(campaignId)));
      alerts.set(campaignId, copy(next));
      return copy(next);
    },
    async getProgress(campaignId) {
      return copyOrNull(progress.get(campaignId));
    },
    async saveProgress(campaignId, patch) {
      const next = patch(copyOrNull(progress.get(campaignId)));
      progress.set(campaignId, copy(next));
      return copy(next);
    },
    async listAlerts() {
      return copy([...alerts.values()].sort(compareAlertsNewestFirst));
    },
    async putWaiver(waiver) {
      assertInstant(waiver.until);
      assertInstant(waiver.createdAt);
      waivers.set(waiver.id, copy(waiver));
    },
    async listWaivers() {
      return copy([...waivers.values()].sort(compareWaiversNewestFirst));
    },
    async getDurations(dependentKey) {
      return copyOrNull(durations.get(dependentKey));
    },
    async addDuration(dependentKey, obligation, ms) {
      const next = addDurationSample(durations.get(dependentKey) ?? null, dependentKey, obligation, ms);
      if (next !== null) durations.set(dependentKey, copy(next));
    },
    async getMergeLatencies(repository) {
      return copyOrNull(mergeLatencies.get(repository));
    },
    async addMergeLatency(repository, obligation, ms) {
      const next = addMergeLatencySample(mergeLatencies.get(repository) ?? null, repository, obligation, ms);
      if (next !== null) mergeLatencies.set(repository, copy(next));
    },
  };
}

/** The upstream-watch records, with the same checks and order as table-storage/upstream-records.ts. */
function createUpstreamMemory(): UpstreamWatchRecords {
  const tags = new Map<string, UpstreamTagRecord>();
  const listings = new Map<string, UpstreamListingRecord>();
  const origins = new Map<string, PatchOriginRecord>();
  const id = (...parts: string[]) => JSON.stringify(parts);

  return {
    async getUpstreamTag(registry, repository, tag) {
      return copyOrNull(tags.get(id(registry, repository, tag)));
    },

    async saveUpstreamTag(registry, repository, tag, patch) {
      const key = id(registry, repository, tag);
      const next = patch(copyOrNull(tags.get(key)));
      if (next.registry !== registry || next.repository !== repository || next.tag !== tag) {
        throw new ValidationError("an upstream tag patch may not change registry, repository or tag", [
          { path: "tag", message: "identity changed by patch" },
        ]);
      }
      assertInstant(next.nextCheckAt);
      tags.set(key, copy(next));
      return copy(next);
    },

    async removeUpstreamTag(registry, repository, tag) {
      tags.delete(id(registry, repository, tag));
    },

    async listUpstreamTags() {
      return copy([...tags.values()].sort(compareUpstreamTags));
    },

    async getUpstreamListing(registry, repository) {
      return copyOrNull(listings.get(id(registry, repository)));
    },

    async putUpstreamListing(record) {
      assertInstant(record.listedAt);
      listings.set(id(record.registry, record.repository), copy(record));
    },

    async putPatchOrigin(record) {
      assertInstant(record.firstSeenAt);
      const key = id(record.registry, record.repository, record.digest);
      if (!keepsPatchOrigin(origins.get(key) ?? null, record)) origins.set(key, copy(record));
    },

    async getPatchOrigin(registry, repository, digest) {
      return copyOrNull(origins.get(id(registry, repository, digest)));
    },
  };
}

/** By registry, repository, tag. */
function compareUpstreamTags(a: UpstreamTagRecord, b: UpstreamTagRecord): number {
  return compareText(a.registry, b.registry) || compareText(a.repository, b.repository) || compareText(a.tag, b.tag);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order of the Table Storage unfinished-event index: receipt (to the millisecond), then key. */
function compareEventsOldestFirst(a: EventRecord, b: EventRecord): number {
  return instantMs(a.receivedAt) - instantMs(b.receivedAt) || compareText(a.key, b.key);
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

function copyOrNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : copy(value);
}

function notFound(what: string): AppError {
  return new AppError("not_found", `${what} is not in the state store`);
}
