/**
 * The fault suite's local stack: a persistent stack with one or two Functions hosts on the same storage,
 * the registry notifying a {@link NotificationRelay} in front of them, and a small cascade built on it —
 * the in-house base `ripple/busybox:1`; `apps/slow:1` (its `RUN` sleeps when the base's marker says
 * `slow`, so a fault can land mid-build) and `ripple/company-base:1` built on it; `apps/web:1` on the
 * company base (a second wave); and a deploy repository pinning the base by digest (a pull request).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commitRepository, pushProcessed, waitFor } from "../../shared/cli/demo.js";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import { scanRepository } from "../../shared/use-cases/scan-repository.js";
import { startNotificationRelay, type NotificationRelay } from "./relay.js";

/** How long the slow image's `RUN` sleeps on a base marked `slow`: long enough for a fault to land mid-build. */
export const SLOW_SECONDS = 12;

/** The images the cascade rebuilds, as `repository` (all tagged `1`). */
export const REBUILT = ["apps/slow", "ripple/company-base", "apps/web"] as const;

export interface ChaosStack {
  readonly stack: Stack;
  readonly services: Services;
  readonly relay: NotificationRelay;
  /** The deploy repository (a local git repository) whose Dockerfile pins the base by digest. */
  readonly deploy: string;
  /** `registry/ripple/busybox:1`. */
  readonly base: string;
  /** Builds a base marked `marker` and pushes it as `ripple/busybox:1`; its digest (not waiting for Ripple). */
  pushBase(marker: string): Promise<string>;
  /** Stops the stack; its folder (the hosts' logs, the registry's, Azurite's) is removed unless `keep`. */
  stop(options?: { keep?: boolean }): Promise<void>;
}

/** Starts the stack with `hosts` hosts and builds the cascade's first version, waiting until Ripple knows it. */
export async function startChaosStack(hosts: number, log: (line: string) => void): Promise<ChaosStack> {
  const dir = await mkdtemp(join(tmpdir(), `ripple-chaos-${hosts}-`));
  let stack: Stack | undefined;
  const relay = await startNotificationRelay({ secret: () => stack?.settings["RIPPLE_WEBHOOK_SECRET"] ?? "" });
  const git = (name: string) => join(dir, "git", name);
  const recipe = (image: string, repository: string) => ({ image: `{{registry}}/${image}`, repository, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [], platforms: [] });
  try {
    stack = await startStack({
      dir: join(dir, "stack"),
      persist: true,
      hosts,
      notifyUrl: relay.url,
      log,
      config: {
        bases: [{ image: "{{registry}}/ripple/busybox", tags: ["*"] }],
        recipes: [recipe("apps/slow:1", git("slow")), recipe("ripple/company-base:1", git("company-base")), recipe("apps/web:1", git("web"))],
        repositories: [{ url: git("deploy"), branch: "main" }],
      },
    });
    relay.target(stack.hostUrls.map((url) => `${url}/api/registry/events`));
    const services = await createServices(loadSettings(stack.settings), stack.config);
    const chaos = fixture(stack, services, relay, dir, git("deploy"));
    await buildCascade(chaos, git, log);
    return chaos;
  } catch (error) {
    await stack?.stop().catch(() => undefined);
    await relay.stop();
    throw error;
  }
}

function fixture(stack: Stack, services: Services, relay: NotificationRelay, dir: string, deploy: string): ChaosStack {
  const registry = stack.registry.host;
  let contexts = 0;
  return {
    stack,
    services,
    relay,
    deploy,
    base: `${registry}/ripple/busybox:1`,
    async pushBase(marker) {
      const context = await stack.buildah.makeBusyboxBaseContext(join(dir, "bases", String((contexts += 1))), marker);
      await stack.buildah.build({ context, tag: "localhost/ripple/busybox:1" });
      return stack.buildah.push({ image: "localhost/ripple/busybox:1", destination: `${registry}/ripple/busybox:1` });
    },
    async stop(options = {}) {
      await stack.stop();
      await relay.stop();
      if (options.keep !== true) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Builds and pushes the first version of every image and the deploy repository, and waits until Ripple has their edges. */
async function buildCascade(chaos: ChaosStack, git: (name: string) => string, log: (line: string) => void): Promise<void> {
  const { stack, services } = chaos;
  const registry = stack.registry.host;
  const baseDigest = await chaos.pushBase("release 0");
  await waitFor("the first base processed", () => pushProcessed(services, "ripple/busybox", baseDigest));
  const images: Record<string, Record<string, string>> = {
    "apps/slow": { Dockerfile: `FROM ${chaos.base}\nRUN if grep -q slow /ripple-marker; then sleep ${SLOW_SECONDS}; fi\n` },
    "ripple/company-base": { Dockerfile: `FROM ${chaos.base}\nCOPY ca.txt /etc/company-ca\n`, "ca.txt": "company CA bundle\n" },
    "apps/web": { Dockerfile: `FROM ${registry}/ripple/company-base:1\nCOPY web.txt /web.txt\n`, "web.txt": "web app\n" },
  };
  for (const [repository, files] of Object.entries(images)) {
    const context = await commitRepository(git(repository.split("/")[1]!), files);
    await stack.buildah.build({ context, tag: `localhost/${repository}:1` });
    const digest = await stack.buildah.push({ image: `localhost/${repository}:1`, destination: `${registry}/${repository}:1` });
    await waitFor(`${repository} processed`, () => pushProcessed(services, repository, digest));
    log(`chaos fixture: ${repository}:1 built`);
  }
  await commitRepository(chaos.deploy, { Dockerfile: `FROM ${chaos.base}@${baseDigest}\nCOPY tools /tools\n` });
  const forge = services.forgeFor(chaos.deploy);
  if (forge === null) throw new Error("the deploy repository is not configured");
  await scanRepository({ store: services.store, forge, now: services.now }, chaos.deploy);
}

/** The pull requests the local forge holds for `repository` (its records under `.git/ripple/pulls`), by number. */
export async function forgePullRequests(repository: string): Promise<Map<number, { state?: string; branch?: string }>> {
  const folder = join(repository, ".git", "ripple", "pulls");
  const found = new Map<number, { state?: string; branch?: string }>();
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    if (!name.endsWith(".json")) continue;
    found.set(Number(name.slice(0, -5)), JSON.parse(await readFile(join(folder, name), "utf8")) as { state?: string; branch?: string });
  }
  return found;
}
