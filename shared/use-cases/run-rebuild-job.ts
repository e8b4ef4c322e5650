import type { RippleConfig } from "../config.js";
import type { Obligation } from "../domain/campaign.js";
import type { Dependent } from "../domain/dependency.js";
import { formatPlatform, type ImageManifestFacts } from "../domain/image-facts.js";
import { splitTagKey } from "../domain/image-ref.js";
import { AppError, isRetryable } from "../errors.js";
import { FINAL_RUN_STATUSES, type BuildRequest, type BuildRun, type ImageBuilder } from "../ports/image-builder.js";
import { runKey, type RunRecord, type StateStore } from "../ports/state-store.js";
import type { ObligationJob, WorkQueue } from "../ports/work-queue.js";
import { platformsToKeep, resolveBuildRecipe } from "./resolve-build-recipe.js";

export interface RebuildDeps {
  readonly store: StateStore;
  readonly queue: WorkQueue;
  readonly config: RippleConfig;
  /** The builder for a registry host (ACR Tasks for ACR, buildah on the local stack); null when none is configured. */
  readonly builderFor: (registry: string) => { readonly name: string; readonly builder: ImageBuilder } | null;
  readonly now: () => Date;
}

export type RebuildOutcome =
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "requeued"; readonly delaySeconds: number; readonly reason: string }
  | { readonly kind: "started"; readonly run: BuildRun }
  | { readonly kind: "failed"; readonly reason: string };

const ACTIVE = new Set<RunRecord["status"]>(["claimed", "queued", "running"]);

/**
 * How long a start may find the outcome of an earlier one unknown (the builder's `run_outcome_unknown`)
 * before each further unknown counts as a failed attempt. An ACR Tasks run reports its images when it
 * ends, and a source build ends within its one-hour timeout: beyond that, something else is wrong.
 */
export const OUTCOME_UNKNOWN_LIMIT_SECONDS = 3600;
const SETTLED = new Set<Obligation["state"]>(["done", "failed", "superseded"]);

/**
 * Runs one rebuild job: rebuilds the obligation's image on the campaign's new base digest.
 * - Idempotent per (image, base digest): the first delivery claims a run record; a redelivered or
 *   duplicated job finds it and never starts a second run. While the builder works, the claiming worker
 *   renews the claim's `heartbeatAt` every `rebuild.heartbeatSeconds`; a claim not renewed for
 *   `rebuild.claimTimeoutSeconds` (its worker died before the builder answered) is taken over by the
 *   next delivery of the job, and no longer holds a concurrency slot. A delivery that finds a live claim
 *   comes back by the time it would go stale (at most `rebuild.pollSeconds` later).
 * - Skips obligations already settled, and supersedes the obligation when the base tag has moved on.
 * - The rebuild keeps the platforms of the image as it is now (see {@link platformsToKeep}); a builder
 *   that cannot build one of them fails the run, and so the obligation, naming it.
 * - At most `rebuild.concurrencyPerRegistry` runs are active per registry; more wait on the queue.
 * - A start after an earlier claim of the same run (a retry, a crashed worker's claim) passes the earlier
 *   claim's time as `resumeSince`, so a builder finds the run that attempt may have started, and every
 *   start passes the run ids recorded for the registry's other keys as `knownRunIds`.
 * - A builder that cannot tell yet whether an earlier attempt started a run (`run_outcome_unknown`)
 *   spends no attempt: the job comes back after `pollSeconds` (or the builder's `retryAfterMs`) and looks
 *   again from the same `resumeSince`, kept as the record's `claimedAt`. After
 *   {@link OUTCOME_UNKNOWN_LIMIT_SECONDS} each further unknown is a failed attempt, naming the runs in question.
 * - Retryable builder failures (and canceled or timed-out runs) are retried with exponential backoff;
 *   after `rebuild.maxAttempts` the obligation fails with the reason and the logs link, and the job goes
 *   to the poison queue. A failed build fails the obligation at once.
 * - A started run leaves the obligation `scheduled`; it is `done` only when the rebuilt image's own push
 *   shows the new base (see processRegistryEvent).
 * @throws the retryable errors of the store or the queue (the queue redelivers the job).
 */
