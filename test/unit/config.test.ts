import { describe, expect, it } from "vitest";
import { configJsonSchema, slaRulesOf, stuckRulesOf, isTrackedBaseTag, loadSettings, parseConfig, storageConnectionOf, upstreamRegistriesOf } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";

function failureOf(action: () => unknown): { name: string; code: string; message: string } {
  try {
    action();
  } catch (error) {
    return { name: (error as Error).name, code: (error as ConfigError).code, message: (error as Error).message };
  }
  throw new Error("expected a failure");
}

const minimal = `
version: 1
registries:
  - host: contoso.azurecr.io
bases:
  - image: docker.io/library/alpine
    tags: ["3.*"]
  - image: contoso.azurecr.io/base/dotnet
    tags: ["8", "8.*"]
`;

describe("parseConfig", () => {
  it("fills defaults and freezes the result", () => {
    const config = parseConfig(minimal);
    expect(config).toEqual({
      version: 1,
      registries: [{ host: "contoso.azurecr.io", kind: "acr" }],
      bases: [
        { image: "docker.io/library/alpine", tags: ["3.*"] },
        { image: "contoso.azurecr.io/base/dotnet", tags: ["8", "8.*"] },
      ],
      repositories: [],
      recipes: [],
      dependencies: [],
      sla: { defaultHours: 72, dependents: [], atRiskShare: 0.75, stuck: { pending: "30m", run: "2h", pullRequest: "24h" }, predict: true },
      alerts: { renotify: "4h", sinks: [] },
      github: { installationRepositories: false },
      pullRequests: { labels: ["dependencies", "ripple"] },
      upstream: { registries: [], intervalSeconds: 60, listTagsMinutes: 15, concurrency: 16, maxBackoffSeconds: 900, bringInTimeoutSeconds: 120 },
      rebuild: { concurrencyPerRegistry: 4, maxAttempts: 5, backoffSeconds: 5, pollSeconds: 15, debounceSeconds: 0, heartbeatSeconds: 10, claimTimeoutSeconds: 30, staleClaimSeconds: 600 },
    });
    expect(Object.isFrozen(config.bases[0])).toBe(true);
  });

  it("reads JSON as well as YAML", () => {
    expect(parseConfig(JSON.stringify({ version: 1, registries: [{ host: "127.0.0.1:5000", kind: "distribution" }] })).registries).toEqual([{ host: "127.0.0.1:5000", kind: "distribution" }]);
  });

  it.each([
    ["no version", "registries: [{host: a.io}]", "configuration: version: Invalid input: expected 1"],
    ["no registry", "version: 1\nregistries: []", "configuration: registries: Too small: expected array to have >=1 items"],
    ["an uppercase host", "version: 1\nregistries: [{host: A.io}]", "configuration: registries.0.host: lowercase host[:port]"],
    ["an unknown key", "version: 1\nregistries: [{host: a.io}]\nbasez: []", 'configuration: (root): Unrecognized key: "basez"'],
    ["a bad base image", "version: 1\nregistries: [{host: a.io}]\nbases: [{image: 'Bad Image', tags: ['1']}]", "configuration: bases.0.image: not a valid image reference"],
    ["a base without tags", "version: 1\nregistries: [{host: a.io}]\nbases: [{image: alpine, tags: []}]", "configuration: bases.0.tags: Too small: expected array to have >=1 items"],
    ["a negative SLA", "version: 1\nregistries: [{host: a.io}]\nsla: {defaultHours: -1}", "configuration: sla.defaultHours: Too small: expected number to be >0"],
    ["broken YAML", "version: [1", "configuration: not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 12:"],
  ])("rejects %s with the path", (_, text, message) => {
    expect(failureOf(() => parseConfig(text))).toEqual({ name: "ConfigError", code: "config_invalid", message });
  });
});

