/**
 * The fault scenarios on the local stack (issue #10): each pushes a patched base into a running
 * {@link ChaosStack}, lands its fault while the cascade runs, and measures from the registry's own
 * notifications (builds), the forge's own records (pull requests) and the store (obligations).
 */
import { mergePullRequest } from "../../shared/adapters/local-git/local-git-forge.js";
import { waitFor } from "../../shared/cli/demo.js";
import { campaignId, type Obligation } from "../../shared/domain/campaign.js";
import { reconcileRepositories } from "../../shared/use-cases/reconcile-repositories.js";
import { listProcesses } from "./process-table.js";
import type { ScenarioResult } from "./result.js";
import { forgePullRequests, REBUILT, SLOW_SECONDS, type ChaosStack } from "./stack-fixture.js";

/** How long after a fault's end the scenario waits for every obligation before counting what is left. */
const WAIT_AFTER_FAULT_MS = 90_000;
/**
 * How long the registry is down in the outage scenario: longer than the queue's own redeliveries last
 * (5 × 5 s), so an event failing throughout would reach the poison queue without its retries on the queue.
 */
const REGISTRY_OUTAGE_MS = 30_000;
/** How long Azurite is down in its restart scenario. */
const STORAGE_OUTAGE_MS = 5_000;

/** A fault: it pushes the patched base (`push(marker)`) itself, around or during the fault; returns when the fault ended. */
type Fault = (chaos: ChaosStack, push: (marker: string) => Promise<string>) => Promise<{ digest: string; endedAt: number; detail?: Record<string, unknown> }>;

/** Waits until a rebuild of the slow image is in its `sleep` under one of the hosts; that host's index. */
async function slowBuildRunning(chaos: ChaosStack): Promise<number> {
  return waitFor("the slow rebuild's sleep under a host", async () => {
    const hosts = chaos.stack.processes.filter((process) => process.name.startsWith("functions-host")).map((process) => process.pid);
    const sleeping = (await listProcesses()).find((process) => process.cmdline.startsWith(`sleep ${SLOW_SECONDS}`) && hosts.includes(process.pgid));
    return sleeping === undefined ? null : hosts.indexOf(sleeping.pgid);
  }, 120_000);
}

/** The processes a killed host left behind: its process group's, or buildah builds of this stack outside every live host's group. */
async function leftovers(chaos: ChaosStack, deadHost: number): Promise<string[]> {
  const live = chaos.stack.processes.filter((process) => process.name.startsWith("functions-host")).map((process) => process.pid);
  return (await listProcesses())
    .filter((p) => p.pgid === deadHost || (!live.includes(p.pgid) && /buildah/.test(p.cmdline) && `${p.cmdline} ${p.environ}`.includes(chaos.stack.dir)))
    .map((p) => `${p.pid} ${p.cmdline}`);
}

export const STACK_FAULTS: Readonly<Record<string, Fault>> = {
  "triple-shuffled-delivery": async (chaos, push) => {
    // Every notification of the cascade (the base's and each rebuild's) delivered three times, shuffled, spread over the hosts.
    chaos.relay.mode("triple");
    const digest = await push("triple delivery");
    return { digest, endedAt: Date.now() };
  },
  "host-killed-mid-build": async (chaos, push) => {
    const digest = await push("host killed slow");
    const index = await slowBuildRunning(chaos);
    const host = chaos.stack.processes.filter((process) => process.name.startsWith("functions-host"))[index]!;
    const claim = (await chaos.services.store.listRuns(chaos.stack.registry.host)).find((run) => run.image.endsWith("/apps/slow:1") && run.baseDigest === digest);
    process.kill(host.pid, "SIGKILL");
    await chaos.stack.restartHost(index);
    return { digest, endedAt: Date.now(), detail: { killed: host.name, killed_claim: claim === undefined ? null : { status: claim.status, claimedAt: claim.claimedAt }, leftover_processes: await leftovers(chaos, host.pid) } };
  },
  "registry-outage-mid-campaign": async (chaos, push) => {
    // The company base's rebuilt push is announced while the registry is down: reading it fails throughout.
    chaos.relay.hold(["ripple/company-base"]);
    const digest = await push("registry outage slow");
    await slowBuildRunning(chaos);
    await waitFor("the company base's rebuilt push announced", async () => (chaos.relay.held() > 0 ? true : null), 120_000);
    await chaos.stack.stopRegistry();
    const announced = await chaos.relay.release();
    await new Promise((resolve) => setTimeout(resolve, REGISTRY_OUTAGE_MS));
    await chaos.stack.startRegistry();
    return { digest, endedAt: Date.now(), detail: { outage_s: REGISTRY_OUTAGE_MS / 1000, announced_during_outage: announced } };
  },
  "storage-restart-mid-campaign": async (chaos, push) => {
    const digest = await push("storage restart slow");
    await slowBuildRunning(chaos);
    await chaos.stack.restartAzurite(STORAGE_OUTAGE_MS);
    return { digest, endedAt: Date.now(), detail: { outage_s: STORAGE_OUTAGE_MS / 1000 } };
  },
  "future-dated-and-replayed-events": async (chaos, push) => {
    const previous = chaos.relay.envelopes.filter((body) => body.includes('"ripple/busybox"') && body.includes('"push"')).at(-1);
    if (previous === undefined) throw new Error("no earlier base push to replay");
    const replayed = await chaos.relay.send(previous);
    // The same push announced again with a new id, dated in year 9999: refused, and the tag not frozen.
    const future = previous.replace(/"id":\s*"[^"]+"/, `"id":"future-${Date.now()}"`).replace(/"timestamp":\s*"[^"]+"/, '"timestamp":"9999-01-01T00:00:00Z"');
    const futureAnswer = await chaos.relay.send(future);
    const digest = await push("after a future-dated event");
    return { digest, endedAt: Date.now(), detail: { replayed: `${replayed.status} ${replayed.body}`, future_dated: `${futureAnswer.status} ${futureAnswer.body}` } };
  },
};