export async function runRebuildJob(deps: RebuildDeps, job: ObligationJob): Promise<RebuildOutcome> {
  const obligation = await deps.store.getObligation(job.campaignId, job.dependentKey);
  if (obligation === null) return { kind: "skipped", reason: `no obligation ${job.dependentKey} in campaign ${job.campaignId}` };
  if (SETTLED.has(obligation.state)) return { kind: "skipped", reason: `obligation already ${obligation.state}` };
  const dependent = obligation.dependent;
  if (dependent.kind !== "image") return { kind: "skipped", reason: "not an image: file pins are bumped by pull request" };

  const base = splitTagKey(job.base);
  const baseTag = base === null ? null : await deps.store.getTag(base.registry, base.repository, base.tag);
  if (baseTag !== null && baseTag.digest !== null && baseTag.digest !== job.toDigest) {
    await settle(deps, obligation, "superseded", `the base moved on to ${baseTag.digest} before the rebuild started`);
    return { kind: "skipped", reason: "superseded: the base moved on" };
  }

  const registry = dependent.registry;
  const builder = deps.builderFor(registry);
  if (builder === null) return fail(deps, obligation, `no builder configured for registry ${registry}`);
  const image = await imageToRebuild(deps.store, dependent);
  const recipe = resolveBuildRecipe(deps.config, job.dependentKey, image.manifest, image.platforms);
  if (recipe === null) return fail(deps, obligation, `no build recipe for ${job.dependentKey}`);

  const key = runKey(job.dependentKey, job.toDigest);
  const request: BuildRequest = { image: job.dependentKey, registry, recipe, base: { key: job.base, digest: job.toDigest }, idempotencyKey: key };
  const existing = await deps.store.getRun(registry, key);
  if (existing !== null && existing.runId !== null) {
    if (!job.poll || FINAL_RUN_STATUSES.includes(existing.status as BuildRun["status"])) {
      return { kind: "skipped", reason: `run ${existing.runId} already started for ${key}` };
    }
    return pollRun(deps, job, obligation, builder.builder, { record: existing, runId: existing.runId }, request);
  }
  const claim = await claimRun(deps, job, builder.name, existing, request);
  if (claim.kind !== "claimed") return claim.outcome;
  const known = claim.knownRunIds.length === 0 ? {} : { knownRunIds: claim.knownRunIds };
  // A claim held before (a retry, or a crashed worker's) may already have started a run the builder can find.
  const resume = existing === null ? {} : { resumeSince: existing.claimedAt };
  return startRun(deps, job, obligation, builder.builder, claim.record, { ...request, ...resume, ...known });
}

/**
 * The image as it is now — its tag's current digest, else the digest the campaign saw — as stored when it
 * was pushed: the manifest whose annotations name its source (an index's first platform) and the platforms
 * a rebuild must keep.
 */
async function imageToRebuild(store: StateStore, dependent: Extract<Dependent, { kind: "image" }>): Promise<{ manifest: ImageManifestFacts | null; platforms: string[] }> {
  const tag = await store.getTag(dependent.registry, dependent.repository, dependent.tag);
  const stored = await store.getManifest(dependent.registry, tag?.digest ?? dependent.digest);
  if (stored === null) return { manifest: null, platforms: [] };
  if (stored.facts.kind === "image") return { manifest: stored.facts, platforms: [] };
  const platforms = platformsToKeep(stored.facts);
  const first = stored.facts.children.find((child) => formatPlatform(child.platform) === platforms[0]);
  const child = first === undefined ? null : await store.getManifest(dependent.registry, first.digest);
  return { manifest: child?.facts.kind === "image" ? child.facts : null, platforms };
}

/** Asks the builder how a started run is doing and acts on it. */
async function pollRun(
  deps: RebuildDeps,
  job: ObligationJob,
  obligation: Obligation,
  builder: ImageBuilder,
  started: { readonly record: RunRecord; readonly runId: string },
  request: BuildRequest,
): Promise<RebuildOutcome> {
  let current: BuildRun;
  try {
    current = await builder.get(started.runId, request);
  } catch (error) {
    // A builder that cannot say how the run is doing is asked again later; one that no longer knows the
    // run (not retryable) counts as a failed attempt.
    const reason = error instanceof Error ? error.message : String(error);
    if (isRetryable(error)) return requeue(deps, job, deps.config.rebuild.pollSeconds * 2, `run ${started.runId}: ${reason}`);
    return retryOrFail(deps, job, obligation, started.record, reason, true, started.record.logsUrl);
  }
  return follow(deps, job, obligation, started.record, current);
}

type Claim =
  | { readonly kind: "claimed"; readonly record: RunRecord; readonly knownRunIds: readonly string[] }
  | { readonly kind: "not-claimed"; readonly outcome: RebuildOutcome };

/**
 * Claims the run record of (image, base digest) for this worker: a new one, a claim its worker stopped
 * renewing (it died; see {@link isClaimLive}), or this job's own retry; within the registry's concurrency
 * limit. A claim comes with the run ids recorded for the registry's other keys.
 */
