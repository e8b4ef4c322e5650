import type { Campaign, Obligation } from "../domain/campaign.js";
import type { DependencyEdge } from "../domain/dependency.js";
import type { ManifestFacts } from "../domain/image-facts.js";
import type { RegistryEvent } from "../domain/registry-event.js";
import type { AlertState } from "../domain/alert-policy.js";
import type { AlertMessage } from "./alert-sink.js";
import type { OpenObligationCounts } from "./sla-metrics.js";
import type { RunStatus } from "./image-builder.js";

export type EventStatus = "accepted" | "ignored" | "rejected" | "processed" | "failed";

/** One inbound notification as recorded, with what Ripple did with it. */
export interface EventRecord {
  /** {@link import("../domain/registry-event.js").dedupeKey} for normalized events; a generated id for rejected envelopes. */
  readonly key: string;
  readonly event: RegistryEvent | null;
  readonly status: EventStatus;
  readonly reason: string | null;
  readonly receivedAt: string;
  /** While set and in the future, one processor holds the event (see {@link StateStore.leaseEvent}). */
  readonly leaseUntil?: string | null;
  /** How often the stuck-event timer queued it again. */
  readonly requeues?: number;
}

export interface TagHistoryEntry {
  readonly digest: string;
  /** Registry time of the push that moved the tag here. */
  readonly at: string;
}

export interface TagState {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  /** Null once the tag has been deleted. */
  readonly digest: string | null;
  /** Registry time of the newest applied move (or deletion). */
  readonly at: string;
  readonly history: readonly TagHistoryEntry[];
}

export interface TagMove {
  /** False when the event is not newer than the recorded state (a reordered or replayed delivery). */
  readonly applied: boolean;
  readonly previous: string | null;
  readonly current: string | null;
}

/** A manifest as read once and stored by digest, with where it was seen. */
export interface StoredManifest {
  readonly registry: string;
  readonly repository: string;
  readonly facts: ManifestFacts;
}

export interface OpenedCampaign {
  /** False when the campaign already existed (replay): nothing new was written. */
  readonly created: boolean;
  readonly campaign: Campaign;
  readonly obligations: readonly Obligation[];
}

/** One rebuild of one image on one base digest: the idempotency record of the rebuild worker. */
export interface RunRecord {
  /** `${image}|${baseDigest}` ({@link runKey}): at most one run per image and base digest. */
  readonly key: string;
  readonly image: string;
  readonly registry: string;
  readonly base: string;
  readonly baseDigest: string;
  readonly campaignId: string;
  /** `acr-tasks` or `buildah`. */
  readonly builder: string;
  /**
   * `claimed` until the builder answered with a run id; `retrying` after a retryable failure, until the
   * delayed retry job (whose `attempt` equals `attempts`) takes it over.
   */
  readonly status: "claimed" | "retrying" | RunStatus;
  readonly runId: string | null;
  readonly logsUrl: string | null;
  readonly reason: string | null;
  /** Builder calls made so far (retryable failures start again). */
  readonly attempts: number;
  readonly claimedAt: string;
  /**
   * While `claimed`: when the claiming worker last said it is still waiting on the builder (renewed every
   * `rebuild.heartbeatSeconds`). A claim whose heartbeat (else `claimedAt`) is older than
   * `rebuild.claimTimeoutSeconds` belongs to a dead worker and is taken over. Absent on older records.
   */
  readonly heartbeatAt?: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly updatedAt: string;
}

/** What the last scan of a repository found: its cursor and the file-pin dependents it recorded. */
export interface RepositoryScanRecord {
  readonly repository: string;
  readonly cursor: string;
  readonly revision: string;
  readonly scannedAt: string;
  /** Dependent keys (`file:repo:path:line`) whose edges this scan wrote; the next scan replaces them. */
  readonly dependents: readonly string[];
}

