/**
 * The rebuild worker with the ACR Tasks builder, through the real SDKs: ARM's `scheduleRun` and
 * `runs.get` against the ARM contract server (which plays each build by pushing its platform's image),
 * the index pushed to a real docker-registry. The state store and the ingest side are the unit tests'
 * doubles: what is under test is that an image keeps every platform, or the obligation fails saying why.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerRegistryManagementClient } from "@azure/arm-containerregistry";
import { ContainerRegistryContentClient } from "@azure/container-registry";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAcrManifestStore } from "../../shared/adapters/acr/acr-manifest-store.js";
import { createAcrTasksBuilder } from "../../shared/adapters/acr-tasks/acr-tasks-builder.js";
import { anonymousCredential } from "../../shared/adapters/distribution/distribution-registry.js";
import { parseConfig } from "../../shared/config.js";
import { dedupeKey } from "../../shared/domain/registry-event.js";
import { startRegistry, type LocalRegistry } from "../../shared/local/registry.js";
import { ensureStackTls, type StackTls } from "../../shared/local/tls.js";
import type { ObligationJob } from "../../shared/ports/work-queue.js";
import { processRegistryEvent } from "../../shared/use-cases/process-registry-event.js";
import { recordEvents } from "../../shared/use-cases/receive-notification.js";
import { runRebuildJob, type RebuildDeps } from "../../shared/use-cases/run-rebuild-job.js";
import { createDeps, pushEvent, REGISTRY } from "../unit/use-cases/pipeline-helpers.js";
import { startArmContractServer, type ArmContractServer, type DockerBuildCall } from "./helpers/arm-contract-server.js";
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST, buildImage, buildIndex, pushImage, pushIndex, type ImageContent } from "./helpers/image-content.js";
import { playPlatformBuilds } from "./helpers/played-builds.js";

const SUBSCRIPTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const RESOURCE_GROUP = "rg-ripple";
const REGISTRY_NAME = "rippleacr";
const TOKEN = "test-token";
const SOURCE = "https://github.com/example/company.git";
const BASE = `${REGISTRY}/ripple/busybox:1`;
const AMD64 = { os: "linux", architecture: "amd64", variant: null };
const ARM64 = { os: "linux", architecture: "arm64", variant: "v8" };

const busyboxA = buildImage({ format: "oci", layers: ["busybox-a"], platform: AMD64 });
const busyboxB = buildImage({ format: "oci", layers: ["busybox-b"], platform: AMD64 });
const onA = { "org.opencontainers.image.base.name": BASE, "org.opencontainers.image.base.digest": busyboxA.facts.digest, "org.opencontainers.image.source": SOURCE };
const companyAmd64 = buildImage({ format: "oci", layers: ["busybox-a", "company"], platform: AMD64, annotations: onA });
const companyArm64 = buildImage({ format: "oci", layers: ["busybox-a-arm64", "company-arm64"], platform: ARM64, annotations: onA });
const attestation = buildImage({ format: "oci", layers: ["in-toto"], platform: { os: "unknown", architecture: "unknown", variant: null } });
/** The company image as pushed before the base moved: two platforms and an attestation. */
const companyIndex = buildIndex({
  format: "oci",
  children: [companyAmd64, companyArm64, attestation].map((image) => ({ manifest: image.manifest, mediaType: OCI_MANIFEST, platform: image.facts.platform! })),
});
/** What each platform's rebuild produces (ACR Tasks pushes Docker manifests). */
const rebuilt: Record<string, ImageContent> = {
  "linux/amd64": buildImage({ format: "docker", layers: ["busybox-b", "company"], platform: AMD64 }),
  "linux/arm64/v8": buildImage({ format: "docker", layers: ["busybox-b-arm64", "company-arm64"], platform: ARM64 }),
};
const times = { startTime: "2026-11-23T10:00:05Z", finishTime: "2026-11-23T10:03:00Z" };

let dir: string;
let tls: StackTls;
let agent: Agent;
let registry: LocalRegistry;
let content: ContainerRegistryContentClient;
let arm: ArmContractServer;
/** The platform whose build fails in the current test; null when every build succeeds. */
let failing: string | null;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ripple-multi-platform-rebuild-"));
  tls = await ensureStackTls(dir);
  agent = new Agent({ ca: tls.caPem });
  registry = await startRegistry({ dir: join(dir, "distribution"), tls });
  content = new ContainerRegistryContentClient(registry.url, "ripple/company", anonymousCredential(), { agent });
});

afterAll(async () => {
  await registry?.stop();
  agent.destroy();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  failing = null;
  const build = (call: DockerBuildCall) => playPlatformBuilds({ content, registry: REGISTRY, images: rebuilt, failing, times })(call);
  arm = await startArmContractServer({ tls, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, token: TOKEN, build });
  for (const image of [companyAmd64, companyArm64, attestation]) await pushImage(content, image);
  await pushIndex(content, companyIndex, "1");
});

afterEach(async () => {
  await arm.stop();
});