async function claimRun(deps: RebuildDeps, job: ObligationJob, builderName: string, existing: RunRecord | null, request: BuildRequest): Promise<Claim> {
  const { registry, idempotencyKey: key } = request;
  const rules = deps.config.rebuild;
  const notClaimed = (outcome: RebuildOutcome): Claim => ({ kind: "not-claimed", outcome });
  const nowMs = deps.now().getTime();
  if (existing !== null) {
    const live = existing.status === "claimed" && isClaimLive(existing, nowMs, rules);
    const ownRetry = existing.status === "retrying" && (job.attempt ?? 0) === existing.attempts;
    if (live) return notClaimed(await requeue(deps, job, recheckSeconds(existing, nowMs, rules), `run ${key} is being started by another worker`));
    if (existing.status !== "claimed" && !ownRetry) return notClaimed({ kind: "skipped", reason: `run ${key} is ${existing.status}` });
  }

  const others = (await deps.store.listRuns(registry)).filter((run) => run.key !== key);
  const knownRunIds = others.flatMap((run) => (run.runId === null ? [] : [run.runId]));
  const active = others.filter((run) => holdsSlot(run, nowMs, rules));
  if (active.length >= rules.concurrencyPerRegistry) {
    return notClaimed(await requeue(deps, job, rules.backoffSeconds, `${active.length} runs active on ${registry} (limit ${rules.concurrencyPerRegistry})`));
  }

  const claimedAt = deps.now().toISOString();
  if (existing === null) {
    const claim = await deps.store.claimRun({
      key,
      image: job.dependentKey,
      registry,
      base: job.base,
      baseDigest: job.toDigest,
      campaignId: job.campaignId,
      builder: builderName,
      status: "claimed",
      runId: null,
      logsUrl: null,
      reason: null,
      attempts: 0,
      claimedAt,
      heartbeatAt: claimedAt,
      startedAt: null,
      finishedAt: null,
      updatedAt: claimedAt,
    });
    if (!claim.claimed) return notClaimed(await requeue(deps, job, rules.pollSeconds, `run ${key} was claimed by another worker`));
    return { kind: "claimed", record: claim.record, knownRunIds };
  }
  let tookOver = false;
  const record = await deps.store.updateRun(registry, key, (current) => {
    // A renewal landing since the read means the claim's worker is alive after all: leave it.
    tookOver = current.runId === null && current.status === existing.status && current.claimedAt === existing.claimedAt && (current.heartbeatAt ?? null) === (existing.heartbeatAt ?? null);
    return tookOver ? { ...current, status: "claimed", claimedAt, heartbeatAt: claimedAt, updatedAt: claimedAt } : current;
  });
  if (!tookOver) return notClaimed({ kind: "skipped", reason: `run ${key} was taken over by another worker` });
  return { kind: "claimed", record, knownRunIds };
}

type RebuildRules = RippleConfig["rebuild"];

/** Since when a claim's worker was last heard of: its newest heartbeat, else the claim itself. */
function claimHeardAtMs(run: RunRecord): number {
  return Date.parse(run.heartbeatAt ?? run.claimedAt);
}

/** Whether a `claimed` run's worker renewed it within `claimTimeoutSeconds` (else it died: take the claim over). */
export function isClaimLive(run: RunRecord, nowMs: number, rules: RebuildRules): boolean {
  return nowMs - claimHeardAtMs(run) <= rules.claimTimeoutSeconds * 1000;
}

/** When to look at a live claim again: just after it would go stale without a renewal, and within `pollSeconds`. */
function recheckSeconds(run: RunRecord, nowMs: number, rules: RebuildRules): number {
  const untilStaleMs = claimHeardAtMs(run) + rules.claimTimeoutSeconds * 1000 - nowMs;
  return Math.min(rules.pollSeconds, Math.max(1, Math.ceil(untilStaleMs / 1000) + 1));
}

/**
 * Whether a run counts toward `concurrencyPerRegistry`: a claim while its worker is alive; a started run
 * until nobody has heard of it for `staleClaimSeconds` (its poll job was lost).
 */
function holdsSlot(run: RunRecord, nowMs: number, rules: RebuildRules): boolean {
  if (run.status === "claimed") return isClaimLive(run, nowMs, rules);
  return ACTIVE.has(run.status) && Date.parse(run.updatedAt) > nowMs - rules.staleClaimSeconds * 1000;
}

