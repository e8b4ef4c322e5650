/**
 * The upstream watch on the real local stack: a Distribution registry with token auth plays the public
 * upstream; the local Functions host's `watchUpstream` timer (every second) sees what is published there,
 * mirrors it into the stack's registry through the registry port, and the mirror's own push notification
 * opens the campaign — or, for a base without a mirror, the campaign opens on the upstream tag itself.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistryContentClient } from "../../shared/adapters/oci/registry-content-client.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { waitFor } from "../../shared/cli/demo.js";
import { campaignId } from "../../shared/domain/campaign.js";
import { publishRandomImage } from "../../shared/local/publish-image.js";
import { startRegistry } from "../../shared/local/registry.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import type { RegistryContent } from "../../shared/ports/registry-content.js";
import { QUEUE_NAMES } from "../../shared/ports/work-queue.js";
import { runCli } from "./helpers/run-cli.js";

describe("upstream watch on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let publisher: RegistryContent;
  let mirrorRegistry: RegistryContent;
  let up: string;
  let reg: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-upstream-"));
    stack = await startStack({
      dir,
      config: {
        bases: [
          { image: "{{upstream}}/library/busybox", tags: ["1"], mirror: "{{registry}}/mirror/busybox", intervalSeconds: 1 },
          { image: "{{upstream}}/library/alpine", tags: ["3.*"], intervalSeconds: 1 },
        ],
        upstream: { listTagsMinutes: 0.02 },
      },
    });
    services = await createServices(loadSettings(stack.settings), stack.config);
    const agent = new Agent({ ca: stack.tls.caPem });
    up = stack.upstream.host;
    reg = stack.registry.host;
    publisher = createRegistryContentClient({ host: up, agent, credentials: stack.upstream.publisher });
    mirrorRegistry = createRegistryContentClient({ host: reg, agent });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const busyboxRecord = () => services.store.getUpstreamTag(up, "library/busybox", "1");
  const mirrorTag = () => services.store.getTag(reg, "mirror/busybox", "1");
  const campaignOf = (base: string, digest: string) => services.store.getCampaign(campaignId(base, digest));

  it("refuses anonymous pushes upstream (pulls are anonymous through the token challenge)", async () => {
    const anonymous = createRegistryContentClient({ host: up, agent: new Agent({ ca: stack.tls.caPem }) });
    await expect(publishRandomImage(anonymous, "library/busybox", "scratch")).rejects.toMatchObject({ code: "upstream_failed", retryable: false });
    expect(await anonymous.listTags("library/busybox")).toEqual([]);
  });

  it("mirrors a multi-platform index by digest and records each platform; the clock of its campaign starts at the first sighting", async () => {
    const first = await publishRandomImage(publisher, "library/busybox", "1", { platforms: ["linux/amd64", "linux/arm64"] });
    await waitFor("the first digest mirrored", async () => ((await mirrorTag())?.digest === first ? true : null));
    const record = (await busyboxRecord())!;
    expect(record).toMatchObject({ digest: first, pending: null, errors: 0, lastError: null, mediaType: "application/vnd.oci.image.index.v1+json" });
    expect(record.platforms.map((platform) => platform.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    expect(await mirrorRegistry.headManifest("mirror/busybox", "1")).toEqual({ digest: first, mediaType: "application/vnd.oci.image.index.v1+json" });
    for (const platform of record.platforms) expect((await mirrorRegistry.readRawManifest("mirror/busybox", platform.digest))?.digest).toBe(platform.digest);
    // A baseline is recorded, never a campaign.
    expect(await services.store.listCampaigns({ base: `${reg}/mirror/busybox:1` })).toEqual([]);

    const publishedAt = Date.now();
    const patched = await publishRandomImage(publisher, "library/busybox", "1", { platforms: ["linux/amd64", "linux/arm64"] });
    const found = await waitFor("the patch's campaign", () => campaignOf(`${reg}/mirror/busybox:1`, patched));
    const sighting = (await busyboxRecord())!.history.find((entry) => entry.digest === patched)!;
    expect(found.campaign).toMatchObject({ fromDigest: first, toDigest: patched, root: { base: `${up}/library/busybox:1`, digest: patched, availableAt: sighting.firstSeenAt, source: "upstream-first-seen" } });
    expect(Date.parse(sighting.firstSeenAt) - publishedAt).toBeLessThan(5_000);
    expect(Date.parse(found.campaign.openedAt)).toBeGreaterThanOrEqual(Date.parse(sighting.firstSeenAt));
    expect(stack.upstream.tokenService.requests).toBeGreaterThan(0);
  });

  it("expands the 3.* glob from the tag listing and opens campaigns on the upstream tag itself", async () => {
    const a = await publishRandomImage(publisher, "library/alpine", "3.20");
    await publishRandomImage(publisher, "library/alpine", "edge");
    await waitFor("3.20 watched and recorded", async () => ((await services.store.getTag(up, "library/alpine", "3.20"))?.digest === a ? true : null));
    const b = await publishRandomImage(publisher, "library/alpine", "3.21");
    await waitFor("3.21 picked up by the next listing", async () => ((await services.store.getUpstreamTag(up, "library/alpine", "3.21"))?.digest === b ? true : null));
    expect((await services.store.listUpstreamTags()).map((record) => record.tag).filter((tag) => tag !== "1")).toEqual(["3.20", "3.21"]);

    const patched = await publishRandomImage(publisher, "library/alpine", "3.20");
    const found = await waitFor("the upstream tag's campaign", () => campaignOf(`${up}/library/alpine:3.20`, patched));
    const record = (await services.store.getUpstreamTag(up, "library/alpine", "3.20"))!;
    expect(found.campaign).toMatchObject({ base: `${up}/library/alpine:3.20`, fromDigest: a, toDigest: patched, root: { availableAt: record.firstSeenAt, source: "upstream-first-seen" } });
    const event = (await services.store.listEvents(200)).find((entry) => entry.event?.source === "upstream" && entry.event.digest === patched);
    expect(event).toMatchObject({ status: "processed", event: { registry: up, repository: "library/alpine", tag: "3.20", occurredAt: record.firstSeenAt } });
  });

  it("handles a rollback upstream in order, with one campaign per digest", async () => {
    const before = (await busyboxRecord())!;
    const older = before.history.at(-2)!.digest!;
    const current = before.digest!;
    const manifest = (await publisher.readRawManifest("library/busybox", older))!;
    await publisher.writeManifest("library/busybox", "1", manifest);
    await waitFor("the mirror back on the older digest", async () => ((await mirrorTag())?.digest === older ? true : null));
    const rolledBack = await waitFor("the rollback's campaign", () => campaignOf(`${reg}/mirror/busybox:1`, older));
    const sighting = (await busyboxRecord())!.history.at(-1)!;
    // The clock starts when the tag moved back, not when that digest was first published.
    expect(rolledBack.campaign).toMatchObject({ fromDigest: current, toDigest: older, root: { availableAt: sighting.firstSeenAt, source: "upstream-first-seen" } });
    const campaigns = await services.store.listCampaigns({ base: `${reg}/mirror/busybox:1` });
    expect(campaigns.map((campaign) => campaign.toDigest).sort()).toEqual([current, older].sort());
    expect((await busyboxRecord())!.history.map((entry) => entry.digest).slice(-3)).toEqual([older, current, older]);
  });

  it("passes ripple doctor: storage, the registry, both watched upstreams and the repositories reachable", async () => {
    const doctor = await runCli(["doctor", "--json"], { ...process.env, ...stack.settings });
    expect(doctor.code).toBe(0);
    const checks = JSON.parse(doctor.stdout) as Array<{ check: string; ok: boolean }>;
    expect(checks.map((check) => [check.check, check.ok])).toEqual([
      ["state storage reachable with the app's identity (tables)", true],
      ...QUEUE_NAMES.map((queue) => [`queue ${queue}: reachable`, true]),
      [`registry ${reg}: catalog readable`, true],
      [`upstream ${up}/library/busybox: readable (tag 1)`, true],
      [`upstream ${up}/library/alpine: readable (tag listing)`, true],
      ["repositories listed for scanning (GitHub App installation when configured)", true],
    ]);
  });

  it("rides out an upstream outage: errors shown, no campaign, and the patch published after it is caught", async () => {
    const campaignsBefore = (await services.store.listCampaigns()).length;
    const port = Number(up.split(":")[1]);
    await stack.upstream.registry.stop();
    // A check in flight when the registry stopped may fail with a reset first; the checks after it find nobody listening.
    const failing = await waitFor("a failed check recorded with the registry down", async () => {
      const record = await busyboxRecord();
      return record !== null && record.errors > 0 && /ECONNREFUSED/.test(record.lastError ?? "") ? record : null;
    });
    expect(failing.lastError).toMatch(/^checking .*library\/busybox:1: registry: .*network error ECONNREFUSED/);
    const cli = await runCli(["upstream", "--json"], { ...process.env, ...stack.settings });
    expect(cli.code).toBe(0);
    const listed = (JSON.parse(cli.stdout) as Array<{ tag: string; lastError: string | null; errors: number; mirror: string | null; nextCheckAt: string }>).find((entry) => entry.tag === `${up}/library/busybox:1`)!;
    expect(listed).toMatchObject({ mirror: `${reg}/mirror/busybox`, lastError: expect.stringMatching(/ECONNREFUSED/) });
    expect(listed.errors).toBeGreaterThan(0);
    expect((await services.store.listCampaigns()).length).toBe(campaignsBefore);

    const token = stack.upstream.tokenService;
    const restarted = await startRegistry({
      dir: join(dir, "upstream", "registry"),
      tls: stack.tls,
      port,
      auth: { realm: token.realm, service: token.service, issuer: token.issuer, rootCertBundle: token.rootCertBundlePath },
    });
    try {
      const patched = await publishRandomImage(publisher, "library/busybox", "1");
      // The back-off after the failures is at most a few seconds at a 1 s interval.
      const found = await waitFor("the campaign of the patch published after the outage", () => campaignOf(`${reg}/mirror/busybox:1`, patched), 90_000);
      expect(found.campaign.root?.source).toBe("upstream-first-seen");
      expect(await busyboxRecord()).toMatchObject({ digest: patched, errors: 0, lastError: null });
    } finally {
      await restarted.stop();
    }
  }, 120_000);

  it("lists a failed event with ripple events --failed and queues it again with ripple replay", async () => {
    const env = { ...process.env, ...stack.settings };
    const missing = `sha256:${"e".repeat(64)}`;
    const body = JSON.stringify({ events: [{ id: "missing-1", timestamp: new Date().toISOString(), action: "push", target: { mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, digest: missing, length: 1, repository: "apps/ghost", tag: "1" }, request: { id: "r", addr: "a", host: reg, method: "PUT", useragent: "u" }, actor: {}, source: { addr: "a", instanceID: "i" } }] });
    const posted = await fetch(stack.webhookUrl, { method: "POST", body, headers: { authorization: `Bearer ${stack.settings["RIPPLE_WEBHOOK_SECRET"]}`, "content-type": "application/vnd.docker.distribution.events.v1+json" } });
    expect(posted.status).toBe(202);
    const failed = await waitFor("the event to fail", async () => {
      const listed = await runCli(["events", "--failed", "--json"], env);
      const found = (JSON.parse(listed.stdout) as Array<{ key: string; status: string; reason: string; event: { digest: string } | null }>).find((entry) => entry.event?.digest === missing);
      return found ?? null;
    });
    expect(failed).toMatchObject({ status: "failed", reason: expect.stringContaining("does not exist") });
    const replayed = await runCli(["replay", "--json", failed.key], env);
    expect(replayed.code).toBe(0);
    expect(JSON.parse(replayed.stdout)).toMatchObject({ key: failed.key, status: "accepted" });
    const refused = await runCli(["replay", "no-such-event"], env);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 1, stderr: "ripple: no event no-such-event (see ripple events)\n" });
  });
});
