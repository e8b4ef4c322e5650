/**
 * The demo's cascade on the real local stack with every image built without manifest annotations
 * (`buildah bud --format docker`, as ACR Tasks writes no `org.opencontainers.image.base.*`), and the
 * company base no configured base: every edge must come from layers or Dockerfiles, and every wave —
 * the mirrored busybox, the company base, and the apps its pins name — must still form and complete.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemoImages, createDeployRepository, demoStackConfig, mergeDeployPullRequests, pushPatchedBase, waitForCascade, type DemoImages } from "../../shared/cli/demo.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { BASE_DIGEST_ANNOTATION, BASE_NAME_ANNOTATION } from "../../shared/domain/image-facts.js";
import { startStack, type Stack } from "../../shared/local/stack.js";

describe("the cascade without base annotations", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let images: DemoImages;
  let reg: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-no-annotations-"));
    stack = await startStack({ dir, config: demoStackConfig(dir, { pins: true, trackCompanyBase: false }), baseAnnotations: false });
    services = await createServices(loadSettings(stack.settings), stack.config);
    reg = stack.registry.host;
    images = await buildDemoImages(stack, services, () => undefined, "upstream");
    await createDeployRepository(stack, services, images);
    await pushPatchedBase(stack, services, () => undefined, "upstream");
    await waitForCascade(services, 4, { openPullRequests: true });
    await mergeDeployPullRequests(stack, services, () => undefined);
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("builds images, the demo's and the host's rebuilds, that name no base in their manifests", async () => {
    const registry = services.registryFor(reg)!;
    const rebuilt = async (repository: string) => (await services.store.getTag(reg, repository, "1"))!.digest!;
    const built: Array<[string, string]> = [["ripple/company-base", images.companyBase], ["apps/web", images.web], ["apps/pinned", images.pinned]];
    for (const repository of ["ripple/company-base", "apps/web", "apps/pinned"]) built.push([repository, await rebuilt(repository)]);
    expect(new Set(built.map(([, digest]) => digest)).size).toBe(6);
    for (const [repository, digest] of built) {
      const facts = await registry.readManifest(repository, digest);
      expect(facts?.kind === "image" ? [repository, facts.annotations[BASE_NAME_ANNOTATION], facts.annotations[BASE_DIGEST_ANNOTATION]] : facts?.kind).toEqual([repository, undefined, undefined]);
    }
  });

  it("forms and completes every wave: four campaigns, every obligation done", async () => {
    const cascade = await waitForCascade(services, 4);
    expect(cascade.map(({ campaign }) => campaign.base).sort()).toEqual([`${reg}/apps/multi:1`, `${reg}/apps/web:1`, `${reg}/mirror/busybox:1`, `${reg}/ripple/company-base:1`]);
    const companyWave = cascade.find(({ campaign }) => campaign.base === `${reg}/ripple/company-base:1`)!;
    expect(companyWave.obligations.map((obligation) => [obligation.dependentKey, obligation.state])).toEqual([[`${reg}/apps/web:1`, "done"]]);
    expect(cascade.flatMap(({ obligations }) => obligations.map((obligation) => obligation.state))).toEqual(["done", "done", "done", "done", "done", "done", "done"]);
  });

  it("has every image edge from layer prefixes or Dockerfiles, never from an annotation", async () => {
    const edges = (await services.store.listEdges()).filter((edge) => edge.dependent.kind === "image");
    const rows = edges.map((edge) => [edge.dependent.kind === "image" ? `${edge.dependent.repository}:${edge.dependent.tag}` : "", edge.base.replace(`${reg}/`, ""), edge.evidence, edge.platform]);
    // The busybox base is amd64 only: an arm64 image's layers name no base of its platform, its Dockerfile does.
    expect(rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      ["apps/multi:1", "mirror/busybox:1", "dockerfile", null],
      ["apps/multi:1", "mirror/busybox:1", "layer-prefix", "linux/amd64"],
      ["apps/pinned:1", "mirror/busybox:1", "dockerfile", null],
      ["apps/pinned:1", "mirror/busybox:1", "layer-prefix", "linux/amd64"],
      ["apps/web:1", "ripple/company-base:1", "dockerfile", null],
      ["apps/web:1", "ripple/company-base:1", "layer-prefix", "linux/amd64"],
      ["ripple/company-base:1", "mirror/busybox:1", "dockerfile", null],
      ["ripple/company-base:1", "mirror/busybox:1", "layer-prefix", "linux/amd64"],
    ]);
  });
});
