import { z } from "zod";

export const QUEUE_NAMES = ["registry-events", "rebuild", "pull-request"] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/**
 * At-least-once work queues (Azure Storage Queues, Azurite locally). Consumers are queue-triggered
 * functions; a message that fails `maxDequeueCount` times lands in `<queue>-poison`.
 */
export interface WorkQueue {
  /** Puts one JSON message on a queue. Throws a retryable UpstreamError when storage is unreachable. */
  enqueue(queue: QueueName, message: unknown): Promise<void>;
}

const Digest = z.string().regex(/^[a-z0-9]+:[a-f0-9]{32,}$/);

/** A recorded registry event waiting to be processed (manifest read, graph update, campaigns). v1. */
export const RegistryEventJob = z.strictObject({
  v: z.literal(1),
  eventKey: z.string().min(1),
});
export type RegistryEventJob = z.infer<typeof RegistryEventJob>;

/** Rebuild `dependentKey` on `toDigest` of `base`, for campaign `campaignId`. v1. */
export const RebuildJob = z.strictObject({
  v: z.literal(1),
  campaignId: z.string().min(1),
  dependentKey: z.string().min(1),
  base: z.string().min(1),
  fromDigest: Digest,
  toDigest: Digest,
});
export type RebuildJob = z.infer<typeof RebuildJob>;

/** Bump the pin at `dependentKey` from `fromDigest` to `toDigest`, for campaign `campaignId`. v1. */
export const PullRequestJob = z.strictObject({
  v: z.literal(1),
  campaignId: z.string().min(1),
  dependentKey: z.string().min(1),
  base: z.string().min(1),
  fromDigest: Digest,
  toDigest: Digest,
});
export type PullRequestJob = z.infer<typeof PullRequestJob>;
