/**
 * A worker killed mid-build on the real local stack: the local Functions host is SIGKILLed while buildah
 * runs a rebuild's slow `RUN`, then restarted. The dead host's builds must not outlive it, and its claim
 * must be taken over (heartbeat gone stale) so the obligation completes within a minute of the restart.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../shared/cli/demo.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings, parseConfig } from "../../shared/config.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import { listProcesses } from "../chaos/process-table.js";

const git = promisify(execFile);
const DEFAULT_REBUILD = parseConfig("version: 1\nregistries: [{ host: defaults.invalid }]").rebuild;

describe("a worker killed mid-build on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  let registry: string;
  const image = () => `${registry}/apps/slow:1`;

  /** Whether Ripple has processed the tagged push of `repository@digest` (its edges are written). */
  const processed = async (repository: string, digest: string) =>
    (await services.store.listEvents(500)).some((record) => record.status === "processed" && record.event?.repository === repository && record.event.digest === digest && record.event.tag !== null) ? true : null;

  async function pushBase(marker: string): Promise<string> {
    const context = await stack.buildah.makeBusyboxBaseContext(join(dir, `base-${marker}`), marker);
    await stack.buildah.build({ context, tag: "localhost/ripple/busybox:1" });
    const digest = await stack.buildah.push({ image: "localhost/ripple/busybox:1", destination: `${registry}/ripple/busybox:1` });
    await waitFor(`base ${marker} processed`, () => processed("ripple/busybox", digest));
    return digest;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-worker-crash-"));
    const repository = join(dir, "git", "slow");
    stack = await startStack({
      dir,
      config: {
        bases: [{ image: "{{registry}}/ripple/busybox", tags: ["*"] }],
        // A claim goes stale 15 s after its last heartbeat (5 s apart): with the 15 s sweep and the 20 s
        // rebuild, done within 60 s of the restart whatever the sweep's phase.
        rebuild: { ...DEFAULT_REBUILD, heartbeatSeconds: 5, claimTimeoutSeconds: 15 },
        recipes: [{ image: "{{registry}}/apps/slow:1", repository, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms: [] }],
      },
    });
    services = await createServices(loadSettings(stack.settings), stack.config);
    registry = stack.registry.host;
    await pushBase("release-1");
    // Slow only on the patched base: the first build (here) is quick, the rebuild runs `sleep 20`.
    await mkdir(repository, { recursive: true });
    await writeFile(join(repository, "Dockerfile"), `FROM ${registry}/ripple/busybox:1\nRUN if grep -q patched /ripple-marker; then sleep 20; fi\n`);
    await git("git", ["init", "-q", "-b", "main", repository]);
    await git("git", ["-C", repository, "add", "."]);
    await git("git", ["-C", repository, "-c", "user.name=Ripple test", "-c", "user.email=test@ripple.invalid", "commit", "-qm", "slow app"]);
    await stack.buildah.build({ context: repository, tag: "localhost/apps/slow:1" });
    const digest = await stack.buildah.push({ image: "localhost/apps/slow:1", destination: image() });
    await waitFor("the slow app's push processed", () => processed("apps/slow", digest));
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("stops the dead host's builds with it, and the restarted host takes the claim over and completes the obligation within 60 s", async () => {
    const patched = await pushBase("patched release-2");
    const deadHost = stack.processes.find((process) => process.name === "functions-host")!.pid;
    // The rebuild is in its slow RUN step, in the host's process group.
    await waitFor("the rebuild's sleep 20 under the host", async () => ((await listProcesses()).some((p) => p.pgid === deadHost && p.cmdline.startsWith("sleep 20")) ? true : null));
    const claim = (await services.store.listRuns(registry)).find((run) => run.image === image())!;
    expect(claim).toMatchObject({ status: "claimed", runId: null, heartbeatAt: expect.any(String) });

    process.kill(deadHost, "SIGKILL");
    await stack.restartHost();
    const restartedAt = Date.now();
    const newHost = stack.processes.find((process) => process.name === "functions-host")!.pid;
    const leftovers = (await listProcesses()).filter((p) => p.pgid === deadHost || (p.pgid !== newHost && /buildah/.test(p.cmdline) && `${p.cmdline} ${p.environ}`.includes(dir)));
    expect({ newHost: newHost !== deadHost, leftovers: leftovers.map((p) => `${p.pid} ${p.cmdline}`) }).toEqual({ newHost: true, leftovers: [] });

    const obligation = await waitFor(
      "the obligation done",
      async () => {
        const campaign = (await services.store.listCampaigns()).find((c) => c.toDigest === patched);
        const found = campaign === undefined ? undefined : (await services.store.getCampaign(campaign.id))?.obligations.find((o) => o.dependentKey === image());
        return found?.state === "done" ? found : null;
      },
      60_000,
    );
    expect({ state: obligation.state, withinSeconds: (Date.now() - restartedAt) / 1000 < 60 }).toEqual({ state: "done", withinSeconds: true });
    const runs = (await services.store.listRuns(registry)).filter((run) => run.image === image());
    expect(runs).toEqual([expect.objectContaining({ baseDigest: patched, status: "succeeded", attempts: 1 })]);
    // Taken over: claimed again after the dead host's claim, by the restarted host.
    expect(Date.parse(runs[0]!.claimedAt)).toBeGreaterThan(Date.parse(claim.claimedAt));
  }, 150_000);
});