describe("upstream bases", () => {
  const upstream = `
version: 1
registries:
  - host: contoso.azurecr.io
    tasks: { subscriptionId: s, resourceGroup: rg, registryName: contoso }
  - host: 127.0.0.1:5000
    kind: distribution
upstream:
  registries:
    - host: docker.io
      credentials: { usernameSetting: DOCKERHUB_USER, passwordSetting: DOCKERHUB_TOKEN }
    - host: mcr.microsoft.com
bases:
  - image: docker.io/library/alpine
    tags: ["3.*"]
    mirror: contoso.azurecr.io/mirror/alpine
    intervalSeconds: 30
  - image: mcr.microsoft.com/dotnet/aspnet
    tags: ["8.0"]
`;

  it("reads upstream registries, per-base intervals and mirrors, with defaults", () => {
    const config = parseConfig(upstream);
    expect(config.upstream).toEqual({
      registries: [{ host: "docker.io", credentials: { usernameSetting: "DOCKERHUB_USER", passwordSetting: "DOCKERHUB_TOKEN" } }, { host: "mcr.microsoft.com" }],
      intervalSeconds: 60,
      listTagsMinutes: 15,
      concurrency: 16,
      maxBackoffSeconds: 900,
      bringInTimeoutSeconds: 120,
    });
    expect(config.bases[0]).toEqual({ image: "docker.io/library/alpine", tags: ["3.*"], mirror: "contoso.azurecr.io/mirror/alpine", intervalSeconds: 30 });
  });

  it("watches every base whose registry does not notify Ripple, with the settings upstream.registries gives it", () => {
    expect(upstreamRegistriesOf(parseConfig(upstream))).toEqual([
      { host: "docker.io", credentials: { usernameSetting: "DOCKERHUB_USER", passwordSetting: "DOCKERHUB_TOKEN" } },
      { host: "mcr.microsoft.com" },
    ]);
    // `minimal` has no upstream section: alpine's docker.io is watched anonymously; contoso notifies.
    expect(upstreamRegistriesOf(parseConfig(minimal))).toEqual([{ host: "docker.io" }]);
  });

  it.each([
    ["the mirror's tags as tracked tags", "contoso.azurecr.io", "mirror/alpine", "3.20", true],
    ["the upstream tag itself", "docker.io", "library/alpine", "3.21", true],
    ["a mirror tag no pattern names", "contoso.azurecr.io", "mirror/alpine", "edge", false],
  ])("tracks %s", (_, registry, repository, tag, tracked) => {
    expect(isTrackedBaseTag(parseConfig(upstream), registry, repository, tag) !== null).toBe(tracked);
  });

  const registries = "version: 1\nregistries: [{host: contoso.azurecr.io}, {host: 127.0.0.1:5000, kind: distribution}]\n";
  it.each([
    ["a mirror for a base that is not upstream", `${registries}bases: [{image: contoso.azurecr.io/base, tags: ['1'], mirror: 127.0.0.1:5000/m}]`, "configuration: bases.0.mirror: only a base on a registry that does not notify Ripple (not in registries) is watched and mirrored"],
    ["a mirror in an unconfigured registry", `${registries}upstream: {registries: [{host: docker.io}]}\nbases: [{image: alpine, tags: ['3.*'], mirror: other.io/mirror/alpine}]`, "configuration: bases.0.mirror: the mirror must be in a configured registry (registries)"],
    ["a mirror into ACR without its ARM resource", `${registries}upstream: {registries: [{host: docker.io}]}\nbases: [{image: alpine, tags: ['3.*'], mirror: contoso.azurecr.io/mirror/alpine}]`, "configuration: bases.0.mirror: mirroring into ACR imports through ARM: set registries[].tasks (the registry's ARM resource) for contoso.azurecr.io"],
    ["a mirror with a tag", `${registries}upstream: {registries: [{host: docker.io}]}\nbases: [{image: alpine, tags: ['3.*'], mirror: '127.0.0.1:5000/m:3'}]`, "configuration: bases.0.mirror: a repository without tag or digest, e.g. contoso.azurecr.io/mirror/alpine"],
    ["a registry both notifying and watched", `${registries}upstream: {registries: [{host: contoso.azurecr.io}]}`, "configuration: upstream.registries.0.host: contoso.azurecr.io is also in registries: a registry either notifies Ripple or is watched"],
    ["an interval under a second", `${registries}upstream: {registries: [{host: docker.io}]}\nbases: [{image: alpine, tags: ['3.*'], intervalSeconds: 0}]`, "configuration: bases.0.intervalSeconds: Too small: expected number to be >=1"],
    ["credentials given as values", `${registries}upstream: {registries: [{host: docker.io, credentials: {usernameSetting: 'me', passwordSetting: 'hunter 2'}}]}`, "configuration: upstream.registries.0.credentials.passwordSetting: an app setting name"],
    ["an http endpoint", `${registries}upstream: {registries: [{host: docker.io, endpoint: 'http://registry-1.docker.io'}]}`, "configuration: upstream.registries.0.endpoint: must be https"],
  ])("refuses %s", (_, text, message) => {
    expect(failureOf(() => parseConfig(text))).toEqual({ name: "ConfigError", code: "config_invalid", message });
  });
});

