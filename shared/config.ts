/**
 * Two validated inputs, read once and frozen:
 * - settings: the process environment (Functions app settings), {@link loadSettings};
 * - configuration: one `ripple.yaml` / JSON file of what to track, {@link loadConfig}.
 */
import { readFileSync } from "node:fs";
import picomatch from "picomatch";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { parseImageRef } from "./domain/image-ref.js";
import { isTimeZone, parseDuration, type SlaRules, type StuckRules } from "./domain/sla.js";
import { ConfigError } from "./errors.js";

const ImageName = z.string().min(1).refine((text) => parseImageRef(text).ok, { message: "not a valid image reference" });

/** A duration as `48h`, `90m`, `2d`, `1w`, `30s` or a sum (`1d12h`). */
const Duration = z.string().refine((text) => parseDuration(text) !== null, { message: "a duration such as 48h, 90m, 2d or 1d12h" });

export const RegistryConfig = z.strictObject({
  /** Registry host as it appears in events, with port when there is one (e.g. `contoso.azurecr.io`). */
  host: z.string().min(1).regex(/^[a-z0-9.-]+(?::\d+)?$/, "lowercase host[:port]"),
  /** `acr` uses the ACR REST routes; `distribution` a CNCF Distribution (OCI) registry. */
  kind: z.enum(["acr", "distribution"]).default("acr"),
  /** PEM file of an extra CA to trust for this registry (local stack). */
  caFile: z.string().min(1).optional(),
  /** Where ACR Tasks runs for this registry are scheduled (ACR only; the registry's ARM resource). */
  tasks: z
    .strictObject({
      subscriptionId: z.string().min(1),
      resourceGroup: z.string().min(1),
      registryName: z.string().regex(/^[a-zA-Z0-9]{5,50}$/, "an ACR resource name: 5-50 letters and digits"),
      /**
       * A user-assigned identity source builds run with (as ARM task runs): they log in with it to the other
       * ACRs of `registries` (`*.azurecr.io`), so it needs AcrPull there, and Ripple's identity must be
       * allowed to assign it (Managed Identity Operator).
       */
      identity: z
        .strictObject({
          clientId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "a client id (GUID)"),
          resourceId: z
            .string()
            .regex(
              /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[A-Za-z0-9][\w-]{2,127}$/i,
              "the resource id of a user-assigned identity: /subscriptions/…/resourceGroups/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…",
            ),
        })
        .optional(),
    })
    .optional(),
});
export type RegistryConfig = z.infer<typeof RegistryConfig>;

export const TrackedBase = z.strictObject({
  /** Image name without tag, e.g. `docker.io/library/alpine` or `contoso.azurecr.io/base/dotnet`. */
  image: ImageName,
  /** Tag patterns (globs), e.g. `["3.*", "latest"]`. */
  tags: z.array(z.string().min(1)).min(1),
  /** Patch SLA for dependents of this base, in hours (overrides `sla.defaultHours`). */
  slaHours: z.number().positive().optional(),
  /** The same as a duration (`48h`, `2d`); wins over `slaHours`. */
  sla: Duration.optional(),
  /**
   * For a base on a registry that does not notify Ripple (not in `registries`, so watched): how often each
   * tag is checked, in seconds (overrides `upstream.intervalSeconds`).
   */
  intervalSeconds: z.number().int().min(1).max(86_400).optional(),
  /**
   * For a watched base: the repository in a configured registry it is mirrored into
   * (`contoso.azurecr.io/mirror/alpine`), under the same tag. Without it, campaigns open directly on the
   * upstream tag, for images that build from it as is.
   */
  mirror: z
    .string()
    .min(1)
    .refine((text) => {
      const ref = parseImageRef(text, { defaultTag: false });
      return ref.ok && ref.value.tag === null && ref.value.digest === null;
    }, { message: "a repository without tag or digest, e.g. contoso.azurecr.io/mirror/alpine" })
    .optional(),
});
export type TrackedBase = z.infer<typeof TrackedBase>;

const SettingName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an app setting name");