/** Ripple's record of the one pull request per (repository, base tag). */
export interface PullRequestRecord {
  readonly repository: string;
  readonly branch: string;
  readonly base: string;
  /** The base digest the branch currently moves the pins to. */
  readonly digest: string;
  readonly campaignId: string;
  readonly number: number;
  readonly url: string;
  readonly state: "open" | "closed" | "merged";
  readonly title: string;
  readonly body: string;
  /** The dependent keys (file pins) this pull request bumps. */
  readonly dependents: readonly string[];
  readonly files: readonly string[];
  readonly openedAt: string;
  readonly updatedAt: string;
  /**
   * The branch's earlier pull requests Ripple recorded, newest first (at most
   * {@link EARLIER_PULL_REQUESTS_KEPT}): a merge or close of one of them still settles the obligations it
   * bumped after a newer pull request replaced it. Absent on records written before it existed.
   */
  readonly earlier?: readonly EarlierPullRequest[];
}

/** How many earlier pull requests a {@link PullRequestRecord} keeps. */
export const EARLIER_PULL_REQUESTS_KEPT = 10;

/** A pull request of a branch that a newer one replaced in its {@link PullRequestRecord}. */
export interface EarlierPullRequest {
  readonly number: number;
  readonly url: string;
  readonly digest: string;
  readonly campaignId: string;
  /** `open` until its merge or close is handled. */
  readonly state: "open" | "closed" | "merged";
  readonly dependents: readonly string[];
}

/**
 * The right to propose on one branch: the one pull-request job delivery that holds it scans and proposes,
 * every other one waits. Its holder renews it while working, so a holder that died lets it lapse at `until`.
 */
export interface ProposingLease {
  /** The delivery holding it (a random id). */
  readonly holder: string;
  /** The base digest the holder proposes. */
  readonly digest: string;
  readonly takenAt: string;
  readonly until: string;
}

/** A branch's pull-request slot: its record (null before Ripple's first pull request on it) and its proposing lease (null when free). */
export interface PullRequestSlot {
  readonly record: PullRequestRecord | null;
  readonly lease: ProposingLease | null;
}

/** One digest an upstream tag has pointed at, as the watcher saw it. */
export interface UpstreamSighting {
  /** Null when the tag was found deleted. */
  readonly digest: string | null;
  /** When the watcher first saw the tag on this digest: the moment the patch became available. */
  readonly firstSeenAt: string;
  /** The image config's `created` time (of the first platform for an index), when known. */
  readonly created: string | null;
}

/** A watched upstream tag: what it points at, per-platform digests, and the watcher's schedule. */
export interface UpstreamTagRecord {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  /** Current digest (the tag's manifest or index); null before the first check or once deleted. */
  readonly digest: string | null;
  readonly mediaType: string | null;
  /** For an index: each platform's manifest digest (`linux/amd64` → digest); empty for a single manifest. */
  readonly platforms: ReadonlyArray<{ readonly platform: string; readonly digest: string }>;
  /** First sighting of the current digest. */
  readonly firstSeenAt: string | null;
  readonly created: string | null;
  readonly lastCheckAt: string | null;
  readonly nextCheckAt: string;
  /** The last check's failure (null after a good check). */
  readonly lastError: string | null;
  /** Failed checks in a row. */
  readonly errors: number;
  /**
   * The newest sighting not yet brought in (mirrored or recorded as an event); null once done. Kept until
   * it succeeds, so a failed mirror is retried at the next check and never lost.
   */
  readonly pending: UpstreamSighting | null;
  /** When the current digest was brought in (mirrored, or its event recorded); null while pending. */
  readonly broughtInAt: string | null;
  /** Sightings, oldest first (at most 50). */
  readonly history: readonly UpstreamSighting[];
}

/** When the tags of an upstream repository were last listed (glob expansion) and what was found. */
export interface UpstreamListingRecord {
  readonly registry: string;
  readonly repository: string;
  readonly listedAt: string;
  readonly tags: readonly string[];
}

/**
 * Where a digest in a repository came from when it is a patch Ripple brought in from upstream: written
 * before the mirror push (or the upstream event), read when that push is processed, so the campaign's
 * clock starts at the first sighting rather than at the push.
 */
export interface PatchOriginRecord {
  /** The registry and repository the push arrives in (the mirror, or the upstream itself when not mirrored). */
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  /** The upstream tag key (`docker.io/library/alpine:3.20`). */
  readonly upstream: string;
  readonly firstSeenAt: string;
  readonly created: string | null;
  readonly recordedAt: string;
}

