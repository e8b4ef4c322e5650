import type { TokenCredential } from "@azure/identity";
import { AzureMonitorMetricExporter, type AzureMonitorExporterOptions } from "@azure/monitor-opentelemetry-exporter";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { ConfigError } from "../../errors.js";
import type { OpenObligationCounts, SlaMetrics } from "../../ports/sla-metrics.js";

export const OPEN_OBLIGATIONS_METRIC = "ripple.sla.open_obligations";
export const TIME_TO_PATCH_METRIC = "ripple.sla.time_to_patch";
/** Histogram bucket boundaries in seconds: 5 m, 15 m, 1 h, 4 h, 12 h, 1 d, 2 d, 3 d, 7 d, 14 d. */
export const TIME_TO_PATCH_BOUNDARIES_S: readonly number[] = [300, 900, 3_600, 14_400, 43_200, 86_400, 172_800, 259_200, 604_800, 1_209_600];
/** The one line logged when an export first fails; later failures are not logged. */
export const EXPORT_FAILED_MESSAGE = "azure-monitor metrics: export failed; the SLA metrics of this interval are lost, later failures are not logged";

/** The `status` attribute of each count. */
const STATUSES = [
  ["onTrack", "on-track"],
  ["atRisk", "at-risk"],
  ["overdue", "overdue"],
  ["failed", "failed"],
  ["waived", "waived"],
] as const satisfies ReadonlyArray<readonly [keyof OpenObligationCounts, string]>;

/** `ExportResultCode.SUCCESS` of `@opentelemetry/core`. */
const EXPORT_SUCCESS = 0;

