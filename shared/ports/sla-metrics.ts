/**
 * SLA figures for dashboards and Azure Monitor alert rules, exported through the app's Application
 * Insights (OpenTelemetry metrics in Azure; nothing, or a local receiver, on the local stack).
 */

/** Open obligations by where they stand. */
export interface OpenObligationCounts {
  readonly onTrack: number;
  readonly atRisk: number;
  readonly overdue: number;
  readonly failed: number;
  readonly waived: number;
}

export interface SlaMetrics {
  /**
   * The open obligations of every open campaign, by status, as the SLA monitor saw them at the end of a
   * tick (an observable gauge `ripple.sla.open_obligations` with attribute `status`). Never throws.
   */
  observeOpen(counts: OpenObligationCounts): void;
  /**
   * One settled campaign's time to patch, from the patch becoming available (its root) to its last
   * obligation done, in seconds (histogram `ripple.sla.time_to_patch`, attributes `base` and `met`: whether
   * every obligation met its due time). Never throws.
   */
  recordTimeToPatch(seconds: number, attributes: { readonly base: string; readonly met: boolean }): void;
  /** Sends what is buffered (the end of a function invocation); resolves even when the export failed. */
  flush(): Promise<void>;
}
