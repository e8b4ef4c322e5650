/**
 * `ripple demo` (the main job on the local stack): publishes a busybox base to the local upstream
 * registry, which Ripple watches and mirrors into the local registry; builds a company base on the
 * mirror and three apps with buildah, lets Ripple build the graph from the registry's notifications,
 * then publishes a patched busybox upstream and follows what Ripple does: sees it, mirrors it, and
 * rebuilds and opens pull requests in waves. Then the SLA part: a dependent whose rebuild fails on a
 * patched base pages on-call through the local alert receivers, escalates, and resolves once it is waived.
 */
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { createServices, type Services } from "../composition.js";
import { loadSettings, parseConfig, type AlertSinkConfig } from "../config.js";
import { campaignId as campaignIdOf } from "../domain/campaign.js";
import type { ReceivedAlert } from "../local/alert-receivers/alert-receivers.js";
import type { AlertRecord } from "../ports/state-store.js";
import { storageAuthenticationCounts } from "../local/azurite.js";
import { defaultStackConfig, startStack, type Stack, type StackConfigTemplate } from "../local/stack.js";
import { mergePullRequest } from "../adapters/local-git/local-git-forge.js";
import { describeGraph, impactOf, lineageOf, outdatedImages } from "../use-cases/query-graph.js";
import { reconcileRepositories } from "../use-cases/reconcile-repositories.js";
import { scanRepository } from "../use-cases/scan-repository.js";
import { waive } from "../use-cases/waive.js";
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
export function demoRepositories(stackDir: string): { companyBase: string; web: string; multi: string; pinned: string; deploy: string; legacy: string } {
  const root = join(stackDir, "demo", "git");
  return { companyBase: join(root, "company-base"), web: join(root, "web"), multi: join(root, "multi"), pinned: join(root, "pinned"), deploy: join(root, "deploy"), legacy: join(root, "legacy") };
}

/** The SLA part's base: an in-house runtime whose dependents must be rebuilt within {@link DEMO_RUNTIME_SLA}. */
export const DEMO_RUNTIME = "ripple/runtime";
export const DEMO_RUNTIME_SLA = "20s";
/** How long an alert stays critical before the escalation route hears of it, in the demo. */
export const DEMO_ESCALATE_AFTER = "5s";
/** The configuration's SLA defaults (the demo changes only the at-risk share). */
const DEFAULT_SLA = parseConfig("version: 1\nregistries: [{ host: demo.invalid }]").sla;
/** The share of the SLA after which the demo's dependents are at risk. */
export const DEMO_AT_RISK_SHARE = 0.25;

/**
 * The demo's configuration: the stack's tracked bases, a build recipe for every derived image and, with
 * `pins`, the deploy repository whose files pin the base and the apps by digest. With `trackCompanyBase:
 * false` the company base is no configured base: its campaign opens only because images are found built on it.
 */
export function demoStackConfig(stackDir: string, options: { pins?: boolean; trackCompanyBase?: boolean; sla?: boolean } = {}): StackConfigTemplate {
  const repositories = demoRepositories(stackDir);
  const recipe = (image: string, repository: string, platforms: string[] = []) => ({ image: `{{registry}}/${image}`, repository, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms });
  const bases = (defaultStackConfig.bases ?? []).filter((base) => options.trackCompanyBase !== false || !base.image.endsWith("/ripple/company-base"));
  return {
    ...defaultStackConfig,
    bases,
    recipes: [
      recipe("ripple/company-base:1", repositories.companyBase),
      recipe("apps/web:1", repositories.web),
      recipe("apps/multi:1", repositories.multi, ["linux/amd64", "linux/arm64"]),
      recipe("apps/pinned:1", repositories.pinned),
      ...(options.sla ? [recipe("apps/legacy:1", repositories.legacy)] : []),
    ],
    ...(options.pins ? { repositories: [{ url: repositories.deploy, branch: "main" }] } : {}),
    ...(options.sla ? slaDemoConfig(bases) : {}),
  };
}

/** With the SLA part: the runtime base with its short SLA, and alerts escalated after a few seconds. */
function slaDemoConfig(bases: NonNullable<StackConfigTemplate["bases"]>): StackConfigTemplate {
  const alerts = defaultStackConfig.alerts;
  return {
    bases: [...bases, { image: `{{registry}}/${DEMO_RUNTIME}`, tags: ["1"], sla: DEMO_RUNTIME_SLA }],
    // At risk after a quarter of the budget (5 s): the slow failing build is warned about before it fails.
    sla: { ...DEFAULT_SLA, atRiskShare: DEMO_AT_RISK_SHARE },
    ...(alerts === undefined ? {} : { alerts: { ...alerts, escalateAfter: DEMO_ESCALATE_AFTER } }),
  };
}

