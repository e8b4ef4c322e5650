import { randomUUID } from "node:crypto";
import type { RippleConfig } from "../config.js";
import type { Campaign, Obligation } from "../domain/campaign.js";
import { formatPlatform } from "../domain/image-facts.js";
import { splitTagKey } from "../domain/image-ref.js";
import { bumpPins } from "../domain/pins.js";
import type { Forge, ForgeFile, PullRequest, RepositoryScan } from "../ports/forge.js";
import { EARLIER_PULL_REQUESTS_KEPT, type EarlierPullRequest, type ProposingLease, type PullRequestRecord, type StateStore } from "../ports/state-store.js";
import type { ObligationJob } from "../ports/work-queue.js";
import { AppError, isRetryable } from "../errors.js";

export interface PullRequestDeps {
  readonly store: StateStore;
  readonly config: RippleConfig;
  /** The forge serving a repository (GitHub, or local git on the stack); null when none does. */
  readonly forgeFor: (repository: string) => Forge | null;
  readonly now: () => Date;
}

export type PullRequestOutcome =
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "proposed"; readonly url: string; readonly number: number; readonly files: readonly string[]; readonly updated: boolean }
  | { readonly kind: "failed"; readonly reason: string };

const OPEN = new Set<Obligation["state"]>(["pending", "scheduled"]);
/** How long a proposing lease lasts unless its holder renews it: how long a dead holder blocks its branch. */
export const PROPOSING_LEASE_MS = 60_000;
/** How often a holder renews its lease while it scans and proposes (GitHub's pacing can take minutes). */
const LEASE_RENEW_MS = 15_000;
/** The longest a delivery that found the branch's lease taken waits on the queue before it looks again. */
const BUSY_RETRY_MS = 5_000;
/** A holder stops renewing after this long (twice the Functions timeout): a hung one lets its branch go. */
const MAX_HOLD_MS = 10 * 60_000;

/** `ripple/docker.io-library-alpine-3.20`: one branch (and pull request) per repository per base tag. */
export function branchFor(base: string): string {
  return `ripple/${base.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/-+/g, "-")}`;
}

/**
 * Settles a pull-request obligation: bumps every pin of the campaign's base in the obligation's
 * repository (all its open obligations there, in one commit) and opens the repository's pull request
 * for the base tag, or updates the open one in place. A pull request closed without merging is not
 * reopened for the same digest. A file the forge cannot change (its scan says `readOnly`, e.g. a workflow
 * without the GitHub App's workflows permission) is left out: its pins fail with the forge's reason, and
 * the other files are still proposed. Idempotent: a repeated job finds its pin already proposed.
 *
 * One delivery at a time works on a branch: it takes the branch's proposing lease (see
 * {@link ProposingLease}) before it reads the pull-request record, scans and proposes, renews it while it
 * works and releases it in the same write that records the pull request. So however many deliveries of a
 * job run at once, in whatever order, one pull request is opened per repository, base tag and digest: a
 * later one finds the recorded pull request of its digest (open or merged) and proposes nothing.
 * @throws the forge's and the store's retryable errors (the queue redelivers); a retryable AppError
 * `pull_request_busy` with `details.retryAfterMs` while another delivery holds the branch's lease.
 */
export async function runPullRequestJob(deps: PullRequestDeps, job: ObligationJob): Promise<PullRequestOutcome> {
  try {
    return await proposePins(deps, job);
  } catch (error) {
    if (isRetryable(error)) throw error;
    // A forge refusal that no retry can fix (branch protection, no access, 422) fails the obligation, visibly.
    const obligation = await deps.store.getObligation(job.campaignId, job.dependentKey);
    return fail(deps, obligation === null ? [] : [obligation], error instanceof Error ? error.message : String(error));
  }
}

/** What a pull-request job works on once its obligation is known to be open and served by a forge. */
interface PinTarget {
  readonly obligation: Obligation;
  readonly repository: string;
  readonly branch: string;
  readonly base: { readonly registry: string; readonly repository: string; readonly tag: string };
  readonly forge: Forge;
}

interface PinChange {
  readonly path: string;
  readonly line: number;
  readonly before: string;
  readonly after: string;
}

