/** `ripple sla`, `ripple alerts` and `ripple waive`: what on-call reads and does from a terminal. */
import type { Services } from "../composition.js";
import { formatDuration } from "../domain/sla.js";
import { dependentLabel } from "../use-cases/alert-message.js";
import { slaReport } from "../use-cases/sla-report.js";
import { waive } from "../use-cases/waive.js";
import { printJson, printTable } from "./output.js";

function timing(lateByMs: number): string {
  return lateByMs >= 0 ? `late ${formatDuration(lateByMs)}` : `${formatDuration(-lateByMs)} left`;
}

/** `ripple sla`: the open obligations of open campaigns, most urgent first; exit 1 when one is late or failed. */
export async function slaCommand(services: Services, json: boolean): Promise<number> {
  const report = await slaReport(services);
  const late = report.rows.some((row) => row.waiver === null && (row.alert === "overdue" || row.alert === "failed"));
  if (json) return printJson(report), late ? 1 : 0;
  if (report.rows.length === 0) {
    process.stdout.write("no open obligations\n");
    return 0;
  }
  printTable(
    report.rows.map((row) => [
      row.waiver !== null ? `waived until ${row.waiver.until}` : (row.alert ?? row.status),
      dependentLabel(row.dependent),
      row.dueAt,
      timing(row.lateByMs),
      row.step,
      row.campaignId,
    ]),
    ["STATUS", "DEPENDENT", "DUE", "TIMING", "STEP", "CAMPAIGN"],
  );
  process.stdout.write(`${report.rows.length} open in ${report.campaigns} campaign(s): ${Object.entries(report.counts).map(([status, count]) => `${count} ${status}`).join(", ")}\n`);
  return late ? 1 : 0;
}

/** `ripple alerts`: each campaign's alert, its items and what every sink was sent (with the last error). */
export async function alertsCommand(services: Services, json: boolean): Promise<number> {
  const alerts = await services.store.listAlerts();
  const out = alerts.map((record) => ({
    campaignId: record.campaignId,
    status: record.state.status,
    level: record.state.level,
    sequence: record.state.sequence,
    openedAt: record.state.openedAt,
    notifiedAt: record.state.notifiedAt,
    escalatedAt: record.state.escalatedAt,
    resolvedAt: record.state.resolvedAt,
    summary: record.message?.summary ?? null,
    items: record.message?.items.map((item) => ({ dependent: item.dependent, status: item.status, step: item.step, dueAt: item.dueAt })) ?? [],
    deliveries: Object.entries(record.wanted).map(([sinkId, wanted]) => {
      const delivery = record.deliveries[sinkId];
      return {
        sink: sinkId,
        wanted: wanted.sequence,
        action: wanted.action,
        delivered: delivery?.delivered ?? 0,
        deliveredAt: delivery?.deliveredAt ?? null,
        attempts: delivery?.attempts ?? 0,
        lastError: delivery?.lastError ?? null,
        gaveUp: delivery?.failedSequence === wanted.sequence,
      };
    }),
  }));
  const undelivered = out.some((alert) => alert.deliveries.some((delivery) => delivery.gaveUp));
  if (json) return printJson(out), undelivered ? 1 : 0;
  if (out.length === 0) {
    process.stdout.write("no alerts\n");
    return 0;
  }
  for (const alert of out) {
    process.stdout.write(`${alert.status.toUpperCase()} ${alert.level} #${alert.sequence} ${alert.campaignId}\n  ${alert.summary ?? ""}\n`);
    for (const item of alert.items) process.stdout.write(`  - ${item.status}: ${item.dependent}: ${item.step}\n`);
    for (const delivery of alert.deliveries) {
      const state = delivery.gaveUp ? `FAILED (not retried): ${delivery.lastError}` : delivery.delivered >= delivery.wanted ? `sent ${delivery.action} at ${delivery.deliveredAt}` : `pending ${delivery.action} (attempt ${delivery.attempts})${delivery.lastError ? `: ${delivery.lastError}` : ""}`;
      process.stdout.write(`  → ${delivery.sink}: ${state}\n`);
    }
  }
  return undelivered ? 1 : 0;
}

/** `ripple waive`: pauses alerts for a campaign or dependents until a time, with a reason and who asked. */
export async function waiveCommand(services: Services, options: { campaign?: string; dependent?: string; until?: string; reason?: string; by?: string }, json: boolean): Promise<number> {
  const waiver = await waive(services, {
    ...(options.campaign === undefined ? {} : { campaignId: options.campaign }),
    ...(options.dependent === undefined ? {} : { dependent: options.dependent }),
    until: options.until ?? "",
    reason: options.reason ?? "",
    by: options.by ?? process.env.USER ?? "",
  });
  if (json) return printJson(waiver), 0;
  process.stdout.write(`waiver ${waiver.id}: ${waiver.campaignId ?? "every campaign"}${waiver.dependent === null ? "" : `, dependents ${waiver.dependent}`} until ${waiver.until} (${waiver.reason}; by ${waiver.by})\n`);
  return 0;
}
