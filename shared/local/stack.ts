/**
 * The local stack: the CNCF Distribution registry (TLS from a generated CA, notifications pointed at
 * the local Functions host), Azurite, the local Functions host serving `dist/functions`, and buildah.
 * The demo, the tests and `ripple stack up` all start it through {@link startStack}.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { parseConfig, type AlertSinkConfig, type RippleConfig } from "../config.js";
import { ConfigError } from "../errors.js";
import { startAzurite, type LocalAzurite } from "./azurite.js";
import { createBuildah, type Buildah } from "./buildah.js";
import { findFreePort } from "./free-port.js";
import { generateHostKeys, HOST_KEY_SETTINGS, type HostKeys } from "./local-host.js";
import { ensureStackPackages } from "./packages.js";
import { startProcess, type ManagedProcess } from "./processes.js";
import { startRegistry, type LocalRegistry } from "./registry.js";
import { ensureStackTls, type StackTls } from "./tls.js";
import { startUpstreamRegistry, type UpstreamRegistry } from "./upstream-registry.js";
import { startLocalIdentityEndpoint, type LocalIdentityEndpoint } from "./identity-endpoint.js";
import { startAlertReceivers, type AlertReceivers } from "./alert-receivers/alert-receivers.js";

/** The project root: the nearest folder above this module with a package.json (works from `dist/` and from sources). */
export const projectRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/**
 * Configuration without registries (the stack adds its own): `{{registry}}` in any string is the local
 * registry host, `{{upstream}}` the local upstream registry's (the stack adds it to `upstream.registries`),
 * `{{pagerduty}}` the local PagerDuty receiver's Events API endpoint and `{{slack}}` the local Slack
 * receiver's Web API base URL. Every PagerDuty, Teams, Slack and webhook sink is pointed at the stack's
 * local receiver of its kind: the stack sets the app settings the sink names.
 */
export type StackConfigTemplate = Omit<Partial<RippleConfig>, "registries" | "version" | "upstream"> & { upstream?: Partial<RippleConfig["upstream"]> };

export interface StackOptions {
  readonly dir: string;
  readonly config?: StackConfigTemplate;
  /** Keep Azurite's data on disk under the stack folder. */
  readonly persist?: boolean;
  /**
   * Identity-based storage, as deployed: Azurite over HTTPS accepting OAuth tokens, the app given no
   * account key at all (`AzureWebJobsStorage__queueServiceUri` / `__tableServiceUri`,
   * `__credential=managedidentity`), its real ManagedIdentityCredential answered by a local managed
   * identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`).
   */
  readonly identity?: boolean;
  /**
   * False to have every local build (the host's rebuilds, and the demo's own images) written without
   * manifest annotations, as ACR Tasks writes them: no `org.opencontainers.image.base.*` names a base.
   * True by default.
   */
  readonly baseAnnotations?: boolean;
  /**
   * Local Functions hosts serving the app on the same storage (default 1): more than one plays Azure's
   * scale-out — competing queue consumers, each host's own timers, two workers claiming the same rebuild.
   * The registry notifies the first host (or {@link notifyUrl}).
   */
  readonly hosts?: number;
  /** Where the registry sends its notifications instead of the first host's webhook (a fault test's relay). */
  readonly notifyUrl?: string;
  readonly log?: (line: string) => void;
}