/**
 * Writes the deploy repository — a Dockerfile pinning the base, a Kubernetes manifest pinning
 * apps/web, a compose file pinning the apps/multi index — and scans it: each pin becomes a file-pin edge.
 */
export async function createDeployRepository(stack: Stack, services: Services, images: DemoImages): Promise<void> {
  const reg = stack.registry.host;
  await commitRepository(demoRepositories(stack.dir).deploy, {
    Dockerfile: `# The tools image, pinned to the audited base\nFROM ${images.base}@${images.busybox}\nCOPY tools /tools\n`,
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

/** Writes `files` into the repository at `dir` (created on first use) and commits them on `main`. */
export async function commitRepository(dir: string, files: Record<string, string>, message = "initial version"): Promise<string> {
  const git = promisify(execFile);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await git("git", ["init", "-q", "-b", "main", dir]);
  await git("git", ["-C", dir, "add", "."]);
  await git("git", ["-C", dir, "-c", "user.name=Ripple demo", "-c", "user.email=demo@ripple.invalid", "commit", "-qm", message]);
  return dir;
}

/**
 * Where the demo's busybox base comes from: `upstream` publishes it to the local upstream registry, which
 * Ripple watches and mirrors into `mirror/busybox` (images build FROM the mirror); `in-house` pushes it
 * straight to the local registry as `ripple/busybox`.
 */
export type DemoBaseMode = "upstream" | "in-house";

/** The base tag the demo's images build FROM, `registry/repository:tag`. */
export function demoBaseTag(stack: Stack, mode: DemoBaseMode): string {
  return `${stack.registry.host}/${mode === "upstream" ? "mirror/busybox" : "ripple/busybox"}:1`;
}

/** The upstream tag the demo publishes to (upstream mode). */
export function demoUpstreamTag(stack: Stack): string {
  return `${stack.upstream.host}/library/busybox:1`;
}

/**
 * Publishes a busybox base built from `context` — upstream (as its publisher) or in-house — and waits
 * until Ripple has the base tag the images build FROM on the new digest (for upstream: seen, mirrored,
 * and the mirror's push processed). Returns the digest and when it was published.
 */
export async function publishBase(stack: Stack, services: Services, log: (line: string) => void, mode: DemoBaseMode, context: string): Promise<{ digest: string; publishedAt: string }> {
  let digest: string;
  let publishedAt: string;
  if (mode === "upstream") {
    const began = Date.now();
    await stack.buildah.build({ context, tag: "localhost/library/busybox:1", annotations: stack.baseAnnotations });
    publishedAt = new Date().toISOString();
    digest = await stack.buildah.push({ image: "localhost/library/busybox:1", destination: demoUpstreamTag(stack), credentials: stack.upstream.publisher });
    log(`published library/busybox:1 ${shortDigest(digest)} upstream (https://${stack.upstream.host}, token auth) in ${Date.now() - began} ms`);
  } else {
    publishedAt = new Date().toISOString();
    digest = await buildAndPush(stack, log, "ripple/busybox:1", context);
  }
  const base = demoBaseTag(stack, mode);
  const [registry, rest] = [stack.registry.host, base.slice(stack.registry.host.length + 1)];
  const repository = rest.slice(0, rest.lastIndexOf(":"));
  await waitFor(`${base} on ${shortDigest(digest)}`, async () => ((await services.store.getTag(registry, repository, "1"))?.digest === digest ? true : null));
  return { digest, publishedAt };
}

export interface DemoImages {
  /** The base tag the images build FROM. */
  readonly base: string;
  readonly busybox: string;
  readonly companyBase: string;
  readonly web: string;
  readonly multi: string;
  readonly pinned: string;
}

async function buildAndPush(stack: Stack, log: (line: string) => void, name: string, context: string, platforms?: string[]): Promise<string> {
  const began = Date.now();
  await stack.buildah.build({ context, tag: `localhost/${name}`, annotations: stack.baseAnnotations, ...(platforms ? { platforms } : {}) });
  const digest = await stack.buildah.push({ image: `localhost/${name}`, destination: `${stack.registry.host}/${name}`, ...(platforms ? { manifestList: true } : {}) });
  log(`built and pushed ${name} ${shortDigest(digest)} in ${Date.now() - began} ms`);
  return digest;
}

/** Whether the tagged push of `repository@digest` is processed: every edge written, not just the first one shown. */
export async function pushProcessed(services: Services, repository: string, digest: string): Promise<true | null> {
  const events = await services.store.listEvents(500);
  return events.some((record) => record.status === "processed" && record.event?.repository === repository && record.event.digest === digest && record.event.tag !== null) ? true : null;
}

/**
 * Builds and pushes the demo's images on a running stack — a busybox base, a company base on it, and
 * three apps (web two levels down, a multi-arch index, one pinning its base by digest), each from its
 * own git repository — waiting until Ripple has recorded their edges. Shared by the demo and the
 * end-to-end test.
 */
export async function buildDemoImages(stack: Stack, services: Services, log: (line: string) => void, mode: DemoBaseMode = "upstream"): Promise<DemoImages> {
  const registry = stack.registry.host;
  const repositories = demoRepositories(stack.dir);
  const processed = (repository: string, digest: string) => pushProcessed(services, repository, digest);
  const base = demoBaseTag(stack, mode);

  const context = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "demo", "busybox-v1"), "busybox 1.0 (release 1)");
  const { digest: busybox } = await publishBase(stack, services, log, mode, context);

  const companyBase = await buildAndPush(stack, log, "ripple/company-base:1", await commitRepository(repositories.companyBase, {
    Dockerfile: `FROM ${base}\nRUN echo "company CA bundle" > /etc/company-ca && mkdir -p /app\n`,
  }));
  await waitFor("company-base's push processed", () => processed("ripple/company-base", companyBase));

  const web = await buildAndPush(stack, log, "apps/web:1", await commitRepository(repositories.web, {
    Dockerfile: `FROM ${registry}/ripple/company-base:1\nRUN echo "web app" > /app/web\nCMD ["cat", "/app/web"]\n`,
  }));
  const multi = await buildAndPush(stack, log, "apps/multi:1", await commitRepository(repositories.multi, {
    Dockerfile: `FROM ${base}\nCOPY app.txt /app/app.txt\n`,
    "app.txt": "multi-arch app\n",
  }), ["linux/amd64", "linux/arm64"]);
  // Pinned by digest; the rebuild passes the new digest as the RIPPLE_BASE_DIGEST build argument.
  const pinned = await buildAndPush(stack, log, "apps/pinned:1", await commitRepository(repositories.pinned, {
    Dockerfile: `ARG RIPPLE_BASE_DIGEST=${busybox}\nFROM ${base}@\${RIPPLE_BASE_DIGEST}\nRUN echo "pinned app" > /pinned\n`,
  }));
  await waitFor("every app's push processed", async () =>
    (await processed("apps/web", web)) && (await processed("apps/multi", multi)) && (await processed("apps/pinned", pinned)),
  );
  return { base, busybox, companyBase, web, multi, pinned };
}

/**
 * Publishes a patched busybox base (upstream, or in-house) and waits until Ripple has opened its
 * campaign. Returns its digest and when it was published.
 */
export async function pushPatchedBase(stack: Stack, services: Services, log: (line: string) => void, mode: DemoBaseMode = "upstream"): Promise<{ digest: string; publishedAt: string }> {
  const patched = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "demo", "busybox-v2"), "busybox 1.0 (release 2, CVE fix)");
  const published = await publishBase(stack, services, log, mode, patched);
  await waitFor("the patched base's campaign", async () => ((await services.store.listCampaigns()).some((c) => c.toDigest === published.digest) ? true : null));
  return published;
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

