/**
 * Chaos scenario `arm-and-github-faults` (issue #10): one campaign — four ACR images rebuilt by ACR Tasks and
 * a digest pin in each of two GitHub repositories — worked through while ARM answers 429 and 5xx and loses the
 * answers of runs it started, and GitHub answers secondary rate limits on the pull-request routes; with 1 or
 * 2 workers on the same storage and every job message delivered twice. Counted from the servers' own records.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RippleConfig } from "../../shared/config.js";
import { campaignId, type Obligation } from "../../shared/domain/campaign.js";
import { dependentKey, type Dependent } from "../../shared/domain/dependency.js";
import { BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION } from "../../shared/domain/image-facts.js";
import { ensureStackTls } from "../../shared/local/tls.js";
import { receiveEventGridEvent } from "../../shared/use-cases/receive-notification.js";
import { branchFor } from "../../shared/use-cases/run-pull-request-job.js";
import { startArmContractServer, type ArmContractServer, type DockerBuildCall, type RunState } from "../contract/helpers/arm-contract-server.js";
import { startFakeAcrServer, type FakeAcrServer } from "../contract/helpers/fake-acr-server.js";
import { startGitHubContractServer, type GitHubContractServer } from "../contract/helpers/github-contract-server.js";
import { buildImage, type ImageContent } from "../contract/helpers/image-content.js";
import { startScratchAzurite } from "../contract/helpers/scratch-azurite.js";
import { createWorkerDeps, mergeRipplePulls, startWorkers, type WorkerDeps, type WorkerEnvironment } from "./contract-fault-workers.js";
import type { ScenarioResult } from "./result.js";

const ARM = { token: "chaos-arm-token", subscriptionId: "3f2504e0-4f89-41d3-9a0c-0305e82c3301", resourceGroup: "rg-ripple", registryName: "rippleacr" };
const GITHUB = { appId: 424242, installationId: 7001 };
const APPS = ["app-1", "app-2", "app-3", "app-4"] as const;
const BASE = { repository: "base/runtime", tag: "1" };
const PLATFORM = { os: "linux", architecture: "amd64", variant: null };
const BASE_BEFORE = buildImage({ format: "oci", layers: ["base 1"], platform: PLATFORM });
const BASE_PATCHED = buildImage({ format: "oci", layers: ["base 2"], platform: PLATFORM });
/** The files pinning the base by digest, by repository (`@DIGEST` is the pinned digest). */
const PIN_FILES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "contoso/shop": { Dockerfile: "FROM HOST/base/runtime:1@DIGEST\nRUN make install\n" },
  "contoso/web": {
    "deploy/migrate.yaml": "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - name: migrate\n          image: HOST/base/runtime:1@DIGEST\n",
  },
};
/** How long a played build runs before it pushes the image (and Event Grid tells Ripple). */
const BUILD_MS = 1500;
/** How long after the fault's end the obligations may take before the rest counts as stuck. */
const RECOVERY_WAIT_MS = 90_000;

