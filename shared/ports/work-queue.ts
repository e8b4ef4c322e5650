import { z } from "zod";

export const QUEUE_NAMES = ["registry-events", "campaigns", "rebuild", "pull-request", "scans", "alerts"] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/**
 * At-least-once work queues (Azure Storage Queues, Azurite locally). Consumers are queue-triggered
 * functions; a message that fails `maxDequeueCount` times lands in `<queue>-poison`.
 */
export interface WorkQueue {
  /**
   * Puts one JSON message on a queue, invisible for `delaySeconds` (default 0). Throws a retryable
   * UpstreamError when storage is unreachable.
   */
  enqueue(queue: QueueName, message: unknown, options?: { delaySeconds?: number }): Promise<void>;
  /** Puts a message that will never succeed on `<queue>-poison`, where failed messages are kept for inspection. */
  deadLetter(queue: QueueName, message: unknown): Promise<void>;
}

/** A queue's approximate backlog, read without touching a message. */
export interface QueueDepth {
  /** The queue's name in storage (`ripple-rebuild`). */
  readonly queueName: string;
  /** Approximate messages waiting; null when the queue does not exist yet (it is created on first use). */
  readonly messages: number | null;
  /** Approximate messages on `<queue>-poison`; null when there is no poison queue. */
  readonly poisonMessages: number | null;
}

/** Read-only view of the work queues, for diagnostics (`ripple doctor`). */
export interface QueueDepths {
  /**
   * The approximate message counts of `queue` and its poison queue (queue properties; no message is read
   * or hidden). Idempotent. Throws UpstreamError (service "storage-queue") when storage refuses or is unreachable.
   */
  depth(queue: QueueName): Promise<QueueDepth>;
}

const Digest = z.string().regex(/^[a-z0-9]+:[a-f0-9]{32,}$/);

/** A recorded registry event waiting to be processed (manifest read, graph update, campaigns). v1. */
export const RegistryEventJob = z.strictObject({
  v: z.literal(1),
  eventKey: z.string().min(1),
  /** Set on a copy queued again after a retryable failure: how many such retries came before (see retryRegistryEventLater). */
  retry: z.number().int().min(1).max(1000).optional(),
});
export type RegistryEventJob = z.infer<typeof RegistryEventJob>;

/**
 * Settle the obligation (campaign, dependent) by moving `dependentKey` from `fromDigest` to `toDigest`
 * of `base`: a rebuild for an image, a pull request for a file pin. v1.
 */
export const ObligationJob = z.strictObject({
  v: z.literal(1),
  campaignId: z.string().min(1),
  dependentKey: z.string().min(1),
  base: z.string().min(1),
  fromDigest: Digest,
  toDigest: Digest,
  /** Builder attempts made so far (set when a retryable failure re-queues the job). */
  attempt: z.number().int().min(0).optional(),
  /** Set on the delayed job that polls a running build. */
  poll: z.boolean().optional(),
});
export type ObligationJob = z.infer<typeof ObligationJob>;

/** Open the (debounced) campaign for `base` moving to `toDigest`, if the tag still points there. v1. */
export const CampaignJob = z.strictObject({
  v: z.literal(1),
  base: z.string().min(1),
  toDigest: Digest,
  trigger: z.string().min(1),
  /** Registry time of the move that queued this job. */
  movedAt: z.string().min(1),
});
export type CampaignJob = z.infer<typeof CampaignJob>;

/** Rescan one configured repository for digest pins (a GitHub `push`). v1. */
export const ScanJob = z.strictObject({
  v: z.literal(1),
  repository: z.string().min(1),
});
export type ScanJob = z.infer<typeof ScanJob>;

/** A job on the `rebuild` queue. */
export const RebuildJob = ObligationJob;
export type RebuildJob = ObligationJob;

/** A job on the `pull-request` queue. */
export const PullRequestJob = ObligationJob;
export type PullRequestJob = ObligationJob;

/** Deliver the alert of a campaign to one sink, as wanted at `sequence` (or later). v1. */
export const AlertJob = z.strictObject({
  v: z.literal(1),
  campaignId: z.string().min(1),
  sinkId: z.string().min(1),
  sequence: z.number().int().min(1),
});
export type AlertJob = z.infer<typeof AlertJob>;