/** The SLA part's images: the runtime base, and apps/legacy built on it from a branch that no longer builds. */
export interface SlaDemoImages {
  /** The base tag, `registry/ripple/runtime:1`. */
  readonly base: string;
  readonly runtime: string;
  /** apps/legacy's dependent key, `registry/apps/legacy:1`. */
  readonly legacy: string;
  readonly legacyDigest: string;
}

const legacyDockerfile = (base: string): string => `FROM ${base}\nRUN echo "legacy app" > /legacy\n`;

/**
 * Builds and pushes the runtime base and apps/legacy on it (waiting until Ripple has recorded both), then
 * commits a step to apps/legacy's main branch that fails, so its next rebuild fails. Shared by the demo
 * and the end-to-end test of SLA alerts.
 */
export async function buildSlaDemoImages(stack: Stack, services: Services, log: (line: string) => void): Promise<SlaDemoImages> {
  const base = `${stack.registry.host}/${DEMO_RUNTIME}:1`;
  const context = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "demo", "runtime-v1"), "runtime 1 (release 1)");
  const runtime = await buildAndPush(stack, log, `${DEMO_RUNTIME}:1`, context);
  await waitFor(`${DEMO_RUNTIME}'s push processed`, () => pushProcessed(services, DEMO_RUNTIME, runtime));
  const repository = demoRepositories(stack.dir).legacy;
  const legacyDigest = await buildAndPush(stack, log, "apps/legacy:1", await commitRepository(repository, { Dockerfile: legacyDockerfile(base) }));
  await waitFor("apps/legacy's push processed", () => pushProcessed(services, "apps/legacy", legacyDigest));
  // A slow step first: the rebuild is at risk (a warning) well before it fails (critical).
  await commitRepository(repository, { Dockerfile: `${legacyDockerfile(base)}RUN sleep 8 && test -f /etc/legacy-ca.pem\n` }, "require the legacy CA bundle");
  log("apps/legacy's main branch now runs `sleep 8 && test -f /etc/legacy-ca.pem`, a slow step needing a file no runtime has: its next build fails");
  return { base, runtime, legacy: `${stack.registry.host}/apps/legacy:1`, legacyDigest };
}

