import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import type { ManifestFacts } from "../../../shared/domain/image-facts.js";
import { dedupeKey } from "../../../shared/domain/registry-event.js";
import { AppError, UpstreamError } from "../../../shared/errors.js";
import type { BuildRequest, BuildRun, ImageBuilder } from "../../../shared/ports/image-builder.js";
import type { RunRecord } from "../../../shared/ports/state-store.js";
import type { ObligationJob } from "../../../shared/ports/work-queue.js";
import { openDebouncedCampaign } from "../../../shared/use-cases/open-campaign.js";
import { processRegistryEvent } from "../../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../../shared/use-cases/receive-notification.js";
import { requeueOrphanedClaims } from "../../../shared/use-cases/requeue-orphaned-claims.js";
import { OUTCOME_UNKNOWN_LIMIT_SECONDS, runRebuildJob, type RebuildDeps } from "../../../shared/use-cases/run-rebuild-job.js";
import { createDeps, image, index, pushEvent, REGISTRY } from "./pipeline-helpers.js";

const BASE_NAME = "org.opencontainers.image.base.name";
const BASE_DIGEST = "org.opencontainers.image.base.digest";
const SOURCE_ANNOTATION = "org.opencontainers.image.source";
const BASE = `${REGISTRY}/ripple/busybox:1`;
const COMPANY = `${REGISTRY}/ripple/company:1`;
const SOURCE = "https://github.com/example/company.git";

function config(rebuild: Record<string, number> = {}, recipes: unknown[] = [{ image: COMPANY, repository: "/src/company" }]) {
  return parseConfig(JSON.stringify({
    version: 1,
    registries: [{ host: REGISTRY, kind: "distribution" }],
    bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["*"] }],
    repositories: [{ url: SOURCE }],
    recipes,
    rebuild: { backoffSeconds: 2, pollSeconds: 10, staleClaimSeconds: 60, ...rebuild },
  }));
}

/** A builder whose answers the test scripts, counting calls. */
function scriptedBuilder(answers: Array<BuildRun | Error | "hang">, gets: BuildRun[] = []) {
  const started: BuildRequest[] = [];
  const builder: ImageBuilder & { started: BuildRequest[]; gets: string[]; getRequests: Array<BuildRequest | undefined> } = {
    started,
    gets: [],
    getRequests: [],
    async start(request) {
      started.push(request);
      const answer = answers.shift() ?? run("succeeded");
      if (answer === "hang") return new Promise<BuildRun>(() => undefined);
      if (answer instanceof Error) throw answer;
      return answer;
    },
    async get(runId, request) {
      builder.gets.push(runId);
      builder.getRequests.push(request);
      return gets.shift() ?? run("succeeded", runId);
    },
    signLogs: async (logsUrl) => logsUrl,
  };
  return builder;
}

function run(status: BuildRun["status"], runId = `run-${status}`, reason: string | null = null): BuildRun {
  return { runId, status, logsUrl: `https://logs.test/${runId}`, startedAt: "2026-11-23T10:00:00.000Z", finishedAt: status === "running" || status === "queued" ? null : "2026-11-23T10:01:00.000Z", reason };
}

const busyboxA = image("busybox-a", ["l1"]);
const busyboxB = image("busybox-b", ["l1-b"]);
const busyboxC = image("busybox-c", ["l1-c"]);
const company = image("company", ["l1", "l2"], { [BASE_NAME]: BASE, [BASE_DIGEST]: busyboxA.digest });
const onA = { [BASE_NAME]: BASE, [BASE_DIGEST]: busyboxA.digest, [SOURCE_ANNOTATION]: SOURCE };
const companyAmd64 = image("company-amd64", ["l1", "l2"], onA);
const companyArm64 = image("company-arm64", ["l1", "l2-arm64"], onA, { os: "linux", architecture: "arm64", variant: "v8" });
const companyAttestation = image("company-attestation", [], {}, { os: "unknown", architecture: "unknown", variant: null });
/** The company image for two platforms, its attestation listed first. */
const companyIndex = index("company-index", [companyAttestation, companyAmd64, companyArm64]);