/**
 * An entry of the open-campaign index the SLA monitor reads instead of every campaign: written when a
 * campaign opens, made due at once (`nextCheckAt` null) on every change of one of its obligations, removed
 * once the campaign is settled.
 */
export interface OpenCampaignEntry {
  readonly campaignId: string;
  readonly openedAt: string;
  /** When the monitor last evaluated it; null before the first time. */
  readonly checkedAt: string | null;
  /** The earliest moment its SLA standing can change without any event (a threshold, a renotify); null: at once. */
  readonly nextCheckAt: string | null;
  /** Changes with every write of the entry (its ETag): {@link SlaRecords.markCampaignChecked} compares it. */
  readonly version: string;
  /** Its open obligations by status at the last check (what the metrics sum); null before the first. */
  readonly counts: OpenObligationCounts | null;
}

/** What one sink has been sent of one alert. */
export interface AlertDeliveryState {
  readonly sinkId: string;
  /** The alert sequence last delivered to this sink (0: none). */
  readonly delivered: number;
  /** The sink's reference (Slack `channel:ts`, GitHub issue number), passed back on the next delivery. */
  readonly ref: string | null;
  readonly deliveredAt: string | null;
  /** While set and in the future, one worker is sending (see the deliver-alert use case). */
  readonly sendingUntil: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  /** The sequence whose delivery failed for good (a permanent error); it is not queued again. */
  readonly failedSequence: number | null;
}

/** The one alert of a campaign: its policy state, the message of its latest decision and each sink's deliveries. */
export interface AlertRecord {
  readonly campaignId: string;
  readonly state: AlertState;
  /** The message of the latest decision that delivers something (what a delivery job sends). */
  readonly message: AlertMessage | null;
  /** Per sink id: the action the latest decision wants delivered to it, at which sequence. */
  readonly wanted: Readonly<Record<string, { readonly sequence: number; readonly action: AlertMessage["action"] }>>;
  readonly deliveries: Readonly<Record<string, AlertDeliveryState>>;
  readonly updatedAt: string;
}

/**
 * What the SLA monitor has already done about a campaign's closed obligations: published their lifecycle
 * events and counted their durations, by a marker of the state it saw (`done@<updatedAt>`), so a change is
 * handled once whatever the clocks of the workers and the monitor say.
 */
export interface CampaignProgress {
  readonly campaignId: string;
  /** Whether `Ripple.Campaign.Opened` was published. */
  readonly opened: boolean;
  /** dependent key → the marker of the last closed state handled. */
  readonly seen: Readonly<Record<string, string>>;
}

/** A pause of alerts for one campaign, or for dependents matching a glob, until a time. */
export interface WaiverRecord {
  readonly id: string;
  /** The campaign it covers, or null for every campaign. */
  readonly campaignId: string | null;
  /** A glob over dependents (as `sla.dependents[].match`), or null for every dependent of the campaign. */
  readonly dependent: string | null;
  readonly until: string;
  readonly reason: string;
  /** Who asked for it. */
  readonly by: string;
  /**
   * How the request was let in, when not by a signed-in user or the CLI: `function-key` — a caller with the
   * waiver endpoint's function key and no signed-in user, so `by` is as the caller wrote it, not vouched for.
   */
  readonly via?: "function-key";
  readonly createdAt: string;
}

/** Past durations (scheduled → done) of one dependent's obligations: what the breach prediction reads. */
export interface DurationSamples {
  readonly dependentKey: string;
  /** Newest last, at most 20; keyed by obligation (`campaignId|dependentKey`) so a replay adds nothing. */
  readonly samples: ReadonlyArray<{ readonly obligation: string; readonly ms: number }>;
}

/** Past merge latencies (pull request opened → merged) of Ripple's pull requests in one repository: what a pull request's prediction reads. */
export interface MergeLatencySamples {
  readonly repository: string;
  /** Newest last, at most 20; keyed by obligation (`campaignId|dependentKey`) so a replay adds nothing. */
  readonly samples: ReadonlyArray<{ readonly obligation: string; readonly ms: number }>;
}