/**
 * Publishes a patched runtime and waits until apps/legacy's rebuild on it has failed. Returns the
 * campaign and the failure's first line.
 */
export async function failLegacyRebuild(stack: Stack, services: Services, log: (line: string) => void, images: SlaDemoImages): Promise<{ campaignId: string; reason: string }> {
  const campaignId = await publishPatchedRuntime(stack, log, images);
  return { campaignId, reason: await legacyFailure(services, images, campaignId) };
}

/** Publishes a patched runtime (which opens the campaign with apps/legacy's rebuild); returns the campaign id. */
export async function publishPatchedRuntime(stack: Stack, log: (line: string) => void, images: SlaDemoImages): Promise<string> {
  const context = await stack.buildah.makeBusyboxBaseContext(join(stack.dir, "demo", "runtime-v2"), "runtime 1 (release 2, CVE fix)");
  const digest = await buildAndPush(stack, log, `${DEMO_RUNTIME}:1`, context);
  return campaignIdOf(images.base, digest);
}

/** Waits until apps/legacy's rebuild in the campaign has failed; returns the failure's first line. */
export async function legacyFailure(services: Services, images: SlaDemoImages, campaignId: string): Promise<string> {
  const reason = await waitFor(`apps/legacy's rebuild in campaign ${campaignId} to fail`, async () => {
    const obligation = (await services.store.getCampaign(campaignId))?.obligations.find((candidate) => candidate.dependentKey === images.legacy);
    if (obligation?.state === "done") throw new Error("apps/legacy was rebuilt: its failing step did not fail");
    return obligation?.state === "failed" ? (obligation.reason ?? "no reason recorded") : null;
  }, 90_000);
  return reason.split("\n")[0] ?? reason;
}

/**
 * Waits until the campaign's alert satisfies `reached` and every delivery it wants has been made or given
 * up (a permanent failure, which `ripple alerts` shows). Returns the alert record.
 */
export async function waitForAlert(services: Services, campaignId: string, what: string, reached: (record: AlertRecord) => boolean, timeoutMs = 30_000): Promise<AlertRecord> {
  return waitFor(what, async () => {
    const record = await services.store.getAlert(campaignId);
    if (record === null || !reached(record)) return null;
    const outstanding = Object.entries(record.wanted).some(([sinkId, wanted]) => {
      const delivery = record.deliveries[sinkId];
      return (delivery?.delivered ?? 0) < wanted.sequence && delivery?.failedSequence !== wanted.sequence;
    });
    return outstanding ? null : record;
  }, timeoutMs);
}

/** What the local receiver of `sink`'s kind accepted about a campaign, oldest first (none for kinds without one). */
export function receivedBy(stack: Stack, sink: AlertSinkConfig, campaignId: string): ReceivedAlert[] {
  return stack.alertReceivers.received().filter((received) => received.receiver === sink.kind && received.campaignId === campaignId);
}

