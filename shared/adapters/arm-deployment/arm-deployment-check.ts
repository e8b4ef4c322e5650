import type { AuthorizationManagementClient } from "@azure/arm-authorization";
import type { EventGridManagementClient } from "@azure/arm-eventgrid";
import type { TokenCredential } from "@azure/identity";
import { z } from "zod";
import { UpstreamError } from "../../errors.js";
import type { ActionGrant, AppIdentity, DeploymentCheck, EventDestination, EventSubscriptionSummary, RegistryResource, RegistryTopic } from "../../ports/deployment-check.js";
import { isTransientCredentialError, readStatus, toUpstreamError } from "../azure-errors.js";

/** The ARM clients of one subscription, built with the app's credential (and, in tests, an endpoint and CA). */
export interface ArmDeploymentClients {
  readonly authorization: AuthorizationManagementClient;
  readonly eventGrid: EventGridManagementClient;
}

export interface ArmDeploymentCheckOptions {
  /** The clients of a subscription; called once per subscription. */
  readonly clientsFor: (subscriptionId: string) => ArmDeploymentClients;
}

const SERVICE = "arm";

// Lenient: ARM adds fields over time; only what is read is checked.
const Grant = z.object({ actions: z.array(z.string()).nullish(), notActions: z.array(z.string()).nullish() });
const Topic = z.object({ name: z.string(), source: z.string().nullish() });
const Subscription = z.object({
  name: z.string(),
  filter: z.object({ includedEventTypes: z.array(z.string()).nullish() }).nullish(),
  destination: z.object({ endpointType: z.string(), resourceId: z.string().nullish(), endpointBaseUrl: z.string().nullish() }).nullish(),
});

/** `/subscriptions/…/registries/{name}`, the `source` of the registry's system topic. */
export function registryResourceId(registry: RegistryResource): string {
  return `/subscriptions/${registry.subscriptionId}/resourceGroups/${registry.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${registry.registryName}`;
}

/** Every item of every page (the SDK follows `nextLink`), checked against `schema`; failures as UpstreamError. */
async function collect<T>(list: () => AsyncIterable<unknown>, schema: z.ZodType<T>, action: string): Promise<T[]> {
  const items: T[] = [];
  try {
    for await (const item of list()) {
      const parsed = schema.safeParse(item);
      if (!parsed.success) throw new UpstreamError(SERVICE, `${action} failed: unexpected item (${parsed.error.issues[0]?.path.join(".") ?? "?"})`, { status: null, retryable: false });
      items.push(parsed.data);
    }
  } catch (error) {
    throw toUpstreamError(error, { service: SERVICE, action });
  }
  return items;
}

function destinationOf(destination: z.infer<typeof Subscription>["destination"]): EventDestination {
  if (destination?.endpointType === "AzureFunction") return { kind: "azure-function", resourceId: destination.resourceId ?? "" };
  if (destination?.endpointType === "WebHook") return { kind: "webhook", baseUrl: destination.endpointBaseUrl ?? "" };
  return { kind: "other", endpointType: destination?.endpointType ?? "none" };
}

function summarize(subscription: z.infer<typeof Subscription>): EventSubscriptionSummary {
  return { name: subscription.name, eventTypes: subscription.filter?.includedEventTypes ?? null, destination: destinationOf(subscription.destination) };
}

/**
 * DeploymentCheck on ARM through `@azure/arm-authorization` (Permissions - List For Resource, api-version
 * 2022-04-01) and `@azure/arm-eventgrid` (system topics by resource group, their event subscriptions).
 * Follows `nextLink` pages. Every failure is an UpstreamError (service "arm") without request data.
 */
export function createArmDeploymentCheck(options: ArmDeploymentCheckOptions): DeploymentCheck {
  const clients = new Map<string, ArmDeploymentClients>();
  const clientsOf = (subscriptionId: string): ArmDeploymentClients => {
    let client = clients.get(subscriptionId);
    if (client === undefined) clients.set(subscriptionId, (client = options.clientsFor(subscriptionId)));
    return client;
  };

  return {
    async effectiveActions(registry) {
      const { authorization } = clientsOf(registry.subscriptionId);
      // The registry is a top-level resource: no parent path.
      const list = () => authorization.permissions.listForResource(registry.resourceGroup, "Microsoft.ContainerRegistry", "", "registries", registry.registryName);
      const grants = await collect(list, Grant, `listing the app's permissions on registry ${registry.registryName}`);
      return grants.map((grant): ActionGrant => ({ actions: grant.actions ?? [], notActions: grant.notActions ?? [] }));
    },
    async eventSubscriptions(registry, topicResourceGroup = registry.resourceGroup) {
      const { eventGrid } = clientsOf(registry.subscriptionId);
      const source = registryResourceId(registry).toLowerCase();
      const topics = await collect(() => eventGrid.systemTopics.listByResourceGroup(topicResourceGroup), Topic, `listing Event Grid system topics of resource group ${topicResourceGroup}`);
      const ofRegistry = topics.filter((topic) => topic.source?.toLowerCase() === source);
      return Promise.all(ofRegistry.map(async (topic): Promise<RegistryTopic> => {
        const list = () => eventGrid.systemTopicEventSubscriptions.listBySystemTopic(topicResourceGroup, topic.name);
        const subscriptions = await collect(list, Subscription, `listing event subscriptions of system topic ${topic.name}`);
        return { name: topic.name, subscriptions: subscriptions.map(summarize) };
      }));
    },
  };
}

/**
 * AppIdentity on the app's TokenCredential. A failure is an UpstreamError (service "identity") carrying only
 * the error's name and HTTP status, retryable when the token service may recover (see
 * {@link isTransientCredentialError}).
 */
export function createCredentialIdentity(credential: TokenCredential): AppIdentity {
  return {
    async acquireToken(scope) {
      const action = `getting a token for ${scope}`;
      let token: Awaited<ReturnType<TokenCredential["getToken"]>>;
      try {
        token = await credential.getToken(scope);
      } catch (error) {
        const name = error instanceof Error ? error.name : typeof error;
        const status = readStatus(error);
        throw new UpstreamError("identity", `${action} failed: ${name}${status === null ? "" : ` (HTTP ${status})`}`, { status, retryable: isTransientCredentialError(error) });
      }
      if (token === null) throw new UpstreamError("identity", `${action} failed: the credential returned no token`, { status: null, retryable: false });
    },
  };
}