/** The company image on busybox A, then busybox moved to B: one campaign, one rebuild job for the ACR Tasks builder. */
async function campaignWithJob() {
  const cfg = parseConfig(JSON.stringify({
    version: 1,
    registries: [{ host: REGISTRY, kind: "distribution" }],
    bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["*"] }],
    repositories: [{ url: SOURCE }],
    rebuild: { backoffSeconds: 2, pollSeconds: 10 },
  }));
  const env = createDeps(cfg);
  for (const image of [busyboxA, busyboxB]) env.registry.put("ripple/busybox", image.facts);
  for (const image of [companyAmd64, companyArm64, attestation]) env.registry.put("ripple/company", image.facts);
  env.registry.put("ripple/company", companyIndex.facts);
  for (const event of [
    pushEvent("ripple/busybox", "1", busyboxA.facts.digest, "2026-11-23T09:00:00Z"),
    pushEvent("ripple/company", "1", companyIndex.facts.digest, "2026-11-23T09:01:00Z"),
    pushEvent("ripple/busybox", "1", busyboxB.facts.digest, "2026-11-23T09:10:00Z"),
  ]) {
    await recordEvents(env.deps, [event], 0);
    await processRegistryEvent(env.deps, dedupeKey(event));
  }
  const credential = { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const client = new ContainerRegistryManagementClient(credential, SUBSCRIPTION, { endpoint: arm.url, agent, retryOptions: { maxRetries: 1, retryDelayInMs: 10 } });
  const manifests = createAcrManifestStore({ host: registry.host, credential: anonymousCredential(), agent });
  const builder = createAcrTasksBuilder({ client, subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, registryName: REGISTRY_NAME, pollIntervalMs: 10, manifests });
  const deps: RebuildDeps = { ...env.deps, builderFor: () => ({ name: "acr-tasks", builder }), now: () => new Date("2026-11-23T10:00:00Z") };
  const [job] = env.queue.take("rebuild") as ObligationJob[];
  const obligation = async () => (await env.store.getCampaign(job!.campaignId))!.obligations[0]!;
  /** Delivers the rebuild job the last run left on the queue. */
  const poll = async () => runRebuildJob(deps, (env.queue.take("rebuild") as ObligationJob[])[0]!);
  return { deps, job: job!, obligation, poll };
}

describe("a multi-platform image rebuilt by ACR Tasks", () => {
  it("is built in one run per platform and pushed as one index of both platforms to its tag", async () => {
    const t = await campaignWithJob();
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "started", run: { runId: "cb1+cb2", status: "queued" } });
    expect(arm.requests.filter((request) => request.route === "scheduleRun").map((request) => (request.body as { platform: unknown }).platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ]);
    expect(await t.obligation()).toMatchObject({ state: "scheduled", runId: "cb1+cb2" });
    expect(await t.poll()).toEqual({ kind: "requeued", delaySeconds: 10, reason: "run cb1+cb2 is running" });
    expect((await content.getManifest("1")).digest).toBe(companyIndex.facts.digest);
    expect(await t.poll()).toEqual({ kind: "skipped", reason: "run cb1+cb2 succeeded; the obligation completes when the rebuilt image is pushed" });

    const pushed = await content.getManifest("1");
    expect(pushed.mediaType).toBe(DOCKER_LIST);
    expect((pushed.manifest as { manifests: unknown[] }).manifests).toEqual([
      { mediaType: DOCKER_MANIFEST, digest: rebuilt["linux/amd64"]!.facts.digest, size: rebuilt["linux/amd64"]!.manifest.byteLength, platform: { architecture: "amd64", os: "linux" } },
      { mediaType: DOCKER_MANIFEST, digest: rebuilt["linux/arm64/v8"]!.facts.digest, size: rebuilt["linux/arm64/v8"]!.manifest.byteLength, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
    ]);
  });

  it("spends no attempt while the run of a platform whose answer was lost has not reported its image, then takes that run and builds the other platform once", async () => {
    const t = await campaignWithJob();
    arm.loseAnswers("scheduleRun", 1);
    const unknown = await runRebuildJob(t.deps, t.job);
    expect(unknown).toEqual({
      kind: "requeued",
      delaySeconds: 10,
      reason: `outcome unknown, no attempt spent: scheduling the linux/amd64 build of ${REGISTRY}/ripple/company:1: the outcome of an earlier request is unknown until run cb1 reports its images`,
    });
    expect(arm.runIds()).toEqual(["cb1"]);
    expect(await t.poll()).toMatchObject({ kind: "started", run: { runId: "cb1+cb2", status: "running" } });
    expect(await t.poll()).toEqual({ kind: "requeued", delaySeconds: 10, reason: "run cb1+cb2 is running" });
    expect(await t.poll()).toEqual({ kind: "skipped", reason: "run cb1+cb2 succeeded; the obligation completes when the rebuilt image is pushed" });
    expect(arm.runIds()).toEqual(["cb1", "cb2"]);
    expect(await t.deps.store.listRuns(REGISTRY)).toEqual([expect.objectContaining({ runId: "cb1+cb2", status: "succeeded", attempts: 1 })]);
    const pushed = (await content.getManifest("1")).manifest as { manifests: Array<{ digest: string }> };
    expect(pushed.manifests.map((entry) => entry.digest)).toEqual([rebuilt["linux/amd64"]!.facts.digest, rebuilt["linux/arm64/v8"]!.facts.digest]);
  });

  it("fails the obligation naming the platform and its run when one platform cannot be built, and leaves the tag as it was", async () => {
    failing = "linux/arm64/v8";
    const t = await campaignWithJob();
    expect(await runRebuildJob(t.deps, t.job)).toMatchObject({ kind: "started", run: { runId: "cb1+cb2", status: "running" } });
    const reason = `build cb1+cb2 failed: linux/arm64/v8 (run cb2): exec /bin/sh: exec format error (logs: acr-run:${REGISTRY_NAME}/cb2)`;
    expect(await t.poll()).toEqual({ kind: "failed", reason });
    expect(await t.obligation()).toMatchObject({ state: "failed", runId: "cb1+cb2", reason });
    expect((await content.getManifest("1")).digest).toBe(companyIndex.facts.digest);
  });
});