describe("isTrackedBaseTag", () => {
  const config = parseConfig(minimal);
  it.each([
    ["docker.io", "library/alpine", "3.20", true],
    ["docker.io", "library/alpine", "edge", false],
    ["contoso.azurecr.io", "base/dotnet", "8", true],
    ["contoso.azurecr.io", "base/dotnet", "8.0.1", true],
    ["contoso.azurecr.io", "base/dotnet", "9", false],
    ["other.azurecr.io", "base/dotnet", "8", false],
  ])("%s/%s:%s → %s", (registry, repository, tag, tracked) => {
    expect(isTrackedBaseTag(config, registry, repository, tag) !== null).toBe(tracked);
  });
});

describe("loadSettings", () => {
  it("validates the environment and applies defaults", () => {
    expect(loadSettings({ AzureWebJobsStorage: "UseDevelopmentStorage=true", RIPPLE_WEBHOOK_SECRET: "0123456789abcdef" })).toEqual({
      AzureWebJobsStorage: "UseDevelopmentStorage=true",
      RIPPLE_CONFIG: "ripple.yaml",
      RIPPLE_WEBHOOK_SECRET: "0123456789abcdef",
      RIPPLE_TABLE_PREFIX: "ripple",
      RIPPLE_QUEUE_PREFIX: "ripple",
      RIPPLE_GITHUB_API_URL: "https://api.github.com",
    });
  });

  it("refuses a GitHub App configured only in part", () => {
    expect(failureOf(() => loadSettings({ AzureWebJobsStorage: "UseDevelopmentStorage=true", RIPPLE_WEBHOOK_SECRET: "0123456789abcdef", RIPPLE_GITHUB_APP_ID: "12" }))).toEqual({
      name: "ConfigError",
      code: "config_invalid",
      message: "settings: RIPPLE_GITHUB_APP_ID: RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY go together",
    });
  });

  it("names every bad variable", () => {
    expect(failureOf(() => loadSettings({ RIPPLE_WEBHOOK_SECRET: "short" }))).toEqual({
      name: "ConfigError",
      code: "config_invalid",
      message: "settings: RIPPLE_WEBHOOK_SECRET: must be at least 16 characters; AzureWebJobsStorage: set AzureWebJobsStorage (a connection string), or AzureWebJobsStorage__accountName (or __tableServiceUri and __queueServiceUri) for an identity-based connection",
    });
  });
});

describe("storage connections (as the Functions host reads them)", () => {
  const secret = { RIPPLE_WEBHOOK_SECRET: "0123456789abcdef" };
  it.each([
    ["a connection string", { AzureWebJobsStorage: "UseDevelopmentStorage=true" }, { kind: "connection-string", connectionString: "UseDevelopmentStorage=true" }],
    ["an account with the system-assigned identity", { AzureWebJobsStorage__accountName: "stripple", AzureWebJobsStorage__credential: "managedidentity" },
      { kind: "identity", tableEndpoint: "https://stripple.table.core.windows.net", queueEndpoint: "https://stripple.queue.core.windows.net", credential: "managed-identity", clientId: null }],
    ["service URIs with a user-assigned identity", { AzureWebJobsStorage__tableServiceUri: "https://t.example/acct", AzureWebJobsStorage__queueServiceUri: "https://q.example/acct", AzureWebJobsStorage__credential: "managedidentity", AzureWebJobsStorage__clientId: "11111111-2222-3333-4444-555555555555" },
      { kind: "identity", tableEndpoint: "https://t.example/acct", queueEndpoint: "https://q.example/acct", credential: "managed-identity", clientId: "11111111-2222-3333-4444-555555555555" }],
    ["an account without a credential setting (a developer's DefaultAzureCredential)", { AzureWebJobsStorage__accountName: "stripple" },
      { kind: "identity", tableEndpoint: "https://stripple.table.core.windows.net", queueEndpoint: "https://stripple.queue.core.windows.net", credential: "default", clientId: null }],
  ])("reads %s", (_, env, connection) => {
    expect(storageConnectionOf(loadSettings({ ...secret, ...env }))).toEqual(connection);
  });

  it("refuses settings with no way to reach storage, and an unknown credential kind", () => {
    expect(failureOf(() => loadSettings({ ...secret, AzureWebJobsStorage__tableServiceUri: "https://t.example/acct" })).message).toBe(
      "settings: AzureWebJobsStorage: set AzureWebJobsStorage (a connection string), or AzureWebJobsStorage__accountName (or __tableServiceUri and __queueServiceUri) for an identity-based connection",
    );
    expect(failureOf(() => loadSettings({ ...secret, AzureWebJobsStorage__accountName: "stripple", AzureWebJobsStorage__credential: "clientsecret" })).message).toBe(
      'settings: AzureWebJobsStorage__credential: Invalid input: expected "managedidentity"',
    );
  });
});

