/**
 * SLA alerts on the real local stack: a dependent whose rebuild fails on a patched base is paged once on
 * every sink (the stack's local PagerDuty, Slack, Teams and webhook receivers, each checking its documented
 * contract), escalated once, not paged again by a redelivered job, resolved once it is waived, and paged
 * again when the waiver ends while it is still failed.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { buildSlaDemoImages, demoStackConfig, failLegacyRebuild, waitFor, waitForAlert, type SlaDemoImages } from "../../shared/cli/demo.js";
import { ALERTS_CHANNEL, type SlackStoredMessage } from "../../shared/local/alert-receivers/slack-receiver.js";
import { stackAlertSinks, startStack, type Stack, type StackConfigTemplate } from "../../shared/local/stack.js";
import type { AlertRecord } from "../../shared/ports/state-store.js";
import { runCli } from "./helpers/run-cli.js";

const SINK_IDS = stackAlertSinks.map((sink) => sink.id).sort();

/**
 * The demo's SLA configuration, escalating after 2 s. The runtime's SLA stays long enough (20 s) that the
 * failure, not an at-risk warning of a slow build, is what opens the alert.
 */
function testConfig(dir: string): StackConfigTemplate {
  const template = demoStackConfig(dir, { sla: true });
  return {
    ...template,
    alerts: { renotify: "4h", ...template.alerts, escalateAfter: "2s", sinks: [...stackAlertSinks] },
  };
}

/** The header a Slack message shows (its first block). */
function headerOf(message: SlackStoredMessage): unknown {
  const [first] = message.blocks as Array<{ text?: { text?: unknown } }>;
  return first?.text?.text;
}

/** The title of a Teams card (its first TextBlock). */
function titleOf(card: Record<string, unknown>): unknown {
  return (card["body"] as Array<Record<string, unknown>>)[0]?.["text"];
}

/** What every receiver of the stack holds about the campaign, reduced to what on-call sees. */
function alertsSeen(stack: Stack, campaignId: string) {
  const { pagerduty, slack, teams, webhook } = stack.alertReceivers;
  const ours = (text: unknown) => typeof text === "string" && text.includes("ripple/runtime:1 patched");
  return {
    incidents: pagerduty.incidents.filter((incident) => incident.dedupKey === `ripple-${campaignId}`).map(({ status, triggers }) => ({ status, triggers })),
    slack: slack.messages(ALERTS_CHANNEL.id).filter((message) => ours(headerOf(message))).map((message) => ({ header: headerOf(message), edits: message.edits, threadTs: message.threadTs })),
    teams: teams.cards.filter((card) => ours(titleOf(card))).map(titleOf),
    webhook: webhook.deliveries
      .filter((delivery) => delivery.event["subject"] === campaignId)
      .map(({ event, duplicate }) => ({ type: event["type"], sequence: (event["data"] as { sequence: number }).sequence, duplicate })),
  };
}