/** The contract servers, the scratch storage, and what the played builds did. */
interface ContractStack {
  readonly agent: Agent;
  readonly connectionString: string;
  readonly arm: ArmContractServer;
  readonly github: GitHubContractServer;
  readonly acr: FakeAcrServer;
  readonly privateKey: string;
  /** Every DockerBuildRequest ARM accepted: the run and the `repository:tag` names it pushes. */
  readonly builds: Array<{ runId: string; imageNames: readonly string[] }>;
  /** Pushes (with their Event Grid deliveries) of builds still running. */
  readonly running: Set<Promise<void>>;
  /** Where the played builds' pushes are announced; set once the configuration exists. */
  announce: (image: ImageContent, repository: string, tag: string) => Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the scenario once and reports it (see {@link ScenarioResult}): `workers` hosts on one scratch Azurite,
 * each with its own clients, against the ARM, ACR and GitHub contract servers. The faults are queued before
 * the patched base's push opens the campaign; the fault ends when the servers have served the last of them.
 * A reviewer merges each pull request once Ripple has recorded it. Throws only when the stack cannot start.
 */
export async function runContractFaultScenario(options: { workers: 1 | 2; log?: (line: string) => void }): Promise<ScenarioResult> {
  const log = options.log ?? (() => undefined);
  const stack = await startContractStack();
  const stoppers: Array<() => unknown> = [];
  try {
    const env = workerEnvironment(stack);
    const workers = await Promise.all(Array.from({ length: options.workers }, () => createWorkerDeps(env)));
    stack.announce = announcer(stack, await createWorkerDeps(env));
    await seedGraph(stack, workers[0]!);
    const faults = queueFaults(stack);
    const faultEnd = watchFaultEnd(stack);
    const pool = startWorkers(workers, env, log);
    const merging = mergeRipplePulls(stack.github, workers[0]!, { repositories: Object.keys(PIN_FILES), branch: branchFor(baseKey(stack)) }, log);
    stoppers.push(() => faultEnd.stop(), () => pool.stop(), () => merging.stop());
    const openedAt = Date.now();
    await stack.announce(BASE_PATCHED, BASE.repository, BASE.tag);
    const outcome = await waitForObligations(stack, workers[0]!, faultEnd);
    await Promise.all([...stoppers.splice(0).map((stop) => stop()), ...stack.running]);
    return {
      scenario: "arm-and-github-faults",
      hosts: options.workers,
      ...countObligations(stack, outcome.obligations),
      duplicate_runs: duplicateRuns(stack),
      duplicate_pull_requests: duplicatePulls(stack),
      recovery_s: outcome.doneAt === null || faultEnd.at === null ? null : seconds(Math.max(0, outcome.doneAt - faultEnd.at)),
      detail: {
        fault_end_after_opening_s: faultEnd.at === null ? null : seconds(faultEnd.at - openedAt),
        faults_queued: faults,
        faults_left: stack.arm.faultsLeft() + stack.github.faultsLeft(),
        messages: pool.counts,
        ...serverCounts(stack),
        obligations: outcome.states,
        ripple_runs: await rippleRuns(stack, workers[0]!),
        reviewer: "merges each pull request of Ripple's branch as soon as Ripple has recorded it",
        merged_by_reviewer: merging.merged,
      },
    };
  } finally {
    await Promise.allSettled(stoppers.map((stop) => stop()));
    await stack.stop();
  }
}

/** Starts Azurite and the ARM, ACR and GitHub contract servers on the stack's TLS. */
async function startContractStack(): Promise<ContractStack> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-chaos-contract-"));
  const tls = await ensureStackTls(dir);
  const agent = new Agent({ ca: tls.caPem, keepAlive: true });
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  const azurite = await startScratchAzurite();
  const acr = await startFakeAcrServer(tls);
  const github = await startGitHubContractServer({ tls, appPublicKey: keys.publicKey, ...GITHUB });
  const stack: ContractStack = {
    agent,
    acr,
    github,
    connectionString: azurite.connectionString,
    privateKey: keys.privateKey,
    builds: [],
    running: new Set(),
    announce: () => Promise.reject(new Error("no configuration yet")),
    arm: await startArmContractServer({ tls, ...ARM, build: (call) => playBuild(stack, call) }),
    async stop() {
      agent.destroy();
      await Promise.allSettled([stack.arm.stop(), github.stop(), acr.stop(), azurite.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

function baseKey(stack: ContractStack): string {
  return `${stack.acr.host}/${BASE.repository}:${BASE.tag}`;
}

/**
 * ACR Tasks' part of a run: records the build and, {@link BUILD_MS} later, pushes an image built on the
 * patched base (its OCI base annotations say so) to each of the run's tags, which Event Grid announces. The
 * run reports its pushed images once it has succeeded, as ACR does.
 */
function playBuild(stack: ContractStack, call: DockerBuildCall): Promise<RunState[]> {
  stack.builds.push({ runId: call.runId, imageNames: call.imageNames });
  const names = call.imageNames.map((name) => ({ repository: name.slice(0, name.indexOf(":")), tag: name.slice(name.indexOf(":") + 1) }));
  const image = buildImage({
    format: "oci",
    // A layer of the run's own: two runs of one image push two digests, as rebuilds are not reproducible.
    layers: ["base 2", names[0]?.repository ?? "", `run ${call.runId}`],
    platform: { os: call.platform.os, architecture: call.platform.architecture ?? "amd64", variant: call.platform.variant ?? null },
    annotations: { [BASE_NAME_ANNOTATION]: baseKey(stack), [BASE_DIGEST_ANNOTATION]: BASE_PATCHED.facts.digest },
  });
  const pushed: Promise<void> = new Promise((resolve) => setTimeout(resolve, BUILD_MS))
    .then(async () => {
      for (const { repository, tag } of names) await stack.announce(image, repository, tag);
    })
    .catch(() => undefined)
    .finally(() => stack.running.delete(pushed));
  stack.running.add(pushed);
  const startTime = new Date().toISOString();
  const finished = { startTime, finishTime: new Date(Date.now() + BUILD_MS).toISOString() };
  const outputImages = names.map((name) => ({ registry: stack.acr.host, ...name, digest: image.facts.digest }));
  return Promise.resolve([{ status: "Queued" }, { status: "Running", startTime }, { status: "Running", startTime }, { status: "Succeeded", ...finished, outputImages }]);
}

/** Pushes `image` to the fake ACR under `repository:tag` and delivers its `ImagePushed` event through the Event Grid trigger's use case (left to the queue). */
function announcer(stack: ContractStack, deps: WorkerDeps): ContractStack["announce"] {
  return async (image, repository, tag) => {
    for (const blob of [image.config, ...image.layers]) stack.acr.addBlob(repository, blob);
    stack.acr.addManifest(repository, image.manifest, image.mediaType, [tag]);
    const at = new Date().toISOString();
    const target = { mediaType: image.mediaType, size: image.manifest.byteLength, digest: image.facts.digest, length: image.manifest.byteLength, repository, tag };
    const data = { id: randomUUID(), timestamp: at, action: "push", target, request: { id: randomUUID(), host: stack.acr.host, method: "PUT", useragent: "acr-tasks" } };
    await receiveEventGridEvent(deps, { id: data.id, eventType: "Microsoft.ContainerRegistry.ImagePushed", subject: `${repository}:${tag}`, eventTime: at, dataVersion: "1.0", data });
  };
}

/** Ripple's configuration: the ACR with its ARM resource, the tracked base, a source recipe per app, the pin repositories. */
function scenarioConfig(stack: ContractStack): RippleConfig {
  const host = stack.acr.host;
  return parseConfig(
    JSON.stringify({
      version: 1,
      registries: [{ host, kind: "acr", tasks: { subscriptionId: ARM.subscriptionId, resourceGroup: ARM.resourceGroup, registryName: ARM.registryName } }],
      bases: [{ image: `${host}/${BASE.repository}`, tags: [BASE.tag] }],
      repositories: Object.keys(PIN_FILES).map((url) => ({ url })),
      recipes: APPS.map((app) => ({ image: `${host}/apps/${app}:1`, repository: `https://github.com/contoso/${app}.git`, revision: "main" })),
      // A build of seconds is polled every second; a failed start is retried after 2 s, 4 s, …
      rebuild: { pollSeconds: 1, backoffSeconds: 2 },
    }),
  );
}

function workerEnvironment(stack: ContractStack): WorkerEnvironment {
  const config = scenarioConfig(stack);
  return {
    connectionString: stack.connectionString,
    prefix: "chaos",
    config,
    agent: stack.agent,
    arm: { url: stack.arm.url, ...ARM },
    registryHost: stack.acr.host,
    github: { url: stack.github.url, privateKey: stack.privateKey, ...GITHUB },
    repositories: config.repositories.map((repository) => repository.url),
    sources: new Map(APPS.map((app) => [`https://github.com/contoso/${app}.git`, `contoso/${app}`])),
  };
}

/** The dependents the campaign must settle: one obligation each. */
function expectedDependents(stack: ContractStack): Dependent[] {
  const images: Dependent[] = APPS.map((app) => ({ kind: "image", registry: stack.acr.host, repository: `apps/${app}`, tag: "1", digest: appImage(stack, app).facts.digest }));
  const pins: Dependent[] = Object.entries(PIN_FILES).flatMap(([repo, files]) =>
    Object.entries(files).map(([path, text]) => ({ kind: "file-pin" as const, repo, path, line: text.split("\n").findIndex((line) => line.includes("@DIGEST")) + 1, digest: BASE_BEFORE.facts.digest })),
  );
  return [...images, ...pins];
}

function appImage(stack: ContractStack, app: string): ImageContent {
  const annotations = { [BASE_NAME_ANNOTATION]: baseKey(stack), [BASE_DIGEST_ANNOTATION]: BASE_BEFORE.facts.digest };
  return buildImage({ format: "oci", layers: ["base 1", `apps/${app}`], platform: PLATFORM, annotations });
}

/**
 * The graph as Ripple knows it before the patch: the base and the apps in the registry and the store (tags,
 * manifests, annotation edges), the pins in GitHub and their edges, and the apps' source repositories.
 */
async function seedGraph(stack: ContractStack, deps: WorkerDeps): Promise<void> {
  const host = stack.acr.host;
  const at = new Date(Date.now() - 3_600_000).toISOString();
  for (const [repository, image] of [[BASE.repository, BASE_BEFORE], ...APPS.map((app) => [`apps/${app}`, appImage(stack, app)] as const)] as const) {
    for (const blob of [image.config, ...image.layers]) stack.acr.addBlob(repository, blob);
    stack.acr.addManifest(repository, image.manifest, image.mediaType, ["1"]);
    await deps.store.moveTag(host, repository, "1", image.facts.digest, at);
    await deps.store.putManifest({ registry: host, repository, facts: image.facts });
  }
  for (const [repo, files] of Object.entries(PIN_FILES)) {
    stack.github.addRepository(repo, Object.fromEntries(Object.entries(files).map(([path, text]) => [path, text.replaceAll("HOST", host).replaceAll("DIGEST", BASE_BEFORE.facts.digest)])));
  }
  for (const app of APPS) stack.github.addRepository(`contoso/${app}`, { Dockerfile: `FROM ${baseKey(stack)}\nRUN make ${app}\n` });
  for (const dependent of expectedDependents(stack)) {
    const evidence = dependent.kind === "image" ? "annotation" : "pin";
    await deps.store.putEdge({ dependent, base: baseKey(stack), baseDigest: BASE_BEFORE.facts.digest, evidence, detail: "seeded", platform: null, recordedAt: at });
  }
}

/** Queues the faults on the servers; returns them, for the report. */
function queueFaults(stack: ContractStack): Record<string, number> {
  stack.arm.fail("scheduleRun", 429, 2, { "retry-after": "1" });
  stack.arm.fail("scheduleRun", 503, 1);
  stack.arm.loseAnswers("scheduleRun", 1, "reset");
  stack.arm.loseAnswers("scheduleRun", 1, 502);
  stack.arm.fail("getRun", 503, 2);
  stack.arm.fail("listRuns", 500, 1);
  stack.github.limitSecondary("POST", "/repos/contoso/shop/pulls", { status: 403, retryAfterSeconds: 1, times: 1 });
  stack.github.limitSecondary("POST", "/repos/contoso/shop/issues/1/labels", { status: 403, retryAfterSeconds: 1, times: 1 });
  // Three in a row: more than the client's two in-process retries, so the job waits on the queue.
  stack.github.limitSecondary("POST", "/repos/contoso/web/pulls", { status: 429, retryAfterSeconds: 1, times: 3 });
  stack.github.limitSecondary("POST", "/repos/contoso/web/git/refs", { status: 403, retryAfterSeconds: 2, times: 1 });
  return {
    arm_schedule_run_429: 2,
    arm_schedule_run_503: 1,
    arm_schedule_run_answer_lost_reset: 1,
    arm_schedule_run_answer_lost_502: 1,
    arm_get_run_503: 2,
    arm_list_runs_500: 1,
    github_secondary_limit_shop_create_pull: 1,
    github_secondary_limit_shop_add_labels: 1,
    github_secondary_limit_web_create_pull: 3,
    github_secondary_limit_web_create_branch: 1,
  };
}

interface FaultEnd {
  /**
   * `Date.now()` when the servers served the last queued fault; while some are left, when they last served
   * one (a fault on a route the recovery never needed again is never served); null before the first.
   */
  readonly at: number | null;
  stop(): void;
}

/** Watches the servers' queued faults every 20 ms and notes when the count left last went down. */
function watchFaultEnd(stack: ContractStack): FaultEnd {
  const left = (): number => stack.arm.faultsLeft() + stack.github.faultsLeft();
  let at: number | null = null;
  let last = left();
  const timer = setInterval(() => {
    const now = left();
    if (now < last) at = Date.now();
    last = now;
  }, 20);
  return {
    get at() {
      return at;
    },
    stop: () => clearInterval(timer),
  };
}

/** Polls the campaign until every expected obligation is done, or {@link RECOVERY_WAIT_MS} after the fault's end (twice that after the start at most). */
async function waitForObligations(stack: ContractStack, deps: WorkerDeps, faultEnd: FaultEnd): Promise<{ obligations: Obligation[]; doneAt: number | null; states: Record<string, string> }> {
  const started = Date.now();
  const expected = expectedDependents(stack).map(dependentKey);
  for (;;) {
    const found = await deps.store.getCampaign(campaignId(baseKey(stack), BASE_PATCHED.facts.digest)).catch(() => null);
    const obligations = found?.obligations ?? [];
    const states = Object.fromEntries(obligations.map((obligation) => [obligation.dependentKey, obligation.state]));
    if (expected.every((key) => states[key] === "done")) return { obligations, doneAt: Date.now(), states };
    const deadline = Math.min((faultEnd.at ?? started + RECOVERY_WAIT_MS) + RECOVERY_WAIT_MS, started + 2 * RECOVERY_WAIT_MS);
    if (Date.now() > deadline) return { obligations, doneAt: null, states };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Lost: expected and missing, or failed. Stuck: still pending or scheduled. */
function countObligations(stack: ContractStack, obligations: readonly Obligation[]): Pick<ScenarioResult, "lost_obligations" | "stuck_after_recovery"> {
  const byKey = new Map(obligations.map((obligation) => [obligation.dependentKey, obligation.state]));
  const states = expectedDependents(stack).map((dependent) => byKey.get(dependentKey(dependent)) ?? "missing");
  return {
    lost_obligations: states.filter((state) => state === "missing" || state === "failed").length,
    stuck_after_recovery: states.filter((state) => state === "pending" || state === "scheduled").length,
  };
}

/** Runs ARM created beyond one per image (one campaign: one base digest). */
function duplicateRuns(stack: ContractStack): number {
  const perImage = new Map<string, number>();
  for (const build of stack.builds) for (const name of build.imageNames) perImage.set(name, (perImage.get(name) ?? 0) + 1);
  return [...perImage.values()].reduce((sum, runs) => sum + Math.max(0, runs - 1), 0);
}

/** Pull requests of Ripple's branch beyond one per repository (one campaign). */
function duplicatePulls(stack: ContractStack): number {
  const branch = branchFor(baseKey(stack));
  return Object.keys(PIN_FILES).reduce((sum, repository) => sum + Math.max(0, stack.github.pulls(repository).filter((pull) => pull.head === branch).length - 1), 0);
}

/** What the servers recorded: ARM requests by route, runs by image, GitHub's rate-limited answers, pull requests. */
function serverCounts(stack: ContractStack): Record<string, unknown> {
  const armRequests: Record<string, number> = {};
  for (const request of stack.arm.requests) armRequests[request.route ?? "other"] = (armRequests[request.route ?? "other"] ?? 0) + 1;
  return {
    arm_requests: armRequests,
    arm_runs: Object.fromEntries(stack.builds.map((build) => [build.runId, build.imageNames.join(",")])),
    github_api_requests: stack.github.requests.filter((request) => request.auth === "token").length,
    github_rate_limited_answers: stack.github.requests.filter((request) => request.status === 403 || request.status === 429).length,
    pull_requests: Object.fromEntries(Object.keys(PIN_FILES).map((repository) => [repository, stack.github.pulls(repository).map((pull) => `#${pull.number} ${pull.mergedAt === null ? pull.state : "merged"}`)])),
  };
}

/** Ripple's own run records (image: run id, status, attempts), to read the servers' counts against. */
async function rippleRuns(stack: ContractStack, deps: WorkerDeps): Promise<Record<string, string>> {
  const runs = await deps.store.listRuns(stack.acr.host).catch(() => []);
  return Object.fromEntries(runs.map((run) => [run.image, `${run.runId ?? "no run"} ${run.status} after ${run.attempts} attempt(s)`]));
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
