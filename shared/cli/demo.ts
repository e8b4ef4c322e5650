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
import { mergePullRequest } from "../adapters/local-git/local-git-forge.js";
import { describeGraph, impactOf, lineageOf, outdatedImages } from "../use-cases/query-graph.js";
import { reconcileRepositories } from "../use-cases/reconcile-repositories.js";
import { scanRepository } from "../use-cases/scan-repository.js";
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

/** The local git repositories the demo's images are built from (their build recipes name them). */
export function demoRepositories(stackDir: string): { companyBase: string; web: string; multi: string; pinned: string; deploy: string } {
  const root = join(stackDir, "demo", "git");
  return { companyBase: join(root, "company-base"), web: join(root, "web"), multi: join(root, "multi"), pinned: join(root, "pinned"), deploy: join(root, "deploy") };
}

/**
 * The demo's configuration: the stack's tracked bases, a build recipe for every derived image and, with
 * `pins`, the deploy repository whose files pin the base and the apps by digest.
 */
export function demoStackConfig(stackDir: string, options: { pins?: boolean } = {}): StackConfigTemplate {
  const repositories = demoRepositories(stackDir);
  const recipe = (image: string, repository: string, platforms: string[] = []) => ({ image: `{{registry}}/${image}`, repository, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms });
  return {
    ...defaultStackConfig,
    recipes: [
      recipe("ripple/company-base:1", repositories.companyBase),
      recipe("apps/web:1", repositories.web),
      recipe("apps/multi:1", repositories.multi, ["linux/amd64", "linux/arm64"]),
      recipe("apps/pinned:1", repositories.pinned),
    ],
    ...(options.pins ? { repositories: [{ url: repositories.deploy, branch: "main" }] } : {}),
  };
}

/**
 * Writes the deploy repository — a Dockerfile pinning the base, a Kubernetes manifest pinning
 * apps/web, a compose file pinning the apps/multi index — and scans it: each pin becomes a file-pin edge.
 */
export async function createDeployRepository(stack: Stack, services: Services, images: DemoImages): Promise<void> {
  const reg = stack.registry.host;
  await commitRepository(demoRepositories(stack.dir).deploy, {
    Dockerfile: `# The tools image, pinned to the audited base\nFROM ${reg}/ripple/busybox:1@${images.busybox}\nCOPY tools /tools\n`,
    "web.yaml": `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: "${reg}/apps/web:1@${images.web}"\n`,
    "compose.yaml": `services:\n  multi:\n    image: ${reg}/apps/multi:1@${images.multi} # index digest\n`,
  });
  const forge = services.forgeFor(demoRepositories(stack.dir).deploy);
  if (forge === null) throw new Error("the deploy repository is not configured");
  await scanRepository({ store: services.store, forge, now: services.now }, demoRepositories(stack.dir).deploy);
}

/** Merges every open pull request of the deploy repository (what its maintainers would do), then reconciles. */
export async function mergeDeployPullRequests(stack: Stack, services: Services, log: (line: string) => void): Promise<void> {
  const deploy = demoRepositories(stack.dir).deploy;
  for (const pull of await services.store.listPullRequests()) {
    if (pull.repository !== deploy || pull.state !== "open") continue;
    await mergePullRequest(deploy, pull.number);
    log(`merged pull request #${pull.number} (${pull.title})`);
  }
  await reconcileRepositories(services);
}

async function commitRepository(dir: string, files: Record<string, string>): Promise<string> {
  const git = promisify(execFile);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await git("git", ["init", "-q", "-b", "main", dir]);
  await git("git", ["-C", dir, "add", "."]);
  await git("git", ["-C", dir, "-c", "user.name=Ripple demo", "-c", "user.email=demo@ripple.invalid", "commit", "-qm", "initial version"]);
  return dir;
}

export interface DemoImages {
  readonly busybox: string;
  readonly companyBase: string;
  readonly web: string;
  readonly multi: string;
  readonly pinned: string;
}

async function buildAndPush(stack: Stack, log: (line: string) => void, name: string, context: string, platforms?: string[]): Promise<string> {
  const began = Date.now();
  await stack.buildah.build({ context, tag: `localhost/${name}`, ...(platforms ? { platforms } : {}) });
  const digest = await stack.buildah.push({ image: `localhost/${name}`, destination: `${stack.registry.host}/${name}`, ...(platforms ? { manifestList: true } : {}) });
  log(`built and pushed ${name} ${shortDigest(digest)} in ${Date.now() - began} ms`);
  return digest;
}

/**
 * Builds and pushes the demo's images on a running stack — a busybox base, a company base on it, and
 * three apps (web two levels down, a multi-arch index, one pinning its base by digest), each from its
 * own git repository — waiting until Ripple has recorded their edges. Shared by the demo and the
 * end-to-end test.
 */
