/**
 * Pull requests on the real local stack: a deploy repository (real git) pins the base and two apps by
 * digest; a patched base cascades through rebuilds, and every pin moves in one pull request per base tag
 * (a branch plus a record), which merging completes.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDemoImages, createDeployRepository, demoRepositories, demoStackConfig, mergeDeployPullRequests, pushPatchedBase, waitForCascade, type DemoImages } from "../../shared/cli/demo.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import { scanRepository } from "../../shared/use-cases/scan-repository.js";

const CLI = resolve(import.meta.dirname, "../../dist/shared/cli/main.js");

describe("pull requests for pinned digests on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let images: DemoImages;
  let patched: string;
  let deploy: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-prs-"));
    stack = await startStack({ dir, config: demoStackConfig(dir, { pins: true }) });
    services = await createServices(loadSettings(stack.settings), stack.config);
    images = await buildDemoImages(stack, services, () => undefined, "in-house");
    await createDeployRepository(stack, services, images);
    deploy = demoRepositories(dir).deploy;
    patched = (await pushPatchedBase(stack, services, () => undefined, "in-house")).digest;
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
    expect(git("show", `${busyboxPull.branch}:Dockerfile`)).toBe(`# The tools image, pinned to the audited base\nFROM ${reg}/ripple/busybox:1@${patched}\nCOPY tools /tools\n`);
    expect(busyboxPull.title).toBe(`chore(deps): update ${reg}/ripple/busybox:1 digest to ${patched.slice(7, 14)}`);
    expect(busyboxPull.body).toContain(`| \`Dockerfile\` | 2 | \`FROM ${reg}/ripple/busybox:1@${images.busybox}\` | \`FROM ${reg}/ripple/busybox:1@${patched}\` |`);
    expect(git("status", "--porcelain")).toBe("");
  });

  it("lists them with ripple prs --json", () => {
    const result = spawnSync(process.execPath, [CLI, "prs", "--json"], { env: { ...process.env, ...stack.settings }, encoding: "utf8" });
    expect(result.status).toBe(0);
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
});