/**
 * Runs `work` (the builder's answer to a claimed run) while renewing the claim's `heartbeatAt` every
 * `heartbeatSeconds`, so other deliveries of the job see this worker is alive. Renewing stops once `work`
 * settles (a renewal in flight is waited for). A renewal that fails (a storage hiccup) is tried again at
 * the next beat: a claim outlives one missed beat (`claimTimeoutSeconds` ≥ 2 × `heartbeatSeconds`).
 */
async function withHeartbeat<T>(deps: RebuildDeps, claimed: RunRecord, work: () => Promise<T>): Promise<T> {
  let renewal: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewal = renewal.then(() => renewClaim(deps, claimed)).catch(() => undefined);
  }, deps.config.rebuild.heartbeatSeconds * 1000);
  timer.unref?.();
  try {
    return await work();
  } finally {
    clearInterval(timer);
    await renewal;
  }
}

/** Sets `heartbeatAt` on the run record while it is still this worker's claim (ETag-guarded by the store). */
async function renewClaim(deps: RebuildDeps, claimed: RunRecord): Promise<void> {
  const at = deps.now().toISOString();
  await deps.store.updateRun(claimed.registry, claimed.key, (current) =>
    current.status === "claimed" && current.runId === null && current.claimedAt === claimed.claimedAt ? { ...current, heartbeatAt: at } : current,
  );
}

/** Starts the claimed run, records it on the run record and the obligation, and acts on its first state. */
async function startRun(deps: RebuildDeps, job: ObligationJob, obligation: Obligation, builder: ImageBuilder, claimed: RunRecord, request: BuildRequest): Promise<RebuildOutcome> {
  let run: BuildRun;
  try {
    run = await withHeartbeat(deps, claimed, () => builder.start(request));
  } catch (error) {
    if (error instanceof AppError && error.code === "run_outcome_unknown") return lookAgainLater(deps, job, obligation, claimed, request, error);
    const reason = error instanceof Error ? error.message : String(error);
    return retryOrFail(deps, job, obligation, claimed, reason, isRetryable(error), null);
  }
  const record = await deps.store.updateRun(claimed.registry, claimed.key, (current) => ({ ...current, ...runFields(run), attempts: current.attempts + 1, updatedAt: deps.now().toISOString() }));
  // The rebuilt image's push may already have completed the obligation (a synchronous builder pushes
  // before it returns); the run id is recorded either way.
  await deps.store.updateObligation(obligation.campaignId, obligation.dependentKey, (current) =>
    SETTLED.has(current.state) ? { ...current, runId: current.runId ?? run.runId } : { ...current, state: "scheduled", runId: run.runId, updatedAt: deps.now().toISOString() },
  );
  const followed = await follow(deps, job, obligation, record, run);
  // A failed build, or a canceled / timed-out one being retried, is the outcome; otherwise the run started.
  return followed.kind === "failed" || (followed.kind === "requeued" && FINAL_RUN_STATUSES.includes(run.status)) ? followed : { kind: "started", run };
}

/**
 * The builder could not tell whether an earlier attempt of the claim started a run: not a failed
 * attempt. The claim goes back to `retrying` with its `claimedAt` set to the start of the lookup window
 * (`resumeSince`, else this claim's own time), so the requeued job — whose `attempt` still equals the
 * record's `attempts` — takes it over and looks from there again, however many unknowns come in a row.
 * Once the window is older than {@link OUTCOME_UNKNOWN_LIMIT_SECONDS}, an unknown counts as a failed attempt.
 */
async function lookAgainLater(deps: RebuildDeps, job: ObligationJob, obligation: Obligation, claimed: RunRecord, request: BuildRequest, unknown: AppError): Promise<RebuildOutcome> {
  const since = request.resumeSince ?? claimed.claimedAt;
  const unknownSeconds = Math.floor((deps.now().getTime() - Date.parse(since)) / 1000);
  if (unknownSeconds > OUTCOME_UNKNOWN_LIMIT_SECONDS) {
    const reason = `no run could be told to be this build's for ${unknownSeconds} s: ${unknown.message}`;
    return retryOrFail(deps, job, obligation, claimed, reason, true, null, since);
  }
  let ours = false;
  await deps.store.updateRun(claimed.registry, claimed.key, (current) => {
    // Only this worker's claim: one taken over meanwhile (a missed heartbeat) is the other worker's now.
    ours = current.status === "claimed" && current.runId === null && current.claimedAt === claimed.claimedAt;
    return ours ? { ...current, status: "retrying", claimedAt: since, reason: unknown.message, updatedAt: deps.now().toISOString() } : current;
  });
  if (!ours) return { kind: "skipped", reason: `run ${claimed.key} was taken over by another worker` };
  const retryAfterMs = typeof unknown.details.retryAfterMs === "number" ? unknown.details.retryAfterMs : 0;
  const delaySeconds = Math.max(deps.config.rebuild.pollSeconds, Math.ceil(retryAfterMs / 1000));
  return requeue(deps, { ...job, attempt: claimed.attempts, poll: false }, delaySeconds, `outcome unknown, no attempt spent: ${unknown.message}`);
}