export function runKey(image: string, baseDigest: string): string {
  return `${image}|${baseDigest}`;
}

/**
 * Durable state: events and their dedupe keys, tag history, manifests, the dependency graph,
 * campaigns and obligations (Azure Table Storage in Azure, Azurite locally; an in-memory copy for
 * domain unit tests only). Every write is idempotent; guarded updates throw ConflictError on a lost race.
 */
export interface StateStore extends SlaRecords {
  /** Records an event under `record.key` if that key is new. Returns false for a duplicate. */
  recordEvent(record: EventRecord): Promise<boolean>;
  getEvent(key: string): Promise<EventRecord | null>;
  /**
   * Takes the processing lease of an `accepted` event until `until`, unless another processor holds an
   * unexpired one (compared with `now`). Returns whether this call holds it. ETag-guarded, so exactly one of
   * several concurrent callers wins; a crashed holder's lease simply expires.
   */
  leaseEvent(key: string, until: string, now: string): Promise<boolean>;
  /** Applies `patch` to a recorded event with an ETag guard (leases released, requeues counted). */
  updateEvent(key: string, patch: (current: EventRecord) => EventRecord): Promise<EventRecord>;
  /** Sets the outcome of a recorded event (processed, failed, ignored) with a reason. */
  setEventStatus(key: string, status: EventStatus, reason: string | null): Promise<void>;
  /** Newest first. */
  listEvents(limit: number): Promise<EventRecord[]>;
  /**
   * The unfinished events (status `accepted`, leased or not) received at or before `olderThan`, oldest
   * first, at most `limit`: read from the unfinished-event index, so an old event is found however many
   * newer ones arrived after it. The index gains an entry whenever a record becomes `accepted`
   * ({@link recordEvent}, or {@link updateEvent} replaying a failed one) and loses it when the event ends
   * (`processed`, `ignored`, `rejected`, `failed`).
   *
   * Crash safety (stores whose index and records cannot be written in one transaction): the entry is
   * written before the record becomes `accepted` (and again after, see below), so a crash never leaves an
   * accepted event unindexed; it is removed only after the record has ended, so a crash there leaves at
   * most a stale entry. A stale entry (its event ended, or never recorded because the recorder crashed
   * in between) is skipped and deleted when read here — guarded by the entry's ETag, and a writer making
   * a record `accepted` rewrites its entry after the record, so a read racing that writer never deletes
   * a live entry. Idempotent apart from that cleaning.
   */
  listUnfinishedEvents(olderThan: string, limit: number): Promise<EventRecord[]>;
  /**
   * The `failed` events, newest first (by receipt, then key, as {@link listEvents}), at most `limit`:
   * read from the failed-event index, so a failure is listed however many newer events arrived after
   * it. The index gains an entry whenever a record becomes `failed` ({@link setEventStatus},
   * {@link updateEvent}, {@link recordEvent}) and loses it when the record leaves `failed` (a replay,
   * a later processing). Kept with the same crash care as the unfinished-event index: the entry is
   * written before the record becomes `failed` and again after, removed only after the record left it,
   * and a stale entry is skipped and deleted (ETag-guarded) when read here. Idempotent apart from that
   * cleaning.
   */
  listFailedEvents(limit: number): Promise<EventRecord[]>;

  getTag(registry: string, repository: string, tag: string): Promise<TagState | null>;
  /**
   * Points the tag at `digest` (or deletes it when null) if `at` is newer than the recorded move.
   * ETag-guarded; retries internally on a lost race, so concurrent movers end on the newest event.
   */
  moveTag(registry: string, repository: string, tag: string, digest: string | null, at: string): Promise<TagMove>;
  /** Every tag, or only the tags of one repository (one partition). */
  listTags(filter?: { registry: string; repository: string }): Promise<TagState[]>;

  /** Stores manifest facts by digest (idempotent: the same digest has the same content). */
  putManifest(manifest: StoredManifest): Promise<void>;
  getManifest(registry: string, digest: string): Promise<StoredManifest | null>;