/** The bumps one scan allows: the files to commit and how each open pin fares. */
interface BumpPlan {
  readonly files: ForgeFile[];
  readonly changes: PinChange[];
  /** Pins in `files`, or already on the new digest. */
  readonly bumped: Obligation[];
  /** Pins no longer in the repository. */
  readonly missing: Obligation[];
  /** Pins in files the forge cannot change, with why. */
  readonly readOnly: Array<{ readonly obligation: Obligation; readonly reason: string }>;
}

async function proposePins(deps: PullRequestDeps, job: ObligationJob): Promise<PullRequestOutcome> {
  const target = await targetOf(deps, job);
  if ("kind" in target) return target;
  return withProposingLease(deps, target, job.toDigest, (lease) => proposeUnderLease(deps, job, target, lease));
}

/** The lease a delivery holds on its branch, and the branch's record as it was when the lease was taken. */
interface HeldLease {
  readonly holder: string;
  readonly record: PullRequestRecord | null;
  /** Set once a write released it (the one that recorded the pull request). */
  released: boolean;
}

async function proposeUnderLease(deps: PullRequestDeps, job: ObligationJob, target: PinTarget, lease: HeldLease): Promise<PullRequestOutcome> {
  const { obligation, repository, branch, base, forge } = target;
  const { record } = lease;
  if (record !== null && record.digest === job.toDigest) {
    if (record.state === "closed") {
      return fail(deps, [obligation], `pull request ${record.url} was closed without merging; not reopened for ${job.toDigest}`);
    }
    if (record.dependents.includes(job.dependentKey)) {
      await schedule(deps, [obligation], record.url);
      return { kind: "skipped", reason: `already in ${record.url}` };
    }
  }

  const found = await deps.store.getCampaign(job.campaignId);
  if (found === null) return { kind: "skipped", reason: `no campaign ${job.campaignId}` };
  const obligations = found.obligations.filter((candidate) => OPEN.has(candidate.state) && candidate.dependent.kind === "file-pin" && candidate.dependent.repo === repository);

  const scan = await forge.scan(repository);
  const name = `${base.registry}/${base.repository}`;
  const plan = await planBumps(deps.store, scan, obligations, { registry: base.registry, name, toDigest: job.toDigest });
  const unproposed = await settleUnproposable(deps, plan, repository, scan.revision);
  if (unproposed !== null) return unproposed;

  const title = `chore(deps): update ${shortName(name)}:${base.tag} digest to ${job.toDigest.slice(job.toDigest.indexOf(":") + 1, job.toDigest.indexOf(":") + 8)}`;
  const body = await describeChange(deps, found.campaign, plan.changes, plan.bumped);
  // A holder paused past its lease (a frozen process) must not propose over the delivery that took it over.
  if (!(await renewLease(deps, target, lease.holder))) throw busy(deps, target, null);
  const pull = await forge.proposeChange({ repository, branch, title, body, labels: deps.config.pullRequests.labels, files: plan.files, baseSha: scan.revision });
  await recordProposal(deps, job, { repository, branch }, pull, plan, lease);
  const files = plan.files.map((file) => file.path);
  return { kind: "proposed", url: pull.url, number: pull.number, files, updated: record !== null && record.number === pull.number };
}

/**
 * Runs `work` holding the proposing lease of the target's branch: takes it (or throws `pull_request_busy`
 * when another holder's lease is live), renews it every {@link LEASE_RENEW_MS} while `work` runs (for at
 * most {@link MAX_HOLD_MS}), and releases it afterwards unless `work` already did. A renewal or release
 * that fails leaves the lease to lapse at its `until`.
 */
async function withProposingLease<T>(deps: PullRequestDeps, target: PinTarget, digest: string, work: (lease: HeldLease) => Promise<T>): Promise<T> {
  const { repository, branch } = target;
  const holder = randomUUID();
  const slot = await deps.store.updatePullRequestSlot(repository, branch, (current) => {
    const now = deps.now();
    if (current.lease !== null && Date.parse(current.lease.until) > now.getTime()) return null;
    return { ...current, lease: { holder, digest, takenAt: now.toISOString(), until: new Date(now.getTime() + PROPOSING_LEASE_MS).toISOString() } };
  });
  if (slot.lease?.holder !== holder) throw busy(deps, target, slot.lease);

  const lease: HeldLease = { holder, record: slot.record, released: false };
  const takenAt = deps.now().getTime();
  const renewal = setInterval(() => {
    if (deps.now().getTime() - takenAt > MAX_HOLD_MS) clearInterval(renewal);
    else void renewLease(deps, target, holder).catch(() => undefined);
  }, LEASE_RENEW_MS);
  renewal.unref();
  try {
    return await work(lease);
  } finally {
    clearInterval(renewal);
    if (!lease.released) await releaseLease(deps, target, holder).catch(() => undefined);
  }
}

