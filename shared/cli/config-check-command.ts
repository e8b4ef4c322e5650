import { loadConfigFile, storageConnectionOf, upstreamRegistriesOf, type AlertSinkConfig, type RippleConfig } from "../config.js";
import { gitHubName } from "../adapters/github/github-name.js";
import { parseImageRef } from "../domain/image-ref.js";
import { watchedBases } from "../use-cases/watch-upstream.js";
import { printJson } from "./output.js";

/** One finding of `ripple config check`: what was checked, whether it holds, and how to fix it if not. */
export interface ConfigFinding {
  readonly check: string;
  readonly ok: boolean;
  readonly fix: string | null;
}

/**
 * The checks of a configuration that need no network: what each base is (notifying or watched, and how it
 * is brought in), whether the settings it names are set, and whether the app can reach what it names.
 * With `env` null (before a deployment: infra sets the app settings) the checks of app settings are left
 * out. Pure apart from reading `env`.
 */
export function checkConfig(config: RippleConfig, env: NodeJS.ProcessEnv | null): ConfigFinding[] {
  const findings: ConfigFinding[] = [];
  const checkSettings = env !== null;
  // A setting check: left out without the app's settings.
  const add = (check: string, ok: boolean, fix: string | null = null, setting = false) => {
    if (!setting || checkSettings) findings.push({ check, ok, fix: ok ? null : fix });
  };
  const settingOf = (name: string): string => env?.[name] ?? "";
  add("storage connection set (AzureWebJobsStorage, or AzureWebJobsStorage__accountName with a managed identity)", env !== null && storageConnectionOf(env) !== null, "set AzureWebJobsStorage__accountName and AzureWebJobsStorage__credential=managedidentity (infra does), or AzureWebJobsStorage", true);
  add("RIPPLE_WEBHOOK_SECRET set (at least 16 characters)", settingOf("RIPPLE_WEBHOOK_SECRET").length >= 16, "set RIPPLE_WEBHOOK_SECRET (a Key Vault reference in Azure)", true);
  const watched = new Map(watchedBases(config).map((base) => [`${base.registry}/${base.repository}`, base]));
  for (const base of config.bases) {
    const ref = parseImageRef(base.image, { defaultTag: false });
    const key = ref.ok ? `${ref.value.registry}/${ref.value.repository}` : base.image;
    const upstream = watched.get(key);
    if (upstream === undefined) add(`base ${base.image}: its registry notifies Ripple (Event Grid / webhook)`, true);
    else add(`base ${base.image}: watched every ${upstream.intervalMs / 1000} s, ${upstream.mirror === null ? "campaigns on the upstream tag itself" : `mirrored into ${upstream.mirror.registry}/${upstream.mirror.repository}`}`, true);
  }
  for (const registry of upstreamRegistriesOf(config)) {
    if (registry.credentials === undefined) {
      add(`upstream ${registry.host}: anonymous pulls`, true);
      continue;
    }
    for (const name of [registry.credentials.usernameSetting, registry.credentials.passwordSetting]) {
      add(`upstream ${registry.host}: app setting ${name} set`, settingOf(name) !== "", `set ${name} (a Key Vault reference: infra parameter upstreamCredentialSecrets)`, true);
    }
  }
  for (const registry of config.registries) {
    if (registry.kind === "acr" && registry.tasks === undefined) add(`registry ${registry.host}: no ACR Tasks resource (registries[].tasks), so its images are not rebuilt`, false, `add tasks: {subscriptionId, resourceGroup, registryName} for ${registry.host}`);
  }
  const gitHub = config.repositories.filter((repository) => !repository.url.startsWith("/") && gitHubName(repository.url) !== null);
  const app = ["RIPPLE_GITHUB_APP_ID", "RIPPLE_GITHUB_INSTALLATION_ID", "RIPPLE_GITHUB_PRIVATE_KEY"].every((name) => settingOf(name) !== "");
  if (gitHub.length > 0 || config.github.installationRepositories) {
    add(`GitHub App settings set for ${gitHub.length} GitHub repositor${gitHub.length === 1 ? "y" : "ies"}${config.github.installationRepositories ? " and the installation's" : ""}`, app, "set RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY (infra: githubAppId, githubInstallationId, githubPrivateKey)", true);
  }
  for (const repository of config.repositories.filter((entry) => !entry.url.startsWith("/") && gitHubName(entry.url) === null)) {
    add(`repository ${repository.url}: served by a forge`, false, "name a GitHub repository as owner/name or https://github.com/owner/name (other forges are not supported)");
  }
  checkAlertSinks(config, settingOf, app, add);
  return findings;
}

/** The app settings each kind of sink reads its secret from. */
function sinkSettings(sink: AlertSinkConfig): string[] {
  switch (sink.kind) {
    case "pagerduty":
      return [sink.routingKeySetting];
    case "teams":
      return [sink.webhookUrlSetting];
    case "slack":
      return sink.webhookUrlSetting !== undefined ? [sink.webhookUrlSetting] : [sink.tokenSetting!];
    case "webhook":
      return [sink.urlSetting, sink.secretSetting];
    case "event-grid":
      return sink.keySetting === undefined ? [] : [sink.keySetting];
    case "github-issue":
      return [];
  }
}

/** Every alert sink's secrets set (a sink without them fails every delivery), and what each sink needs besides. */
function checkAlertSinks(config: RippleConfig, settingOf: (name: string) => string, gitHubApp: boolean, add: (check: string, ok: boolean, fix?: string | null, setting?: boolean) => void): void {
  if (config.alerts.sinks.length === 0) add("alerts: no sinks configured (alerts are recorded only: ripple alerts, the campaign page)", true);
  for (const sink of config.alerts.sinks) {
    for (const name of sinkSettings(sink)) {
      add(`alert sink ${sink.id} (${sink.kind}): app setting ${name} set`, settingOf(name) !== "", `set ${name} (a Key Vault reference: infra parameter alertSinkSecrets)`, true);
    }
    if (sink.kind === "github-issue") add(`alert sink ${sink.id} (github-issue): the GitHub App is configured`, gitHubApp, "set RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY; the installation needs Issues: read and write on " + sink.repository, true);
    if (sink.kind === "event-grid" && sink.keySetting === undefined) add(`alert sink ${sink.id} (event-grid): managed identity (the app needs EventGrid Data Sender on the topic; infra rippleEventsTopic grants it on its own topic)`, true);
  }
  if (config.alerts.sinks.some((sink) => sink.route === "escalation") && config.alerts.escalateAfter === undefined) {
    add("alerts: an escalation sink is configured, so alerts.escalateAfter should be set", false, "set alerts.escalateAfter (e.g. 1h): without it nothing is ever escalated");
  }
}

/**
 * `ripple config check FILE`: validates the file (exit 2 with the path of the first bad value), then the
 * findings above (exit 1 if any fails); with `env` null (`--no-settings`) not those of app settings.
 */
export function configCheckCommand(file: string, json: boolean, env: NodeJS.ProcessEnv | null = process.env): number {
  const config = loadConfigFile(file);
  const findings = checkConfig(config, env);
  if (json) printJson({ file, valid: true, findings });
  else {
    process.stdout.write(`${file}: valid (version ${config.version})\n`);
    for (const finding of findings) process.stdout.write(`${finding.ok ? "ok  " : "FAIL"} ${finding.check}${finding.fix ? `\n     fix: ${finding.fix}` : ""}\n`);
  }
  return findings.every((finding) => finding.ok) ? 0 : 1;
}