export interface Stack {
  readonly dir: string;
  readonly tls: StackTls;
  readonly registry: LocalRegistry;
  /** The registry playing a public upstream (token auth, anonymous pulls, pushes as `upstream.publisher`). */
  readonly upstream: UpstreamRegistry;
  readonly azurite: LocalAzurite;
  /** The local managed identity endpoint (identity mode only). */
  readonly identity: LocalIdentityEndpoint | null;
  readonly buildah: Buildah;
  /** The local PagerDuty, Teams, Slack and webhook receivers, and what each has accepted. */
  readonly alertReceivers: AlertReceivers;
  /** Whether local builds write manifest annotations ({@link StackOptions.baseAnnotations}). */
  readonly baseAnnotations: boolean;
  /** Base URL of the (first) local Functions host (`http://127.0.0.1:PORT`). */
  readonly hostUrl: string;
  /** Base URL of every local Functions host, the first one first ({@link StackOptions.hosts}). */
  readonly hostUrls: readonly string[];
  /**
   * The local host's access keys, generated at start: the Event Grid system key for
   * `/runtime/webhooks/EventGrid` and the host key for `authLevel: "function"` routes (`?code=` or
   * `x-functions-key`). Secrets: only in {@link settings} (and so the owner-only `stack.json`), never logged.
   */
  readonly hostKeys: HostKeys;
  readonly webhookUrl: string;
  readonly configPath: string;
  readonly config: RippleConfig;
  /** App settings the host runs with; the CLI uses the same ones. */
  readonly settings: Readonly<Record<string, string>>;
  /** The server processes the stack started, each leading its own process group (the current host's pid after a restart). */
  readonly processes: readonly StackProcess[];
  /**
   * Stops a local Functions host's process group (`index` into {@link hostUrls}, default the first) — what is
   * left of it when the host died: its buildah builds — and starts a new host with the same settings on the
   * same port (the registry's notification URL stays valid). For fault tests: a killed worker, then its restart.
   */
  restartHost(index?: number): Promise<void>;
  /** Stops the registry (an outage: pushes, pulls and notifications fail); its storage stays. For fault tests. */
  stopRegistry(): Promise<void>;
  /** Starts the registry again on its port, with its storage and notifications, after {@link stopRegistry}. */
  startRegistry(): Promise<void>;
  /**
   * Stops Azurite and starts it again on the same ports after `downMs` (a storage outage). Needs
   * {@link StackOptions.persist}: in memory, the data would be gone.
   */
  restartAzurite(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A server process of the stack: what `ripple stack down` stops by pid (checking `command`, so a recycled
 * pid is never signalled) when the `ripple stack up` that started it is gone.
 */
export interface StackProcess {
  readonly name: string;
  readonly pid: number;
  /** The executable, as in its command line (`docker-registry`, or Node's own path). */
  readonly command: string;
}

/** The values of the `{{name}}` placeholders of a {@link StackConfigTemplate}. */
type Placeholders = Readonly<Record<string, string>>;

function fill(value: unknown, hosts: Placeholders): unknown {
  if (typeof value === "string") return value.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => hosts[name] ?? whole);
  if (Array.isArray(value)) return value.map((item) => fill(item, hosts));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fill(item, hosts)]));
  return value;
}

/**
 * The alert sinks of the stack's default configuration, one per local receiver: PagerDuty, a Slack bot
 * and Teams on the primary route, a signed webhook on the escalation route (reached once an alert has been
 * critical for `alerts.escalateAfter`).
 */
export const stackAlertSinks = [
  { id: "oncall-pagerduty", kind: "pagerduty", route: "primary", routingKeySetting: "RIPPLE_PAGERDUTY_ROUTING_KEY", endpoint: "{{pagerduty}}" },
  { id: "oncall-slack", kind: "slack", route: "primary", tokenSetting: "RIPPLE_SLACK_BOT_TOKEN", channel: "#ripple-alerts", apiUrl: "{{slack}}" },
  { id: "oncall-teams", kind: "teams", route: "primary", webhookUrlSetting: "RIPPLE_TEAMS_WEBHOOK_URL" },
  { id: "ops-webhook", kind: "webhook", route: "escalation", urlSetting: "RIPPLE_ALERT_WEBHOOK_URL", secretSetting: "RIPPLE_ALERT_WEBHOOK_SECRET" },
] as const satisfies readonly AlertSinkConfig[];

/**
 * The stack's default configuration: `library/busybox:1` on the local upstream
 * registry, watched every second and mirrored into `mirror/busybox`; `ripple/busybox` and
 * `ripple/company-base` (any tag) pushed in-house to the local registry; alerts to the local receivers
 * ({@link stackAlertSinks}), escalated after 10 minutes.
 */
