import type { SlaMetrics } from "../../ports/sla-metrics.js";

/**
 * {@link SlaMetrics} that go nowhere: for an app without `APPLICATIONINSIGHTS_CONNECTION_STRING` (the local
 * stack, the CLI). Its own module, so that choosing it loads none of the OpenTelemetry packages.
 */
export function createNoMetrics(): SlaMetrics {
  return {
    observeOpen() {},
    recordTimeToPatch() {},
    flush: () => Promise.resolve(),
  };
}
