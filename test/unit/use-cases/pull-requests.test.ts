import { describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { dedupeKey } from "../../../shared/domain/registry-event.js";
import type { ChangeRequest, Forge, PullRequest } from "../../../shared/ports/forge.js";
import type { ObligationJob } from "../../../shared/ports/work-queue.js";
import { UpstreamError, ValidationError } from "../../../shared/errors.js";
import { configuredRepository, handleGitHubEvent } from "../../../shared/use-cases/handle-github-event.js";
import { processRegistryEvent } from "../../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../../shared/use-cases/receive-notification.js";
import { deferThrottledJob } from "../../../shared/use-cases/defer-throttled-job.js";
import { branchFor, PROPOSING_LEASE_MS, runPullRequestJob } from "../../../shared/use-cases/run-pull-request-job.js";
import { scanRepository } from "../../../shared/use-cases/scan-repository.js";
import { createDeps, image, pushEvent, REGISTRY } from "./pipeline-helpers.js";

const REPO = "contoso/app";

/**
 * A forge double holding one repository's files; counts proposals, keeps one PR per branch like GitHub.
 * Files in `readOnly` are scanned with that reason and refused in a change request, as GitHub's adapter does.
 */
function fakeForge(files: Record<string, string>, readOnly: Record<string, string> = {}) {
  const proposals: ChangeRequest[] = [];
  const pulls: PullRequest[] = [];
  let revision = 1;
  const forge: Forge & { proposals: ChangeRequest[]; pulls: PullRequest[]; merge(number: number): void; close(number: number): void; files: Record<string, string> } = {
    proposals,
    pulls,
    files,
    async scan(repository, options = {}) {
      const cursor = `rev-${revision}`;
      if (options.since === cursor) return { repository, revision: cursor, unchanged: true, files: [], skipped: [], cursor, calls: 1, rateLimitRemaining: 4999 };
      const scanned = Object.entries(files).map(([path, text]) => ({ path, text, ...(readOnly[path] === undefined ? {} : { readOnly: readOnly[path] }) }));
      return { repository, revision: cursor, unchanged: false, files: scanned, skipped: [], cursor, calls: 1 + Object.keys(files).length, rateLimitRemaining: 4990 };
    },
    async proposeChange(request) {
      const refused = request.files.find((file) => readOnly[file.path] !== undefined);
      if (refused !== undefined) throw new ValidationError(`cannot change ${refused.path}`);
      proposals.push(request);
      const open = pulls.find((pull) => pull.branch === request.branch && pull.state === "open");
      const pull: PullRequest = { repository: request.repository, branch: request.branch, number: open?.number ?? pulls.length + 1, url: `https://github.test/${request.repository}/pull/${open?.number ?? pulls.length + 1}`, state: "open", title: request.title, body: request.body, labels: request.labels, headSha: `head-${proposals.length}`, baseSha: request.baseSha };
      if (open) pulls[pulls.indexOf(open)] = pull;
      else pulls.push(pull);
      return pull;
    },
    async findPullRequest(_repository, branch) {
      return [...pulls].reverse().find((pull) => pull.branch === branch) ?? null;
    },
    merge(number) {
      const pull = pulls.find((candidate) => candidate.number === number)!;
      pulls[pulls.indexOf(pull)] = { ...pull, state: "merged" };
      const proposal = [...proposals].reverse().find((candidate) => candidate.branch === pull.branch)!;
      for (const file of proposal.files) files[file.path] = file.text;
      revision += 1;
    },
    close(number) {
      const pull = pulls.find((candidate) => candidate.number === number)!;
      pulls[pulls.indexOf(pull)] = { ...pull, state: "closed" };
    },
  };
  return forge;
}

const busyboxA = image("busybox-a", ["l1"]);
const busyboxB = image("busybox-b", ["l2"]);
const busyboxC = image("busybox-c", ["l3"]);

const WORKFLOW = ".github/workflows/build.yml";
const WORKFLOWS_REASON = "needs the GitHub App's workflows permission";

async function setup(options: { workflow?: boolean; only?: "workflow" } = {}) {
  const config = parseConfig(JSON.stringify({
    version: 1,
    registries: [{ host: REGISTRY, kind: "distribution" }],
    bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["*"] }],
    repositories: [{ url: REPO }],
    pullRequests: { labels: ["base-image", "automated"] },
  }));
  const env = createDeps(config);
  for (const facts of [busyboxA, busyboxB, busyboxC]) env.registry.put("ripple/busybox", facts);
  const files: Record<string, string> = {
    "Dockerfile": `FROM ${REGISTRY}/ripple/busybox:1@${busyboxA.digest}\r\nRUN true\r\n`,
    "deploy/app.yaml": `spec:\n  containers:\n    - name: app\n      image: "${REGISTRY}/ripple/busybox:1@${busyboxA.digest}" # pinned\n    - name: other\n      image: docker.io/library/nginx:1.27@sha256:${"e".repeat(64)}\n`,
  };
  if (options.only === "workflow") for (const path of Object.keys(files)) delete files[path];
  if (options.workflow === true || options.only === "workflow") files[WORKFLOW] = `jobs:\n  build:\n    container: ${REGISTRY}/ripple/busybox:1@${busyboxA.digest}\n`;
  const forge = fakeForge(files, { [WORKFLOW]: WORKFLOWS_REASON });
  const deps = { ...env.deps, forgeFor: (repository: string) => (repository === REPO ? forge : null) };
  const deliver = async (event: ReturnType<typeof pushEvent>) => {
    await recordEvents(env.deps, [event], 0);
    return processRegistryEvent(env.deps, dedupeKey(event));
  };
  await deliver(pushEvent("ripple/busybox", "1", busyboxA.digest, "2026-11-23T09:00:00Z"));
  const scan = await scanRepository({ store: env.store, forge, now: env.deps.now }, REPO);
  return { env, forge, deps, deliver, scan };
}