export async function buildDemoImages(stack: Stack, services: Services, log: (line: string) => void): Promise<DemoImages> {
  const registry = stack.registry.host;
  const repositories = demoRepositories(stack.dir);
  const edgesOf = async (key: string) => ((await services.store.listBasesOf(key)).length > 0 ? true : null);

  const base = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "demo", "busybox-v1"), "busybox 1.0 (release 1)");
  const busybox = await buildAndPush(stack, log, "ripple/busybox:1", base);
  await waitFor("the busybox push to be processed", async () => ((await services.store.getTag(registry, "ripple/busybox", "1"))?.digest === busybox ? true : null));

  const companyBase = await buildAndPush(stack, log, "ripple/company-base:1", await commitRepository(repositories.companyBase, {
    Dockerfile: `FROM ${registry}/ripple/busybox:1\nRUN echo "company CA bundle" > /etc/company-ca && mkdir -p /app\n`,
  }));
  await waitFor("company-base's edges", () => edgesOf(`${registry}/ripple/company-base:1`));

  const web = await buildAndPush(stack, log, "apps/web:1", await commitRepository(repositories.web, {
    Dockerfile: `FROM ${registry}/ripple/company-base:1\nRUN echo "web app" > /app/web\nCMD ["cat", "/app/web"]\n`,
  }));
  const multi = await buildAndPush(stack, log, "apps/multi:1", await commitRepository(repositories.multi, {
    Dockerfile: `FROM ${registry}/ripple/busybox:1\nCOPY app.txt /app/app.txt\n`,
    "app.txt": "multi-arch app\n",
  }), ["linux/amd64", "linux/arm64"]);
  // Pinned by digest; the rebuild passes the new digest as the RIPPLE_BASE_DIGEST build argument.
  const pinned = await buildAndPush(stack, log, "apps/pinned:1", await commitRepository(repositories.pinned, {
    Dockerfile: `ARG RIPPLE_BASE_DIGEST=${busybox}\nFROM ${registry}/ripple/busybox:1@\${RIPPLE_BASE_DIGEST}\nRUN echo "pinned app" > /pinned\n`,
  }));
  await waitFor("every app's edges", async () =>
    (await edgesOf(`${registry}/apps/web:1`)) && (await edgesOf(`${registry}/apps/multi:1`)) && (await edgesOf(`${registry}/apps/pinned:1`)),
  );
  return { busybox, companyBase, web, multi, pinned };
}

/** Pushes a patched busybox base and waits until Ripple has opened its campaign. Returns its digest. */
export async function pushPatchedBase(stack: Stack, services: Services, log: (line: string) => void): Promise<string> {
  const patched = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "demo", "busybox-v2"), "busybox 1.0 (release 2, CVE fix)");
  const digest = await buildAndPush(stack, log, "ripple/busybox:1", patched);
  await waitFor("the patched base's campaign", async () => ((await services.store.listCampaigns()).some((c) => c.toDigest === digest) ? true : null));
  return digest;
}

/**
 * Waits until the cascade has settled: `campaigns` campaigns exist and none has an open obligation.
 * Returns the campaigns with their obligations, oldest first.
 */