describe("SLA and alert configuration", () => {
  const base = "version: 1\nregistries: [{host: contoso.azurecr.io}]\n";

  it("turns per-dependent, per-base and default SLAs into budgets, a duration winning over hours", () => {
    const config = parseConfig(`${base}bases:
  - { image: docker.io/library/alpine, tags: ["3.*"], slaHours: 12, mirror: contoso.azurecr.io/mirror/alpine }
  - { image: contoso.azurecr.io/base/dotnet, tags: ["8"], slaHours: 12, sla: 1d12h }
  - { image: contoso.azurecr.io/base/node, tags: ["20"] }
registries: [{host: contoso.azurecr.io, tasks: {subscriptionId: s, resourceGroup: rg, registryName: contoso}}]
sla: { defaultHours: 72, default: 2d, dependents: [{ match: "contoso/payments/**", within: 90m }] }
`.replace(/^registries: \[\{host: contoso.azurecr.io\}\]\n/m, ""));
    expect({ rules: slaRulesOf(config), stuck: stuckRulesOf(config) }).toEqual({
      rules: {
        defaultMs: 2 * 86_400_000,
        dependents: [{ match: "contoso/payments/**", budgetMs: 90 * 60_000 }],
        bases: [
          { image: "docker.io/library/alpine", budgetMs: 12 * 3_600_000 },
          { image: "contoso.azurecr.io/mirror/alpine", budgetMs: 12 * 3_600_000 },
          { image: "contoso.azurecr.io/base/dotnet", budgetMs: 36 * 3_600_000 },
        ],
      },
      stuck: { pendingMs: 30 * 60_000, runMs: 2 * 3_600_000, pullRequestMs: 24 * 3_600_000 },
    });
  });

  it("reads sinks with their routes and quiet hours", () => {
    const config = parseConfig(`${base}alerts:
  pageUrl: https://ripple.contoso.com
  escalateAfter: 1h
  quietHours: { timeZone: Europe/Berlin, from: "22:00", to: "07:00" }
  sinks:
    - { id: pd, kind: pagerduty, routingKeySetting: RIPPLE_PAGERDUTY_KEY }
    - { id: lead, kind: slack, route: escalation, tokenSetting: RIPPLE_SLACK_TOKEN, channel: "#oncall" }
`);
    expect(config.alerts).toEqual({
      pageUrl: "https://ripple.contoso.com",
      renotify: "4h",
      escalateAfter: "1h",
      quietHours: { timeZone: "Europe/Berlin", from: "22:00", to: "07:00" },
      sinks: [
        { id: "pd", kind: "pagerduty", route: "primary", routingKeySetting: "RIPPLE_PAGERDUTY_KEY" },
        { id: "lead", kind: "slack", route: "escalation", tokenSetting: "RIPPLE_SLACK_TOKEN", channel: "#oncall" },
      ],
    });
  });

  it.each([
    ["a duration without a unit", "sla: { dependents: [{ match: 'a/*', within: '48' }] }", "configuration: sla.dependents.0.within: a duration such as 48h, 90m, 2d or 1d12h"],
    ["an at-risk share of 1", "sla: { atRiskShare: 1 }", "configuration: sla.atRiskShare: Too big: expected number to be <1"],
    ["an unknown time zone", "alerts: { quietHours: { timeZone: Mars/Olympus, from: '22:00', to: '07:00' } }", "configuration: alerts.quietHours.timeZone: an IANA time zone such as Europe/Berlin"],
    ["a 12-hour time", "alerts: { quietHours: { timeZone: UTC, from: '10pm', to: '07:00' } }", "configuration: alerts.quietHours.from: HH:MM, 24-hour"],
    ["a sink id used twice", "alerts: { sinks: [{ id: a, kind: teams, webhookUrlSetting: T }, { id: a, kind: teams, webhookUrlSetting: U }] }", "configuration: alerts.sinks.1.id: sink id a is used twice"],
    ["a slack sink with a webhook and a token", "alerts: { sinks: [{ id: s, kind: slack, webhookUrlSetting: W, tokenSetting: T, channel: c }] }", "configuration: alerts.sinks.0: a slack sink has webhookUrlSetting, or tokenSetting and channel (not both)"],
    ["a routing key written in the file", "alerts: { sinks: [{ id: pd, kind: pagerduty, routingKeySetting: PD, routingKey: abc }] }", 'configuration: alerts.sinks.0: Unrecognized key: "routingKey"'],
  ])("rejects %s with the path", (_, text, message) => {
    expect(failureOf(() => parseConfig(base + text))).toEqual({ name: "ConfigError", code: "config_invalid", message });
  });
});