describe("pull requests for pinned digests", () => {
  it("records every digest pin of a repository as a file-pin edge; a rescan of an unchanged repository costs one call", async () => {
    const { env, forge, scan } = await setup();
    // The nginx pin is recorded too (an edge to nginx:1.27), though nothing tracks that base yet.
    expect(scan).toMatchObject({ repository: REPO, unchanged: false, files: 2, pins: 3, unrelated: 0 });
    expect((await env.store.listDependents(`${REGISTRY}/ripple/busybox:1`)).map((edge) => [edge.dependent, edge.evidence])).toEqual([
      [{ kind: "file-pin", repo: REPO, path: "Dockerfile", line: 1, digest: busyboxA.digest }, "pin"],
      [{ kind: "file-pin", repo: REPO, path: "deploy/app.yaml", line: 4, digest: busyboxA.digest }, "pin"],
    ]);
    expect(await scanRepository({ store: env.store, forge, now: env.deps.now }, REPO)).toMatchObject({ unchanged: true, calls: 1, pins: 0 });
  });

  it("opens one pull request for the repository with every pin bumped byte for byte, and updates it in place for a newer digest", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const jobs = env.queue.take("pull-request") as ObligationJob[];
    expect(jobs).toHaveLength(2);
    const first = await runPullRequestJob(deps, jobs[0]!);
    expect(first).toMatchObject({ kind: "proposed", number: 1, files: ["Dockerfile", "deploy/app.yaml"], updated: false });
    expect(await runPullRequestJob(deps, jobs[1]!)).toEqual({ kind: "skipped", reason: `already in https://github.test/${REPO}/pull/1` });
    expect(forge.proposals).toHaveLength(1);
    const proposal = forge.proposals[0]!;
    expect(proposal.branch).toBe(branchFor(`${REGISTRY}/ripple/busybox:1`));
    expect(proposal.labels).toEqual(["base-image", "automated"]);
    expect(proposal.title).toBe(`chore(deps): update ${REGISTRY}/ripple/busybox:1 digest to ${busyboxB.digest.slice(7, 14)}`);
    expect(proposal.files).toEqual([
      { path: "Dockerfile", text: `FROM ${REGISTRY}/ripple/busybox:1@${busyboxB.digest}\r\nRUN true\r\n` },
      { path: "deploy/app.yaml", text: forge.files["deploy/app.yaml"]!.replace(busyboxA.digest, busyboxB.digest) },
    ]);
    expect(proposal.body).toContain(`| \`Dockerfile\` | 1 |`);

    await deliver(pushEvent("ripple/busybox", "1", busyboxC.digest, "2026-11-23T09:20:00Z"));
    const newer = env.queue.take("pull-request") as ObligationJob[];
    expect(await runPullRequestJob(deps, newer[0]!)).toMatchObject({ kind: "proposed", number: 1, updated: true });
    expect(forge.pulls).toHaveLength(1);
    expect(forge.proposals[1]!.files[0]).toEqual({ path: "Dockerfile", text: `FROM ${REGISTRY}/ripple/busybox:1@${busyboxC.digest}\r\nRUN true\r\n` });
  });

  it("completes the obligations when the pull request is merged, and never reopens one closed for the same digest", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    await runPullRequestJob(deps, job!);
    forge.close(1);
    const closed = await handleGitHubEvent(deps, "pull_request", { action: "closed", repository: { full_name: REPO }, pull_request: { number: 1, merged: false, head: { ref: branchFor(`${REGISTRY}/ripple/busybox:1`) } } });
    expect(closed).toEqual({ kind: "handled", summary: "pull request #1 closed: 2 obligation(s) settled" });
    expect(await runPullRequestJob(deps, job!)).toEqual({ kind: "skipped", reason: "obligation already failed" });
    expect(forge.proposals).toHaveLength(1);

    await deliver(pushEvent("ripple/busybox", "1", busyboxC.digest, "2026-11-23T09:20:00Z"));
    const [next] = env.queue.take("pull-request") as ObligationJob[];
    expect(await runPullRequestJob(deps, next!)).toMatchObject({ kind: "proposed", number: 2, updated: false });
    forge.merge(2);
    expect(await handleGitHubEvent(deps, "push", { ref: "refs/heads/main", repository: { full_name: REPO, default_branch: "main" } })).toEqual({ kind: "handled", summary: `rescan of ${REPO} queued` });
    expect(env.queue.take("scans")).toEqual([{ v: 1, repository: REPO }]);
    expect(await handleGitHubEvent(deps, "push", { ref: "refs/heads/feature", repository: { full_name: REPO, default_branch: "main" } })).toEqual({ kind: "ignored", reason: "push to refs/heads/feature, not the default branch" });
    await handleGitHubEvent(deps, "pull_request", { action: "closed", repository: { full_name: REPO }, pull_request: { number: 2, merged: true, head: { ref: branchFor(`${REGISTRY}/ripple/busybox:1`) } } });
    const campaign = (await env.store.listCampaigns()).find((candidate) => candidate.toDigest === busyboxC.digest)!;
    expect((await env.store.getCampaign(campaign.id))!.obligations.map((obligation) => obligation.state)).toEqual(["done", "done"]);
  });
});

