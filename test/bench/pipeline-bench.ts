/**
 * Benchmarks on the real local stack (registry notifications, local Functions host, Azurite, buildah):
 * - push_to_rebuild_enqueued_ms: from the registry's notification of a base push to every direct
 *   dependent's rebuild job on the queue, with 100 dependents (p50, p95 over 20 pushes after one warm-up);
 * - cascade_overhead_ratio: a 3-level cascade's wall time (patched base notification → the last level's
 *   obligation done) divided by the sum of the build times on its critical path.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "../../shared/cli/demo.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { campaignId } from "../../shared/domain/campaign.js";
import { startStack, type Stack } from "../../shared/local/stack.js";

const git = promisify(execFile);
const LEVELS = ["level1", "level2", "level3"] as const;

async function repository(dir: string, dockerfile: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  await git("git", ["init", "-q", "-b", "main", dir]);
  await git("git", ["-C", dir, "add", "."]);
  await git("git", ["-C", dir, "-c", "user.name=bench", "-c", "user.email=bench@ripple.invalid", "commit", "-qm", "bench"]);
  return dir;
}

async function pushBase(stack: Stack, name: string, marker: string): Promise<string> {
  const context = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "bench", `${name.replace(/\W/g, "-")}-${marker}`), marker);
  await stack.buildah.build({ context, tag: `localhost/${name}` });
  return stack.buildah.push({ image: `localhost/${name}`, destination: `${stack.registry.host}/${name}` });
}

async function eventTime(services: Services, repository: string, digest: string): Promise<number> {
  const record = await waitFor(`the event of ${repository}@${digest}`, async () =>
    (await services.store.listEvents(500)).find((candidate) => candidate.event?.repository === repository && candidate.event.digest === digest && candidate.event.tag !== null),
  );
  return Date.parse(record.receivedAt);
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measureCascade(stack: Stack, services: Services): Promise<number> {
  const reg = stack.registry.host;
  const base = await pushBase(stack, "ripple/busybox:1", "cascade base 1");
  await waitFor("the base", async () => ((await services.store.getTag(reg, "ripple/busybox", "1"))?.digest === base ? true : null));
  let parent = `${reg}/ripple/busybox:1`;
  for (const level of LEVELS) {
    const dir = join(stack.dir, "bench", "git", level);
    await stack.buildah.build({ context: await repository(dir, `FROM ${parent}\nRUN echo ${level} > /${level}\n`), tag: `localhost/${level}` });
    await stack.buildah.push({ image: `localhost/${level}`, destination: `${reg}/cascade/${level}:1` });
    await waitFor(`${level}'s edges`, async () => ((await services.store.listBasesOf(`${reg}/cascade/${level}:1`)).length > 0 ? true : null));
    parent = `${reg}/cascade/${level}:1`;
  }
  const patched = await pushBase(stack, "ripple/busybox:1", "cascade base 2");
  const started = await eventTime(services, "ripple/busybox", patched);
  const last = await waitFor("the third level's rebuild to land", async () => {
    const level2 = await services.store.getTag(reg, "cascade/level2", "1");
    if (level2?.digest == null) return null;
    const found = await services.store.getCampaign(campaignId(`${reg}/cascade/level2:1`, level2.digest));
    const obligation = found?.obligations.find((candidate) => candidate.dependentKey === `${reg}/cascade/level3:1`);
    return obligation?.state === "done" ? obligation : null;
  }, 180_000);
  const runs = await services.store.listRuns(reg);
  const buildSeconds = LEVELS.map((level) => {
    const run = runs.find((candidate) => candidate.image === `${reg}/cascade/${level}:1` && candidate.status === "succeeded");
    if (!run?.startedAt || !run.finishedAt) throw new Error(`no finished run for ${level}`);
    return Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  });
  const wall = Date.parse(last.updatedAt) - started;
  return Math.round((wall / buildSeconds.reduce((sum, ms) => sum + ms, 0)) * 100) / 100;
}

async function measureEnqueue(stack: Stack, services: Services, rounds: number): Promise<{ p50: number; p95: number }> {
  const reg = stack.registry.host;
  const baseKey = `${reg}/ripple/fanout:1`;
  let current = await pushBase(stack, "ripple/fanout:1", "fanout initial");
  await waitFor("the fan-out base", async () => ((await services.store.getTag(reg, "ripple/fanout", "1"))?.digest === current ? true : null));
  for (let i = 0; i < 100; i += 1) {
    const digest = `sha256:${i.toString(16).padStart(64, "0")}`;
    await services.store.putEdge({ dependent: { kind: "image", registry: reg, repository: `fanout/app-${i}`, tag: "1", digest }, base: baseKey, baseDigest: current, evidence: "config", detail: "bench", platform: null, recordedAt: new Date().toISOString() });
  }
  const samples: number[] = [];
  // Round 0 warms up (first campaign of the base, new connections) and is not counted.
  for (let round = 0; round <= rounds; round += 1) {
    current = await pushBase(stack, "ripple/fanout:1", `fanout ${round}`);
    const pushed = await eventTime(services, "ripple/fanout", current);
    const queued = await waitFor("100 queued jobs", async () => {
      const found = await services.store.getCampaign(campaignId(baseKey, current));
      return found?.obligations.length === 100 && found.campaign.jobsQueuedAt !== null ? Date.parse(found.campaign.jobsQueuedAt) : null;
    });
    if (round > 0) samples.push(queued - pushed);
    if (process.env["RIPPLE_BENCH_VERBOSE"]) process.stderr.write(`round ${round}: ${queued - pushed} ms\n`);
  }
  return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

/** Starts a stack, runs both measurements, stops it. */
export async function benchPipeline(): Promise<{ push_to_rebuild_enqueued_ms: { p50: number; p95: number }; cascade_overhead_ratio: number }> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-bench-stack-"));
  const repositories = LEVELS.map((level) => join(dir, "bench", "git", level));
  const stack = await startStack({
    dir,
    config: {
      bases: [{ image: "{{registry}}/ripple/busybox", tags: ["*"] }],
      recipes: LEVELS.map((level, index) => ({ image: `{{registry}}/cascade/${level}:1`, repository: repositories[index]!, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms: [] })),
    },
  });
  try {
    const services = await createServices(loadSettings(stack.settings), stack.config);
    const cascade_overhead_ratio = await measureCascade(stack, services);
    const push_to_rebuild_enqueued_ms = await measureEnqueue(stack, services, 20);
    return { push_to_rebuild_enqueued_ms, cascade_overhead_ratio };
  } finally {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