/** The SLA part of the demo: the failing dependent, its page on every sink, the escalation, the waiver and the resolve. */
export async function runSlaDemo(stack: Stack, services: Services): Promise<void> {
  const local = (text: string): string => shortenDigests(text.replaceAll(`${stack.registry.host}/`, ""));
  const { sinks, escalateAfter } = stack.config.alerts;
  out(`\n== SLA: dependents of ${DEMO_RUNTIME}:1 are due ${DEMO_RUNTIME_SLA} after its patch; alert sinks: ${sinks.map((sink) => `${sink.id} (${sink.route})`).join(", ") || "none configured"}`);
  const images = await buildSlaDemoImages(stack, services, say);
  say(`publishing a patched ${DEMO_RUNTIME}:1`);
  const campaignId = await publishPatchedRuntime(stack, say, images);
  const warned = await waitForAlert(services, campaignId, "the at-risk warning, delivered", (record) => record.state.status === "open");
  say(`alert triggered (${warned.state.level}: ${warned.message?.items.map((item) => `${local(item.dependent)} ${item.status}`).join(", ") ?? ""}); campaign page ${warned.message?.campaignUrl ?? `${stack.hostUrl}/api/campaigns/${campaignId}`}`);
  printDeliveries(stack, warned, "trigger");
  const reason = await legacyFailure(services, images, campaignId);
  say(`apps/legacy:1's rebuild failed: ${local(reason)}`);
  const failed = await waitForAlert(services, campaignId, "the failure, delivered", (record) => record.state.level === "critical");
  say(`alert updated (${failed.state.level})`);
  for (const item of failed.message?.items ?? []) out(`    item: ${local(item.dependent)} ${item.status}, due ${item.dueAt.slice(11, 19)}; ${item.links.map((link) => `${link.label} ${link.url}`).join("; ")}`);
  printDeliveries(stack, failed, "update");
  if (escalateAfter !== undefined && sinks.some((sink) => sink.route === "escalation")) {
    const escalated = await waitForAlert(services, campaignId, "the escalation", (record) => record.state.escalatedAt !== null);
    say(`still critical after ${escalateAfter}: escalated`);
    printDeliveries(stack, escalated, "escalate");
  }
  await waive(services, { campaignId, dependent: images.legacy, until: "1h", reason: "apps/legacy is retired this sprint; its build will not be fixed", by: "oncall@ripple.invalid" });
  say(`waived apps/legacy:1 for 1 h (ripple waive --campaign ${campaignId} --dependent ${local(images.legacy)} --until 1h --reason …)`);
  const resolved = await waitForAlert(services, campaignId, "the alert to be resolved and delivered", (record) => record.state.status === "resolved");
  say("alert resolved automatically");
  printDeliveries(stack, resolved, "resolve");
}

/** One line per sink sent `action` in this alert record: what its local receiver last accepted about the campaign. */
function printDeliveries(stack: Stack, record: AlertRecord, action: string): void {
  const local = (text: string): string => shortenDigests(text.replaceAll(`${stack.registry.host}/`, ""));
  const rows = stack.config.alerts.sinks.flatMap((sink) => {
    if (record.wanted[sink.id]?.action !== action) return [];
    const delivery = record.deliveries[sink.id];
    if (delivery?.failedSequence !== null && delivery?.failedSequence !== undefined) return [["   ", sink.id, sink.kind, "NOT DELIVERED", delivery.lastError ?? ""]];
    const last = receivedBy(stack, sink, record.campaignId).at(-1);
    return [["   ", sink.id, sink.kind, last?.what ?? action, last === undefined ? "(delivered; no local receiver of this kind)" : local(last.text)]];
  });
  if (stack.config.alerts.sinks.length === 0) out("    (no alert sinks configured: the alert is recorded, `ripple alerts` shows it)");
  else if (rows.length === 0) out(`    (no sink is sent ${action})`);
  else printTable(rows);
}

/**
 * `ripple demo [--identity] [--no-annotations]`: with `identity`, storage is reached with a managed
 * identity token, no account key; with `annotations: false`, every image is built without manifest
 * annotations (as ACR Tasks builds them) and the company base is no configured base, so every edge comes
 * from layers and Dockerfiles.
 */