describe("pull requests: refusals and races", () => {
  it("ignores a closed event of another pull request on the same branch", async () => {
    const { env, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    await runPullRequestJob(deps, job!);
    const stale = await handleGitHubEvent(deps, "pull_request", { action: "closed", repository: { full_name: REPO }, pull_request: { number: 99, merged: false, head: { ref: branchFor(`${REGISTRY}/ripple/busybox:1`) } } });
    expect(stale).toEqual({ kind: "handled", summary: "pull request #99 closed: 0 obligation(s) settled" });
    expect((await env.store.getObligation(job!.campaignId, job!.dependentKey))?.state).toBe("scheduled");
  });

  it("fails the obligation when the forge refuses for good, and leaves retryable faults to the queue", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    forge.proposeChange = async () => {
      throw new UpstreamError("github", "503", { status: 503 });
    };
    await expect(runPullRequestJob(deps, job!)).rejects.toMatchObject({ retryable: true });
    forge.proposeChange = async () => {
      throw new UpstreamError("github", "422 protected branch", { status: 422 });
    };
    expect(await runPullRequestJob(deps, job!)).toEqual({ kind: "failed", reason: "github: 422 protected branch" });
    expect((await env.store.getObligation(job!.campaignId, job!.dependentKey))?.state).toBe("failed");
  });

  it("counts a pin someone already moved to the new digest as done, without a pull request", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    for (const path of Object.keys(forge.files)) forge.files[path] = forge.files[path]!.replaceAll(busyboxA.digest, busyboxB.digest);
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    expect(await runPullRequestJob(deps, job!)).toEqual({ kind: "skipped", reason: `nothing to change in ${REPO}` });
    expect(forge.proposals).toEqual([]);
    expect((await env.store.getCampaign(job!.campaignId))!.obligations.map((obligation) => obligation.state)).toEqual(["done", "done"]);
  });
});

