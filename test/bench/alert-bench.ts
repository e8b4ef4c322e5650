/**
 * breach_to_sink_ms on the real local stack: from the SLA monitor's tick that finds a breach (the alert's
 * `openedAt`, the tick's own clock) to the local PagerDuty receiver holding the incident — the alert
 * decided and saved, its job through the Azurite queue and the local host's poller, the sink's HTTP call.
 * Each round opens a campaign whose one obligation failed; p50 / p95 over 20 rounds. Target p95 ≤ 1,000.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServices } from "../../shared/composition.js";
import { loadSettings, slaRulesOf } from "../../shared/config.js";
import { createdTransition, pushRoot, type Campaign, type Obligation } from "../../shared/domain/campaign.js";
import { clockFor } from "../../shared/domain/sla.js";
import { stackAlertSinks, startStack } from "../../shared/local/stack.js";
import { percentile } from "./pipeline-bench.js";

function failedCampaign(round: number, registry: string, config: Parameters<typeof slaRulesOf>[0]): { campaign: Campaign; obligation: Obligation } {
  const now = new Date().toISOString();
  const base = `${registry}/bench/base:${round}`;
  const root = pushRoot(base, `sha256:${round.toString(16).padStart(64, "0")}`, now, null);
  const campaign: Campaign = { id: `bench-breach-${round}-${Date.now()}`, base, fromDigest: null, toDigest: root.digest, openedAt: now, trigger: "bench", jobsQueuedAt: now, root };
  const key = `${registry}/bench/app:${round}`;
  const obligation: Obligation = {
    campaignId: campaign.id,
    dependentKey: key,
    dependent: { kind: "image", registry, repository: "bench/app", tag: String(round), digest: root.digest },
    kind: "rebuild",
    state: "failed",
    fromDigest: root.digest,
    reason: "bench: a failed rebuild",
    runId: null,
    createdAt: now,
    updatedAt: now,
    clock: clockFor(slaRulesOf(config), key, base, root),
    history: [createdTransition(now, "bench")],
  };
  return { campaign, obligation };
}

/** When `arrived` first holds, checked every 5 ms (the receiver runs in this process); fails after 30 s. */
async function arrival(arrived: () => boolean): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (!arrived()) {
    if (Date.now() > deadline) throw new Error("no incident at the local PagerDuty within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Date.now();
}

export async function benchBreachToSink(rounds = 20): Promise<{ breach_to_sink_ms: { p50: number; p95: number } }> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-bench-alerts-"));
  const stack = await startStack({ dir, config: { alerts: { renotify: "4h", sinks: stackAlertSinks.filter((sink) => sink.kind === "pagerduty") } } });
  try {
    const services = await createServices(loadSettings(stack.settings), stack.config);
    const samples: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const { campaign, obligation } = failedCampaign(round, stack.registry.host, stack.config);
      await services.store.openCampaign(campaign, [obligation]);
      const receivedAt = await arrival(() => stack.alertReceivers.pagerduty.incident(`ripple-${campaign.id}`) !== undefined);
      const alert = await services.store.getAlert(campaign.id);
      samples.push(receivedAt - Date.parse(alert!.state.openedAt));
    }
    return { breach_to_sink_ms: { p50: Math.round(percentile(samples, 50)), p95: Math.round(percentile(samples, 95)) } };
  } finally {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