  /** Upserts an edge, indexed both by base (one partition per base tag) and by dependent. */
  putEdge(edge: DependencyEdge): Promise<void>;
  /** Removes every edge of a dependent (before re-inferring it from a new push). */
  removeEdgesOf(dependentKey: string): Promise<void>;
  /** Direct dependents of one base tag: reads one partition. */
  listDependents(base: string): Promise<DependencyEdge[]>;
  /** Direct bases of one dependent. */
  listBasesOf(dependentKey: string): Promise<DependencyEdge[]>;
  listEdges(): Promise<DependencyEdge[]>;

  /**
   * Creates the campaign and its obligations in one transaction if `campaign.id` is new, and its entry in
   * the open-campaign index; otherwise returns what is stored (created: false). Idempotent.
   */
  openCampaign(campaign: Campaign, obligations: readonly Obligation[]): Promise<OpenedCampaign>;
  getCampaign(id: string): Promise<{ campaign: Campaign; obligations: Obligation[] } | null>;
  /** Sets `jobsQueuedAt` on the campaign header (first time wins; idempotent). Returns the header. */
  markCampaignQueued(id: string, at: string): Promise<Campaign>;
  /** One obligation, without reading its whole campaign. */
  getObligation(campaignId: string, dependentKey: string): Promise<Obligation | null>;
  /** Newest first; with `base`, only that base tag's campaigns (a key-range read, not a scan). */
  listCampaigns(filter?: { base: string }): Promise<Campaign[]>;
  /**
   * Applies `patch` to one obligation with an ETag guard (re-reads on a lost race), appends the change to
   * its history, and touches the campaign's open-campaign index entry. Returns the new record.
   */
  updateObligation(
    campaignId: string,
    dependentKey: string,
    patch: (current: Obligation) => Obligation,
  ): Promise<Obligation>;

  /**
   * Creates the run record if no run exists for `record.key` (first claimant wins). Returns whether this
   * call claimed it, and the stored record either way. Idempotent.
   */
  claimRun(record: RunRecord): Promise<{ claimed: boolean; record: RunRecord }>;
  getRun(registry: string, key: string): Promise<RunRecord | null>;
  /** Applies `patch` with an ETag guard (re-reads on a lost race). Throws AppError `not_found` for an unknown run. */
  updateRun(registry: string, key: string, patch: (current: RunRecord) => RunRecord): Promise<RunRecord>;
  /** Runs of one registry (one partition), or of all registries; newest claim first. */
  listRuns(registry?: string): Promise<RunRecord[]>;

  getRepositoryScan(repository: string): Promise<RepositoryScanRecord | null>;
  /** Replaces the scan record of a repository. */
  putRepositoryScan(record: RepositoryScanRecord): Promise<void>;

  getPullRequest(repository: string, branch: string): Promise<PullRequestRecord | null>;
  /**
   * Creates or replaces a pull-request record with an ETag guard: `patch` gets the stored one (or null).
   * The branch's proposing lease is kept as it is.
   */
  savePullRequest(repository: string, branch: string, patch: (current: PullRequestRecord | null) => PullRequestRecord): Promise<PullRequestRecord>;
  /**
   * Applies `patch` to a branch's slot — its record and its proposing lease, stored together — in one
   * ETag-guarded write (re-read and applied again on a lost race, so `patch` may run more than once) and
   * returns the slot as stored after the call; `patch` returning null writes nothing. Concurrent callers
   * are serialized: each patch sees what every earlier write left, so of several callers taking a free
   * lease exactly one finds it free. A slot with a lease and no record is not a pull request:
   * {@link getPullRequest} and {@link listPullRequests} do not see it.
   */
  updatePullRequestSlot(repository: string, branch: string, patch: (current: PullRequestSlot) => PullRequestSlot | null): Promise<PullRequestSlot>;
  /** Every pull-request record, newest update first. */
  listPullRequests(): Promise<PullRequestRecord[]>;