describe("pull requests: files the forge cannot change", () => {
  it("lists a read-only file's pins in the scan summary's skipped, fails their obligations with the reason, and proposes the other files", async () => {
    const { env, forge, deps, deliver, scan } = await setup({ workflow: true });
    expect(scan).toMatchObject({ files: 3, pins: 4, skipped: [{ path: WORKFLOW, reason: WORKFLOWS_REASON }] });
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const jobs = env.queue.take("pull-request") as ObligationJob[];
    const workflowJob = jobs.find((job) => job.dependentKey.includes(WORKFLOW))!;

    expect(await runPullRequestJob(deps, workflowJob)).toMatchObject({ kind: "proposed", number: 1, files: ["Dockerfile", "deploy/app.yaml"] });
    expect(forge.proposals.map((proposal) => proposal.files.map((file) => file.path))).toEqual([["Dockerfile", "deploy/app.yaml"]]);
    const obligations = (await env.store.getCampaign(workflowJob.campaignId))!.obligations;
    expect(obligations.map(({ dependentKey, state, reason }) => ({ workflow: dependentKey.includes(WORKFLOW), state, reason: reason ?? null }))).toEqual([
      { workflow: true, state: "failed", reason: `cannot change ${WORKFLOW} in ${REPO}: ${WORKFLOWS_REASON}` },
      { workflow: false, state: "scheduled", reason: null },
      { workflow: false, state: "scheduled", reason: null },
    ]);
  });

  it("fails the job with the reason when every pin is in a read-only file, proposing nothing", async () => {
    const { env, forge, deps, deliver } = await setup({ only: "workflow" });
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];

    expect(await runPullRequestJob(deps, job!)).toEqual({ kind: "failed", reason: `cannot change ${WORKFLOW} in ${REPO}: ${WORKFLOWS_REASON}` });
    expect(forge.proposals).toEqual([]);
    expect((await env.store.getObligation(job!.campaignId, job!.dependentKey))?.state).toBe("failed");
  });
});

describe("configuredRepository", () => {
  const config = (github: object) => parseConfig(JSON.stringify({ version: 1, registries: [{ host: REGISTRY }], repositories: [{ url: "https://github.com/contoso/app.git" }, { url: "/srv/git/deploy" }], github }));
  it.each([
    ["a configured URL, by its owner/name", {}, "Contoso/App", "https://github.com/contoso/app.git"],
    ["an unconfigured repository", {}, "contoso/other", null],
    ["any installation repository", { installationRepositories: true }, "contoso/other", "contoso/other"],
    ["an installation repository of the configured owner", { installationRepositories: true, owner: "contoso" }, "contoso/other", "contoso/other"],
    ["an installation repository of another owner", { installationRepositories: true, owner: "contoso" }, "fabrikam/other", null],
  ])("%s", (_, github, fullName, expected) => {
    expect(configuredRepository(config(github), fullName)).toBe(expected);
  });
});

