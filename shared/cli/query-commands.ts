import type { Services } from "../composition.js";
import type { PatchRoot } from "../domain/campaign.js";
import { AppError } from "../errors.js";
import { describeGraph, impactOf, lineageOf, outdatedImages } from "../use-cases/query-graph.js";
import { printJson, printTable, shortDigest } from "./output.js";

export async function graphCommand(services: Services, json: boolean): Promise<number> {
  const report = await describeGraph(services.store);
  if (json) return printJson(report), 0;
  process.stdout.write("tags\n");
  printTable(report.tags.map((tag) => [tag.key, shortDigest(tag.digest)]));
  process.stdout.write("\nedges (dependent -> base)\n");
  printTable(
    report.edges.map((edge) => [edge.dependent, edge.base, shortDigest(edge.baseDigest), edge.upToDate ? "current" : "OUTDATED", edge.evidence, edge.platform ?? ""]),
    ["DEPENDENT", "BASE", "BUILT ON", "STATE", "EVIDENCE", "PLATFORM"],
  );
  for (const cycle of report.cycles) process.stdout.write(`cycle: ${cycle.join(" -> ")}\n`);
  return 0;
}

export async function impactCommand(services: Services, image: string, json: boolean): Promise<number> {
  const result = await impactOf(services.store, image);
  const out = {
    base: result.base,
    currentDigest: result.currentDigest,
    waves: result.impact.waves.map((wave) =>
      wave.map((node) => ({
        key: node.key,
        kind: node.dependent.kind,
        edges: node.edges.map((edge) => ({ base: edge.base, baseDigest: edge.baseDigest, evidence: edge.evidence, platform: edge.platform })),
      })),
    ),
    cycles: result.impact.cycles,
  };
  if (json) return printJson(out), 0;
  process.stdout.write(`impact of ${out.base} (now ${shortDigest(out.currentDigest)})\n`);
  out.waves.forEach((wave, index) => {
    process.stdout.write(`wave ${index}\n`);
    printTable(wave.map((node) => ["  " + node.key, node.kind, [...new Set(node.edges.map((edge) => edge.evidence))].join(",")]));
  });
  if (out.waves.length === 0) process.stdout.write("nothing is built on it\n");
  for (const cycle of out.cycles) process.stdout.write(`cycle (not scheduled): ${cycle.join(", ")}\n`);
  return 0;
}

export async function lineageCommand(services: Services, image: string, json: boolean): Promise<number> {
  const result = await lineageOf(services.store, image);
  const out = { image: result.image, digest: result.digest, steps: result.lineage.steps, cycle: result.lineage.cycle };
  if (json) return printJson(out), 0;
  process.stdout.write(`${out.image} @ ${shortDigest(out.digest)}\n`);
  out.steps.forEach((step, index) => {
    const state = step.upToDate ? "current" : `OUTDATED (base now ${shortDigest(step.currentDigest)})`;
    process.stdout.write(`${"  ".repeat(index + 1)}└─ on ${step.base} @ ${shortDigest(step.baseDigest)} [${step.evidence}] ${state}\n`);
  });
  if (out.cycle) process.stdout.write(`cycle: ${out.cycle.join(" -> ")}\n`);
  return 0;
}

export async function outdatedCommand(services: Services, json: boolean): Promise<number> {
  const entries = (await outdatedImages(services.store)).map((entry) => ({
    image: entry.key,
    base: entry.base,
    baseDigest: entry.baseDigest,
    currentDigest: entry.currentDigest,
    evidence: entry.edge.evidence,
    platform: entry.edge.platform,
  }));
  if (json) return printJson(entries), 0;
  if (entries.length === 0) process.stdout.write("every dependent is on its base's current digest\n");
  else printTable(entries.map((entry) => [entry.image, entry.base, shortDigest(entry.baseDigest), shortDigest(entry.currentDigest), entry.evidence]), ["IMAGE", "BASE", "BUILT ON", "BASE NOW", "EVIDENCE"]);
  return 0;
}

export async function campaignsCommand(services: Services, json: boolean): Promise<number> {
  const campaigns = [];
  for (const campaign of await services.store.listCampaigns()) {
    const found = await services.store.getCampaign(campaign.id);
    campaigns.push({
      ...campaign,
      root: campaign.root ?? null,
      obligations: (found?.obligations ?? []).map((obligation) => ({
        dependent: obligation.dependentKey,
        kind: obligation.kind,
        state: obligation.state,
        fromDigest: obligation.fromDigest,
        reason: obligation.reason,
        runId: obligation.runId,
      })),
    });
  }
  if (json) return printJson(campaigns), 0;
  if (campaigns.length === 0) process.stdout.write("no campaigns yet\n");
  for (const campaign of campaigns) {
    process.stdout.write(`${campaign.id}\n  ${campaign.base}: ${shortDigest(campaign.fromDigest)} -> ${shortDigest(campaign.toDigest)} opened ${campaign.openedAt}\n`);
    process.stdout.write(`  jobs ${campaign.jobsQueuedAt ? `queued ${campaign.jobsQueuedAt}` : "not queued yet"}\n`);
    if (campaign.root !== null) process.stdout.write(`  ${describeRoot(campaign.root)}\n`);
    printTable(campaign.obligations.map((obligation) => ["   ", obligation.dependent, obligation.kind, obligation.state, obligation.reason ?? ""]));
  }
  return 0;
}