const SinkCommon = {
  /** Unique among the sinks: names the sink's delivery state and appears in `ripple alerts`. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "lowercase letters, digits and dashes"),
  /** `primary` gets every alert; `escalation` only alerts escalated after `alerts.escalateAfter`. */
  route: z.enum(["primary", "escalation"]).default("primary"),
};

/** Where alerts go. Secrets (keys, webhook URLs, tokens) are named by app setting, never written here. */
export const AlertSinkConfig = z.discriminatedUnion("kind", [
  z.strictObject({ ...SinkCommon, kind: z.literal("pagerduty"), routingKeySetting: SettingName, endpoint: z.string().url().optional() }),
  z.strictObject({ ...SinkCommon, kind: z.literal("teams"), webhookUrlSetting: SettingName }),
  z.strictObject({ ...SinkCommon, kind: z.literal("slack"), webhookUrlSetting: SettingName.optional(), tokenSetting: SettingName.optional(), channel: z.string().min(1).optional(), apiUrl: z.string().url().optional() }),
  z.strictObject({ ...SinkCommon, kind: z.literal("github-issue"), repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, "owner/name"), labels: z.array(z.string().min(1).max(50)).default(["ripple-alert"]) }),
  z.strictObject({ ...SinkCommon, kind: z.literal("webhook"), urlSetting: SettingName, secretSetting: SettingName }),
  z.strictObject({ ...SinkCommon, kind: z.literal("event-grid"), endpoint: z.string().url(), keySetting: SettingName.optional() }),
]);
export type AlertSinkConfig = z.infer<typeof AlertSinkConfig>;

const HHMM = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, "HH:MM, 24-hour");

const SLA_DEFAULTS = { defaultHours: 72, dependents: [], atRiskShare: 0.75, stuck: { pending: "30m", run: "2h", pullRequest: "24h" }, predict: true };
const ALERT_DEFAULTS = { renotify: "4h", sinks: [] };

export const UpstreamRegistryConfig = z.strictObject({
  /** The host as it appears in image references: `docker.io`, `mcr.microsoft.com`, `ghcr.io`. */
  host: z.string().min(1).regex(/^[a-z0-9.-]+(?::\d+)?$/, "lowercase host[:port]"),
  /** The API root when it differs from `https://<host>` (default for docker.io: `https://registry-1.docker.io`). */
  endpoint: z.string().url().refine((url) => url.startsWith("https://"), { message: "must be https" }).optional(),
  /** PEM file of an extra CA to trust (local stack). */
  caFile: z.string().min(1).optional(),
  /**
   * App settings holding the pull credentials (Key Vault references in Azure); anonymous pulls when absent.
   * The values are read from the environment, never from this file.
   */
  credentials: z.strictObject({ usernameSetting: SettingName, passwordSetting: SettingName }).optional(),
});
export type UpstreamRegistryConfig = z.infer<typeof UpstreamRegistryConfig>;

const UPSTREAM_DEFAULTS = { registries: [], intervalSeconds: 60, listTagsMinutes: 15, concurrency: 16, maxBackoffSeconds: 900, bringInTimeoutSeconds: 120 };

export const RepositoryConfig = z.strictObject({
  /** A git remote URL or, on the local stack, a path to a repository. */
  url: z.string().min(1),
  branch: z.string().min(1).default("main"),
});
export type RepositoryConfig = z.infer<typeof RepositoryConfig>;

export const BuildRecipe = z.union([
  z.strictObject({ image: ImageName, task: z.string().min(1) }),
  z.strictObject({
    image: ImageName,
    repository: z.string().min(1),
    revision: z.string().min(1).default("main"),
    dockerfile: z.string().min(1).default("Dockerfile"),
    context: z.string().min(1).default("."),
    args: z.record(z.string(), z.string()).default({}),
    tags: z.array(z.string().min(1)).default([]),
    platforms: z.array(z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/)).default([]),
  }),
]);
export type BuildRecipe = z.infer<typeof BuildRecipe>;

export const ConfiguredDependency = z.strictObject({
  /** The dependent image, `registry/repository:tag`. */
  image: ImageName,
  /** The base tag it is built on, `registry/repository:tag`. */
  base: ImageName,
});
export type ConfiguredDependency = z.infer<typeof ConfiguredDependency>;