function busy(deps: PullRequestDeps, target: PinTarget, lease: ProposingLease | null): AppError {
  const left = lease === null ? 0 : Date.parse(lease.until) - deps.now().getTime();
  return new AppError("pull_request_busy", `another delivery is proposing on ${target.branch} of ${target.repository} (lease until ${lease?.until ?? "now"})`, {
    retryable: true,
    details: { retryAfterMs: Math.max(1000, Math.min(BUSY_RETRY_MS, left)) },
  });
}

/** Moves the holder's lease on by {@link PROPOSING_LEASE_MS}; changes nothing once it is not the holder's. Returns whether the holder still holds it. */
async function renewLease(deps: PullRequestDeps, target: PinTarget, holder: string): Promise<boolean> {
  const slot = await deps.store.updatePullRequestSlot(target.repository, target.branch, (current) =>
    current.lease?.holder === holder ? { ...current, lease: { ...current.lease, until: new Date(deps.now().getTime() + PROPOSING_LEASE_MS).toISOString() } } : null,
  );
  return slot.lease?.holder === holder;
}

async function releaseLease(deps: PullRequestDeps, target: PinTarget, holder: string): Promise<void> {
  await deps.store.updatePullRequestSlot(target.repository, target.branch, (current) => (current.lease?.holder === holder ? { ...current, lease: null } : null));
}

/** The job's open file-pin obligation, its repository, branch, base and forge; or the outcome when there is nothing to do. */
async function targetOf(deps: PullRequestDeps, job: ObligationJob): Promise<PinTarget | PullRequestOutcome> {
  const obligation = await deps.store.getObligation(job.campaignId, job.dependentKey);
  if (obligation === null) return { kind: "skipped", reason: `no obligation ${job.dependentKey} in campaign ${job.campaignId}` };
  if (!OPEN.has(obligation.state)) return { kind: "skipped", reason: `obligation already ${obligation.state}` };
  if (obligation.dependent.kind !== "file-pin") return { kind: "skipped", reason: "not a file pin: images are rebuilt" };
  const repository = obligation.dependent.repo;

  const base = splitTagKey(job.base);
  const baseTag = base === null ? null : await deps.store.getTag(base.registry, base.repository, base.tag);
  if (baseTag?.digest != null && baseTag.digest !== job.toDigest) {
    await settle(deps, [obligation], "superseded", `the base moved on to ${baseTag.digest}`);
    return { kind: "skipped", reason: "superseded: the base moved on" };
  }
  const forge = deps.forgeFor(repository);
  if (forge === null || base === null) return fail(deps, [obligation], `no forge serves repository ${repository}`);
  return { obligation, repository, branch: branchFor(job.base), base, forge };
}

/**
 * Bumps every pin of `obligations` in the scanned texts, one file at a time. A file the forge cannot
 * change (`readOnly`) is never written: its pins still to bump are set apart with the forge's reason.
 */
async function planBumps(store: StateStore, scan: RepositoryScan, obligations: readonly Obligation[], target: { registry: string; name: string; toDigest: string }): Promise<BumpPlan> {
  const plan: BumpPlan = { files: [], changes: [], bumped: [], missing: [], readOnly: [] };
  const byPath = new Map<string, Obligation[]>();
  for (const obligation of obligations) {
    const path = obligation.dependent.kind === "file-pin" ? obligation.dependent.path : "";
    byPath.set(path, [...(byPath.get(path) ?? []), obligation]);
  }
  for (const [path, pins] of byPath) {
    const file = scan.files.find((candidate) => candidate.path === path);
    let text = file?.text;
    for (const pin of pins) {
      const from = pin.dependent.kind === "file-pin" ? pin.dependent.digest : pin.fromDigest;
      const to = await newDigestFor(store, target.registry, from, target.toDigest);
      const result = text === undefined ? null : bumpPins(path, text, { name: target.name, tag: null, digest: from }, to);
      if (result === null) plan.missing.push(pin);
      else if (file?.readOnly !== undefined && result.changes.length > 0) plan.readOnly.push({ obligation: pin, reason: `cannot change ${path} in ${scan.repository}: ${file.readOnly}` });
      else {
        // A read-only file's text never moves on, so each of its pins is weighed against the file as it is.
        if (file?.readOnly === undefined) text = result.text;
        plan.changes.push(...result.changes.map((change) => ({ path, ...change })));
        plan.bumped.push(pin);
      }
    }
    if (text !== undefined && text !== file?.text) plan.files.push({ path, text });
  }
  return plan;
}