/** A registry holding the three base digests and the company image (or `dependent`), and a way to deliver pushes. */
function seededRegistry(cfg: ReturnType<typeof config>, dependent: ManifestFacts = company) {
  const env = createDeps(cfg);
  for (const facts of [busyboxA, busyboxB, busyboxC]) env.registry.put("ripple/busybox", facts);
  for (const facts of [companyAttestation, companyAmd64, companyArm64, companyIndex]) env.registry.put("ripple/company", facts);
  env.registry.put("ripple/company", dependent);
  const deliver = async (event: ReturnType<typeof pushEvent>) => {
    await recordEvents(env.deps, [event], 0);
    return processRegistryEvent(env.deps, dedupeKey(event));
  };
  return { env, deliver };
}

/** A base with one dependent (company), then the base moved A → B: one campaign, one queued rebuild job. */
async function campaignWithJob(rebuild: Record<string, number> = {}, builder = scriptedBuilder([]), recipes?: unknown[], dependent: ManifestFacts = company) {
  const { env, deliver } = seededRegistry(config(rebuild, recipes), dependent);
  await deliver(pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
  await deliver(pushEvent("ripple/company", "1", dependent.digest, "2026-11-23T09:01:00Z"));
  await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
  const [job] = env.queue.take("rebuild") as ObligationJob[];
  let clock = Date.parse("2026-11-23T10:00:00Z");
  const deps: RebuildDeps = { ...env.deps, builderFor: () => ({ name: "fake", builder }), now: () => new Date(clock) };
  const obligation = async () => (await env.store.getCampaign(job!.campaignId))!.obligations[0]!;
  return { env, deps, job: job!, builder, deliver, obligation, advance: (seconds: number) => (clock += seconds * 1000) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("runRebuildJob", () => {
  it("starts one run per image and base digest; a duplicated or redelivered job never starts another", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([run("succeeded", "run-1")]));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "started", run: run("succeeded", "run-1") });
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "skipped", reason: "run run-1 already started for " + `${COMPANY}|${busyboxB.digest}` });
    expect(t.builder.started).toEqual([
      { image: COMPANY, registry: REGISTRY, recipe: { kind: "source", repository: "/src/company", revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [COMPANY], platforms: [] }, base: { key: BASE, digest: busyboxB.digest }, idempotencyKey: `${COMPANY}|${busyboxB.digest}` },
    ]);
    expect(await t.obligation()).toMatchObject({ state: "scheduled", runId: "run-1" });
    expect(await t.env.store.listRuns(REGISTRY)).toEqual([expect.objectContaining({ key: `${COMPANY}|${busyboxB.digest}`, status: "succeeded", runId: "run-1", attempts: 1, logsUrl: "https://logs.test/run-1" })]);
  });

  it("completes the obligation only when the rebuilt image's push shows the new base", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([run("succeeded", "run-1")]));
    await runRebuildJob(t.deps, t.job);
    const wrong = image("company-still-old", ["l1", "l2", "x"], { [BASE_NAME]: BASE, [BASE_DIGEST]: busyboxA.digest });
    t.env.registry.put("ripple/company", wrong);
    await t.deliver(pushEvent("ripple/company", "1", wrong.digest, "2026-11-23T10:02:00Z"));
    expect((await t.obligation()).state).toBe("scheduled");
    const rebuilt = image("company-rebuilt", ["l1-b", "l2"], { [BASE_NAME]: BASE, [BASE_DIGEST]: busyboxB.digest });
    t.env.registry.put("ripple/company", rebuilt);
    await t.deliver(pushEvent("ripple/company", "1", rebuilt.digest, "2026-11-23T10:03:00Z"));
    expect(await t.obligation()).toMatchObject({ state: "done", reason: `rebuilt as ${rebuilt.digest} on ${busyboxB.digest} (annotation)` });
  });

  it("fails at once, with a clear reason, when the image has no build recipe", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([]), []);
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "failed", reason: `no build recipe for ${COMPANY}` });
    expect(await t.obligation()).toMatchObject({ state: "failed", reason: `no build recipe for ${COMPANY}` });
    expect(t.builder.started).toEqual([]);
  });

  it("fails the obligation with the reason and the logs link when the build fails", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([run("failed", "run-9", "RUN make: exit 2")]));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "failed", reason: "build run-9 failed: RUN make: exit 2 (logs: https://logs.test/run-9)" });
    expect((await t.obligation()).state).toBe("failed");
  });

  it("backs off exponentially on retryable failures, then fails and dead-letters the job", async () => {
    const flaky = new UpstreamError("acr-tasks", "503 Service Unavailable", { status: 503 });
    const t = await campaignWithJob({ maxAttempts: 3 }, scriptedBuilder([flaky, flaky, flaky]));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "requeued", delaySeconds: 2, reason: "attempt 1 of 3 failed: acr-tasks: 503 Service Unavailable" });
    const [retry1] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(retry1).toEqual({ ...t.job, attempt: 1, poll: false });
    // The original message redelivered meanwhile does not start a run: the delayed retry owns it.
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "skipped", reason: `run ${COMPANY}|${busyboxB.digest} is retrying` });
    expect(await runRebuildJob(t.deps, retry1!)).toMatchObject({ kind: "requeued", delaySeconds: 4 });
    const [retry2] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(await runRebuildJob(t.deps, retry2!)).toEqual({ kind: "failed", reason: "gave up after 3 attempt(s): acr-tasks: 503 Service Unavailable" });
    expect(t.builder.started).toHaveLength(3);
    expect(t.env.queue.poisoned).toEqual([{ queue: "rebuild", message: retry2 }]);
    expect((await t.obligation()).state).toBe("failed");
  });

  it("retries a build whose push failed on the network after the promised backoff, leaving the obligation open", async () => {
    const outage = new UpstreamError("registry", `buildah push of ${COMPANY} to ${COMPANY} failed on the network (connection refused); logs: /runs/local-1/build.log`, { retryable: true });
    const t = await campaignWithJob({ maxAttempts: 3 }, scriptedBuilder([outage, run("succeeded", "run-2")]));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "requeued", delaySeconds: 2, reason: `attempt 1 of 3 failed: ${outage.message}` });
    expect(await t.obligation()).toMatchObject({ state: "pending", runId: null });
    expect(t.env.queue.messages.filter((entry) => entry.queue === "rebuild")).toEqual([{ queue: "rebuild", message: { ...t.job, attempt: 1, poll: false }, delaySeconds: 2 }]);
    const [retry] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(t.env.queue.poisoned).toEqual([]);

    expect(await runRebuildJob(t.deps, retry!)).toEqual({ kind: "started", run: run("succeeded", "run-2") });
    expect(await t.obligation()).toMatchObject({ state: "scheduled", runId: "run-2" });
    expect(await t.env.store.listRuns(REGISTRY)).toEqual([expect.objectContaining({ status: "succeeded", runId: "run-2", attempts: 2 })]);
  });

  it("does not retry a request the builder refuses", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([new AppError("build_request_invalid", "ACR task x cannot run on the local builder")]));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "failed", reason: "ACR task x cannot run on the local builder" });
    expect(t.env.queue.poisoned).toEqual([]);
  });

  it("supersedes the obligation when the base moved on before the job ran", async () => {
    const t = await campaignWithJob();
    await t.deliver(pushEvent("ripple/busybox", "1", busyboxC.digest, "2026-11-23T09:20:00Z"));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "skipped", reason: "obligation already superseded" });
    expect(await t.obligation()).toMatchObject({ state: "superseded", reason: expect.stringContaining("superseded by campaign") });
    expect(t.builder.started).toEqual([]);
  });

  it("keeps to the per-registry concurrency limit", async () => {
    const t = await campaignWithJob({ concurrencyPerRegistry: 1 });
    const running = { key: "other|x", image: `${REGISTRY}/apps/other:1`, registry: REGISTRY, base: BASE, baseDigest: busyboxB.digest, campaignId: "c", builder: "fake", status: "running" as const, runId: "r0", logsUrl: null, reason: null, attempts: 1, claimedAt: "2026-11-23T09:59:30.000Z", startedAt: null, finishedAt: null, updatedAt: "2026-11-23T09:59:30.000Z" };
    await t.env.store.claimRun(running);
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "requeued", delaySeconds: 2, reason: `1 runs active on ${REGISTRY} (limit 1)` });
    expect(t.builder.started).toEqual([]);
    // A run nobody has heard of for longer than staleClaimSeconds (its poll was lost) frees its slot.
    t.advance(61);
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "started" });
  });

  it("asks a builder that failed to answer a poll again later, and counts a run it no longer knows as a failed attempt", async () => {
    const builder = scriptedBuilder([run("running", "run-5"), run("succeeded", "run-6")]);
    const t = await campaignWithJob({}, builder);
    await runRebuildJob(t.deps, t.job);
    const [poll] = t.env.queue.take("rebuild") as ObligationJob[];
    builder.get = async () => {
      throw new UpstreamError("acr-tasks", "503", { status: 503 });
    };
    expect(await runRebuildJob(t.deps, poll!)).toEqual({ kind: "requeued", delaySeconds: 20, reason: "run run-5: acr-tasks: 503" });
    const [again] = t.env.queue.take("rebuild") as ObligationJob[];
    builder.get = async () => {
      throw new AppError("run_unknown", "no run run-5");
    };
    expect(await runRebuildJob(t.deps, again!)).toMatchObject({ kind: "requeued", delaySeconds: 2, reason: "attempt 1 of 5 failed: no run run-5" });
  });

  it("picks up a job whose worker crashed mid-start once its claim's heartbeat is stale, and runs it once", async () => {
    const builder = scriptedBuilder(["hang", run("succeeded", "run-2")]);
    const t = await campaignWithJob({}, builder);
    vi.useFakeTimers(); // the crashed worker's heartbeat never beats: its timers never run
    void runRebuildJob(t.deps, t.job);
    await vi.waitFor(() => expect(builder.started).toHaveLength(1));
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "requeued", delaySeconds: 10, reason: `run ${COMPANY}|${busyboxB.digest} is being started by another worker` });
    expect(builder.started).toHaveLength(1);
    t.advance(31);
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "started", run: run("succeeded", "run-2") });
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "skipped" });
    expect(builder.started).toHaveLength(2);
    // The crashed worker may have started a run before it died: the builder is told to look for it first.
    expect(builder.started.map((request) => request.resumeSince)).toEqual([undefined, "2026-11-23T10:00:00.000Z"]);
  });

  it("has the sweep queue a dead worker's claim again once it is stale (its own message may stay invisible for 10 minutes), and only then", async () => {
    const builder = scriptedBuilder(["hang", run("succeeded", "run-2")]);
    const t = await campaignWithJob({}, builder);
    vi.useFakeTimers(); // the dead worker's heartbeat never beats
    void runRebuildJob(t.deps, t.job);
    await vi.waitFor(() => expect(builder.started).toHaveLength(1));
    // Alive as far as anyone can tell: nothing is queued.
    t.advance(29);
    expect(await requeueOrphanedClaims(t.deps, [REGISTRY])).toEqual([]);
    t.advance(2);
    expect(await requeueOrphanedClaims(t.deps, [REGISTRY])).toEqual([KEY]);
    const [queued] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(queued).toEqual({ v: 1, campaignId: t.job.campaignId, dependentKey: COMPANY, base: BASE, fromDigest: busyboxA.digest, toDigest: busyboxB.digest });
    expect(await runRebuildJob(t.deps, queued!)).toEqual({ kind: "started", run: run("succeeded", "run-2") });
    // Started: nothing more to queue, on any registry.
    t.advance(60);
    expect(await requeueOrphanedClaims(t.deps, [REGISTRY, "other.test"])).toEqual([]);
    expect(builder.started).toHaveLength(2);
  });

  it("tells the builder, on a retry, since when the claim's earlier attempt may have started a run", async () => {
    const lost = new UpstreamError("acr-tasks", "scheduling a build failed: network error ECONNRESET", { status: null });
    const t = await campaignWithJob({}, scriptedBuilder([lost, run("queued", "run-5")]));
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "requeued", delaySeconds: 2 });
    t.advance(2);
    const [retry] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(await runRebuildJob(t.deps, retry!)).toEqual({ kind: "started", run: run("queued", "run-5") });
    expect(t.builder.started.map((request) => request.resumeSince)).toEqual([undefined, "2026-11-23T10:00:00.000Z"]);
    expect(await t.obligation()).toMatchObject({ state: "scheduled", runId: "run-5" });
  });

  it("requeues a start whose outcome is unknown without spending an attempt, and looks again from the same window however often in a row", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([OUTCOME_UNKNOWN, OUTCOME_UNKNOWN, run("queued", "run-5")]));
    // Runs recorded for other keys: those with a run id are never this build's.
    await t.env.store.claimRun(otherRun("other|x", "run-0", "succeeded"));
    await t.env.store.claimRun(otherRun("other|y", null, "retrying"));
    const requeued = { kind: "requeued", delaySeconds: 10, reason: `outcome unknown, no attempt spent: ${OUTCOME_UNKNOWN.message}` };
    expect(await runRebuildJob(t.deps, t.job)).toEqual(requeued);
    expect(t.env.queue.messages.filter((entry) => entry.queue === "rebuild")).toEqual([{ queue: "rebuild", message: { ...t.job, attempt: 0, poll: false }, delaySeconds: 10 }]);
    expect(await t.env.store.getRun(REGISTRY, KEY)).toMatchObject({ status: "retrying", runId: null, attempts: 0, claimedAt: "2026-11-23T10:00:00.000Z", reason: OUTCOME_UNKNOWN.message });
    expect(await t.obligation()).toMatchObject({ state: "pending", runId: null });

    t.advance(10);
    const [again] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(await runRebuildJob(t.deps, again!)).toEqual(requeued);
    expect(await t.env.store.getRun(REGISTRY, KEY)).toMatchObject({ status: "retrying", attempts: 0, claimedAt: "2026-11-23T10:00:00.000Z" });

    t.advance(10);
    const [last] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(await runRebuildJob(t.deps, last!)).toEqual({ kind: "started", run: run("queued", "run-5") });
    expect(t.builder.started.map(({ resumeSince, knownRunIds }) => ({ resumeSince, knownRunIds }))).toEqual([
      { resumeSince: undefined, knownRunIds: ["run-0"] },
      { resumeSince: "2026-11-23T10:00:00.000Z", knownRunIds: ["run-0"] },
      { resumeSince: "2026-11-23T10:00:00.000Z", knownRunIds: ["run-0"] },
    ]);
    expect(await t.env.store.getRun(REGISTRY, KEY)).toMatchObject({ status: "queued", runId: "run-5", attempts: 1 });
    expect(await t.obligation()).toMatchObject({ state: "scheduled", runId: "run-5" });
  });

  it("comes back after the builder's retryAfterMs when it is longer than pollSeconds", async () => {
    const later = new AppError("run_outcome_unknown", OUTCOME_UNKNOWN.message, { retryable: true, details: { retryAfterMs: 25_500, candidates: ["cb1"] } });
    const t = await campaignWithJob({}, scriptedBuilder([later]));
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "requeued", delaySeconds: 26 });
  });

  it("counts each unknown after OUTCOME_UNKNOWN_LIMIT_SECONDS as a failed attempt naming the runs, still looking from the same window", async () => {
    const t = await campaignWithJob({ maxAttempts: 2 }, scriptedBuilder([OUTCOME_UNKNOWN, OUTCOME_UNKNOWN, OUTCOME_UNKNOWN]));
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "requeued", delaySeconds: 10 });
    t.advance(OUTCOME_UNKNOWN_LIMIT_SECONDS + 1);
    const [retry] = t.env.queue.take("rebuild") as ObligationJob[];
    const gaveUp = `no run could be told to be this build's for ${OUTCOME_UNKNOWN_LIMIT_SECONDS + 1} s: ${OUTCOME_UNKNOWN.message}`;
    expect(await runRebuildJob(t.deps, retry!)).toEqual({ kind: "requeued", delaySeconds: 2, reason: `attempt 1 of 2 failed: ${gaveUp}` });
    expect(await t.env.store.getRun(REGISTRY, KEY)).toMatchObject({ status: "retrying", attempts: 1, claimedAt: "2026-11-23T10:00:00.000Z" });

    t.advance(2);
    const [last] = t.env.queue.take("rebuild") as ObligationJob[];
    const failed = `gave up after 2 attempt(s): no run could be told to be this build's for ${OUTCOME_UNKNOWN_LIMIT_SECONDS + 3} s: ${OUTCOME_UNKNOWN.message}`;
    expect(await runRebuildJob(t.deps, last!)).toEqual({ kind: "failed", reason: failed });
    expect(t.builder.started.map((request) => request.resumeSince)).toEqual([undefined, "2026-11-23T10:00:00.000Z", "2026-11-23T10:00:00.000Z"]);
    expect(await t.obligation()).toMatchObject({ state: "failed", reason: failed });
    expect(t.env.queue.poisoned).toEqual([{ queue: "rebuild", message: last }]);
  });

  it("polls a running run until it finishes, and retries a canceled one", async () => {
    const builder = scriptedBuilder([run("running", "run-3"), run("succeeded", "run-4")], [run("running", "run-3"), run("canceled", "run-3")]);
    const t = await campaignWithJob({}, builder);
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "started", run: run("running", "run-3") });
    const [poll1] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(poll1).toEqual({ ...t.job, poll: true });
    expect(await runRebuildJob(t.deps, poll1!)).toEqual({ kind: "requeued", delaySeconds: 10, reason: "run run-3 is running" });
    const [poll2] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(await runRebuildJob(t.deps, poll2!)).toMatchObject({ kind: "requeued", delaySeconds: 2, reason: "attempt 1 of 5 failed: build run-3 canceled" });
    const [retry] = t.env.queue.take("rebuild") as ObligationJob[];
    expect(await runRebuildJob(t.deps, retry!)).toEqual({ kind: "started", run: run("succeeded", "run-4") });
    expect(builder.gets).toEqual(["run-3", "run-3"]);
  });
});