export interface AzureMonitorMetricsOptions {
  /** `APPLICATIONINSIGHTS_CONNECTION_STRING`: `InstrumentationKey=<guid>;IngestionEndpoint=https://…/;…`. */
  readonly connectionString: string;
  /**
   * The app's credential when the component takes Entra ID tokens only (local auth disabled): the exporter
   * asks it for `https://monitor.azure.com/.default` (or the connection string's `AADAudience`) and sends
   * `Authorization: Bearer`. Without it, telemetry goes with the instrumentation key alone.
   */
  readonly credential?: TokenCredential;
  /** How often buffered metrics are exported besides {@link SlaMetrics.flush}. Default 60 s. */
  readonly exportIntervalMs?: number;
  /** How long one export may take. Default 30 s (at most the interval). */
  readonly exportTimeoutMs?: number;
  /** The cloud role the metrics carry (`service.name`): the function app's name, as the host's own telemetry. */
  readonly serviceName?: string;
  /**
   * Passed to the exporter's HTTP client: `agent` (a private CA), `retryOptions`, `disableOfflineStorage`,
   * `storageDirectory` (where retriable failures wait for the exporter's retry; default the temp folder).
   */
  readonly client?: Omit<AzureMonitorExporterOptions, "connectionString" | "credential">;
  /** Where the one export-failure line goes. Default `console.warn`. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
}

/** The SLA metrics on Application Insights, with a `shutdown` for tests and a process that ends. */
export interface AzureMonitorMetrics extends SlaMetrics {
  /** Exports what is left and stops the export timer; later calls are ignored. Never throws. */
  shutdown(): Promise<void>;
}

/**
 * {@link SlaMetrics} on Application Insights (Azure Monitor), through its own OpenTelemetry meter provider
 * and the Azure Monitor metric exporter (Breeze: `POST {IngestionEndpoint}/v2.1/track`, one
 * `Microsoft.ApplicationInsights.Metric` envelope per data point, the attributes as custom dimensions).
 * `ripple.sla.open_obligations` is an observable gauge of the last {@link SlaMetrics.observeOpen} counts, one
 * point per `status`; `ripple.sla.time_to_patch` is a histogram in seconds (`base`, `met` as `"true"` /
 * `"false"`), which Application Insights receives as sum, count, min and max per export interval (delta).
 *
 * No global side effect: the meter provider is not registered as OpenTelemetry's global one, so the
 * Functions host's own traces and logs are untouched. The exporter keeps a retriable failure (408, 429,
 * 5xx, 401/403, a request that could not be sent) on disk and retries it later; any other failure (a
 * refused connection, a 400, a credential that yields no token) is logged once with a fixed line. The
 * exporter also sends its own usage telemetry (statsbeat) unless `APPLICATION_INSIGHTS_NO_STATSBEAT` is set.
 *
 * @throws ConfigError when the connection string has no valid instrumentation key (the string is not
 *   repeated in the error).
 */
export function createAzureMonitorMetrics(options: AzureMonitorMetricsOptions): AzureMonitorMetrics {
  const { exportIntervalMs = 60_000, log = (message, fields) => console.warn(message, fields) } = options;
  let failureLogged = false;
  const reportFailure = (error: unknown): void => {
    if (failureLogged) return;
    failureLogged = true;
    log(EXPORT_FAILED_MESSAGE, { service: "azure-monitor", status: statusOf(error) });
  };
  const exporter = reportingFailures(createExporter(options), reportFailure);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: exportIntervalMs, exportTimeoutMillis: Math.min(options.exportTimeoutMs ?? 30_000, exportIntervalMs) });
  const resource = options.serviceName === undefined ? defaultResource() : defaultResource().merge(resourceFromAttributes({ "service.name": options.serviceName }));
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter("ripple");

  let open: OpenObligationCounts | null = null;
  meter
    .createObservableGauge(OPEN_OBLIGATIONS_METRIC, { description: "Open obligations of open campaigns, by SLA status", unit: "{obligation}" })
    .addCallback((result) => {
      if (open === null) return;
      for (const [field, status] of STATUSES) result.observe(open[field], { status });
    });
  const timeToPatch = meter.createHistogram(TIME_TO_PATCH_METRIC, {
    description: "Time from a patch becoming available to its campaign's last obligation done",
    unit: "s",
    advice: { explicitBucketBoundaries: [...TIME_TO_PATCH_BOUNDARIES_S] },
  });

  let stopped = false;
  return {
    observeOpen(counts) {
      const { onTrack, atRisk, overdue, failed, waived } = counts;
      open = { onTrack: countOf(onTrack), atRisk: countOf(atRisk), overdue: countOf(overdue), failed: countOf(failed), waived: countOf(waived) };
    },
    recordTimeToPatch(seconds, attributes) {
      if (!Number.isFinite(seconds) || seconds < 0) return;
      timeToPatch.record(seconds, { base: attributes.base, met: String(attributes.met) });
    },
    async flush() {
      try {
        await provider.forceFlush();
      } catch (error) {
        reportFailure(error);
      }
    },
    async shutdown() {
      if (stopped) return;
      stopped = true;
      try {
        await provider.shutdown();
      } catch (error) {
        reportFailure(error);
      }
    },
  };
}

function createExporter(options: AzureMonitorMetricsOptions): AzureMonitorMetricExporter {
  try {
    return new AzureMonitorMetricExporter({ ...options.client, connectionString: options.connectionString, ...(options.credential === undefined ? {} : { credential: options.credential }) });
  } catch {
    const message = "must name a valid InstrumentationKey (a GUID) and, where not the public cloud, an IngestionEndpoint";
    throw new ConfigError(`application insights connection string: ${message}`, [{ path: "APPLICATIONINSIGHTS_CONNECTION_STRING", message }]);
  }
}

/**
 * The exporter with every failed export reported: the periodic reader hands export failures to
 * OpenTelemetry's global error handler only, and `forceFlush` resolves regardless.
 */
function reportingFailures(exporter: AzureMonitorMetricExporter, onFailure: (error: unknown) => void): PushMetricExporter {
  return {
    export: (metrics, done) =>
      exporter.export(metrics, (result) => {
        if (result.code !== EXPORT_SUCCESS) onFailure(result.error);
        done(result);
      }),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    selectAggregationTemporality: (type) => exporter.selectAggregationTemporality(type),
  };
}

/** The HTTP status of a failed export, when it has one (never its message, which may carry the endpoint). */
function statusOf(error: unknown): number | null {
  const status = typeof error === "object" && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  return typeof status === "number" ? status : null;
}

/** A count as the gauge reports it: a bad figure (negative, NaN) reads as 0, so `observeOpen` never throws. */
function countOf(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