export async function waitForCascade(services: Services, campaigns: number, options: { openPullRequests?: boolean; timeoutMs?: number } = {}) {
  const timeoutMs = options.timeoutMs ?? 120_000;
  let open: string[] = [];
  try {
    return await waitFor(`${campaigns} campaign(s) with every obligation settled`, async () => {
      const list = await services.store.listCampaigns();
      const full = [];
      open = [];
      for (const campaign of [...list].reverse()) {
        const found = await services.store.getCampaign(campaign.id);
        if (found === null) return null;
        for (const obligation of found.obligations) {
          const waiting = obligation.state === "pending" || (obligation.state === "scheduled" && !(options.openPullRequests && obligation.kind === "pull-request" && obligation.runId !== null));
          if (waiting) open.push(`${obligation.dependentKey} ${obligation.state} in ${campaign.id}`);
        }
        full.push(found);
      }
      return list.length >= campaigns && open.length === 0 ? full : null;
    }, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}; still open: ${open.join("; ") || "(none; fewer campaigns than expected)"}`);
  }
}

export async function demoCommand(): Promise<number> {
  const dir = join(defaultStackDir(), `demo-${process.pid}`);
  say(`starting the local stack in ${dir}`);
  const stack = await startStack({ dir, config: demoStackConfig(dir, { pins: true }), log: (line) => say(line) });
  let succeeded = false;
  try {
    say(`registry https://${stack.registry.host} → notifications → functions host ${stack.hostUrl}`);
    const services = await createServices(loadSettings(stack.settings), stack.config);
    const images = await buildDemoImages(stack, services, say);
    await createDeployRepository(stack, services, images);
    say("scanned the deploy repository for digest pins");
    await printGraph(stack, services, "dependency graph before the patch");
    say("pushing a patched busybox base");
    const patched = await pushPatchedBase(stack, services, say);
    await waitForCascade(services, 4, { openPullRequests: true });
    say("rebuilds done; pull requests open in the deploy repository");
    await printPullRequests(stack, services);
    await mergeDeployPullRequests(stack, services, say);
    const cascade = await waitForCascade(services, 4);
    say("the cascade has settled");
    await printReport(stack, services, images, patched, cascade);
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

const out = (line = ""): void => void process.stdout.write(`${line}\n`);

async function printGraph(stack: Stack, services: Services, title: string): Promise<void> {
  const local = (key: string): string => key.replaceAll(`${stack.registry.host}/`, "");
  out(`\n== ${title} (dependent → base, with evidence)`);
  const graph = await describeGraph(services.store);
  printTable(
    graph.edges.map((edge) => [local(edge.dependent), local(edge.base), shortDigest(edge.baseDigest), edge.upToDate ? "current" : "OUTDATED", edge.evidence, edge.platform ?? ""]),
    ["DEPENDENT", "BASE", "BUILT ON", "STATE", "EVIDENCE", "PLATFORM"],
  );
  const base = `${stack.registry.host}/ripple/busybox:1`;
  const impact = await impactOf(services.store, base);
  out(`\n== impact of ripple/busybox:1 (rebuild waves)`);
  impact.impact.waves.forEach((wave, index) => out(`  wave ${index}: ${wave.map((node) => local(node.key)).join(", ")}`));
}

type CascadeCampaign = Awaited<ReturnType<typeof waitForCascade>>[number];

async function printPullRequests(stack: Stack, services: Services): Promise<void> {
  const local = (text: string): string => shortenDigests(text.replaceAll(`${stack.registry.host}/`, ""));
  out("\n== pull requests in the deploy repository (ripple prs)");
  for (const pull of await services.store.listPullRequests()) {
    out(`#${pull.number} [${pull.state}] ${local(pull.title)}  (branch ${pull.branch})`);
    for (const line of pull.body.split("\n").filter((row) => row.startsWith("| `"))) out(`    ${local(line)}`);
  }
}

async function printReport(stack: Stack, services: Services, images: DemoImages, patched: string, cascade: readonly CascadeCampaign[]): Promise<void> {
  const local = (key: string): string => key.replaceAll(`${stack.registry.host}/`, "");
  out("\n== events received (oldest first)");
  const events = (await services.store.listEvents(500)).reverse();
  printTable(
    events.map((record) => [
      record.receivedAt.slice(11, 23),
      record.event?.action ?? "-",
      `${record.event?.repository ?? "?"}:${record.event?.tag ?? "-"}`,
      shortDigest(record.event?.digest ?? null),
      record.status,
      shortenDigests(local(record.reason ?? "")),
    ]),
    ["RECEIVED", "ACTION", "IMAGE", "DIGEST", "STATUS", "OUTCOME"],
  );

  out(`\n== the cascade (ripple/busybox:1 moved ${shortDigest(images.busybox)} → ${shortDigest(patched)})`);
  const runs = await services.store.listRuns();
  const ms = (from: string | null, to: string | null): string => (from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s` : "-");
  cascade.forEach(({ campaign, obligations }, index) => {
    const trigger = events.find((record) => record.key === campaign.trigger);
    const settledAt = obligations.map((obligation) => obligation.updatedAt).sort().at(-1) ?? campaign.openedAt;
    out(`wave ${index + 1}: ${local(campaign.base)} ${shortDigest(campaign.fromDigest)} → ${shortDigest(campaign.toDigest)}; campaign opened ${trigger ? `${Date.parse(campaign.openedAt) - Date.parse(trigger.receivedAt)} ms after the push notification` : campaign.openedAt}, settled after ${ms(campaign.openedAt, settledAt)}`);
    printTable(
      obligations.map((obligation) => {
        const run = runs.find((candidate) => candidate.image === obligation.dependentKey && candidate.baseDigest === campaign.toDigest);
        return ["   ", local(obligation.dependentKey), obligation.state, run?.runId ?? "-", `build ${ms(run?.startedAt ?? null, run?.finishedAt ?? null)}`, `done ${ms(campaign.openedAt, obligation.updatedAt)} after opening`];
      }),
    );
  });

  await printGraph(stack, services, "dependency graph after the cascade");
  out("\n== lineage");
  for (const image of ["apps/web:1", "apps/multi:1", "apps/pinned:1"]) {
    const lineage = await lineageOf(services.store, `${stack.registry.host}/${image}`);
    out(`  ${image} @ ${shortDigest(lineage.digest)}`);
    lineage.lineage.steps.forEach((step, depth) =>
      out(`  ${"  ".repeat(depth + 1)}└─ ${local(step.base)} @ ${shortDigest(step.baseDigest)} [${step.evidence}] ${step.upToDate ? "current" : `OUTDATED (now ${shortDigest(step.currentDigest)})`}`),
    );
  }
  const outdated = await outdatedImages(services.store);
  out(outdated.length === 0 ? "\nevery image is on its base's current digest" : `\n${outdated.length} edge(s) still on an old base digest`);
}