const atRisk = expect.stringMatching(/^Patch at risk: 127\.0\.0\.1:\d+\/ripple\/runtime:1 patched \(\w{12} → \w{12}\): 0 of 1 dependent late; 1 needs attention, the first due in /);
const failed = expect.stringMatching(/^Updated: 127\.0\.0\.1:\d+\/ripple\/runtime:1 patched \(\w{12} → \w{12}\): 1 of 1 dependent late \(1 failed, /);
const late = expect.stringMatching(/^Late patch: 127\.0\.0\.1:\d+\/ripple\/runtime:1 patched \(\w{12} → \w{12}\): 1 of 1 dependent late \(1 failed, /);
const resolvedTitle = expect.stringMatching(/^Resolved: 127\.0\.0\.1:\d+\/ripple\/runtime:1 patched \(\w{12} → \w{12}\): all 1 dependent done or waived$/);

describe("SLA alerts on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let images: SlaDemoImages;
  let campaignId: string;
  let escalated: AlertRecord;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-sla-alerts-"));
    stack = await startStack({ dir, config: testConfig(dir) });
    services = await createServices(loadSettings(stack.settings), stack.config);
    images = await buildSlaDemoImages(stack, services, () => undefined);
    ({ campaignId } = await failLegacyRebuild(stack, services, () => undefined, images));
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const seen = () => alertsSeen(stack, campaignId);

  it("warns every primary sink while the slow rebuild is at risk, updates them when it fails, and escalates once", async () => {
    escalated = await waitForAlert(services, campaignId, "the escalation, delivered", (record) => record.state.escalatedAt !== null);

    expect({ state: escalated.state.status, level: escalated.state.level, items: escalated.state.items, seen: seen() }).toEqual({
      state: "open",
      level: "critical",
      // The step as the alert compares it: state, stuck kind, failure reason, run.
      items: [{ dependentKey: images.legacy, status: "failed", step: expect.stringMatching(/^failed\|\|build local-\S+ failed: buildah build of Dockerfile at main \(\w{12}\) failed \(exit 1\)/) }],
      seen: {
        // One incident: the warning's trigger, then the failure's (PagerDuty folds them into it).
        incidents: [{ status: "triggered", triggers: 2 }],
        // One Slack message, edited in place from the warning to the failure.
        slack: [{ header: failed, edits: 1, threadTs: null }],
        // Teams cannot edit: the warning's card, then the failure's.
        teams: [atRisk, failed],
        webhook: [{ type: "com.ripple.alert.escalate", sequence: 3, duplicate: false }],
      },
    });
  });

  it("links each failed rebuild to its build log, served to a signed-in user from the stack's folder only", async () => {
    const logs = (campaign: string, dependent: string) => fetch(`${stack.hostUrl}/api/logs?campaign=${encodeURIComponent(campaign)}&dependent=${encodeURIComponent(dependent)}`);
    const found = await logs(campaignId, images.legacy);
    const missing = await logs("no-such-campaign", images.legacy);
    const bad = await fetch(`${stack.hostUrl}/api/logs?campaign=${encodeURIComponent(campaignId)}`);
    const itemLinks = escalated.message?.items[0]?.links.map((link) => link.label) ?? [];
    expect({
      found: { status: found.status, type: found.headers.get("content-type"), failedStep: (await found.text()).includes("test -f /etc/legacy-ca.pem") },
      missing: missing.status,
      bad: bad.status,
      itemLinks,
    }).toEqual({
      found: { status: 200, type: "text/plain; charset=utf-8", failedStep: true },
      missing: 404,
      bad: 400,
      itemLinks: [expect.stringMatching(/^build log \(run local-/), "runbook"],
    });
  });

  it("pages nobody again when the alert jobs are delivered once more through the queue", async () => {
    const before = seen();
    const jobs = Object.entries(escalated.wanted).flatMap(([sinkId, wanted]) => [
      { v: 1, campaignId, sinkId, sequence: wanted.sequence },
      { v: 1, campaignId, sinkId, sequence: 1 },
    ]);

    const hostLog = join(dir, "functions-host.log");
    const skipped = async () => (await readFile(hostLog, "utf8")).split("\n").filter((line) => line.includes("alert delivery skipped: already delivered") && line.includes(campaignId)).length;
    // The monitor may have queued a job twice itself (at-least-once): count from here.
    const skippedBefore = await skipped();
    for (const job of jobs) await services.queue.enqueue("alerts", job);

    await waitFor(`${jobs.length} redelivered alert jobs skipped`, async () => ((await skipped()) >= skippedBefore + jobs.length ? true : null), 30_000);
    expect({ seen: seen(), depth: (await services.diagnostics.queueDepths.depth("alerts")).messages }).toEqual({ seen: before, depth: 0 });
  });

  it("resolves on every sink it reached once the failed dependent is waived: the incident, the Slack message edited in place", async () => {
    const env = { ...process.env, ...stack.settings };
    const sla = await runCli(["sla", "--json"], env);
    const alerts = await runCli(["alerts", "--json"], env);
    const waived = await runCli(["waive", "--campaign", campaignId, "--dependent", images.legacy, "--until", "8s", "--reason", "retired this sprint", "--by", "oncall@ripple.invalid", "--json"], env);
    const slaRows = (JSON.parse(sla.stdout) as { rows: Array<{ campaignId: string; dependent: string; alert: string | null; waiver: unknown }> }).rows.filter((row) => row.campaignId === campaignId);
    const alert = (JSON.parse(alerts.stdout) as Array<{ campaignId: string; status: string; deliveries: Array<{ sink: string; delivered: number; gaveUp: boolean }> }>).find((entry) => entry.campaignId === campaignId);
    expect({
      sla: { code: sla.code, rows: slaRows.map((row) => ({ dependent: row.dependent, alert: row.alert, waiver: row.waiver })) },
      alerts: { code: alerts.code, status: alert?.status, delivered: alert?.deliveries.map((delivery) => [delivery.sink, delivery.delivered > 0, delivery.gaveUp]).sort() },
      waived: { code: waived.code, waiver: JSON.parse(waived.stdout) as unknown },
    }).toEqual({
      // Exit 1: a dependent is late (failed) and not waived.
      sla: { code: 1, rows: [{ dependent: images.legacy, alert: "failed", waiver: null }] },
      alerts: { code: 0, status: "open", delivered: SINK_IDS.map((sink) => [sink, true, false]) },
      waived: { code: 0, waiver: expect.objectContaining({ campaignId, dependent: images.legacy, reason: "retired this sprint", by: "oncall@ripple.invalid" }) },
    });
    const resolved = await waitForAlert(services, campaignId, "the resolve, delivered", (record) => record.state.status === "resolved");

    expect({ sinks: Object.keys(resolved.deliveries).sort(), kinds: stack.config.alerts.sinks.map((sink) => sink.kind).sort(), seen: seen() }).toEqual({
      // No GitHub issue sink on the local stack: the four local receivers are every sink there is.
      sinks: SINK_IDS,
      kinds: ["pagerduty", "slack", "teams", "webhook"],
      seen: {
        incidents: [{ status: "resolved", triggers: 2 }],
        slack: [{ header: resolvedTitle, edits: 2, threadTs: null }],
        teams: [atRisk, failed, resolvedTitle],
        webhook: [
          { type: "com.ripple.alert.escalate", sequence: 3, duplicate: false },
          { type: "com.ripple.alert.resolve", sequence: 4, duplicate: false },
        ],
      },
    });
  });

  it("pages again, as a new incident and a new message, when the waiver ends and the dependent is still failed", async () => {
    const reopened = await waitForAlert(services, campaignId, "the alert to open again, delivered", (record) => record.state.status === "open" && record.state.sequence > 4, 30_000);
    const { incidents, slack, teams } = seen();

    expect({ items: reopened.state.items.map((item) => [item.dependentKey, item.status]), incidents, slack, teams }).toEqual({
      items: [[images.legacy, "failed"]],
      incidents: [
        { status: "resolved", triggers: 2 },
        { status: "triggered", triggers: 1 },
      ],
      slack: [
        { header: resolvedTitle, edits: 2, threadTs: null },
        { header: late, edits: 0, threadTs: null },
      ],
      teams: [atRisk, failed, resolvedTitle, late],
    });
  });

  it("writes none of the sinks' secrets into a log or the configuration file", async () => {
    const { slack, teams } = stack.alertReceivers;
    const secrets = [stack.settings["RIPPLE_PAGERDUTY_ROUTING_KEY"] ?? "", slack.botToken, teams.secret, stack.settings["RIPPLE_ALERT_WEBHOOK_SECRET"] ?? ""];
    const files = [stack.configPath, ...(await readdir(dir, { recursive: true })).filter((name) => name.endsWith(".log")).map((name) => join(dir, name))];
    const texts = await Promise.all(files.map((file) => readFile(file, "utf8")));

    expect({ secrets: secrets.every((secret) => secret.length >= 32), leaks: texts.filter((text) => secrets.some((secret) => text.includes(secret))).length }).toEqual({ secrets: true, leaks: 0 });
  });
});