export const RippleConfig = z.strictObject({
  version: z.literal(1),
  registries: z.array(RegistryConfig).min(1),
  bases: z.array(TrackedBase).default([]),
  repositories: z.array(RepositoryConfig).default([]),
  recipes: z.array(BuildRecipe).default([]),
  dependencies: z.array(ConfiguredDependency).default([]),
  sla: z
    .strictObject({
      /** The default patch SLA, in hours. */
      defaultHours: z.number().positive().default(72),
      /** The default as a duration (`72h`, `3d`); wins over `defaultHours`. */
      default: Duration.optional(),
      /** Per dependent, first match wins, before the per-base SLA: an image glob or an `owner/repo/path` glob. */
      dependents: z.array(z.strictObject({ match: z.string().min(1), within: Duration })).default([]),
      /** The share of the budget after which an open obligation is `at-risk`. */
      atRiskShare: z.number().gt(0).lt(1).default(0.75),
      /** When open work counts as stuck: pending and never scheduled, a run not moving, a pull request unmerged. */
      stuck: z
        .strictObject({ pending: Duration.default("30m"), run: Duration.default("2h"), pullRequest: Duration.default("24h") })
        .default(SLA_DEFAULTS.stuck),
      /** Warn when a dependent's own past durations predict it will finish after its due time. */
      predict: z.boolean().default(true),
    })
    .default(SLA_DEFAULTS),
  /** On-call alerts: one per campaign, to the sinks of its route. */
  alerts: z
    .strictObject({
      /** The public root of the app (`https://ripple.contoso.com`): campaign links in alerts. */
      pageUrl: z.string().url().optional(),
      /** The runbook, one section per failure kind (default: docs/runbook.md of Ripple's repository). */
      runbookUrl: z.string().url().optional(),
      /** Re-notify an unresolved alert this often; `0s` never. */
      renotify: z.union([Duration, z.literal("0s")]).default("4h"),
      /** Escalate a critical alert unresolved this long to the `escalation` route. */
      escalateAfter: Duration.optional(),
      /** Warnings wait for the end of quiet hours; criticals never do. */
      quietHours: z.strictObject({ timeZone: z.string().refine(isTimeZone, { message: "an IANA time zone such as Europe/Berlin" }), from: HHMM, to: HHMM }).optional(),
      sinks: z.array(AlertSinkConfig).default([]),
    })
    .default(ALERT_DEFAULTS),
  /** Besides `repositories`: scan every repository the GitHub App installation can access (optionally one owner's). */
  github: z
    .strictObject({
      installationRepositories: z.boolean().default(false),
      owner: z.string().regex(/^[\w.-]+$/).optional(),
    })
    .default({ installationRepositories: false }),
  pullRequests: z
    .strictObject({
      /** Labels on every pull request Ripple opens. */
      labels: z.array(z.string().min(1).max(50)).default(["dependencies", "ripple"]),
    })
    .default({ labels: ["dependencies", "ripple"] }),
  /**
   * The watch of bases on registries that send Ripple no notifications (any base whose registry is not in
   * `registries`). `registries` here only adds settings (credentials, endpoint, CA) for such hosts.
   */
  upstream: z
    .strictObject({
      registries: z.array(UpstreamRegistryConfig).default([]),
      /** Seconds between two checks (one manifest HEAD) of a watched tag. */
      intervalSeconds: z.number().int().min(1).max(86_400).default(60),
      /** Minutes between two tag listings of a repository whose tag patterns are globs. */
      listTagsMinutes: z.number().positive().default(15),
      /** Checks in flight at once. */
      concurrency: z.number().int().min(1).max(256).default(16),
      /** Ceiling of the back-off after failed checks of a tag (doubling from its interval), and of a registry's `Retry-After`. */
      maxBackoffSeconds: z.number().int().min(1).default(900),
      /** How long one check waits for a mirror (an ACR import) before leaving it to the next check. */
      bringInTimeoutSeconds: z.number().int().min(1).max(600).default(120),
    })
    .default(UPSTREAM_DEFAULTS),
  rebuild: z
    .strictObject({
      /** Builds running at once per registry; more wait on the queue. */
      concurrencyPerRegistry: z.number().int().positive().default(4),
      /** Builder calls per obligation before it fails (retryable failures only). */
      maxAttempts: z.number().int().positive().default(5),
      /** First retry delay; doubles with each attempt. */
      backoffSeconds: z.number().positive().default(5),
      /** How often a running ACR Tasks run is polled. */
      pollSeconds: z.number().positive().default(15),
      /** Pushes of one base tag within this window make one campaign, on the last digest; 0 opens at once. */
      debounceSeconds: z.number().min(0).default(0),
      /** How often a worker waiting on the builder renews its claim (the run record's `heartbeatAt`). */
      heartbeatSeconds: z.number().positive().default(10),
      /**
       * A claim not renewed for this long (its worker died before the builder answered) is taken over by the
       * next delivery of the job; at least twice `heartbeatSeconds`, so one late renewal does not lose it.
       */
      claimTimeoutSeconds: z.number().positive().default(30),
      /**
       * A started run nobody has heard of for this long (its poll job was lost) no longer counts toward
       * `concurrencyPerRegistry`. Claims no longer use it: see `claimTimeoutSeconds` (before, claims were taken over after this).
       */
      staleClaimSeconds: z.number().positive().default(600),
    })
    .refine((rebuild) => rebuild.claimTimeoutSeconds >= 2 * rebuild.heartbeatSeconds, {
      message: "claimTimeoutSeconds must be at least twice heartbeatSeconds",
      path: ["claimTimeoutSeconds"],
    })
    .default({ concurrencyPerRegistry: 4, maxAttempts: 5, backoffSeconds: 5, pollSeconds: 15, debounceSeconds: 0, heartbeatSeconds: 10, claimTimeoutSeconds: 30, staleClaimSeconds: 600 }),
}).superRefine(checkUpstreamBases).superRefine(checkAlertSinks);
export type RippleConfig = z.infer<typeof RippleConfig>;