/** `patch available 2026-… (first seen upstream: docker.io/library/alpine:3.20@sha256:…)`: where the SLA clock starts. */
function describeRoot(root: PatchRoot): string {
  const how = root.source === "upstream-first-seen" ? "first seen upstream" : "pushed";
  return `patch available ${root.availableAt} (${how}: ${root.base}@${shortDigest(root.digest)})`;
}

/** A log link signed now for a person reading the run (never stored); null when the builder cannot make one. */
async function signedLogsLink(services: Services, registry: string, logsUrl: string | null): Promise<string | null> {
  if (logsUrl === null) return null;
  const builder = services.builderFor(registry)?.builder;
  return builder === undefined ? null : builder.signLogs(logsUrl).catch(() => null);
}

function durationMs(from: string | null, to: string | null): number | null {
  return from !== null && to !== null ? Date.parse(to) - Date.parse(from) : null;
}

/** `ripple runs`: every rebuild run, newest first, with its state, timings and logs link. */
export async function runsCommand(services: Services, json: boolean): Promise<number> {
  const runs = (await services.store.listRuns()).map((run) => ({
    image: run.image,
    base: run.base,
    baseDigest: run.baseDigest,
    campaignId: run.campaignId,
    builder: run.builder,
    status: run.status,
    runId: run.runId,
    attempts: run.attempts,
    claimedAt: run.claimedAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: durationMs(run.startedAt, run.finishedAt),
    logsUrl: run.logsUrl,
    reason: run.reason,
  }));
  if (json) return printJson(runs), 0;
  if (runs.length === 0) process.stdout.write("no rebuild runs yet\n");
  else printTable(
    runs.map((run) => [run.image, shortDigest(run.baseDigest), run.status, run.runId ?? "-", run.durationMs === null ? "-" : `${(run.durationMs / 1000).toFixed(1)} s`, run.logsUrl ?? "-"]),
    ["IMAGE", "ON BASE", "STATUS", "RUN", "DURATION", "LOGS"],
  );
  return 0;
}

/** `ripple campaign ID`: one campaign with each obligation's state, run, timings and logs link. */
export async function campaignCommand(services: Services, id: string, json: boolean): Promise<number> {
  const found = await services.store.getCampaign(id);
  if (found === null) throw new AppError("not_found", `no campaign ${id} (see ripple campaigns)`);
  const runs = await services.store.listRuns();
  const report = {
    ...found.campaign,
    root: found.campaign.root ?? null,
    obligations: await Promise.all(found.obligations.map(async (obligation) => {
      const run = runs.find((candidate) => candidate.image === obligation.dependentKey && candidate.baseDigest === found.campaign.toDigest) ?? null;
      return {
        dependent: obligation.dependentKey,
        kind: obligation.kind,
        state: obligation.state,
        fromDigest: obligation.fromDigest,
        reason: obligation.reason,
        createdAt: obligation.createdAt,
        updatedAt: obligation.updatedAt,
        runId: obligation.runId ?? run?.runId ?? null,
        run: run === null ? null : {
          status: run.status,
          attempts: run.attempts,
          startedAt: run.startedAt,
          finishedAt: run.finishedAt,
          durationMs: durationMs(run.startedAt, run.finishedAt),
          logsUrl: run.logsUrl,
          logsLink: await signedLogsLink(services, run.registry, run.logsUrl),
        },
      };
    })),
  };
  if (json) return printJson(report), 0;
  process.stdout.write(`${report.id}\n  ${report.base}: ${shortDigest(report.fromDigest)} -> ${shortDigest(report.toDigest)}, opened ${report.openedAt}\n`);
  if (report.root !== null) process.stdout.write(`  ${describeRoot(report.root)}\n`);
  printTable(
    report.obligations.map((obligation) => [
      "   ",
      obligation.dependent,
      obligation.kind,
      obligation.state,
      obligation.runId ?? "-",
      obligation.run?.durationMs == null ? "-" : `${(obligation.run.durationMs / 1000).toFixed(1)} s`,
      obligation.run?.logsLink ?? obligation.run?.logsUrl ?? "-",
      obligation.reason ?? "",
    ]),
    ["", "DEPENDENT", "KIND", "STATE", "RUN", "BUILD", "LOGS", "REASON"],
  );
  return 0;
}

/** `ripple prs`: Ripple's pull requests, newest first, with the pins each moves (the body's old → new table). */
export async function prsCommand(services: Services, json: boolean): Promise<number> {
  const pulls = await services.store.listPullRequests();
  if (json) {
    printJson(pulls.map(({ repository, branch, number, url, state, title, base, digest, campaignId, files, dependents, body, openedAt, updatedAt }) => ({ repository, branch, number, url, state, title, base, digest, campaignId, files, dependents, body, openedAt, updatedAt })));
    return 0;
  }
  if (pulls.length === 0) process.stdout.write("no pull requests yet\n");
  for (const pull of pulls) {
    process.stdout.write(`#${pull.number} [${pull.state}] ${pull.title}\n  ${pull.repository} ${pull.branch}  ${pull.url}\n`);
    for (const line of pull.body.split("\n").filter((row) => row.startsWith("| `"))) process.stdout.write(`  ${line}\n`);
    process.stdout.write("\n");
  }
  return 0;
}