/**
 * Fails the pins no pull request can carry (gone, or in a file the forge cannot change, with its reason);
 * with no file to commit, also settles the rest and returns the job's outcome, else null.
 */
async function settleUnproposable(deps: PullRequestDeps, plan: BumpPlan, repository: string, revision: string): Promise<PullRequestOutcome | null> {
  if (plan.missing.length > 0) await settle(deps, plan.missing, "failed", `the pinned reference is no longer in ${repository} at ${revision}`);
  const reasons = [...new Set(plan.readOnly.map(({ reason }) => reason))];
  for (const reason of reasons) {
    await settle(deps, plan.readOnly.filter((entry) => entry.reason === reason).map(({ obligation }) => obligation), "failed", reason);
  }
  if (plan.files.length > 0) return null;
  // Every pin was already on the new digest (someone bumped it first): nothing to propose, nothing owed.
  if (plan.bumped.length > 0) await settle(deps, plan.bumped, "done", `already pinned at the new digest in ${repository} at ${revision}`);
  return reasons.length > 0 ? { kind: "failed", reason: reasons.join("; ") } : { kind: "skipped", reason: `nothing to change in ${repository}` };
}

/**
 * Records the pull request of `branch` (keeping when it was opened, and the replaced one among the
 * earlier ones) and releases the holder's lease in the same guarded write, then schedules the bumped pins
 * on it. A lease that lapsed and was taken by another delivery meanwhile is left to that one.
 */
async function recordProposal(deps: PullRequestDeps, job: ObligationJob, where: { repository: string; branch: string }, pull: PullRequest, plan: BumpPlan, lease: HeldLease): Promise<void> {
  const at = deps.now().toISOString();
  await deps.store.updatePullRequestSlot(where.repository, where.branch, (current) => ({
    record: {
      ...where,
      base: job.base,
      digest: job.toDigest,
      campaignId: job.campaignId,
      number: pull.number,
      url: pull.url,
      state: pull.state,
      title: pull.title,
      body: pull.body,
      dependents: plan.bumped.map((candidate) => candidate.dependentKey),
      files: plan.files.map((file) => file.path),
      openedAt: current.record?.number === pull.number ? current.record.openedAt : at,
      updatedAt: at,
      earlier: earlierPullRequests(current.record, pull.number),
    },
    lease: current.lease?.holder === lease.holder ? null : current.lease,
  }));
  lease.released = true;
  await schedule(deps, plan.bumped, pull.url);
}

/** The earlier pull requests a record of pull request `number` keeps: `previous` itself too when `number` replaces it. */
function earlierPullRequests(previous: PullRequestRecord | null, number: number): EarlierPullRequest[] {
  if (previous === null) return [];
  const kept = (previous.earlier ?? []).filter((pull) => pull.number !== number && pull.number !== previous.number);
  if (previous.number === number) return kept;
  const { url, digest, campaignId, state, dependents } = previous;
  return [{ number: previous.number, url, digest, campaignId, state, dependents }, ...kept].slice(0, EARLIER_PULL_REQUESTS_KEPT);
}

/** The digest a pin moves to: the new index for an index (or single image) pin, the same platform's new manifest for a child pin. */
async function newDigestFor(store: StateStore, registry: string, pinned: string, toDigest: string): Promise<string> {
  const target = await store.getManifest(registry, toDigest);
  if (target?.facts.kind !== "index") return toDigest;
  const old = await store.getManifest(registry, pinned);
  if (old?.facts.kind !== "image" || old.facts.platform === null) return toDigest;
  const platform = formatPlatform(old.facts.platform);
  return target.facts.children.find((child) => formatPlatform(child.platform) === platform)?.digest ?? toDigest;
}

function shortName(name: string): string {
  return name.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "");
}