describe("runRebuildJob keeps the image's platforms", () => {
  const inferred = { kind: "source", repository: SOURCE, revision: "HEAD", dockerfile: "Dockerfile", context: ".", args: {}, tags: [COMPANY] } as const;
  const configured = { ...inferred, revision: "main" } as const;

  it.each([
    { name: "inferred from its annotations", recipes: [], recipe: inferred },
    { name: "configured without platforms", recipes: [{ image: COMPANY, repository: SOURCE }], recipe: configured },
  ])("rebuilds a multi-platform image for each of its platforms, not its attestations (recipe $name), and polls with the same request", async ({ recipes, recipe }) => {
    const t = await campaignWithJob({}, scriptedBuilder([run("running", "run-1")]), recipes, companyIndex);
    expect(await runRebuildJob(t.deps, t.job)).toEqual({ kind: "started", run: run("running", "run-1") });
    const request = { image: COMPANY, registry: REGISTRY, recipe: { ...recipe, platforms: ["linux/amd64", "linux/arm64/v8"] }, base: { key: BASE, digest: busyboxB.digest }, idempotencyKey: `${COMPANY}|${busyboxB.digest}` };
    expect(t.builder.started).toEqual([request]);
    const [poll] = t.env.queue.take("rebuild") as ObligationJob[];
    await runRebuildJob(t.deps, poll!);
    expect(t.builder.getRequests).toEqual([request]);
  });

  it("keeps the platforms the image has now, not those it had when the campaign opened", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([run("running", "run-1")]), [], companyAmd64);
    await t.deliver(pushEvent("ripple/company", "1", companyIndex.digest, "2026-11-23T09:20:00Z"));
    await runRebuildJob(t.deps, t.job);
    expect(t.builder.started.map((request) => request.recipe)).toEqual([{ ...inferred, platforms: ["linux/amd64", "linux/arm64/v8"] }]);
  });

  it("builds a single-platform image as before: on the builder's default platform", async () => {
    const t = await campaignWithJob({}, scriptedBuilder([run("running", "run-1")]), [], companyArm64);
    await runRebuildJob(t.deps, t.job);
    expect(t.builder.started.map((request) => request.recipe)).toEqual([{ ...inferred, platforms: [] }]);
  });
});

