/**
 * The pull-request job's proposing lease on the local git forge (real git, the memory store): the same use
 * case drives it as GitHub's, and its merges are settled by the reconcile timer instead of a webhook.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { mergePullRequest, createLocalGitForge } from "../../../shared/adapters/local-git/local-git-forge.js";
import { readPullRequestRecords } from "../../../shared/adapters/local-git/pull-request-records.js";
import { parseConfig } from "../../../shared/config.js";
import { dedupeKey } from "../../../shared/domain/registry-event.js";
import type { Forge } from "../../../shared/ports/forge.js";
import type { ObligationJob } from "../../../shared/ports/work-queue.js";
import { processRegistryEvent } from "../../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../../shared/use-cases/receive-notification.js";
import { reconcileRepositories } from "../../../shared/use-cases/reconcile-repositories.js";
import { runPullRequestJob } from "../../../shared/use-cases/run-pull-request-job.js";
import { scanRepository } from "../../../shared/use-cases/scan-repository.js";
import { createDeps, image, pushEvent, REGISTRY } from "./pipeline-helpers.js";

const directories: string[] = [];
afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

function git(cwd: string, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("GIT_")) env[name] = value;
  return execFileSync("git", ["-C", cwd, "-c", "user.name=Test", "-c", "user.email=test@example.test", ...args], { encoding: "utf8", env }).trimEnd();
}

const busyboxA = image("busybox-a", ["l1"]);
const busyboxB = image("busybox-b", ["l2"]);

/** A local repository pinning busybox:1 at A in two files, scanned; then busybox:1 moves to B, which queues a job per pin. */
async function setup() {
  const dir = await mkdtemp(join(tmpdir(), "ripple-lease-"));
  directories.push(dir);
  const repo = join(dir, "deploy");
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
  await writeFile(join(repo, "Dockerfile"), `FROM ${REGISTRY}/ripple/busybox:1@${busyboxA.digest}\n`);
  await writeFile(join(repo, "app.yaml"), `image: ${REGISTRY}/ripple/busybox:1@${busyboxA.digest}\n`);
  git(repo, "add", ".");
  git(repo, "commit", "-q", "-m", "pins");

  const config = parseConfig(JSON.stringify({ version: 1, registries: [{ host: REGISTRY, kind: "distribution" }], bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["*"] }], repositories: [{ url: repo }] }));
  const env = createDeps(config);
  for (const facts of [busyboxA, busyboxB]) env.registry.put("ripple/busybox", facts);
  const forge = createLocalGitForge({ repositories: [repo] });
  const deps = { ...env.deps, forgeFor: (repository: string): Forge | null => (repository === repo ? forge : null) };
  for (const [digest, at] of [[busyboxA.digest, "2026-11-23T09:00:00Z"], [busyboxB.digest, "2026-11-23T09:10:00Z"]] as const) {
    const event = pushEvent("ripple/busybox", "1", digest, at);
    await recordEvents(env.deps, [event], 0);
    await processRegistryEvent(env.deps, dedupeKey(event));
    if (digest === busyboxA.digest) await scanRepository({ store: env.store, forge, now: env.deps.now }, repo);
  }
  const jobs = env.queue.take("pull-request") as ObligationJob[];
  return { repo, env, forge, deps, jobs };
}

describe("the proposing lease on the local git forge", () => {
  it("opens one pull request when the first delivery's is merged while the second is about to propose, and the reconcile timer settles it", async () => {
    const { repo, env, forge, deps, jobs } = await setup();
    expect(jobs).toHaveLength(2);
    const job = jobs[0]!;
    const propose = forge.proposeChange.bind(forge);
    let release = (): void => undefined;
    let entered = (): void => undefined;
    const proposing = new Promise<void>((resolve) => (entered = resolve));
    forge.proposeChange = async (request) => {
      forge.proposeChange = propose;
      entered();
      await new Promise<void>((resolve) => (release = resolve));
      return propose(request);
    };

    const second = runPullRequestJob(deps, job);
    await proposing;
    const first = await runPullRequestJob(deps, job).catch((error: unknown) => error);
    // A maintainer merges whatever Ripple recorded so far.
    const recorded = await env.store.listPullRequests();
    for (const pull of recorded) await mergePullRequest(repo, pull.number);
    release();
    expect(await second).toMatchObject({ kind: "proposed", number: 1 });
    await mergePullRequest(repo, 1);
    expect(await runPullRequestJob(deps, job)).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/^already in /) });
    const reconciled = await reconcileRepositories({ ...deps, listRepositories: async () => [] });

    expect(first).toMatchObject({ code: "pull_request_busy", retryable: true, details: { retryAfterMs: 5000 } });
    expect((await readPullRequestRecords(join(repo, ".git"))).map(({ number, state }) => ({ number, state }))).toEqual([{ number: 1, state: "merged" }]);
    expect(reconciled.settled).toBe(2);
    expect((await env.store.getCampaign(job.campaignId))!.obligations.map((obligation) => obligation.state)).toEqual(["done", "done"]);
    expect(git(repo, "show", "main:Dockerfile")).toBe(`FROM ${REGISTRY}/ripple/busybox:1@${busyboxB.digest}`);
  });
});