describe("configJsonSchema", () => {
  it("is generated from the zod schema", () => {
    const schema = configJsonSchema() as { type: string; required: string[]; properties: Record<string, unknown> };
    expect(schema.type).toBe("object");
    expect(schema.required).toEqual(["version", "registries"]);
    expect(Object.keys(schema.properties)).toEqual(["version", "registries", "bases", "repositories", "recipes", "dependencies", "sla", "alerts", "github", "pullRequests", "upstream", "rebuild"]);
  });
});

describe("registries[].tasks.identity", () => {
  const CLIENT_ID = "6b1f0a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
  const RESOURCE_ID = "/subscriptions/3f2504e0-4f89-41d3-9a0c-0305e82c3301/resourceGroups/rg-ripple/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ripple-builds";
  const withIdentity = (identity: string): string => `version: 1\nregistries: [{host: contoso.azurecr.io, tasks: {subscriptionId: s, resourceGroup: rg, registryName: contoso, identity: ${identity}}}]\n`;

  it("keeps the identity of a registry's ACR Tasks builds", () => {
    expect(parseConfig(withIdentity(`{clientId: ${CLIENT_ID}, resourceId: '${RESOURCE_ID}'}`)).registries).toEqual([
      { host: "contoso.azurecr.io", kind: "acr", tasks: { subscriptionId: "s", resourceGroup: "rg", registryName: "contoso", identity: { clientId: CLIENT_ID, resourceId: RESOURCE_ID } } },
    ]);
  });

  const clientIdMessage = "configuration: registries.0.tasks.identity.clientId: a client id (GUID)";
  const resourceIdMessage =
    "configuration: registries.0.tasks.identity.resourceId: the resource id of a user-assigned identity: /subscriptions/…/resourceGroups/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…";
  it.each([
    ["a client id that is not a GUID", `{clientId: id-ripple-builds, resourceId: '${RESOURCE_ID}'}`, clientIdMessage],
    ["a resource id of another resource type", `{clientId: ${CLIENT_ID}, resourceId: '${RESOURCE_ID.replace("Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.ContainerRegistry/registries")}'}`, resourceIdMessage],
    ["a resource id with a path after the identity", `{clientId: ${CLIENT_ID}, resourceId: '${RESOURCE_ID}/federatedIdentityCredentials/x'}`, resourceIdMessage],
    ["an identity name instead of its resource id", `{clientId: ${CLIENT_ID}, resourceId: id-ripple-builds}`, resourceIdMessage],
    ["an unknown field", `{clientId: ${CLIENT_ID}, resourceId: '${RESOURCE_ID}', principalId: ${CLIENT_ID}}`, 'configuration: registries.0.tasks.identity: Unrecognized key: "principalId"'],
  ])("refuses %s", (_, identity, message) => {
    expect(failureOf(() => parseConfig(withIdentity(identity)))).toEqual({ name: "ConfigError", code: "config_invalid", message });
  });
});