/** Sink ids are unique; a Slack sink has a webhook, or a token and a channel. */
function checkAlertSinks(config: { alerts: { sinks: AlertSinkConfig[] } }, context: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [index, sink] of config.alerts.sinks.entries()) {
    if (seen.has(sink.id)) context.addIssue({ code: "custom", path: ["alerts", "sinks", index, "id"], message: `sink id ${sink.id} is used twice` });
    seen.add(sink.id);
    if (sink.kind === "slack" && (sink.webhookUrlSetting === undefined) === (sink.tokenSetting === undefined || sink.channel === undefined)) {
      context.addIssue({ code: "custom", path: ["alerts", "sinks", index], message: "a slack sink has webhookUrlSetting, or tokenSetting and channel (not both)" });
    }
  }
}

/** Watched bases are on an upstream registry; a mirror target is a configured registry that can take the copy. */
function checkUpstreamBases(config: {
  registries: RegistryConfig[];
  bases: TrackedBase[];
  upstream: { registries: UpstreamRegistryConfig[] };
}, context: z.RefinementCtx): void {
  const notifying = new Set(config.registries.map((registry) => registry.host));
  for (const [index, registry] of config.upstream.registries.entries()) {
    if (config.registries.some((candidate) => candidate.host === registry.host)) {
      context.addIssue({ code: "custom", path: ["upstream", "registries", index, "host"], message: `${registry.host} is also in registries: a registry either notifies Ripple or is watched` });
    }
  }
  for (const [index, base] of config.bases.entries()) {
    const ref = parseImageRef(base.image, { defaultTag: false });
    const watched = ref.ok && !notifying.has(ref.value.registry);
    if (!watched && (base.mirror !== undefined || base.intervalSeconds !== undefined)) {
      context.addIssue({ code: "custom", path: ["bases", index, base.mirror !== undefined ? "mirror" : "intervalSeconds"], message: "only a base on a registry that does not notify Ripple (not in registries) is watched and mirrored" });
    }
    if (base.mirror === undefined) continue;
    const target = parseImageRef(base.mirror, { defaultTag: false });
    const registry = target.ok ? config.registries.find((candidate) => candidate.host === target.value.registry) : undefined;
    if (registry === undefined) {
      context.addIssue({ code: "custom", path: ["bases", index, "mirror"], message: "the mirror must be in a configured registry (registries)" });
    } else if (registry.kind === "acr" && registry.tasks === undefined) {
      context.addIssue({ code: "custom", path: ["bases", index, "mirror"], message: `mirroring into ACR imports through ARM: set registries[].tasks (the registry's ARM resource) for ${registry.host}` });
    }
  }
}

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.length === 0 ? "(root)" : issue.path.join("."), message: issue.message }));
}