describe("pull requests: concurrent deliveries of one job", () => {
  const BRANCH = branchFor(`${REGISTRY}/ripple/busybox:1`);

  /** Holds the forge's next proposal until `release()`: the delivery making it has scanned and planned, and not proposed yet. */
  function holdNextProposal(forge: Forge) {
    const propose = forge.proposeChange.bind(forge);
    let release = (): void => undefined;
    let entered = (): void => undefined;
    const waiting = new Promise<void>((resolve) => (entered = resolve));
    const held = new Promise<void>((resolve) => (release = resolve));
    let armed = true;
    forge.proposeChange = async (request) => {
      if (armed) {
        armed = false;
        entered();
        await held;
      }
      return propose(request);
    };
    return { waiting, release };
  }

  /** A reviewer who merges the pull request Ripple recorded, and GitHub's webhooks for the merges, handled later. */
  function reviewer(forge: ReturnType<typeof fakeForge>, deps: Parameters<typeof handleGitHubEvent>[0]) {
    const merged: number[] = [];
    const undelivered: number[] = [];
    return {
      merged,
      async merge() {
        const record = await deps.store.getPullRequest(REPO, BRANCH);
        const pull = forge.pulls.find((candidate) => candidate.number === record?.number && candidate.state === "open");
        if (pull === undefined) return;
        forge.merge(pull.number);
        merged.push(pull.number);
        undelivered.push(pull.number);
      },
      async deliver() {
        for (const number of undelivered.splice(0)) {
          await handleGitHubEvent(deps, "pull_request", { action: "closed", repository: { full_name: REPO }, pull_request: { number, merged: true, head: { ref: BRANCH } } });
        }
      },
    };
  }

  it("opens one pull request when the first delivery's is merged while the second is between its check and its proposal, and settles its obligations", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job, other] = env.queue.take("pull-request") as ObligationJob[];
    const review = reviewer(forge, deps);

    const hold = holdNextProposal(forge);
    const second = runPullRequestJob(deps, job!);
    await hold.waiting;
    const first = await runPullRequestJob(deps, job!).catch((error: unknown) => error);
    await review.merge();
    hold.release();
    expect(await second).toMatchObject({ kind: "proposed", number: 1 });
    await review.merge();
    await review.deliver();
    // The first delivery, put back on the queue, and the other pin's job find the pull request merged.
    expect(await runPullRequestJob(deps, job!)).toEqual({ kind: "skipped", reason: "obligation already done" });
    expect(await runPullRequestJob(deps, other!)).toEqual({ kind: "skipped", reason: "obligation already done" });

    expect(first).toMatchObject({ code: "pull_request_busy", retryable: true, details: { retryAfterMs: 5000 } });
    expect(forge.pulls.map(({ number, state }) => ({ number, state }))).toEqual([{ number: 1, state: "merged" }]);
    expect(review.merged).toEqual([1]);
    expect((await env.store.getCampaign(job!.campaignId))!.obligations.map((obligation) => obligation.state)).toEqual(["done", "done"]);
    expect(await env.store.updatePullRequestSlot(REPO, BRANCH, () => null)).toMatchObject({ record: { number: 1, state: "merged", earlier: [] }, lease: null });
  });

  it("defers a delivery while another holds the branch's lease, with how long to wait, and the queue takes it back", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    const hold = holdNextProposal(forge);
    const holder = runPullRequestJob(deps, job!);
    await hold.waiting;

    const error = await runPullRequestJob(deps, job!).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "pull_request_busy", retryable: true, details: { retryAfterMs: 5000 } });
    expect(await deferThrottledJob(env.queue, "pull-request", job, error)).toEqual({ deferredSeconds: 5 });
    expect(env.queue.messages.filter((message) => message.queue === "pull-request")).toEqual([{ queue: "pull-request", message: job, delaySeconds: 5 }]);
    hold.release();
    expect(await holder).toMatchObject({ kind: "proposed", number: 1 });
    expect(forge.proposals).toHaveLength(1);
    expect(await env.store.updatePullRequestSlot(REPO, BRANCH, () => null)).toMatchObject({ record: { number: 1, state: "open" }, lease: null });
  });

  it("lets a dead delivery's lease lapse: the job waits while it lasts, then proceeds", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    let clock = Date.parse("2026-11-23T10:00:00.000Z");
    const timed = { ...deps, now: () => new Date(clock) };
    // A delivery took the lease and died before it proposed anything.
    const until = new Date(clock + PROPOSING_LEASE_MS).toISOString();
    await env.store.updatePullRequestSlot(REPO, BRANCH, (current) => ({ ...current, lease: { holder: "dead", digest: busyboxB.digest, takenAt: new Date(clock).toISOString(), until } }));

    clock += PROPOSING_LEASE_MS - 2000;
    await expect(runPullRequestJob(timed, job!)).rejects.toMatchObject({ code: "pull_request_busy", details: { retryAfterMs: 2000 } });
    expect(forge.proposals).toEqual([]);
    clock += 2000;
    expect(await runPullRequestJob(timed, job!)).toMatchObject({ kind: "proposed", number: 1 });
    expect(await env.store.updatePullRequestSlot(REPO, BRANCH, () => null)).toMatchObject({ record: { number: 1 }, lease: null });
  });

  it("renews the lease while its holder works, so a slow delivery is not overtaken", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const { env, forge, deps, deliver } = await setup();
      await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
      const [job] = env.queue.take("pull-request") as ObligationJob[];
      let clock = Date.parse("2026-11-23T10:00:00.000Z");
      const timed = { ...deps, now: () => new Date(clock) };
      const hold = holdNextProposal(forge);
      const slow = runPullRequestJob(timed, job!);
      await hold.waiting;
      for (let step = 0; step < 8; step += 1) {
        clock += 15_000;
        await vi.advanceTimersByTimeAsync(15_000);
      }
      await expect(runPullRequestJob(timed, job!)).rejects.toMatchObject({ code: "pull_request_busy" });
      hold.release();
      expect(await slow).toMatchObject({ kind: "proposed", number: 1 });
      expect(forge.proposals).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("releases the lease when the delivery fails or has nothing to propose", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    const propose = forge.proposeChange.bind(forge);
    forge.proposeChange = async () => {
      throw new UpstreamError("github", "503", { status: 503 });
    };
    await expect(runPullRequestJob(deps, job!)).rejects.toMatchObject({ retryable: true, details: { status: 503 } });
    expect(await env.store.updatePullRequestSlot(REPO, BRANCH, () => null)).toEqual({ record: null, lease: null });
    expect(await env.store.getPullRequest(REPO, BRANCH)).toBeNull();
    forge.proposeChange = propose;
    expect(await runPullRequestJob(deps, job!)).toMatchObject({ kind: "proposed", number: 1 });
  });

  it("settles the obligations of a pull request that a newer one replaced before its merge was handled (a holder frozen past its lease)", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    let clock = Date.parse("2026-11-23T10:00:00.000Z");
    const timed = { ...deps, now: () => new Date(clock) };
    const review = reviewer(forge, timed);
    const hold = holdNextProposal(forge);
    const frozen = runPullRequestJob(timed, job!);
    await hold.waiting;
    // Frozen inside its proposal past its lease: another delivery takes the branch over, opens #1, and #1 is merged.
    clock += PROPOSING_LEASE_MS + 1000;
    expect(await runPullRequestJob(timed, job!)).toMatchObject({ kind: "proposed", number: 1 });
    await review.merge();
    hold.release();
    expect(await frozen).toMatchObject({ kind: "proposed", number: 2 });
    await review.deliver();

    expect((await env.store.getCampaign(job!.campaignId))!.obligations.map((obligation) => obligation.state)).toEqual(["done", "done"]);
    const record = await env.store.getPullRequest(REPO, BRANCH);
    const bumped = (await env.store.getCampaign(job!.campaignId))!.obligations.map((obligation) => obligation.dependentKey);
    expect(record).toMatchObject({ number: 2, state: "open" });
    expect(record?.earlier).toEqual([{ number: 1, url: `https://github.test/${REPO}/pull/1`, digest: busyboxB.digest, campaignId: job!.campaignId, state: "merged", dependents: bumped }]);
    // A second delivery of the webhook settles nothing more.
    expect(await handleGitHubEvent(timed, "pull_request", { action: "closed", repository: { full_name: REPO }, pull_request: { number: 1, merged: true, head: { ref: BRANCH } } })).toEqual({ kind: "handled", summary: "pull request #1 merged: 0 obligation(s) settled" });
  });

  it("does not propose after its lease lapsed and another delivery took the branch over", async () => {
    const { env, forge, deps, deliver } = await setup();
    await deliver(pushEvent("ripple/busybox", "1", busyboxB.digest, "2026-11-23T09:10:00Z"));
    const [job] = env.queue.take("pull-request") as ObligationJob[];
    let clock = Date.parse("2026-11-23T10:00:00.000Z");
    const timed = { ...deps, now: () => new Date(clock) };
    const scan = forge.scan.bind(forge);
    let release = (): void => undefined;
    let entered = (): void => undefined;
    const scanning = new Promise<void>((resolve) => (entered = resolve));
    forge.scan = async (repository, options) => {
      forge.scan = scan;
      entered();
      await new Promise<void>((resolve) => (release = resolve));
      return scan(repository, options);
    };
    const frozen = runPullRequestJob(timed, job!);
    await scanning;
    clock += PROPOSING_LEASE_MS + 1000;
    await env.store.updatePullRequestSlot(REPO, BRANCH, (current) => ({ ...current, lease: { holder: "other", digest: busyboxB.digest, takenAt: new Date(clock).toISOString(), until: new Date(clock + PROPOSING_LEASE_MS).toISOString() } }));
    release();
    await expect(frozen).rejects.toMatchObject({ code: "pull_request_busy", retryable: true });
    expect(forge.proposals).toEqual([]);
    expect(await env.store.updatePullRequestSlot(REPO, BRANCH, () => null)).toMatchObject({ record: null, lease: { holder: "other" } });
  });
});
