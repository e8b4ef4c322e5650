/**
 * The demo's path end to end on the real local stack: busybox is published to the token-auth upstream,
 * watched and mirrored; a deploy repository (real git) pins the mirror and two apps by digest; a patch
 * published upstream cascades through rebuilds — every campaign carrying the root whose clock started at
 * the first sighting — and every pin moves in one pull request per base tag (a branch plus a record),
 * which merging completes. The stack runs identity-based (`ripple demo --identity`): no storage request
 * carries a shared key.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemoImages, createDeployRepository, demoRepositories, demoStackConfig, mergeDeployPullRequests, pushPatchedBase, waitForCascade, type DemoImages } from "../../shared/cli/demo.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { storageAuthenticationCounts } from "../../shared/local/azurite.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import { scanRepository } from "../../shared/use-cases/scan-repository.js";
import { runCli } from "./helpers/run-cli.js";


describe("pull requests for pinned digests on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let images: DemoImages;
  let patched: string;
  let publishedAt: string;
  let deploy: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-prs-"));
    // As deployed: storage reached with the managed identity, no account key given to the host or to this process.
    stack = await startStack({ dir, config: demoStackConfig(dir, { pins: true }), identity: true });
    Object.assign(process.env, stack.identity!.env);
    services = await createServices(loadSettings(stack.settings), stack.config);
    images = await buildDemoImages(stack, services, () => undefined, "upstream");
    await createDeployRepository(stack, services, images);
    deploy = demoRepositories(dir).deploy;
    ({ digest: patched, publishedAt } = await pushPatchedBase(stack, services, () => undefined, "upstream"));
    await waitForCascade(services, 4, { openPullRequests: true });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const git = (...args: string[]) => execFileSync("git", ["-C", deploy, ...args], { encoding: "utf8" });

  it("opens one pull request per base tag, each one commit on a branch moving exactly its pins", async () => {
    const reg = stack.registry.host;
    const web = (await services.store.getTag(reg, "apps/web", "1"))!.digest!;
    const multi = (await services.store.getTag(reg, "apps/multi", "1"))!.digest!;
    const pulls = (await services.store.listPullRequests()).sort((a, b) => a.number - b.number);
    expect(pulls.map((pull) => [pull.state, pull.files, pull.digest]).sort()).toEqual([
      ["open", ["Dockerfile"], patched],
      ["open", ["compose.yaml"], multi],
      ["open", ["web.yaml"], web],
    ].sort());
    for (const pull of pulls) {
      expect(git("rev-list", "--count", `main..${pull.branch}`).trim()).toBe("1");
      const diff = git("diff", `main...${pull.branch}`);
      const changed = diff.split("\n").filter((line) => /^[-+][^-+]/.test(line));
      expect(changed).toHaveLength(2);
      expect(changed[1]).toContain(pull.digest);
    }
    const busyboxPull = pulls.find((pull) => pull.files[0] === "Dockerfile")!;
    expect(images.base).toBe(`${reg}/mirror/busybox:1`);
    expect(git("show", `${busyboxPull.branch}:Dockerfile`)).toBe(`# The tools image, pinned to the audited base\nFROM ${images.base}@${patched}\nCOPY tools /tools\n`);
    expect(busyboxPull.title).toBe(`chore(deps): update ${images.base} digest to ${patched.slice(7, 14)}`);
    expect(busyboxPull.body).toContain(`| \`Dockerfile\` | 2 | \`FROM ${images.base}@${images.busybox}\` | \`FROM ${images.base}@${patched}\` |`);
    expect(git("status", "--porcelain")).toBe("");
  });

  it("carries one root through every campaign of the cascade: the patch's first sighting upstream", async () => {
    const watched = (await services.store.getUpstreamTag(stack.upstream.host, "library/busybox", "1"))!;
    const sighting = watched.history.find((entry) => entry.digest === patched)!;
    expect(Date.parse(sighting.firstSeenAt)).toBeGreaterThanOrEqual(Date.parse(publishedAt));
    const campaigns = await services.store.listCampaigns();
    expect(campaigns).toHaveLength(4);
    const root = { base: `${stack.upstream.host}/library/busybox:1`, digest: patched, availableAt: sighting.firstSeenAt, source: "upstream-first-seen", created: sighting.created };
    expect(campaigns.map((campaign) => [campaign.base, campaign.root])).toEqual(campaigns.map((campaign) => [campaign.base, root]));
  });

  it("lists them with ripple prs --json", async () => {
    // Asynchronously: the identity endpoint the CLI gets its token from lives in this process.
    const result = await runCli(["prs", "--json"], { ...process.env, ...stack.settings });
    expect(result.code).toBe(0);
    const pulls = JSON.parse(result.stdout) as { repository: string; state: string; branch: string }[];
    expect(pulls.map((pull) => [pull.repository, pull.state])).toEqual([[deploy, "open"], [deploy, "open"], [deploy, "open"]]);
  });

  it("completes every obligation once the pull requests are merged, and a rescan of the unchanged repository changes nothing", async () => {
    await mergeDeployPullRequests(stack, services, () => undefined);
    const cascade = await waitForCascade(services, 4);
    expect(cascade.flatMap(({ obligations }) => obligations.map((obligation) => obligation.state))).toEqual(["done", "done", "done", "done", "done", "done", "done"]);
    expect((await services.store.listPullRequests()).map((pull) => pull.state)).toEqual(["merged", "merged", "merged"]);
    expect(git("show", "main:Dockerfile")).toContain(`@${patched}`);
    const forge = services.forgeFor(deploy)!;
    expect(await scanRepository({ store: services.store, forge, now: services.now }, deploy)).toMatchObject({ unchanged: true, pins: 0 });
  });

  it("reached storage with managed identity tokens only: no request carried a shared-key signature", async () => {
    expect(stack.settings["AzureWebJobsStorage"]).toBeUndefined();
    const counts = await storageAuthenticationCounts(stack.azurite.debugLogPath!);
    expect(counts["SharedKey"]).toBeUndefined();
    expect(counts["Bearer"]).toBeGreaterThan(500);
  });
});