/** Parses configuration text (YAML or JSON). Throws ConfigError naming the path of the first bad value. */
export function parseConfig(text: string, origin = "configuration"): RippleConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${origin}: not valid YAML or JSON: ${(error as Error).message.split("\n")[0]}`);
  }
  const result = RippleConfig.safeParse(raw);
  if (!result.success) {
    const issues = issuesOf(result.error);
    const first = issues[0]!;
    throw new ConfigError(`${origin}: ${first.path}: ${first.message}`, issues);
  }
  return deepFreeze(result.data);
}

export function loadConfigFile(path: string): RippleConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  return parseConfig(text, path);
}

/** The JSON Schema of the configuration file, generated from the zod schema. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(RippleConfig, { io: "input" });
}

export const Settings = z.object({
  /**
   * Storage connection string for tables and queues (`AzureWebJobsStorage` in Functions; Azurite locally).
   * Absent: an identity-based connection from the `AzureWebJobsStorage__*` settings below.
   */
  AzureWebJobsStorage: z.string().min(1).optional(),
  /** Identity-based storage, as the Functions host reads it: the account, or each service's URI. */
  AzureWebJobsStorage__accountName: z.string().regex(/^[a-z0-9]{3,24}$/, "a storage account name").optional(),
  AzureWebJobsStorage__tableServiceUri: z.string().url().optional(),
  AzureWebJobsStorage__queueServiceUri: z.string().url().optional(),
  /** `managedidentity`: the app's managed identity; absent: DefaultAzureCredential (a developer's laptop). */
  AzureWebJobsStorage__credential: z.literal("managedidentity").optional(),
  /** The client id of a user-assigned managed identity. */
  AzureWebJobsStorage__clientId: z.string().min(1).optional(),
  /** PEM file of an extra CA for the storage endpoints (the local stack's Azurite over HTTPS). */
  RIPPLE_STORAGE_CA_FILE: z.string().min(1).optional(),
  /** Path of the configuration file. */
  RIPPLE_CONFIG: z.string().min(1).default("ripple.yaml"),
  /** Shared secret the registry webhooks must send (`Authorization: Bearer …` or `X-Ripple-Secret`). */
  RIPPLE_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters"),
  /**
   * Microsoft Entra authentication of Event Grid webhook deliveries (both or neither): the tenant (directory)
   * id of the webhook's Entra application, and the accepted audiences — its application id and/or
   * application id URI, comma-separated. Set: a request carrying `aeg-event-type` must bear a valid token.
   */
  RIPPLE_EVENT_GRID_AAD_TENANT_ID: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "a tenant id (GUID)").optional(),
  RIPPLE_EVENT_GRID_AAD_AUDIENCE: z.string().regex(/^[^,\s]+(?:\s*,\s*[^,\s]+)*$/, "application ids or URIs, comma-separated").optional(),
  /** Where the tenant's OpenID configuration is read (default https://login.microsoftonline.com); the local stack's issuer. */
  RIPPLE_EVENT_GRID_AAD_AUTHORITY: z.string().url().optional(),
  /** PEM file of an extra CA for that authority (the local stack's). */
  RIPPLE_EVENT_GRID_AAD_CA_FILE: z.string().min(1).optional(),
  RIPPLE_TABLE_PREFIX: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,40}$/).default("ripple"),
  RIPPLE_QUEUE_PREFIX: z.string().regex(/^[a-z0-9]{1,20}$/).default("ripple"),
  /** Set by the local stack: its folder, whose buildah rebuilds images of Distribution registries. */
  RIPPLE_LOCAL_STACK_DIR: z.string().min(1).optional(),
  /**
   * Set by the local stack: "false" makes its buildah write images without manifest annotations (no
   * `org.opencontainers.image.base.*`, as ACR Tasks), so edges come from layers and Dockerfiles only.
   */
  RIPPLE_LOCAL_BUILD_ANNOTATIONS: z.enum(["true", "false"]).optional(),
  /** GitHub App used for repositories named `owner/name` or by their github.com URL (all four or none). */
  RIPPLE_GITHUB_APP_ID: z.string().regex(/^\d+$/, "a numeric App id").optional(),
  RIPPLE_GITHUB_INSTALLATION_ID: z.string().regex(/^\d+$/, "a numeric installation id").optional(),
  /** The App's private key (PEM), from Key Vault. */
  RIPPLE_GITHUB_PRIVATE_KEY: z.string().min(1).optional(),
  /** Secret of the GitHub webhook (`X-Hub-Signature-256`). */
  RIPPLE_GITHUB_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  RIPPLE_GITHUB_API_URL: z.string().url().default("https://api.github.com"),
  /** The app's public root for links in alerts (default `https://$WEBSITE_HOSTNAME`); `alerts.pageUrl` wins. */
  RIPPLE_PUBLIC_URL: z.string().url().optional(),
  /** NCRONTAB (with seconds) of the SLA monitor timer (default every minute). */
  RIPPLE_SLA_SCHEDULE: z.string().min(1).optional(),
}).superRefine((settings, context) => {
  const identity = settings.AzureWebJobsStorage__accountName !== undefined || (settings.AzureWebJobsStorage__tableServiceUri !== undefined && settings.AzureWebJobsStorage__queueServiceUri !== undefined);
  if (settings.AzureWebJobsStorage === undefined && !identity) {
    context.addIssue({ code: "custom", path: ["AzureWebJobsStorage"], message: "set AzureWebJobsStorage (a connection string), or AzureWebJobsStorage__accountName (or __tableServiceUri and __queueServiceUri) for an identity-based connection" });
  }
  if ((settings.RIPPLE_EVENT_GRID_AAD_TENANT_ID === undefined) !== (settings.RIPPLE_EVENT_GRID_AAD_AUDIENCE === undefined)) {
    context.addIssue({ code: "custom", path: ["RIPPLE_EVENT_GRID_AAD_TENANT_ID"], message: "RIPPLE_EVENT_GRID_AAD_TENANT_ID and RIPPLE_EVENT_GRID_AAD_AUDIENCE go together" });
  }
  const app = [settings.RIPPLE_GITHUB_APP_ID, settings.RIPPLE_GITHUB_INSTALLATION_ID, settings.RIPPLE_GITHUB_PRIVATE_KEY];
  if (app.some((value) => value !== undefined) && app.some((value) => value === undefined)) {
    context.addIssue({ code: "custom", path: ["RIPPLE_GITHUB_APP_ID"], message: "RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY go together" });
  }
});
export type Settings = z.infer<typeof Settings>;

