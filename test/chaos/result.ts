/**
 * What one fault scenario of `npm run chaos` reports (issue #10). Targets: the four counts 0, and
 * `recovery_s` ≤ 60 (seconds from the fault's end until every obligation the scenario expects is settled).
 */
export interface ScenarioResult {
  readonly scenario: string;
  /** Functions hosts (or workers) on the same storage: 1, or 2 as Azure scales out. */
  readonly hosts: number;
  /** Expected obligations that never appeared, or ended `failed` although the fault was transient. */
  readonly lost_obligations: number;
  /** Builds beyond one per (image, base digest): pushes of the image, or runs ARM created. */
  readonly duplicate_runs: number;
  /** Pull requests beyond one per (repository, campaign) at the forge itself. */
  readonly duplicate_pull_requests: number;
  /** Obligations still pending or scheduled when the wait after the fault ran out. */
  readonly stuck_after_recovery: number;
  /** Seconds from the fault's end until every expected obligation was done (null when that never happened). */
  readonly recovery_s: number | null;
  /** What the scenario did and saw, for a reader of the JSON (not compared against targets). */
  readonly detail: Readonly<Record<string, unknown>>;
}

/** Whether a result meets the targets. */
export function meetsTargets(result: ScenarioResult): boolean {
  return result.lost_obligations === 0 && result.duplicate_runs === 0 && result.duplicate_pull_requests === 0 && result.stuck_after_recovery === 0 && result.recovery_s !== null && result.recovery_s <= 60;
}