export async function demoCommand(options: { identity?: boolean; annotations?: boolean } = {}): Promise<number> {
  const dir = join(defaultStackDir(), `demo-${process.pid}`);
  const annotations = options.annotations ?? true;
  say(`starting the local stack in ${dir}${options.identity ? " (identity-based storage: no account key)" : ""}${annotations ? "" : " (builds write no annotations)"}`);
  const config = demoStackConfig(dir, { pins: true, trackCompanyBase: annotations, sla: true });
  const stack = await startStack({ dir, config, identity: options.identity ?? false, baseAnnotations: annotations, log: (line) => say(line) });
  // This process plays the app too: its ManagedIdentityCredential reads the endpoint from the environment.
  if (stack.identity !== null) Object.assign(process.env, stack.identity.env);
  let succeeded = false;
  try {
    say(`registry https://${stack.registry.host} → notifications → functions host ${stack.hostUrl}`);
    const services = await createServices(loadSettings(stack.settings), stack.config);
    const images = await buildDemoImages(stack, services, say);
    await createDeployRepository(stack, services, images);
    say("scanned the deploy repository for digest pins");
    await printGraph(stack, services, "dependency graph before the patch");
    say("publishing a patched busybox upstream");
    const patched = await pushPatchedBase(stack, services, say);
    await waitForCascade(services, 4, { openPullRequests: true });
    say("rebuilds done; pull requests open in the deploy repository");
    await printPullRequests(stack, services);
    await mergeDeployPullRequests(stack, services, say);
    const cascade = await waitForCascade(services, 4);
    say("the cascade has settled");
    await printReport(stack, services, images, patched, cascade);
    await runSlaDemo(stack, services);
    if (stack.azurite.debugLogPath !== null) await printStorageAuthentication(stack.azurite.debugLogPath);
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

/** Published upstream → first seen by the watcher → mirrored → campaign opened → every obligation done. */
async function printPatchTimeline(
  stack: Stack,
  services: Services,
  published: { digest: string; publishedAt: string },
  events: ReadonlyArray<Awaited<ReturnType<Services["store"]["listEvents"]>>[number]>,
  cascade: readonly CascadeCampaign[],
): Promise<void> {
  const [registry, repository] = [stack.upstream.host, "library/busybox"];
  const watched = await services.store.getUpstreamTag(registry, repository, "1");
  const sighting = watched?.history.find((entry) => entry.digest === published.digest);
  const mirrored = events.find((record) => record.event?.repository === "mirror/busybox" && record.event.digest === published.digest && record.event.action === "push");
  const first = cascade.find(({ campaign }) => campaign.toDigest === published.digest)?.campaign;
  const doneAt = cascade.flatMap(({ obligations }) => obligations.map((obligation) => obligation.updatedAt)).sort().at(-1) ?? null;
  const roots = new Set(cascade.map(({ campaign }) => (campaign.root ? `${campaign.root.base}@${campaign.root.digest} available ${campaign.root.availableAt}` : "(none)")));
  const since = (at: string | null | undefined): string => (at ? `+${((Date.parse(at) - Date.parse(published.publishedAt)) / 1000).toFixed(2)} s` : "-");
  out(`\n== the patch, from publication to done (clock starts at the first sighting: ${first?.root?.availableAt ?? "-"})`);
  printTable([
    ["published upstream", published.publishedAt, since(published.publishedAt), `library/busybox:1 → ${shortDigest(published.digest)}`],
    ["first seen by Ripple", sighting?.firstSeenAt ?? "-", since(sighting?.firstSeenAt), `image created ${sighting?.created ?? "?"}`],
    ["mirrored (push notified)", mirrored?.receivedAt ?? "-", since(mirrored?.receivedAt), "mirror/busybox:1"],
    ["campaign opened", first?.openedAt ?? "-", since(first?.openedAt), first?.root ? `root ${first.root.source}` : ""],
    ["every obligation done", doneAt ?? "-", since(doneAt), `${cascade.length} campaign(s) carrying ${roots.size === 1 ? `one root: ${shortenDigests([...roots][0]!)}` : `${roots.size} roots`}`],
  ]);
}

/** How the storage requests of the run were authenticated (identity mode): Azurite's debug log has each request's headers. */
async function printStorageAuthentication(debugLogPath: string): Promise<void> {
  const counts = await storageAuthenticationCounts(debugLogPath);
  out(`\n== storage requests by authentication: ${Object.entries(counts).map(([scheme, count]) => `${scheme} ${count}`).join(", ") || "none"}`);
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
  const base = demoBaseTag(stack, "upstream");
  const impact = await impactOf(services.store, base);
  out(`\n== impact of ${local(base)} (rebuild waves)`);
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

async function printReport(stack: Stack, services: Services, images: DemoImages, published: { digest: string; publishedAt: string }, cascade: readonly CascadeCampaign[]): Promise<void> {
  const patched = published.digest;
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

  await printPatchTimeline(stack, services, published, events, cascade);
  out(`\n== the cascade (${local(images.base)} moved ${shortDigest(images.busybox)} → ${shortDigest(patched)})`);
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