/** How the app reaches its storage account: a connection string, or endpoints and a token credential. */
export type StorageConnection =
  | { readonly kind: "connection-string"; readonly connectionString: string }
  | {
      readonly kind: "identity";
      readonly tableEndpoint: string;
      readonly queueEndpoint: string;
      /** `managed-identity` (with `clientId` for a user-assigned one), or `default` (DefaultAzureCredential). */
      readonly credential: "managed-identity" | "default";
      readonly clientId: string | null;
    };

/**
 * The storage connection named `name` in the settings, read the way the Functions host reads it: the
 * setting itself is a connection string; otherwise `<name>__accountName` gives the account's
 * `https://<account>.{table,queue}.core.windows.net` endpoints (or `__tableServiceUri` / `__queueServiceUri`
 * give them), `__credential=managedidentity` (and `__clientId`) the identity. Null when neither is set.
 */
export function storageConnectionOf(settings: Readonly<Record<string, string | undefined>>, name = "AzureWebJobsStorage"): StorageConnection | null {
  const connectionString = settings[name];
  if (connectionString !== undefined && connectionString !== "") return { kind: "connection-string", connectionString };
  const account = settings[`${name}__accountName`];
  const tableEndpoint = settings[`${name}__tableServiceUri`] ?? (account ? `https://${account}.table.core.windows.net` : undefined);
  const queueEndpoint = settings[`${name}__queueServiceUri`] ?? (account ? `https://${account}.queue.core.windows.net` : undefined);
  if (tableEndpoint === undefined || queueEndpoint === undefined) return null;
  const credential = settings[`${name}__credential`] === "managedidentity" ? "managed-identity" : "default";
  return { kind: "identity", tableEndpoint, queueEndpoint, credential, clientId: settings[`${name}__clientId`] ?? null };
}

