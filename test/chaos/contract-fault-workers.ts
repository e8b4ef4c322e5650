/**
 * The workers of the `arm-and-github-faults` chaos scenario: each one a Functions host of its own (its own
 * table, queue, ARM, registry and GitHub clients) on the shared storage, consuming the work queues as the
 * queue trigger does and calling the use cases the queue-triggered functions call.
 */
import type { Agent } from "node:https";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import type { TokenCredential } from "@azure/identity";
import { QueueServiceClient, type DequeuedMessageItem, type QueueClient } from "@azure/storage-queue";
import { createAcrRegistry } from "../../shared/adapters/acr/acr-registry.js";
import { createAcrTasksBuilder } from "../../shared/adapters/acr-tasks/acr-tasks-builder.js";
import { createGitHubOctokit } from "../../shared/adapters/github/github-client.js";
import { createGitHubForge } from "../../shared/adapters/github/github-forge.js";
import { createGitHubSource } from "../../shared/adapters/github/github-source.js";
import { createStorageWorkQueue, queueNameFor } from "../../shared/adapters/storage-queue/storage-work-queue.js";
import { createTableStateStore } from "../../shared/adapters/table-storage/table-state-store.js";
import type { RippleConfig } from "../../shared/config.js";
import { isRetryable } from "../../shared/errors.js";
import { RebuildJob, PullRequestJob, RegistryEventJob, type QueueName } from "../../shared/ports/work-queue.js";
import { createBaseLayerCatalog } from "../../shared/use-cases/base-layer-catalog.js";
import { deferThrottledJob } from "../../shared/use-cases/defer-throttled-job.js";
import { processRegistryEvent, type ProcessDeps } from "../../shared/use-cases/process-registry-event.js";
import { runPullRequestJob, type PullRequestDeps } from "../../shared/use-cases/run-pull-request-job.js";
import { runRebuildJob, type RebuildDeps } from "../../shared/use-cases/run-rebuild-job.js";
import { handleGitHubEvent, type GitHubEventDeps } from "../../shared/use-cases/handle-github-event.js";
import { parseWith } from "../../shared/validation.js";
import { createFakeAadCredential } from "../contract/helpers/fake-acr-server.js";
import type { GitHubContractServer } from "../contract/helpers/github-contract-server.js";

/** Where a worker's clients point: the shared storage and the contract servers. */
export interface WorkerEnvironment {
  readonly connectionString: string;
  readonly prefix: string;
  readonly config: RippleConfig;
  readonly agent: Agent;
  readonly arm: { readonly url: string; readonly token: string; readonly subscriptionId: string; readonly resourceGroup: string; readonly registryName: string };
  readonly registryHost: string;
  readonly github: { readonly url: string; readonly appId: number; readonly privateKey: string; readonly installationId: number };
  /** The GitHub repositories Ripple's configuration names (`owner/name`), served by the forge. */
  readonly repositories: readonly string[];
  /** Recipe repositories (`https://github.com/owner/name.git`) by their `owner/name`: Dockerfiles are read there. */
  readonly sources: ReadonlyMap<string, string>;
}

/** What every use case a worker calls needs: one host's services. */
export type WorkerDeps = ProcessDeps & RebuildDeps & PullRequestDeps & GitHubEventDeps;

/** The queues the scenario's work travels on, with the queue trigger's settings from host.json. */
export const WORKED_QUEUES = ["registry-events", "rebuild", "pull-request"] as const satisfies readonly QueueName[];
type WorkedQueue = (typeof WORKED_QUEUES)[number];
const VISIBILITY_TIMEOUT_SECONDS = 5;
const MAX_DEQUEUE_COUNT = 5;
const BATCH_SIZE = 16;
const NEW_BATCH_THRESHOLD = 8;
const MAX_POLLING_INTERVAL_MS = 200;
/** How long a received message stays hidden while its handler runs (the local host's lease). */
const LEASE_SECONDS = 60;

/**
 * One host's services as the composition root builds them for a registry with `tasks` and a GitHub App:
 * the table store and storage queue, the ACR Tasks builder on its own ARM client (production retry
 * settings), the registry over the ACR data plane, and the GitHub forge and Dockerfile source on an
 * Octokit with the retry and throttling plugins (production settings; Octokit's log silenced).
 */