export const defaultStackConfig: StackConfigTemplate = {
  bases: [
    { image: "{{upstream}}/library/busybox", tags: ["1"], mirror: "{{registry}}/mirror/busybox", intervalSeconds: 1 },
    { image: "{{registry}}/ripple/busybox", tags: ["*"] },
    { image: "{{registry}}/ripple/company-base", tags: ["*"] },
  ],
  alerts: { renotify: "4h", escalateAfter: "10m", sinks: [...stackAlertSinks] },
};

/** The SLA monitor on the local stack: every second, so short SLAs in the demo and tests are seen at once. */
export const STACK_SLA_SCHEDULE = "* * * * * *";
/** The upstream watch's timer on the stack: every second (each tag still waits for its own interval). */
const STACK_UPSTREAM_SCHEDULE = "*/1 * * * * *";

/**
 * Reads a `--config` file as the README documents it: the shape of `ripple.yaml` without `registries`
 * (`version: 1` may be given or left out), YAML or JSON, with `{{name}}` placeholders. Validated at once
 * against the configuration schema with stand-in hosts, so a bad file fails before anything starts. Pure.
 *
 * @throws ConfigError naming `origin` and the path of the first bad value.
 */
export function parseStackConfigTemplate(text: string, origin: string): StackConfigTemplate {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${origin}: not valid YAML or JSON: ${(error as Error).message.split("\n")[0]}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`${origin}: expected a mapping (the shape of ripple.yaml without registries)`);
  const { version, ...template } = raw as Record<string, unknown>;
  if ("registries" in template) throw new ConfigError(`${origin}: registries: leave it out; the stack adds its own registry ({{registry}})`);
  if (version !== undefined && version !== 1) throw new ConfigError(`${origin}: version: expected 1`);
  const standIns = { registry: "127.0.0.1:1", upstream: "127.0.0.1:2", pagerduty: "http://127.0.0.1:3/v2/enqueue", slack: "http://127.0.0.1:4/api" };
  stackConfig(template as StackConfigTemplate, standIns, { caCertPath: "ca.crt" } as StackTls, origin);
  return template as StackConfigTemplate;
}

function stackConfig(template: StackConfigTemplate, hosts: Placeholders & { registry: string; upstream: string }, tls: StackTls, origin = "stack configuration"): RippleConfig {
  const filled = fill(template, hosts) as StackConfigTemplate;
  return parseConfig(
    JSON.stringify({
      version: 1,
      ...filled,
      registries: [{ host: hosts.registry, kind: "distribution", caFile: tls.caCertPath }],
      upstream: { ...filled.upstream, registries: [...(filled.upstream?.registries ?? []), { host: hosts.upstream, caFile: tls.caCertPath }] },
    }),
    origin,
  );
}

/**
 * The app settings that reach the stack's storage: Azurite's connection string, or in identity mode the
 * service URIs, the managed identity and the managed identity endpoint's variables (the platform sets
 * those in Azure) — no account key.
 */
function storageSettings(azurite: LocalAzurite, identity: LocalIdentityEndpoint | null, tls: StackTls): Record<string, string> {
  if (identity === null) return { AzureWebJobsStorage: azurite.connectionString };
  return {
    AzureWebJobsStorage__tableServiceUri: azurite.tableEndpoint,
    AzureWebJobsStorage__queueServiceUri: azurite.queueEndpoint,
    AzureWebJobsStorage__credential: "managedidentity",
    RIPPLE_STORAGE_CA_FILE: tls.caCertPath,
    ...identity.env,
  };
}

/**
 * The app settings that hand the local host its access keys ({@link HOST_KEY_SETTINGS}): secrets, like the
 * webhook secret (Azure keeps them in the app's key store; the local host reads them from its settings).
 */
function hostKeySettings(keys: HostKeys): Record<string, string> {
  return Object.fromEntries(Object.entries(HOST_KEY_SETTINGS).map(([name, setting]) => [setting, keys[name as keyof HostKeys]]));
}

/** The name of the `index`th local Functions host (its log `<dir>/<name>.log`, and in {@link Stack.processes}). */
function hostName(index: number): string {
  return index === 0 ? "functions-host" : `functions-host-${index + 1}`;
}

