/**
 * The alert sinks of the configuration, part of the composition root: each sink's secrets are read from
 * the app settings its configuration names (Key Vault references in Azure), never from the file.
 */
import type { RippleConfig, AlertSinkConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { createPagerDutySink } from "./adapters/alert-sinks/pagerduty/pagerduty-sink.js";
import { createSlackSink } from "./adapters/alert-sinks/slack/slack-sink.js";
import { createTeamsSink } from "./adapters/alert-sinks/teams/teams-sink.js";
import { createWebhookSink } from "./adapters/alert-sinks/webhook/webhook-sink.js";
import type { AlertSink, RippleEventPublisher } from "./ports/alert-sink.js";
import { AzureKeyCredential } from "@azure/core-auth";
import type { TokenCredential } from "@azure/identity";
import { createEventGridPublisher, createEventGridSink } from "./adapters/alert-sinks/event-grid/event-grid-publisher.js";
import { createGitHubIssueSink } from "./adapters/alert-sinks/github-issue/github-issue-sink.js";
import type { Octokit } from "@octokit/rest";
import type { AlertLinks } from "./use-cases/alert-message.js";

/** What sinks need besides their configuration and settings: the clients the composition root already has. */
export interface SinkClients {
  /** The app's GitHub App client (GitHub-issue sinks); null without an App. */
  readonly octokit: Octokit | null;
  /** The app's one credential (Event Grid topics without a key setting: managed identity). */
  readonly credential: TokenCredential;
}

/** The value of the app setting `name`. @throws ConfigError naming the setting (never a value) when it is unset or an unresolved Key Vault reference. */
function secretOf(env: NodeJS.ProcessEnv, sinkId: string, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new ConfigError(`alert sink ${sinkId}: app setting ${name} is not set`);
  if (value.startsWith("@Microsoft.KeyVault(")) throw new ConfigError(`alert sink ${sinkId}: app setting ${name} holds an unresolved Key Vault reference (check the app's access to the vault)`);
  return value;
}

function createSink(sink: AlertSinkConfig, env: NodeJS.ProcessEnv, clients: SinkClients): AlertSink {
  switch (sink.kind) {
    case "pagerduty":
      return createPagerDutySink({ id: sink.id, routingKey: secretOf(env, sink.id, sink.routingKeySetting), ...(sink.endpoint === undefined ? {} : { endpoint: sink.endpoint }) });
    case "teams":
      return createTeamsSink({ id: sink.id, webhookUrl: secretOf(env, sink.id, sink.webhookUrlSetting) });
    case "slack":
      return sink.webhookUrlSetting !== undefined
        ? createSlackSink({ id: sink.id, webhookUrl: secretOf(env, sink.id, sink.webhookUrlSetting) })
        : createSlackSink({ id: sink.id, token: secretOf(env, sink.id, sink.tokenSetting!), channel: sink.channel!, ...(sink.apiUrl === undefined ? {} : { apiUrl: sink.apiUrl }) });
    case "webhook":
      return createWebhookSink({ id: sink.id, url: secretOf(env, sink.id, sink.urlSetting), secret: secretOf(env, sink.id, sink.secretSetting) });
    case "github-issue":
      if (clients.octokit === null) throw new ConfigError(`alert sink ${sink.id}: a github-issue sink needs the GitHub App (RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID, RIPPLE_GITHUB_PRIVATE_KEY)`);
      return createGitHubIssueSink({ id: sink.id, octokit: clients.octokit, repository: sink.repository, labels: sink.labels });
    case "event-grid":
      return createEventGridSink({ id: sink.id, publisher: eventGridPublisherOf(sink, env, clients) });
  }
}

function eventGridPublisherOf(sink: Extract<AlertSinkConfig, { kind: "event-grid" }>, env: NodeJS.ProcessEnv, clients: SinkClients): RippleEventPublisher {
  const credential = sink.keySetting === undefined ? clients.credential : new AzureKeyCredential(secretOf(env, sink.id, sink.keySetting));
  return createEventGridPublisher({ endpoint: sink.endpoint, credential });
}

/** A sink that fails every delivery with why it could not be built: the failure shows on the alert, the app runs on. */
function brokenSink(sink: AlertSinkConfig, error: Error): AlertSink {
  return { id: sink.id, kind: sink.kind, deliver: () => Promise.reject(error) };
}

/**
 * The sinks by id, and the publishers of Ripple's lifecycle events (one per event-grid sink). A sink whose
 * settings are wrong fails its deliveries with the reason (permanent, shown by `ripple alerts`).
 */
export function createAlertSinks(config: RippleConfig, env: NodeJS.ProcessEnv, clients: SinkClients): { sinkFor: (sinkId: string) => AlertSink | null; publishers: RippleEventPublisher[] } {
  const sinks = new Map<string, AlertSink>();
  const publishers: RippleEventPublisher[] = [];
  for (const sink of config.alerts.sinks) {
    try {
      sinks.set(sink.id, createSink(sink, env, clients));
      if (sink.kind === "event-grid") publishers.push(eventGridPublisherOf(sink, env, clients));
    } catch (error) {
      sinks.set(sink.id, brokenSink(sink, error as Error));
    }
  }
  return { sinkFor: (sinkId) => sinks.get(sinkId) ?? null, publishers };
}

/**
 * Where alert links point: `alerts.pageUrl`, else `RIPPLE_PUBLIC_URL`, else the app's own host name
 * (`WEBSITE_HOSTNAME`, which Azure sets); the runbook defaults to the app's own `/api/runbook`.
 */
export function alertLinksOf(config: RippleConfig, env: NodeJS.ProcessEnv): AlertLinks {
  const pageUrl = (config.alerts.pageUrl ?? env.RIPPLE_PUBLIC_URL ?? (env.WEBSITE_HOSTNAME ? `https://${env.WEBSITE_HOSTNAME}` : "http://localhost:7071")).replace(/\/+$/, "");
  return { pageUrl, runbookUrl: config.alerts.runbookUrl ?? `${pageUrl}/api/runbook` };
}
