/**
 * `ripple demo` (the main job on the local stack): builds a busybox base, a company base on it and
 * three apps with buildah, pushes them to the local registry, lets Ripple build the graph from the
 * registry's notifications, then pushes a patched base and shows the campaign Ripple opened.
 */
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { createServices, type Services } from "../composition.js";
import { loadSettings } from "../config.js";
import { defaultStackConfig, startStack, type Stack, type StackConfigTemplate } from "../local/stack.js";
import { describeGraph, impactOf, lineageOf } from "../use-cases/query-graph.js";
import { printTable, shortDigest } from "./output.js";
import { defaultStackDir } from "./services.js";

const started = Date.now();
function say(line: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${seconds}s] ${line}\n`);
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` naming what it waited for. */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
    const value = await check();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function dockerfile(dir: string, text: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), text);
  return dir;
}

/** The company base's source: a local git repository, named by a build recipe (Dockerfile evidence). */
export function companyBaseRepository(stackDir: string): string {
  return join(stackDir, "demo", "git", "company-base");
}

/** The demo's configuration: the stack's tracked bases plus the company base's build recipe. */
export function demoStackConfig(stackDir: string): StackConfigTemplate {
  return {
    ...defaultStackConfig,
    recipes: [{ image: "{{registry}}/ripple/company-base:1", repository: companyBaseRepository(stackDir), revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms: [] }],
  };
}

async function commitRepository(dir: string, files: Record<string, string>): Promise<string> {
  const git = promisify(execFile);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await git("git", ["init", "-q", "-b", "main", dir]);
  await git("git", ["-C", dir, "add", "."]);
  await git("git", ["-C", dir, "-c", "user.name=Ripple demo", "-c", "user.email=demo@ripple.invalid", "commit", "-qm", "company base"]);
  return dir;
}

export interface DemoImages {
  readonly busybox: string;
  readonly companyBase: string;
  readonly web: string;
  readonly multi: string;
  readonly pinned: string;
  readonly patchedBusybox: string;
}

/**
 * Builds and pushes the demo's images on a running stack, waiting after each push until Ripple has
 * processed it. Returns the pushed digests. Shared by the demo and the end-to-end test.
 */
export async function buildDemoImages(stack: Stack, services: Services, log: (line: string) => void): Promise<DemoImages> {
  const registry = stack.registry.host;
  const work = join(stack.dir, "demo");
  const edgesOf = async (key: string, count: number) => ((await services.store.listBasesOf(key)).length >= count ? true : null);
  const tagAt = async (repository: string, tag: string, digest: string) => {
    const state = await services.store.getTag(registry, repository, tag);
    return state?.digest === digest ? true : null;
  };

  async function buildAndPush(name: string, context: string, platforms?: string[]): Promise<string> {
    const began = Date.now();
    await stack.buildah.build({ context, tag: `localhost/${name}`, ...(platforms ? { platforms } : {}) });
    const digest = await stack.buildah.push({ image: `localhost/${name}`, destination: `${registry}/${name}`, ...(platforms ? { manifestList: true } : {}) });
    log(`built and pushed ${name} ${shortDigest(digest)} in ${Date.now() - began} ms`);
    return digest;
  }

  const base = await stack.buildah.makeBusyboxBaseContext(join(work, "busybox-v1"), "busybox 1.0 (release 1)");
  const busybox = await buildAndPush("ripple/busybox:1", base);
  await waitFor("the busybox push to be processed", () => tagAt("ripple/busybox", "1", busybox));

  const companyBase = await buildAndPush(
    "ripple/company-base:1",
    await commitRepository(companyBaseRepository(stack.dir), {
      Dockerfile: `FROM ${registry}/ripple/busybox:1\nRUN echo "company CA bundle" > /etc/company-ca && mkdir -p /app\n`,
    }),
  );
  await waitFor("company-base's edges", () => edgesOf(`${registry}/ripple/company-base:1`, 1));

  const web = await buildAndPush(
    "apps/web:1",
    await dockerfile(join(work, "web"), `FROM ${registry}/ripple/company-base:1\nRUN echo "web app" > /app/web\nCMD ["cat", "/app/web"]\n`),
  );
  const multi = await buildAndPush(
    "apps/multi:1",
    await dockerfile(join(work, "multi"), `FROM ${registry}/ripple/busybox:1\nCOPY app.txt /app/app.txt\n`).then(async (dir) => {
      await writeFile(join(dir, "app.txt"), "multi-arch app\n");
      return dir;
    }),
    ["linux/amd64", "linux/arm64"],
  );
  const pinned = await buildAndPush(
    "apps/pinned:1",
    await dockerfile(join(work, "pinned"), `FROM ${registry}/ripple/busybox:1@${busybox}\nRUN echo "pinned app" > /pinned\n`),
  );
  await waitFor("every app's edges", async () =>
    (await edgesOf(`${registry}/apps/web:1`, 1)) && (await edgesOf(`${registry}/apps/multi:1`, 1)) && (await edgesOf(`${registry}/apps/pinned:1`, 1)),
  );

  const patched = await stack.buildah.makeBusyboxBaseContext(join(work, "busybox-v2"), "busybox 1.0 (release 2, CVE fix)");
  const patchedBusybox = await buildAndPush("ripple/busybox:1", patched);
  await waitFor("the patched base's campaign", async () => ((await services.store.listCampaigns()).some((c) => c.toDigest === patchedBusybox) ? true : null));
  return { busybox, companyBase, web, multi, pinned, patchedBusybox };
}