export async function createWorkerDeps(env: WorkerEnvironment): Promise<WorkerDeps> {
  const store = createTableStateStore({ connectionString: env.connectionString, tablePrefix: env.prefix });
  await store.init();
  const queue = createStorageWorkQueue({ connectionString: env.connectionString, queuePrefix: env.prefix });
  const armCredential: TokenCredential = { getToken: () => Promise.resolve({ token: env.arm.token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const client = new ContainerRegistryManagementClient(armCredential, env.arm.subscriptionId, { endpoint: env.arm.url, agent: env.agent });
  const builder = createAcrTasksBuilder({ client, subscriptionId: env.arm.subscriptionId, resourceGroup: env.arm.resourceGroup, registryName: env.arm.registryName, pollIntervalMs: 200 });
  const registry = createAcrRegistry({ host: env.registryHost, credential: createFakeAadCredential(), agent: env.agent });
  const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const octokit = createGitHubOctokit({ ...env.github, baseUrl: env.github.url, agent: env.agent, log: quiet });
  const forge = createGitHubForge({ octokit, labels: env.config.pullRequests.labels });
  const now = () => new Date();
  return {
    store,
    queue,
    config: env.config,
    now,
    layers: createBaseLayerCatalog({ store, config: env.config }),
    registryFor: (host) => (host === env.registryHost ? registry : null),
    sources: createGitHubSource({ octokit, repositories: env.sources }),
    builderFor: (host) => (host === env.registryHost ? { name: "acr-tasks", builder } : null),
    forgeFor: (repository) => (env.repositories.includes(repository) ? forge : null),
  };
}

/** The handler a queue-triggered function runs for a message, returning the outcome's kind (it throws what the function rethrows). */
const HANDLERS: Readonly<Record<WorkedQueue, (deps: WorkerDeps, message: unknown) => Promise<string>>> = {
  "registry-events": async (deps, message) => (await processRegistryEvent(deps, parseWith(RegistryEventJob, message, "registry-events message").eventKey)).kind,
  rebuild: async (deps, message) => (await runRebuildJob(deps, parseWith(RebuildJob, message, "rebuild message"))).kind,
  "pull-request": async (deps, message) => {
    const job = parseWith(PullRequestJob, message, "pull-request message");
    try {
      return (await runPullRequestJob(deps, job)).kind;
    } catch (error) {
      // As functions/pull-request-job.ts: a rate limit that says when it resets waits on the queue.
      if ((await deferThrottledJob(deps.queue, "pull-request", job, error)) === null) throw error;
      return "deferred";
    }
  },
};

/** What the workers did, for the scenario's `detail`. */
export interface WorkerCounts {
  /** Deliveries by queue and outcome (`processed`, `started`, `requeued`, `threw-retryable`, …). */
  readonly deliveries: Record<string, number>;
  /** Copies handed to a second consumer (duplicate deliveries). */
  duplicates: number;
  /** Messages moved to a poison queue after `maxDequeueCount` failures. */
  poisoned: number;
}

/** A running set of workers; `stop` lets handlers in flight finish. */
export interface WorkerPool {
  readonly counts: WorkerCounts;
  stop(): Promise<void>;
}

/** What the consumer loops share: the workers, the counts, the messages already duplicated. */
interface Consumers {
  readonly workers: readonly WorkerDeps[];
  readonly env: Pick<WorkerEnvironment, "connectionString" | "prefix">;
  readonly counts: WorkerCounts;
  readonly seen: Set<string>;
  readonly log: (line: string) => void;
  stopped: boolean;
}

/**
 * Starts one consumer loop per worker and queue. The first delivery of every distinct message is also
 * handed, as a duplicate delivery, to the next worker (the same one when there is one): the two copies run
 * at once, as when a queue redelivers a message whose first consumer is still working. A copy that throws
 * is put back on its queue after the visibility timeout, as the queue would bring it back.
 */
export function startWorkers(workers: readonly WorkerDeps[], env: Pick<WorkerEnvironment, "connectionString" | "prefix">, log: (line: string) => void): WorkerPool {
  const consumers: Consumers = { workers, env, counts: { deliveries: {}, duplicates: 0, poisoned: 0 }, seen: new Set(), log, stopped: false };
  const loops = workers.flatMap((_, index) => WORKED_QUEUES.map((name) => consume(consumers, index, name)));
  return {
    counts: consumers.counts,
    async stop() {
      consumers.stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Runs the queue's handler on worker `index`, counting the outcome; rethrows what the handler throws. */
async function handle(consumers: Consumers, index: number, name: WorkedQueue, message: unknown): Promise<void> {
  const count = (outcome: string): void => void (consumers.counts.deliveries[`${name}:${outcome}`] = (consumers.counts.deliveries[`${name}:${outcome}`] ?? 0) + 1);
  try {
    count(await HANDLERS[name](consumers.workers[index]!, message));
  } catch (error) {
    count(`threw-${isRetryable(error) ? "retryable" : "other"}`);
    consumers.log(`worker ${index + 1} ${name}: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

/** The duplicate delivery of a message seen for the first time, on the next worker; null for one seen before. */
function duplicate(consumers: Consumers, index: number, name: WorkedQueue, text: string, message: unknown): Promise<void> | null {
  if (consumers.seen.has(`${name}|${text}`)) return null;
  consumers.seen.add(`${name}|${text}`);
  consumers.counts.duplicates += 1;
  const other = (index + 1) % consumers.workers.length;
  return handle(consumers, other, name, message).catch(() => consumers.workers[other]!.queue.enqueue(name, message, { delaySeconds: VISIBILITY_TIMEOUT_SECONDS }));
}

/** One delivery, as the queue trigger settles it: deleted when handled, hidden for the visibility timeout when not, poisoned at the last dequeue. */
async function deliver(consumers: Consumers, index: number, name: WorkedQueue, queues: { client: QueueClient; poison: QueueClient }, item: DequeuedMessageItem): Promise<void> {
  const text = Buffer.from(item.messageText, "base64").toString("utf8");
  const message = JSON.parse(text) as unknown;
  const copy = duplicate(consumers, index, name, text, message);
  try {
    await handle(consumers, index, name, message);
    await queues.client.deleteMessage(item.messageId, item.popReceipt);
  } catch {
    if (item.dequeueCount >= MAX_DEQUEUE_COUNT) {
      consumers.counts.poisoned += 1;
      await queues.poison.createIfNotExists();
      await queues.poison.sendMessage(item.messageText);
      await queues.client.deleteMessage(item.messageId, item.popReceipt);
    } else {
      await queues.client.updateMessage(item.messageId, item.popReceipt, undefined, VISIBILITY_TIMEOUT_SECONDS);
    }
  }
  await copy;
}

/** Worker `index`'s loop on queue `name`: batches of 16, a new batch below 8 in flight, polling backed off to 200 ms. */
async function consume(consumers: Consumers, index: number, name: WorkedQueue): Promise<void> {
  const service = QueueServiceClient.fromConnectionString(consumers.env.connectionString);
  const queueName = queueNameFor(consumers.env.prefix, name);
  const queues = { client: service.getQueueClient(queueName), poison: service.getQueueClient(`${queueName}-poison`) };
  await queues.client.createIfNotExists();
  const inFlight = new Set<Promise<void>>();
  let idleMs = 0;
  while (!consumers.stopped) {
    if (inFlight.size > NEW_BATCH_THRESHOLD) {
      await Promise.race(inFlight);
      continue;
    }
    const items = (await queues.client.receiveMessages({ numberOfMessages: BATCH_SIZE, visibilityTimeout: LEASE_SECONDS }).catch(() => null))?.receivedMessageItems ?? [];
    for (const item of items) {
      const running: Promise<void> = deliver(consumers, index, name, queues, item)
        .catch((error: unknown) => consumers.log(`worker ${index + 1} ${name}: settling a message failed: ${String(error)}`))
        .finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
    idleMs = items.length > 0 ? 0 : Math.min(MAX_POLLING_INTERVAL_MS, Math.max(25, idleMs * 2));
    if (idleMs > 0) await new Promise((resolve) => setTimeout(resolve, idleMs));
  }
  await Promise.all(inFlight);
}

/** The reviewer's merges, for the scenario's `detail`; `stop` ends the loop once its round is done. */
export interface Reviewer {
  readonly merged: string[];
  stop(): Promise<void>;
}

/**
 * A reviewer who merges each open pull request of Ripple's `branch` once Ripple has recorded it (so the
 * merge never overtakes the job that opened it), and GitHub's `pull_request` `closed` webhook for it,
 * handled by the use case the webhook function calls; a delivery that throws is delivered again next round.
 */
export function mergeRipplePulls(github: GitHubContractServer, deps: WorkerDeps, target: { readonly repositories: readonly string[]; readonly branch: string }, log: (line: string) => void): Reviewer {
  const merged: string[] = [];
  const undelivered: Array<{ repository: string; number: number }> = [];
  let stopped = false;

  const mergeRecorded = async (): Promise<void> => {
    for (const repository of target.repositories) {
      for (const pull of github.pulls(repository).filter((candidate) => candidate.head === target.branch && candidate.state === "open")) {
        const record = await deps.store.getPullRequest(repository, target.branch).catch(() => null);
        if (record?.number !== pull.number) continue;
        github.merge(repository, pull.number);
        merged.push(`${repository}#${pull.number}`);
        undelivered.push({ repository, number: pull.number });
      }
    }
  };

  const deliver = async (): Promise<void> => {
    for (const delivery of undelivered.splice(0)) {
      const payload = { action: "closed", repository: { full_name: delivery.repository, default_branch: "main" }, pull_request: { number: delivery.number, merged: true, head: { ref: target.branch } } };
      try {
        await handleGitHubEvent(deps, "pull_request", payload);
      } catch (error) {
        log(`webhook for ${delivery.repository}#${delivery.number} failed: ${String(error)}`);
        undelivered.push(delivery);
      }
    }
  };

  const loop = (async () => {
    while (!stopped) {
      await mergeRecorded();
      await deliver();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    merged,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
