/**
 * The whole ingestion path on the real local stack: buildah builds and pushes, the Distribution
 * registry notifies the local Functions host, the queue-triggered processor reads manifests over TLS,
 * and the graph and campaign land in Table Storage on Azurite. Then hostile and repeated deliveries.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { buildDemoImages, demoRepositories, demoStackConfig, pushPatchedBase, waitFor, waitForCascade, type DemoImages } from "../../shared/cli/demo.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import { runCli } from "./helpers/run-cli.js";
import { describeGraph, impactOf, lineageOf, outdatedImages } from "../../shared/use-cases/query-graph.js";


describe("pipeline on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let images: DemoImages;
  let reg: string;
  let patched: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-pipeline-"));
    stack = await startStack({ dir, config: demoStackConfig(dir) });
    services = await createServices(loadSettings(stack.settings), stack.config);
    images = await buildDemoImages(stack, services, () => undefined, "in-house");
    reg = stack.registry.host;
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (body: string, headers: Record<string, string>) => fetch(stack.webhookUrl, { method: "POST", body, headers });
  const secretHeader = () => ({ authorization: `Bearer ${stack.settings["RIPPLE_WEBHOOK_SECRET"]}` });

  const edgeRows = async () =>
    (await describeGraph(services.store)).edges.map(({ dependent, base, baseDigest, evidence, platform }) => ({ dependent, base, baseDigest, evidence, platform }));
  const expectedEdges = (on: { busybox: string; companyBase: string }) => [
    { dependent: `${reg}/apps/multi:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "dockerfile", platform: null },
    { dependent: `${reg}/apps/multi:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "annotation", platform: "linux/amd64" },
    { dependent: `${reg}/apps/multi:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "annotation", platform: "linux/arm64" },
    { dependent: `${reg}/apps/pinned:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "dockerfile", platform: null },
    { dependent: `${reg}/apps/pinned:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "annotation", platform: "linux/amd64" },
    { dependent: `${reg}/apps/web:1`, base: `${reg}/ripple/company-base:1`, baseDigest: on.companyBase, evidence: "dockerfile", platform: null },
    { dependent: `${reg}/apps/web:1`, base: `${reg}/ripple/company-base:1`, baseDigest: on.companyBase, evidence: "annotation", platform: "linux/amd64" },
    { dependent: `${reg}/ripple/company-base:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "dockerfile", platform: null },
    { dependent: `${reg}/ripple/company-base:1`, base: `${reg}/ripple/busybox:1`, baseDigest: on.busybox, evidence: "annotation", platform: "linux/amd64" },
  ];

  it("builds the graph from the registry's own notifications, with evidence", async () => {
    expect(await edgeRows()).toEqual(expectedEdges(images));
    const graph = await describeGraph(services.store);
    expect(graph.edges.find((edge) => edge.dependent === `${reg}/ripple/company-base:1` && edge.evidence === "dockerfile")?.detail).toBe(
      `${demoRepositories(dir).companyBase}@main:Dockerfile:1 FROM ${reg}/ripple/busybox:1`,
    );
    expect(graph.cycles).toEqual([]);
  });

  it("answers impact in waves, lineage and outdated", async () => {
    const impact = await impactOf(services.store, `${reg}/ripple/busybox:1`);
    expect(impact.impact.waves.map((wave) => wave.map((node) => node.key))).toEqual([
      [`${reg}/apps/multi:1`, `${reg}/apps/pinned:1`, `${reg}/ripple/company-base:1`],
      [`${reg}/apps/web:1`],
    ]);
    const lineage = await lineageOf(services.store, `${reg}/apps/web:1`);
    expect(lineage.lineage.steps.map((step) => [step.base, step.baseDigest, step.upToDate])).toEqual([
      [`${reg}/ripple/company-base:1`, images.companyBase, true],
      [`${reg}/ripple/busybox:1`, images.busybox, true],
    ]);
    expect(await outdatedImages(services.store)).toEqual([]);
  });

  it("rebuilds everything on a patched base, level by level, exactly once per image and base digest", async () => {
    patched = (await pushPatchedBase(stack, services, () => undefined, "in-house")).digest;
    const cascade = await waitForCascade(services, 2);
    const companyBase = (await services.store.getTag(reg, "ripple/company-base", "1"))!.digest!;
    expect(cascade.map(({ campaign, obligations }) => ({
      base: campaign.base,
      from: campaign.fromDigest,
      to: campaign.toDigest,
      obligations: obligations.map((obligation) => [obligation.dependentKey, obligation.kind, obligation.state]),
    }))).toEqual([
      {
        base: `${reg}/ripple/busybox:1`,
        from: images.busybox,
        to: patched,
        obligations: [
          [`${reg}/apps/multi:1`, "rebuild", "done"],
          [`${reg}/apps/pinned:1`, "rebuild", "done"],
          [`${reg}/ripple/company-base:1`, "rebuild", "done"],
        ],
      },
      { base: `${reg}/ripple/company-base:1`, from: images.companyBase, to: companyBase, obligations: [[`${reg}/apps/web:1`, "rebuild", "done"]] },
    ]);
    // The second wave was scheduled only after the first rebuilt its base.
    const runs = await services.store.listRuns(reg);
    expect(runs.map((run) => [run.image, run.baseDigest, run.status, run.attempts]).sort()).toEqual([
      [`${reg}/apps/multi:1`, patched, "succeeded", 1],
      [`${reg}/apps/pinned:1`, patched, "succeeded", 1],
      [`${reg}/apps/web:1`, companyBase, "succeeded", 1],
      [`${reg}/ripple/company-base:1`, patched, "succeeded", 1],
    ]);
    const companyRun = runs.find((run) => run.image === `${reg}/ripple/company-base:1`)!;
    const webRun = runs.find((run) => run.image === `${reg}/apps/web:1`)!;
    expect(Date.parse(webRun.claimedAt)).toBeGreaterThanOrEqual(Date.parse(companyRun.finishedAt!));
    expect(await edgeRows()).toEqual(expectedEdges({ busybox: patched, companyBase }));
    expect(await outdatedImages(services.store)).toEqual([]);
  });

  it("treats a redelivered or reordered registry event as changing nothing", async () => {
    const envelope = (digest: string, timestamp: string) =>
      JSON.stringify({ events: [{ id: `replay-${digest.slice(7, 15)}`, timestamp, action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest, length: 1, repository: "ripple/busybox", url: `https://${reg}/v2/ripple/busybox/manifests/${digest}`, tag: "1" }, request: { id: "r", addr: "127.0.0.1", host: reg, method: "PUT", useragent: "test" }, actor: {}, source: { addr: "x", instanceID: "y" } }] });
    const headers = { "content-type": "application/vnd.docker.distribution.events.v1+json", ...secretHeader() };
    const runsBefore = await services.store.listRuns();
    const original = (await services.store.listEvents(500)).find((record) => record.event?.digest === patched && record.event.tag === "1")!;
    const duplicate = await post(envelope(patched, original.event!.occurredAt), headers);
    expect(await duplicate.json()).toEqual({ status: "recorded", accepted: 0, duplicates: 1, ignored: 0, rejected: 0, rejections: [] });
    // The old digest again, stamped before the patched push: a new fact, recorded, but older than the tag's move.
    const reordered = await post(envelope(images.busybox, "2020-01-01T00:00:00Z"), headers);
    expect(await reordered.json()).toEqual({ status: "recorded", accepted: 1, duplicates: 0, ignored: 0, rejected: 0, rejections: [] });
    await waitFor("the queue to drain", async () => ((await services.store.listEvents(100)).every((record) => record.status !== "accepted") ? true : null));
    expect((await services.store.getTag(reg, "ripple/busybox", "1"))?.digest).toBe(patched);
    expect(await services.store.listCampaigns()).toHaveLength(2);
    expect(await services.store.listRuns()).toEqual(runsBefore);
  });

  it.each([
    ["no secret", {}, "{}", 401],
    ["a wrong secret", { authorization: "Bearer wrong-wrong-wrong-wrong" }, "{}", 401],
  ])("refuses a delivery with %s (401) and records nothing", async (_, headers, body, status) => {
    const before = (await services.store.listEvents(500)).length;
    const response = await post(body, { "content-type": "application/json", ...headers });
    expect(response.status).toBe(status);
    expect((await services.store.listEvents(500)).length).toBe(before);
  });

  it("answers 400 with the zod path for a malformed Event Grid delivery and records nothing", async () => {
    const before = (await services.store.listEvents(500)).length;
    const body = JSON.stringify([{ id: "x", eventType: "Microsoft.ContainerRegistry.ImagePushed", subject: "s", eventTime: "2026-11-23T00:00:00Z", dataVersion: "1.0", data: { target: { repository: 7, digest: images.busybox, tag: "1" }, request: { host: reg } } }]);
    const response = await post(body, { "content-type": "application/json", ...secretHeader() });
    expect(response.status).toBe(400);
    const answer = (await response.json()) as { issues: { path: string }[] };
    expect(answer.issues.map((issue) => issue.path)).toEqual(["0.data.target.repository"]);
    expect((await services.store.listEvents(500)).length).toBe(before);
  });

  it("refuses an oversized body with 413", async () => {
    const response = await post("x".repeat(2 * 1024 * 1024), { "content-type": "application/json", ...secretHeader() });
    expect(response.status).toBe(413);
  });

  it("records an event naming an unconfigured registry as ignored and never fetches it", async () => {
    const body = JSON.stringify([{ id: "evil", eventType: "Microsoft.ContainerRegistry.ImagePushed", subject: "s", eventTime: "2026-11-23T00:00:00Z", dataVersion: "1.0", data: { id: "evil", timestamp: "2026-11-23T00:00:00Z", action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest: images.busybox, length: 1, repository: "x/y", tag: "1" }, request: { id: "r", host: "169.254.169.254", method: "PUT", useragent: "u" } } }]);
    const response = await post(body, { "content-type": "application/json", ...secretHeader() });
    expect(await response.json()).toEqual({ status: "recorded", accepted: 0, duplicates: 0, ignored: 1, rejected: 0, rejections: [] });
    const records = await services.store.listEvents(500);
    expect(records.find((record) => record.event?.registry === "169.254.169.254")).toMatchObject({ status: "ignored", reason: "registry 169.254.169.254 is not in the configuration" });
  });

  it("serves the Event Grid trigger endpoint with its validation handshake", async () => {
    const url = `${stack.hostUrl}/runtime/webhooks/EventGrid?functionName=registryEventGrid&code=${stack.hostKeys.eventGrid}`;
    const handshake = await fetch(url, { method: "POST", headers: { "aeg-event-type": "SubscriptionValidation" }, body: JSON.stringify([{ id: "v", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", subject: "", eventTime: "2026-11-23T00:00:00Z", dataVersion: "1", data: { validationCode: "code-1" } }]) });
    expect(await handshake.json()).toEqual({ validationResponse: "code-1" });
  });

  it("drives the CLI against the running stack: ingest, impact, runs, campaign", async () => {
    const env = { ...process.env, ...stack.settings };
    const file = join(dir, "event.json");
    await writeFile(file, JSON.stringify({ events: [{ id: "cli-1", timestamp: "2026-11-23T00:00:00Z", action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest: images.web, length: 1, repository: "apps/web", tag: "1" }, request: { id: "r", addr: "a", host: reg, method: "PUT", useragent: "u" }, actor: {}, source: { addr: "a", instanceID: "i" } }] }));
    const ingest = await runCli(["ingest", "--json", file], env);
    expect(ingest.code).toBe(0);
    expect(JSON.parse(ingest.stdout)).toEqual([{ action: "push", registry: reg, repository: "apps/web", tag: "1", digest: images.web, mediaType: "application/vnd.oci.image.manifest.v1+json" }]);
    const impact = await runCli(["impact", "--json", `${reg}/ripple/company-base:1`], env);
    expect((JSON.parse(impact.stdout) as { waves: { key: string }[][] }).waves.map((wave) => wave.map((node) => node.key))).toEqual([[`${reg}/apps/web:1`]]);
    const runs = await runCli(["runs", "--json"], env);
    expect((JSON.parse(runs.stdout) as { image: string; status: string; logsUrl: string }[]).map((run) => [run.image, run.status, run.logsUrl.endsWith("/build.log")]).sort()).toEqual([
      [`${reg}/apps/multi:1`, "succeeded", true],
      [`${reg}/apps/pinned:1`, "succeeded", true],
      [`${reg}/apps/web:1`, "succeeded", true],
      [`${reg}/ripple/company-base:1`, "succeeded", true],
    ]);
    const [busyboxCampaign] = (await services.store.listCampaigns()).filter((campaign) => campaign.base === `${reg}/ripple/busybox:1`);
    const campaign = await runCli(["campaign", "--json", busyboxCampaign!.id], env);
    const report = JSON.parse(campaign.stdout) as { id: string; obligations: { dependent: string; state: string; runId: string; run: { status: string; durationMs: number } }[] };
    expect(report.id).toBe(busyboxCampaign!.id);
    expect(report.obligations.map((obligation) => [obligation.dependent, obligation.state, obligation.runId.startsWith("local-"), obligation.run.status, obligation.run.durationMs > 0])).toEqual([
      [`${reg}/apps/multi:1`, "done", true, "succeeded", true],
      [`${reg}/apps/pinned:1`, "done", true, "succeeded", true],
      [`${reg}/ripple/company-base:1`, "done", true, "succeeded", true],
    ]);
    expect(await runCli(["campaign", "no-such-campaign"], env)).toEqual({ code: 1, stdout: "", stderr: "ripple: no campaign no-such-campaign (see ripple campaigns)\n" });
    const bad = await runCli(["ingest", "--dry-run", "-"], env, '{"events":[{"id":"1"}]}');
    expect(bad).toEqual({ code: 2, stdout: "", stderr: "ripple: Distribution notification: events.0.action: required\n  also events.0.target: required\n" });
    const future = await runCli(["ingest", "--dry-run", "-"], env, JSON.stringify({ events: [{ id: "cli-9", timestamp: "9999-01-01T00:00:00Z", action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest: images.web, length: 1, repository: "apps/web", tag: "1" }, request: { id: "r", addr: "a", host: reg, method: "PUT", useragent: "u" }, actor: {}, source: { addr: "a", instanceID: "i" } }] }));
    expect({ code: future.code, stderr: future.stderr.replace(/\(.*\)/, "(now)") }).toEqual({ code: 2, stderr: "ripple: Distribution notification: events.0.timestamp: event time 9999-01-01T00:00:00.000Z is more than 5 minutes ahead of the receiver's clock (now)\n" });
  });
});
