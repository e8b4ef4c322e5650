/** Rules both state stores apply to the SLA records (same results from the table store and the memory double). */
import type { AlertRecord, DurationSamples, MergeLatencySamples, WaiverRecord } from "../../ports/state-store.js";

/** Samples kept per dependent. */
export const DURATION_SAMPLES = 20;

/** Alerts newest update first, then by campaign id. */
export function compareAlertsNewestFirst(a: AlertRecord, b: AlertRecord): number {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt < b.updatedAt ? 1 : -1;
  return a.campaignId < b.campaignId ? -1 : a.campaignId > b.campaignId ? 1 : 0;
}

/** Waivers newest first, then by id. */
export function compareWaiversNewestFirst(a: WaiverRecord, b: WaiverRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The samples with one more (null: nothing to write, the obligation is already counted); the newest 20 kept. */
export function addDurationSample(current: DurationSamples | null, dependentKey: string, obligation: string, ms: number): DurationSamples | null {
  const samples = current?.samples ?? [];
  if (samples.some((sample) => sample.obligation === obligation)) return null;
  return { dependentKey, samples: [...samples, { obligation, ms }].slice(-DURATION_SAMPLES) };
}

/** The merge latencies with one more (null: nothing to write, the obligation is already counted); the newest 20 kept. */
export function addMergeLatencySample(current: MergeLatencySamples | null, repository: string, obligation: string, ms: number): MergeLatencySamples | null {
  const next = addDurationSample(current === null ? null : { dependentKey: repository, samples: current.samples }, repository, obligation, ms);
  return next === null ? null : { repository, samples: next.samples };
}