describe("debounced campaigns", () => {
  it("makes one campaign of a burst of pushes, on the last digest, from the digest before the burst", async () => {
    const { env, deliver } = seededRegistry(config({ debounceSeconds: 30 }));
    await deliver(pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
    await deliver(pushEvent("ripple/company", "1", company.digest, "2026-11-23T09:01:00Z"));
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    await deliver(pushEvent("ripple/busybox", "1", busyboxC.digest, "2026-11-23T09:10:10Z"));
    const jobs = env.queue.messages.filter((entry) => entry.queue === "campaigns");
    expect(jobs.map((entry) => [(entry.message as { toDigest: string }).toDigest, entry.delaySeconds])).toEqual([[busyboxB.digest, 30], [busyboxC.digest, 30]]);
    expect(await env.store.listCampaigns()).toEqual([]);
    const results = [];
    for (const entry of env.queue.take("campaigns")) results.push(await openDebouncedCampaign(env.deps, entry as never));
    expect(results).toEqual([
      { kind: "skipped", reason: `${BASE} has moved on from ${busyboxB.digest}` },
      { kind: "opened", id: expect.any(String), obligations: 1 },
    ]);
    const campaigns = await env.store.listCampaigns();
    expect(campaigns.map((campaign) => [campaign.fromDigest, campaign.toDigest])).toEqual([[busyboxA.digest, busyboxC.digest]]);
    expect(env.queue.take("rebuild")).toHaveLength(1);
  });
});

const KEY = `${COMPANY}|${busyboxB.digest}`;
const CLAIMED_AT = "2026-11-23T09:59:00.000Z";
const HEARD_AT = "2026-11-23T09:59:40.000Z";

/** The builder cannot tell yet whether an earlier attempt started a run. */
const OUTCOME_UNKNOWN = new AppError("run_outcome_unknown", `scheduling a build of ${COMPANY}: the outcome of an earlier request is unknown until run cb1 reports its images`, {
  retryable: true,
  details: { retryAfterMs: 2000, candidates: ["cb1"] },
});

/** The run record of another key of the registry, long settled or waiting for its retry. */
function otherRun(key: string, runId: string | null, status: RunRecord["status"]): RunRecord {
  const at = "2026-11-23T09:30:00.000Z";
  return { key, image: `${REGISTRY}/apps/other:1`, registry: REGISTRY, base: BASE, baseDigest: busyboxB.digest, campaignId: "c", builder: "fake", status, runId, logsUrl: null, reason: null, attempts: 1, claimedAt: at, startedAt: null, finishedAt: null, updatedAt: at };
}

/** The claim a worker left when it died waiting on the builder: last heard of at {@link HEARD_AT}. */
function deadClaim(job: ObligationJob): RunRecord {
  return { key: KEY, image: COMPANY, registry: REGISTRY, base: BASE, baseDigest: busyboxB.digest, campaignId: job.campaignId, builder: "fake", status: "claimed", runId: null, logsUrl: null, reason: null, attempts: 0, claimedAt: CLAIMED_AT, heartbeatAt: HEARD_AT, startedAt: null, finishedAt: null, updatedAt: CLAIMED_AT };
}

/** A builder whose start() answers only when the test says so. */
function slowBuilder() {
  let answer: (run: BuildRun) => void = () => undefined;
  let called: () => void = () => undefined;
  const calledOnce = new Promise<void>((resolve) => (called = resolve));
  const builder = scriptedBuilder([]);
  builder.start = async (request) => {
    builder.started.push(request);
    called();
    return new Promise<BuildRun>((resolve) => (answer = resolve));
  };
  return { builder, called: calledOnce, answer: (value: BuildRun) => answer(value) };
}

describe("runRebuildJob takes a dead worker's claim over", () => {
  it.each([
    { name: "a fresh heartbeat (29 s old) is not taken over", seconds: 29, outcome: { kind: "requeued", delaySeconds: 2, reason: `run ${KEY} is being started by another worker` }, started: 0 },
    { name: "the claim timeout to the second (30 s) is not taken over yet", seconds: 30, outcome: { kind: "requeued", delaySeconds: 1, reason: `run ${KEY} is being started by another worker` }, started: 0 },
    { name: "an old heartbeat (31 s) is taken over", seconds: 31, outcome: { kind: "started", run: run("succeeded") }, started: 1 },
  ])("a claim with $name", async ({ seconds, outcome, started }) => {
    const t = await campaignWithJob();
    await t.env.store.claimRun(deadClaim(t.job));
    const deps = { ...t.deps, now: () => new Date(Date.parse(HEARD_AT) + seconds * 1000) };
    expect(await runRebuildJob(deps, t.job)).toEqual(outcome);
    expect(t.builder.started).toHaveLength(started);
  });

  it("takes a dead worker's claim over within the claim timeout: the redelivered job comes back just after it goes stale", async () => {
    const t = await campaignWithJob();
    await t.env.store.claimRun(deadClaim(t.job));
    let now = Date.parse(HEARD_AT) + 5_000; // the job redelivered 5 s after the last heartbeat
    const deps = { ...t.deps, now: () => new Date(now) };
    const outcomes = [];
    for (;;) {
      const outcome = await runRebuildJob(deps, t.job);
      outcomes.push(outcome.kind);
      if (outcome.kind !== "requeued") break;
      now += outcome.delaySeconds * 1000;
    }
    expect({ outcomes, secondsAfterHeartbeat: (now - Date.parse(HEARD_AT)) / 1000 }).toEqual({ outcomes: ["requeued", "requeued", "requeued", "started"], secondsAfterHeartbeat: 31 });
    expect(t.builder.started.map((request) => request.resumeSince)).toEqual([CLAIMED_AT]);
    expect(await t.env.store.getRun(REGISTRY, KEY)).toMatchObject({ status: "succeeded", claimedAt: "2026-11-23T10:00:11.000Z", heartbeatAt: "2026-11-23T10:00:11.000Z" });
  });

  it("does not count a dead worker's claim toward the concurrency limit", async () => {
    const t = await campaignWithJob({ concurrencyPerRegistry: 1, staleClaimSeconds: 600 });
    await t.env.store.claimRun({ ...deadClaim(t.job), key: "other|x", image: `${REGISTRY}/apps/other:1` });
    const at = (seconds: number) => ({ ...t.deps, now: () => new Date(Date.parse(HEARD_AT) + seconds * 1000) });
    expect(await runRebuildJob(at(20), t.job)).toEqual({ kind: "requeued", delaySeconds: 2, reason: `1 runs active on ${REGISTRY} (limit 1)` });
    expect(await runRebuildJob(at(31), t.job)).toMatchObject({ kind: "started" });
  });
});

describe("runRebuildJob claim heartbeat", () => {
  it("renews the heartbeat while a slow builder works, keeps another delivery off the claim, and stops once the builder answers", async () => {
    const slow = slowBuilder();
    const t = await campaignWithJob({}, slow.builder);
    vi.useFakeTimers({ now: Date.parse("2026-11-23T10:00:00Z") });
    const deps = { ...t.deps, now: () => new Date() };
    const heartbeat = async () => (await t.env.store.getRun(REGISTRY, KEY))?.heartbeatAt;
    const first = runRebuildJob(deps, t.job);
    await slow.called;
    expect(await heartbeat()).toBe("2026-11-23T10:00:00.000Z");
    const beats = [];
    for (let beat = 0; beat < 6; beat++) {
      await vi.advanceTimersByTimeAsync(10_000);
      beats.push(await heartbeat());
    }
    expect(beats).toEqual(["10:00:10", "10:00:20", "10:00:30", "10:00:40", "10:00:50", "10:01:00"].map((time) => `2026-11-23T${time}.000Z`));
    // A minute into the build, a redelivered job finds the claim alive and does not start a second run.
    expect(await runRebuildJob(deps, t.job)).toEqual({ kind: "requeued", delaySeconds: 10, reason: `run ${KEY} is being started by another worker` });
    expect(slow.builder.started).toHaveLength(1);

    slow.answer(run("succeeded", "run-1"));
    expect(await first).toEqual({ kind: "started", run: run("succeeded", "run-1") });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await t.env.store.getRun(REGISTRY, KEY)).toMatchObject({ status: "succeeded", runId: "run-1", heartbeatAt: "2026-11-23T10:01:00.000Z" });
    expect(vi.getTimerCount()).toBe(0);
  });
});