  getUpstreamTag(registry: string, repository: string, tag: string): Promise<UpstreamTagRecord | null>;
  /** Creates or replaces an upstream tag record with an ETag guard: `patch` gets the stored one (or null). */
  saveUpstreamTag(
    registry: string,
    repository: string,
    tag: string,
    patch: (current: UpstreamTagRecord | null) => UpstreamTagRecord,
  ): Promise<UpstreamTagRecord>;
  /** Removes a watched tag that no longer matches the configuration (idempotent). */
  removeUpstreamTag(registry: string, repository: string, tag: string): Promise<void>;
  /** Every watched tag, by registry, repository and tag. */
  listUpstreamTags(): Promise<UpstreamTagRecord[]>;
  getUpstreamListing(registry: string, repository: string): Promise<UpstreamListingRecord | null>;
  /** Replaces the listing record of a repository. */
  putUpstreamListing(record: UpstreamListingRecord): Promise<void>;
  /**
   * Records where a digest came from. A replay of the same sighting (or an older one) changes nothing; a
   * later sighting of the digest (a rollback to it) replaces it. Idempotent; ETag-guarded.
   */
  putPatchOrigin(record: PatchOriginRecord): Promise<void>;
  getPatchOrigin(registry: string, repository: string, digest: string): Promise<PatchOriginRecord | null>;
}

/** The SLA part of the {@link StateStore}, which each store adapter implements in a module of its own. */
export interface SlaRecords {
  /** The open-campaign index, by campaign id. */
  listOpenCampaigns(): Promise<OpenCampaignEntry[]>;
  /**
   * Records the monitor's evaluation of the entry it listed as `version`: with `settled`, removes it;
   * otherwise sets `checkedAt` and `nextCheckAt`. If the entry changed since it was listed (an obligation
   * update touched it while the monitor worked), nothing is written: the touch left it due. Returns whether
   * it was written. Idempotent; ETag-guarded, so no clock of any writer is compared with another's.
   */
  markCampaignChecked(campaignId: string, version: string, checkedAt: string, nextCheckAt: string | null, settled: boolean, counts?: OpenObligationCounts): Promise<boolean>;
  /**
   * Makes a campaign due at the monitor's next tick (re-adding its index entry when gone, with `at` as its
   * opening). One blind write: concurrent workers of one campaign never race for it.
   */
  touchOpenCampaign(campaignId: string, at: string): Promise<void>;
  getAlert(campaignId: string): Promise<AlertRecord | null>;
  /** Creates or replaces an alert record with an ETag guard: `patch` gets the stored one (or null). */
  saveAlert(campaignId: string, patch: (current: AlertRecord | null) => AlertRecord): Promise<AlertRecord>;
  /** Every alert record, newest update first. */
  listAlerts(): Promise<AlertRecord[]>;
  getProgress(campaignId: string): Promise<CampaignProgress | null>;
  /** Creates or replaces a campaign's progress record with an ETag guard. */
  saveProgress(campaignId: string, patch: (current: CampaignProgress | null) => CampaignProgress): Promise<CampaignProgress>;
  /** Records a waiver (idempotent by id). */
  putWaiver(waiver: WaiverRecord): Promise<void>;
  /** Every waiver, expired ones included (they stay as a record), newest first. */
  listWaivers(): Promise<WaiverRecord[]>;
  getDurations(dependentKey: string): Promise<DurationSamples | null>;
  /** Adds one sample (ignored when the obligation is already counted); keeps the newest 20. */
  addDuration(dependentKey: string, obligation: string, ms: number): Promise<void>;
  getMergeLatencies(repository: string): Promise<MergeLatencySamples | null>;
  /** Adds one merge latency sample of `repository` (ignored when the obligation is already counted); keeps the newest 20. */
  addMergeLatency(repository: string, obligation: string, ms: number): Promise<void>;
}

/** The upstream-watch part of the {@link StateStore}, which each store adapter implements in a module of its own. */
export type UpstreamWatchRecords = Pick<
  StateStore,
  | "getUpstreamTag"
  | "saveUpstreamTag"
  | "removeUpstreamTag"
  | "listUpstreamTags"
  | "getUpstreamListing"
  | "putUpstreamListing"
  | "putPatchOrigin"
  | "getPatchOrigin"
>;