export async function demoCommand(): Promise<number> {
  const dir = join(defaultStackDir(), `demo-${process.pid}`);
  say(`starting the local stack in ${dir}`);
  const stack = await startStack({ dir, config: demoStackConfig(dir), log: (line) => say(line) });
  let succeeded = false;
  try {
    say(`registry https://${stack.registry.host} → notifications → functions host ${stack.hostUrl}`);
    const services = await createServices(loadSettings(stack.settings), stack.config);
    const images = await buildDemoImages(stack, services, say);
    await printReport(stack, services, images);
    succeeded = true;
    return 0;
  } finally {
    say("tearing the stack down");
    await stack.stop();
    // Keep the logs of a failed run for inspection; a good run leaves nothing behind.
    if (succeeded) await rm(dir, { recursive: true, force: true });
    else say(`logs kept in ${dir}`);
    say("done");
  }
}

const shortenDigests = (text: string): string => text.replace(/(sha256:[a-f0-9]{12})[a-f0-9]{52}/g, "$1");

async function printReport(stack: Stack, services: Services, images: DemoImages): Promise<void> {
  const out = (line = ""): void => void process.stdout.write(`${line}\n`);
  out("\n== events received (oldest first)");
  const events = (await services.store.listEvents(200)).reverse();
  printTable(
    events.map((record) => [
      record.receivedAt.slice(11, 23),
      record.event?.action ?? "-",
      `${record.event?.repository ?? "?"}:${record.event?.tag ?? "-"}`,
      shortDigest(record.event?.digest ?? null),
      record.status,
      shortenDigests((record.reason ?? "").replaceAll(`${stack.registry.host}/`, "")),
    ]),
    ["RECEIVED", "ACTION", "IMAGE", "DIGEST", "STATUS", "OUTCOME"],
  );
  out("\n== dependency graph (dependent → base, with evidence)");
  const graph = await describeGraph(services.store);
  printTable(
    graph.edges.map((edge) => [edge.dependent, edge.base, shortDigest(edge.baseDigest), edge.upToDate ? "current" : "OUTDATED", edge.evidence, edge.platform ?? ""]),
    ["DEPENDENT", "BASE", "BUILT ON", "STATE", "EVIDENCE", "PLATFORM"],
  );
  const base = `${stack.registry.host}/ripple/busybox:1`;
  out(`\n== impact of ${base} (rebuild waves)`);
  const impact = await impactOf(services.store, base);
  impact.impact.waves.forEach((wave, index) => out(`  wave ${index}: ${wave.map((node) => node.key.replace(`${stack.registry.host}/`, "")).join(", ")}`));
  const web = await lineageOf(services.store, `${stack.registry.host}/apps/web:1`);
  out(`\n== lineage of apps/web:1`);
  web.lineage.steps.forEach((step, index) =>
    out(`  ${"  ".repeat(index)}└─ ${step.base.replace(`${stack.registry.host}/`, "")} @ ${shortDigest(step.baseDigest)} [${step.evidence}] ${step.upToDate ? "current" : `OUTDATED (now ${shortDigest(step.currentDigest)})`}`),
  );
  out(`\n== campaigns (base moved ${shortDigest(images.busybox)} → ${shortDigest(images.patchedBusybox)})`);
  for (const campaign of await services.store.listCampaigns()) {
    const found = await services.store.getCampaign(campaign.id);
    const trigger = events.find((record) => record.key === campaign.trigger);
    const latency = trigger ? ` (${Date.parse(campaign.openedAt) - Date.parse(trigger.receivedAt)} ms after the push notification)` : "";
    out(`  ${campaign.id}: ${campaign.base} ${shortDigest(campaign.fromDigest)} → ${shortDigest(campaign.toDigest)} opened ${campaign.openedAt}${latency}`);
    for (const obligation of found?.obligations ?? []) {
      out(`    - ${obligation.dependentKey} [${obligation.kind}] ${obligation.state}, built on ${shortDigest(obligation.fromDigest)}, job ${obligation.enqueuedAt ? `queued ${obligation.enqueuedAt.slice(11, 23)}` : "not queued"}`);
    }
  }
}