/** Reads and validates the settings from the environment, once. Throws ConfigError naming the bad variable. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Readonly<Settings> {
  const result = Settings.safeParse(env);
  if (!result.success) {
    const issues = issuesOf(result.error);
    throw new ConfigError(`settings: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ")}`, issues);
  }
  return Object.freeze(result.data);
}

/**
 * Whether `registry/repository:tag` matches a tracked base of the configuration, or the mirror of one
 * (a mirrored base's tags are tracked in its mirror repository too).
 */
export function isTrackedBaseTag(config: RippleConfig, registry: string, repository: string, tag: string): TrackedBase | null {
  for (const base of config.bases) {
    if (!base.tags.some((pattern) => picomatch.isMatch(tag, pattern))) continue;
    for (const image of base.mirror === undefined ? [base.image] : [base.image, base.mirror]) {
      const parsed = parseImageRef(image, { defaultTag: false });
      if (parsed.ok && parsed.value.registry === registry && parsed.value.repository === repository) return base;
    }
  }
  return null;
}

/**
 * The upstream (watched) registries: every registry of a tracked base that is not in `registries` (it
 * notifies nobody), with its settings from `upstream.registries` when it has some (credentials, endpoint,
 * CA), anonymous otherwise. Sorted by host.
 */
export function upstreamRegistriesOf(config: RippleConfig): UpstreamRegistryConfig[] {
  const notifying = new Set(config.registries.map((registry) => registry.host));
  const upstreams = new Map(config.upstream.registries.map((registry) => [registry.host, registry]));
  for (const base of config.bases) {
    const ref = parseImageRef(base.image, { defaultTag: false });
    if (ref.ok && !notifying.has(ref.value.registry) && !upstreams.has(ref.value.registry)) upstreams.set(ref.value.registry, { host: ref.value.registry });
  }
  return [...upstreams.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/** The upstream (watched) registry with this host, if any (see {@link upstreamRegistriesOf}). */
export function findUpstreamRegistry(config: RippleConfig, host: string): UpstreamRegistryConfig | null {
  return upstreamRegistriesOf(config).find((registry) => registry.host === host) ?? null;
}

export function findRegistry(config: RippleConfig, host: string): RegistryConfig | null {
  return config.registries.find((registry) => registry.host === host) ?? null;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

/** The SLA rules of the configuration, in milliseconds: per dependent, per base (`sla` or `slaHours`), default. */
export function slaRulesOf(config: RippleConfig): SlaRules {
  const hours = (value: number): number => Math.round(value * 3_600_000);
  return {
    defaultMs: config.sla.default !== undefined ? parseDuration(config.sla.default)! : hours(config.sla.defaultHours),
    dependents: config.sla.dependents.map((rule) => ({ match: rule.match, budgetMs: parseDuration(rule.within)! })),
    bases: config.bases.flatMap((base) => {
      const budgetMs = base.sla !== undefined ? parseDuration(base.sla) : base.slaHours !== undefined ? hours(base.slaHours) : null;
      if (budgetMs === null) return [];
      const images = [base.image, ...(base.mirror === undefined ? [] : [base.mirror])];
      return images.map((image) => ({ image, budgetMs }));
    }),
  };
}

/** The stuck thresholds of the configuration, in milliseconds. */
export function stuckRulesOf(config: RippleConfig): StuckRules {
  return { pendingMs: parseDuration(config.sla.stuck.pending)!, runMs: parseDuration(config.sla.stuck.run)!, pullRequestMs: parseDuration(config.sla.stuck.pullRequest)! };
}