function runFields(run: BuildRun): Pick<RunRecord, "runId" | "status" | "logsUrl" | "startedAt" | "finishedAt" | "reason"> {
  return { runId: run.runId, status: run.status, logsUrl: run.logsUrl, startedAt: run.startedAt, finishedAt: run.finishedAt, reason: run.reason };
}

/** Acts on a run's current state: keep polling, accept success, fail, or retry a canceled / timed-out run. */
async function follow(deps: RebuildDeps, job: ObligationJob, obligation: Obligation, record: RunRecord, run: BuildRun): Promise<RebuildOutcome> {
  if (record.status !== run.status || record.logsUrl !== run.logsUrl) {
    record = await deps.store.updateRun(record.registry, record.key, (current) => ({ ...current, ...runFields(run), updatedAt: deps.now().toISOString() }));
  }
  switch (run.status) {
    case "queued":
    case "running":
      return requeue(deps, { ...job, poll: true }, deps.config.rebuild.pollSeconds, `run ${run.runId} is ${run.status}`);
    case "succeeded":
      return { kind: "skipped", reason: `run ${run.runId} succeeded; the obligation completes when the rebuilt image is pushed` };
    case "failed":
      return fail(deps, obligation, `build ${run.runId} failed: ${run.reason ?? "no reason given"}${run.logsUrl ? ` (logs: ${run.logsUrl})` : ""}`);
    case "canceled":
    case "timed-out":
      return retryOrFail(deps, job, obligation, record, `build ${run.runId} ${run.status}`, true, run.logsUrl);
  }
}

async function retryOrFail(
  deps: RebuildDeps,
  job: ObligationJob,
  obligation: Obligation,
  record: RunRecord,
  reason: string,
  retryable: boolean,
  logsUrl: string | null,
  /** Where the retry's lookup window starts, when it is not this claim's own time (an outcome still unknown). */
  claimedAt?: string,
): Promise<RebuildOutcome> {
  const rules = deps.config.rebuild;
  const attempts = record.attempts + (record.runId === null ? 1 : 0);
  const at = deps.now().toISOString();
  if (retryable && attempts < rules.maxAttempts) {
    await deps.store.updateRun(record.registry, record.key, (current) => ({ ...current, status: "retrying", runId: null, attempts, reason, updatedAt: at, claimedAt: claimedAt ?? current.claimedAt }));
    const delaySeconds = rules.backoffSeconds * 2 ** (attempts - 1);
    await deps.queue.enqueue("rebuild", { ...job, attempt: attempts, poll: false }, { delaySeconds });
    return { kind: "requeued", delaySeconds, reason: `attempt ${attempts} of ${rules.maxAttempts} failed: ${reason}` };
  }
  await deps.store.updateRun(record.registry, record.key, (current) => ({ ...current, status: "failed", attempts, reason, finishedAt: at, updatedAt: at }));
  const summary = retryable ? `gave up after ${attempts} attempt(s): ${reason}` : reason;
  const outcome = await fail(deps, obligation, `${summary}${logsUrl ? ` (logs: ${logsUrl})` : ""}`);
  if (retryable) await deps.queue.deadLetter("rebuild", job);
  return outcome;
}

async function requeue(deps: RebuildDeps, job: ObligationJob, delaySeconds: number, reason: string): Promise<RebuildOutcome> {
  await deps.queue.enqueue("rebuild", job, { delaySeconds });
  return { kind: "requeued", delaySeconds, reason };
}

async function fail(deps: RebuildDeps, obligation: Obligation, reason: string): Promise<RebuildOutcome> {
  await settle(deps, obligation, "failed", reason);
  return { kind: "failed", reason };
}

async function settle(deps: RebuildDeps, obligation: Obligation, state: "failed" | "superseded", reason: string): Promise<void> {
  await deps.store.updateObligation(obligation.campaignId, obligation.dependentKey, (current) =>
    SETTLED.has(current.state) ? current : { ...current, state, reason, updatedAt: deps.now().toISOString() },
  );
}
