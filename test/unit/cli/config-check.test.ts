import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checkConfig, configCheckCommand } from "../../../shared/cli/config-check-command.js";
import { loadConfigFile, parseConfig } from "../../../shared/config.js";

const CONFIG = `
version: 1
registries:
  - host: contoso.azurecr.io
    tasks: { subscriptionId: s, resourceGroup: rg, registryName: contoso }
  - host: other.azurecr.io
upstream:
  registries:
    - host: docker.io
      credentials: { usernameSetting: DOCKERHUB_USER, passwordSetting: DOCKERHUB_TOKEN }
bases:
  - image: docker.io/library/alpine
    tags: ["3.*"]
    mirror: contoso.azurecr.io/mirror/alpine
  - image: mcr.microsoft.com/dotnet/aspnet
    tags: ["8.0"]
  - image: contoso.azurecr.io/base/company
    tags: ["1"]
repositories:
  - url: contoso/deploy
  - url: https://gitlab.example/contoso/app
`;

const goodEnv = { AzureWebJobsStorage__accountName: "stripple", AzureWebJobsStorage__credential: "managedidentity", RIPPLE_WEBHOOK_SECRET: "0123456789abcdef", DOCKERHUB_USER: "u", DOCKERHUB_TOKEN: "t", RIPPLE_GITHUB_APP_ID: "1", RIPPLE_GITHUB_INSTALLATION_ID: "2", RIPPLE_GITHUB_PRIVATE_KEY: "k" };

describe("checkConfig without the app's settings (before a deployment)", () => {
  it("leaves out every check of an app setting and keeps the others", () => {
    expect(checkConfig(parseConfig(CONFIG), null)).toEqual(checkConfig(parseConfig(CONFIG), goodEnv).filter((finding) => !/\bset\b|storage connection/.test(finding.check)));
    expect(checkConfig(parseConfig(CONFIG), null).filter((finding) => !finding.ok).map((finding) => finding.check)).toEqual([
      "registry other.azurecr.io: no ACR Tasks resource (registries[].tasks), so its images are not rebuilt",
      "repository https://gitlab.example/contoso/app: served by a forge",
    ]);
  });
});

describe("the Azure configuration template (infra/ripple.example.yaml)", () => {
  const template = join(import.meta.dirname, "../../../infra/ripple.example.yaml");
  /** The app settings infra/modules/app-settings.bicep writes for it (secrets as Key Vault references). */
  const infraSettings = {
    AzureWebJobsStorage__accountName: "stripple",
    AzureWebJobsStorage__credential: "managedidentity",
    RIPPLE_WEBHOOK_SECRET: "@Microsoft.KeyVault(VaultName=kv-ripple;SecretName=webhook-secret)",
    RIPPLE_GITHUB_APP_ID: "1",
    RIPPLE_GITHUB_INSTALLATION_ID: "2",
    RIPPLE_GITHUB_PRIVATE_KEY: "@Microsoft.KeyVault(VaultName=kv-ripple;SecretName=github-private-key)",
    DOCKERHUB_USER: "@Microsoft.KeyVault(VaultName=kv-ripple;SecretName=dockerhub-user)",
    DOCKERHUB_TOKEN: "@Microsoft.KeyVault(VaultName=kv-ripple;SecretName=dockerhub-token)",
    RIPPLE_PAGERDUTY_KEY: "@Microsoft.KeyVault(VaultName=kv-ripple;SecretName=pagerduty-key)",
    RIPPLE_TEAMS_URL: "@Microsoft.KeyVault(VaultName=kv-ripple;SecretName=teams-url)",
  };

  it("is valid and passes every check before a deployment, as the predeploy hook runs it", () => {
    expect(configCheckCommand(template, true, null)).toBe(0);
  });

  it("passes every check with the settings infra gives the app", () => {
    expect(checkConfig(loadConfigFile(template), infraSettings)).toEqual([
      "storage connection set (AzureWebJobsStorage, or AzureWebJobsStorage__accountName with a managed identity)",
      "RIPPLE_WEBHOOK_SECRET set (at least 16 characters)",
      "base contoso.azurecr.io/base/runtime: its registry notifies Ripple (Event Grid / webhook)",
      "base docker.io/library/alpine: watched every 60 s, mirrored into contoso.azurecr.io/mirror/alpine",
      "upstream docker.io: app setting DOCKERHUB_USER set",
      "upstream docker.io: app setting DOCKERHUB_TOKEN set",
      "GitHub App settings set for 1 GitHub repository",
      "alert sink pd (pagerduty): app setting RIPPLE_PAGERDUTY_KEY set",
      "alert sink teams (teams): app setting RIPPLE_TEAMS_URL set",
      "alert sink issues (github-issue): the GitHub App is configured",
    ].map((check) => ({ check, ok: true, fix: null })));
  });
});