/** The state of the scenario's four expected obligations: the base's three, and the company base's campaign's one. */
async function expectedObligations(chaos: ChaosStack, digest: string, since: number): Promise<Array<{ name: string; obligation: Obligation | null }>> {
  const { store } = chaos.services;
  const registry = chaos.stack.registry.host;
  const root = await store.getCampaign(campaignId(chaos.base, digest));
  const find = (key: string) => root?.obligations.find((obligation) => obligation.dependentKey === key) ?? null;
  const pin = root?.obligations.find((obligation) => obligation.kind === "pull-request") ?? null;
  const cascade = (await store.listCampaigns()).find((campaign) => campaign.base === `${registry}/ripple/company-base:1` && Date.parse(campaign.openedAt) >= since);
  const second = cascade === undefined ? null : await store.getCampaign(cascade.id);
  return [
    { name: "apps/slow", obligation: find(`${registry}/apps/slow:1`) },
    { name: "ripple/company-base", obligation: find(`${registry}/ripple/company-base:1`) },
    { name: "deploy pin", obligation: pin },
    { name: "apps/web", obligation: second?.obligations.find((obligation) => obligation.dependentKey === `${registry}/apps/web:1`) ?? null },
  ];
}

/** Settled: done, or for the pin a pull request open for it (its maintainers merge it). */
function settled(obligation: Obligation | null): boolean {
  return obligation !== null && (obligation.state === "done" || (obligation.kind === "pull-request" && obligation.state === "scheduled" && obligation.runId !== null));
}

/** Runs one fault scenario on a running chaos stack and measures it. */
export async function runStackScenario(chaos: ChaosStack, name: string, hosts: number, log: (line: string) => void): Promise<ScenarioResult> {
  const fault = STACK_FAULTS[name];
  if (fault === undefined) throw new Error(`no stack scenario ${name}`);
  const since = Date.now();
  const announced = chaos.relay.pushes.length;
  const delivered = chaos.relay.deliveries.length;
  const pullsBefore = new Set((await forgePullRequests(chaos.deploy)).keys());
  log(`chaos: ${name} with ${hosts} host(s)`);
  const outcome = await fault(chaos, (marker) => chaos.pushBase(`${marker} (${name}, ${hosts} hosts, ${since})`));
  let states = await expectedObligations(chaos, outcome.digest, since);
  let settledAt: number | null = null;
  while (Date.now() < outcome.endedAt + WAIT_AFTER_FAULT_MS) {
    states = await expectedObligations(chaos, outcome.digest, since);
    if (states.every(({ obligation }) => settled(obligation))) {
      settledAt = Date.now();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  chaos.relay.mode("once");
  await chaos.relay.settled();
  const builds = REBUILT.map((repository) => chaos.relay.pushes.slice(announced).filter((push) => push.repository === repository && push.tag === "1").length);
  const newPulls = [...(await forgePullRequests(chaos.deploy)).keys()].filter((number) => !pullsBefore.has(number));
  await mergeOpenPullRequests(chaos);
  return {
    scenario: name,
    hosts,
    lost_obligations: states.filter(({ obligation }) => obligation === null || obligation.state === "failed").length,
    duplicate_runs: builds.reduce((sum, count) => sum + Math.max(0, count - 1), 0),
    duplicate_pull_requests: Math.max(0, newPulls.length - 1),
    stuck_after_recovery: states.filter(({ obligation }) => obligation !== null && !settled(obligation) && obligation.state !== "failed").length,
    recovery_s: settledAt === null ? null : Math.round(Math.max(0, settledAt - outcome.endedAt) / 100) / 10,
    detail: {
      ...outcome.detail,
      notifications_delivered: chaos.relay.deliveries.length - delivered,
      slow_runs: (await chaos.services.store.listRuns(chaos.stack.registry.host))
        .filter((run) => run.image.endsWith("/apps/slow:1") && run.baseDigest === outcome.digest)
        .map((run) => ({ status: run.status, attempts: run.attempts, claimedAt: run.claimedAt })),
      builds: Object.fromEntries(REBUILT.map((repository, index) => [repository, builds[index]])),
      pull_requests: newPulls.length,
      obligations: Object.fromEntries(states.map(({ name: key, obligation }) => [key, obligation === null ? "missing" : `${obligation.state}${obligation.reason ? `: ${obligation.reason}` : ""}`])),
    },
  };
}

/** What the deploy repository's maintainers do between scenarios: merge Ripple's open pull request, then Ripple reconciles. */
async function mergeOpenPullRequests(chaos: ChaosStack): Promise<void> {
  for (const pull of await chaos.services.store.listPullRequests()) {
    if (pull.repository === chaos.deploy && pull.state === "open") await mergePullRequest(chaos.deploy, pull.number);
  }
  await reconcileRepositories(chaos.services);
}