/** The `index`th local Functions host serving `dist/functions` on `port` with `settings` as its app settings. */
function startFunctionsHost(dir: string, settings: Readonly<Record<string, string>>, port: number, index: number): Promise<ManagedProcess> {
  return startProcess({
    name: hostName(index),
    command: process.execPath,
    args: [join(projectRoot, "dist", "shared", "local", "local-host-main.js")],
    cwd: projectRoot,
    dir,
    env: { ...process.env, ...settings, RIPPLE_HOST_PORT: String(port) },
    ready: async () => (await fetch(`http://127.0.0.1:${port}/api/campaigns`)).status > 0,
    timeoutMs: 30_000,
  });
}

/** A component that can be stopped and started again in place; `current` is the one running now (or last). */
interface Restartable<T extends { stop(): Promise<void> }> {
  readonly current: T;
  /** Stops it (idempotent) until {@link start}. */
  halt(): Promise<void>;
  /** Starts it again after {@link halt} (nothing when it runs). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function restartable<T extends { stop(): Promise<void> }>(launch: () => Promise<T>): Promise<Restartable<T>> {
  let last = await launch();
  let running = true;
  return {
    get current() {
      return last;
    },
    async halt() {
      if (running) await last.stop();
      running = false;
    },
    async start() {
      if (running) return;
      last = await launch();
      running = true;
    },
    async stop() {
      if (running) await last.stop();
      running = false;
    },
  };
}

/** The ports of a started Azurite, to start it again on them. */
function azuritePorts(azurite: LocalAzurite): { blob: number; queue: number; table: number } {
  const port = (endpoint: string) => Number(new URL(endpoint).port);
  return { blob: port(azurite.blobEndpoint), queue: port(azurite.queueEndpoint), table: port(azurite.tableEndpoint) };
}

/** The stack's server processes (the token service, receivers and identity endpoint run in-process). */
function stackProcesses(servers: { azurite: LocalAzurite; upstream: UpstreamRegistry; hosts: readonly ManagedProcess[]; registry: LocalRegistry }): StackProcess[] {
  return [
    { name: "azurite", pid: servers.azurite.pid, command: process.execPath },
    { name: "upstream-registry", pid: servers.upstream.registry.pid, command: "docker-registry" },
    ...servers.hosts.map((host, index) => ({ name: hostName(index), pid: host.pid, command: process.execPath })),
    { name: "registry", pid: servers.registry.pid, command: "docker-registry" },
  ];
}

/** The app settings the stack's hosts (and the CLI) run with. */
function appSettings(parts: {
  dir: string;
  configPath: string;
  secret: string;
  hostUrl: string;
  hostKeys: HostKeys;
  options: StackOptions;
  alerts: Record<string, string>;
  storage: Record<string, string>;
}): Record<string, string> {
  return {
    ...parts.storage,
    RIPPLE_CONFIG: parts.configPath,
    RIPPLE_WEBHOOK_SECRET: parts.secret,
    RIPPLE_TABLE_PREFIX: "ripple",
    RIPPLE_QUEUE_PREFIX: "ripple",
    RIPPLE_LOCAL_STACK_DIR: parts.dir,
    RIPPLE_UPSTREAM_SCHEDULE: STACK_UPSTREAM_SCHEDULE,
    RIPPLE_SLA_SCHEDULE: STACK_SLA_SCHEDULE,
    RIPPLE_PUBLIC_URL: parts.hostUrl,
    // The sinks' routing key, token, webhook URLs and signing secret: secrets, like the webhook secret above.
    ...parts.alerts,
    ...(parts.options.baseAnnotations === false ? { RIPPLE_LOCAL_BUILD_ANNOTATIONS: "false" } : {}),
    ...hostKeySettings(parts.hostKeys),
  };
}

/** The stack's fault controls ({@link Stack.restartHost}, {@link Stack.stopRegistry}, …) over its restartable parts. */
function faultControls(parts: {
  hosts: readonly Restartable<ManagedProcess>[];
  registry: Restartable<LocalRegistry>;
  storage: Restartable<LocalAzurite>;
  persist: boolean;
}): Pick<Stack, "restartHost" | "stopRegistry" | "startRegistry" | "restartAzurite"> {
  return {
    // Halting a host stops what is left of the old host's group (a killed host's buildah builds) before the new one starts.
    restartHost: async (index = 0) => {
      const host = parts.hosts[index];
      if (host === undefined) throw new RangeError(`no local host ${index}: the stack has ${parts.hosts.length}`);
      await host.halt();
      await host.start();
    },
    stopRegistry: () => parts.registry.halt(),
    startRegistry: () => parts.registry.start(),
    restartAzurite: async (downMs) => {
      if (!parts.persist) throw new ConfigError("restartAzurite needs a stack started with persist: its data is in memory");
      await parts.storage.halt();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await parts.storage.start();
    },
  };
}

/**
 * Installs what is missing, then starts every component on loopback with free ports. On failure,
 * whatever was started is stopped again. `stop()` ends every process (idempotent).
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const dir = options.dir;
  await mkdir(dir, { recursive: true });
  await ensureStackPackages(log);
  const tls = await ensureStackTls(dir);
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const identity = options.identity === true ? await startLocalIdentityEndpoint() : null;
    if (identity !== null) started.push(identity);
    let ports: ReturnType<typeof azuritePorts> | undefined;
    const storage = await restartable(async () => {
      const oauth = identity === null ? {} : { oauth: { certPath: tls.certPath, keyPath: tls.keyPath } };
      const running = await startAzurite({ dir: join(dir, "azurite"), persist: options.persist ?? false, ...oauth, ...(ports === undefined ? {} : { ports }) });
      ports ??= azuritePorts(running);
      return running;
    });
    started.push(storage);
    const azurite = storage.current;
    const upstream = await startUpstreamRegistry({ dir: join(dir, "upstream"), tls, log });
    started.push(upstream);
    const alertReceivers = await startAlertReceivers();
    started.push(alertReceivers);
    const registryPort = await findFreePort();
    const registryHost = `127.0.0.1:${registryPort}`;
    const config = stackConfig(options.config ?? defaultStackConfig, { ...alertReceivers.placeholders, registry: registryHost, upstream: upstream.host }, tls);
    const configPath = join(dir, "ripple.yaml");
    await writeFile(configPath, stringifyYaml(config));

    const hostPorts: number[] = [];
    for (let index = 0; index < (options.hosts ?? 1); index += 1) hostPorts.push(await findFreePort());
    const hostUrls = hostPorts.map((port) => `http://127.0.0.1:${port}`);
    const hostUrl = hostUrls[0]!;
    const secret = randomBytes(24).toString("hex");
    const hostKeys = generateHostKeys();
    const settings = appSettings({ dir, configPath, secret, hostUrl, hostKeys, options, alerts: alertReceivers.settingsFor(config.alerts.sinks), storage: storageSettings(azurite, identity, tls) });
    const hosts: Restartable<ManagedProcess>[] = [];
    for (const [index, port] of hostPorts.entries()) {
      hosts.push(await restartable(() => startFunctionsHost(dir, settings, port, index)));
      started.push(hosts.at(-1)!);
    }
    const webhookUrl = `${hostUrl}/api/registry/events`;
    const notify = { url: options.notifyUrl ?? webhookUrl, secret };
    const registry = await restartable(() => startRegistry({ dir: join(dir, "registry"), tls, port: registryPort, notify }));
    started.push(registry);
    const buildah = createBuildah({ dir: join(dir, "buildah"), tls, log });
    let stopped = false;
    return {
      ...{ dir, tls, upstream, identity, buildah, alertReceivers },
      get registry() { return registry.current; },
      get azurite() { return storage.current; },
      baseAnnotations: options.baseAnnotations ?? true,
      ...{ hostUrl, hostUrls, hostKeys, webhookUrl, configPath, config, settings },
      get processes() { return stackProcesses({ azurite: storage.current, upstream, hosts: hosts.map((host) => host.current), registry: registry.current }); },
      ...faultControls({ hosts, registry, storage, persist: options.persist === true }),
      async stop() {
        if (stopped) return;
        stopped = true;
        for (const component of [...started].reverse()) await component.stop();
      },
    };
  } catch (error) {
    for (const component of started.reverse()) await component.stop().catch(() => undefined);
    throw error;
  }
}