describe("checkConfig", () => {
  it("says what each base is and how it comes in, and what the settings lack, each failure with a fix", () => {
    expect(checkConfig(parseConfig(CONFIG), { RIPPLE_WEBHOOK_SECRET: "short", DOCKERHUB_USER: "u" })).toEqual([
      { check: "storage connection set (AzureWebJobsStorage, or AzureWebJobsStorage__accountName with a managed identity)", ok: false, fix: "set AzureWebJobsStorage__accountName and AzureWebJobsStorage__credential=managedidentity (infra does), or AzureWebJobsStorage" },
      { check: "RIPPLE_WEBHOOK_SECRET set (at least 16 characters)", ok: false, fix: "set RIPPLE_WEBHOOK_SECRET (a Key Vault reference in Azure)" },
      { check: "base docker.io/library/alpine: watched every 60 s, mirrored into contoso.azurecr.io/mirror/alpine", ok: true, fix: null },
      { check: "base mcr.microsoft.com/dotnet/aspnet: watched every 60 s, campaigns on the upstream tag itself", ok: true, fix: null },
      { check: "base contoso.azurecr.io/base/company: its registry notifies Ripple (Event Grid / webhook)", ok: true, fix: null },
      { check: "upstream docker.io: app setting DOCKERHUB_USER set", ok: true, fix: null },
      { check: "upstream docker.io: app setting DOCKERHUB_TOKEN set", ok: false, fix: "set DOCKERHUB_TOKEN (a Key Vault reference: infra parameter upstreamCredentialSecrets)" },
      { check: "upstream mcr.microsoft.com: anonymous pulls", ok: true, fix: null },
      { check: "registry other.azurecr.io: no ACR Tasks resource (registries[].tasks), so its images are not rebuilt", ok: false, fix: "add tasks: {subscriptionId, resourceGroup, registryName} for other.azurecr.io" },
      { check: "GitHub App settings set for 1 GitHub repository", ok: false, fix: "set RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY (infra: githubAppId, githubInstallationId, githubPrivateKey)" },
      { check: "repository https://gitlab.example/contoso/app: served by a forge", ok: false, fix: "name a GitHub repository as owner/name or https://github.com/owner/name (other forges are not supported)" },
      { check: "alerts: no sinks configured (alerts are recorded only: ripple alerts, the campaign page)", ok: true, fix: null },
    ]);
  });

  it("checks every alert sink's secret settings and what each sink needs besides", () => {
    const withSinks = `${CONFIG}alerts:
  sinks:
    - { id: pd, kind: pagerduty, routingKeySetting: PD_KEY }
    - { id: hook, kind: webhook, urlSetting: HOOK_URL, secretSetting: HOOK_SECRET, route: escalation }
    - { id: issues, kind: github-issue, repository: contoso/oncall }
    - { id: events, kind: event-grid, endpoint: "https://t.westeurope-1.eventgrid.azure.net/api/events" }
`;
    const findings = checkConfig(parseConfig(withSinks), { ...goodEnv, PD_KEY: "k", HOOK_URL: "https://hook.example" }).filter((finding) => finding.check.startsWith("alert"));
    expect(findings).toEqual([
      { check: "alert sink pd (pagerduty): app setting PD_KEY set", ok: true, fix: null },
      { check: "alert sink hook (webhook): app setting HOOK_URL set", ok: true, fix: null },
      { check: "alert sink hook (webhook): app setting HOOK_SECRET set", ok: false, fix: "set HOOK_SECRET (a Key Vault reference: infra parameter alertSinkSecrets)" },
      { check: "alert sink issues (github-issue): the GitHub App is configured", ok: true, fix: null },
      { check: "alert sink events (event-grid): managed identity (the app needs EventGrid Data Sender on the topic; infra rippleEventsTopic grants it on its own topic)", ok: true, fix: null },
      { check: "alerts: an escalation sink is configured, so alerts.escalateAfter should be set", ok: false, fix: "set alerts.escalateAfter (e.g. 1h): without it nothing is ever escalated" },
    ]);
  });
});

describe("ripple config check", () => {
  let directory: string;
  let stdout: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "ripple-config-check-"));
    stdout = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(directory, { recursive: true, force: true });
  });

  it("exits 0 when every check holds, 1 when one fails, and throws the path of a bad value (exit 2)", async () => {
    const good = join(directory, "good.yaml");
    await writeFile(good, "version: 1\nregistries: [{host: contoso.azurecr.io, tasks: {subscriptionId: s, resourceGroup: rg, registryName: contoso}}]\nbases: [{image: contoso.azurecr.io/base/company, tags: ['1']}]\n");
    expect(configCheckCommand(good, false, goodEnv)).toBe(0);
    expect(stdout).toContain(`${good}: valid (version 1)\nok   storage connection set`);
    const failing = join(directory, "failing.yaml");
    await writeFile(failing, CONFIG);
    expect(configCheckCommand(failing, true, goodEnv)).toBe(1);
    const bad = join(directory, "bad.yaml");
    await writeFile(bad, "version: 1\nregistries: []\n");
    expect(() => configCheckCommand(bad, false, goodEnv)).toThrow(expect.objectContaining({ code: "config_invalid", message: `${bad}: registries: Too small: expected array to have >=1 items` }));
  });
});