/** The body a reviewer reads: what changes, since when, how Ripple knows, what else moved, the SLA. */
async function describeChange(deps: PullRequestDeps, campaign: Campaign, changes: readonly PinChange[], bumped: readonly Obligation[]): Promise<string> {
  const trigger = await deps.store.getEvent(campaign.trigger);
  const due = new Date(Date.parse(campaign.openedAt) + deps.config.sla.defaultHours * 3600_000).toISOString();
  const found = await deps.store.getCampaign(campaign.id);
  const rebuilt = (found?.obligations ?? []).filter((obligation) => obligation.kind === "rebuild");
  const lines = [
    `The base image \`${campaign.base}\` moved from \`${campaign.fromDigest}\` to \`${campaign.toDigest}\`${trigger?.event ? ` (pushed ${trigger.event.occurredAt})` : ""}. This pull request moves the pins below to the new digest.`,
    "",
    "| file | line | old | new |",
    "|---|---|---|---|",
    ...changes.map((change) => `| \`${change.path}\` | ${change.line} | \`${change.before.trim()}\` | \`${change.after.trim()}\` |`),
    "",
    `**Why this file depends on it:** ${bumped.length} reference(s) pin \`${campaign.base}\` by digest (found by Ripple's repository scan).`,
    "",
    rebuilt.length === 0
      ? "**Rebuilt in the same campaign:** no images."
      : `**Rebuilt in the same campaign:** ${rebuilt.map((obligation) => `\`${obligation.dependentKey}\` (${obligation.state})`).join(", ")}.`,
    "",
    `**Patch SLA:** due ${due}.`,
    "",
    `<sub>Opened by Ripple for campaign \`${campaign.id}\`; a newer digest of the same base updates this pull request in place.</sub>`,
  ];
  return lines.join("\n");
}

async function schedule(deps: Pick<PullRequestDeps, "store" | "now">, obligations: readonly Obligation[], url: string): Promise<void> {
  for (const obligation of obligations) {
    await deps.store.updateObligation(obligation.campaignId, obligation.dependentKey, (current) =>
      OPEN.has(current.state) ? { ...current, state: "scheduled", runId: url, updatedAt: deps.now().toISOString() } : current,
    );
  }
}

async function settle(deps: Pick<PullRequestDeps, "store" | "now">, obligations: readonly Obligation[], state: "done" | "failed" | "superseded", reason: string): Promise<void> {
  for (const obligation of obligations) {
    await deps.store.updateObligation(obligation.campaignId, obligation.dependentKey, (current) =>
      OPEN.has(current.state) ? { ...current, state, reason, updatedAt: deps.now().toISOString() } : current,
    );
  }
}

async function fail(deps: PullRequestDeps, obligations: readonly Obligation[], reason: string): Promise<PullRequestOutcome> {
  await settle(deps, obligations, "failed", reason);
  return { kind: "failed", reason };
}

/**
 * A pull request was merged or closed (GitHub webhook, or the reconcile timer for local git): records
 * its state, and completes its obligations when merged or fails them when closed without merging. Ripple's
 * current pull request of the branch or an earlier one it recorded there (one a newer pull request
 * replaced before this event arrived) both count; any other number changes nothing.
 * Idempotent. Returns the number of obligations settled.
 */
export async function settlePullRequest(deps: Pick<PullRequestDeps, "store" | "now">, repository: string, branch: string, state: "merged" | "closed", number: number): Promise<number> {
  const record = await deps.store.getPullRequest(repository, branch);
  if (record === null) return 0;
  const pull = [record, ...(record.earlier ?? [])].find((candidate) => candidate.number === number);
  if (pull === undefined || pull.state !== "open") return 0;
  const at = deps.now().toISOString();
  await deps.store.savePullRequest(repository, branch, (current) => {
    const stored = current ?? record;
    if (stored.number === number) return { ...stored, state, updatedAt: at };
    return { ...stored, earlier: (stored.earlier ?? []).map((earlier) => (earlier.number === number ? { ...earlier, state } : earlier)) };
  });
  const found = await deps.store.getCampaign(pull.campaignId);
  const obligations = (found?.obligations ?? []).filter((obligation) => pull.dependents.includes(obligation.dependentKey) && OPEN.has(obligation.state));
  await settle(deps, obligations, state === "merged" ? "done" : "failed", state === "merged" ? `pull request ${pull.url} merged` : `pull request ${pull.url} closed without merging`);
  return obligations.length;
}
