/** A registry's ARM resource, as `registries[].tasks` names it. */
export interface RegistryResource {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly registryName: string;
}

/** One entry of the caller's effective permissions at a scope (ARM lists one per role it holds there). */
export interface ActionGrant {
  /** Allowed actions; `*` is a wildcard (`Microsoft.ContainerRegistry/*`). */
  readonly actions: readonly string[];
  /** Actions this entry takes back out of its own `actions`. */
  readonly notActions: readonly string[];
}

/** Where an event subscription delivers. */
export type EventDestination =
  | { readonly kind: "azure-function"; readonly resourceId: string }
  /** The URL without its query (Event Grid never reads back the query, which holds the key). */
  | { readonly kind: "webhook"; readonly baseUrl: string }
  | { readonly kind: "other"; readonly endpointType: string };

/** An event subscription on a system topic, as far as the doctor needs it. */
export interface EventSubscriptionSummary {
  readonly name: string;
  /** Event types delivered; null: all of the topic's default types. */
  readonly eventTypes: readonly string[] | null;
  readonly destination: EventDestination;
}

/** An Event Grid system topic whose source is the registry, with its event subscriptions. */
export interface RegistryTopic {
  readonly name: string;
  readonly subscriptions: readonly EventSubscriptionSummary[];
}

/**
 * Read-only facts about the app's Azure deployment around a registry, from Azure Resource Manager
 * (ARM), with the app's own identity. Nothing here writes; every method is idempotent.
 */
export interface DeploymentCheck {
  /**
   * The app identity's effective permissions on the registry (ARM "Permissions - List For Resource"), all
   * pages. Throws UpstreamError (service "arm"; retryable for network errors, 429 and 5xx; a 403 is not).
   */
  effectiveActions(registry: RegistryResource): Promise<ActionGrant[]>;
  /**
   * The Event Grid system topics of `topicResourceGroup` (default: the registry's resource group) whose
   * `source` is the registry, each with its event subscriptions, all pages. Throws UpstreamError as
   * {@link effectiveActions}.
   */
  eventSubscriptions(registry: RegistryResource, topicResourceGroup?: string): Promise<RegistryTopic[]>;
}

/** The app's one Entra ID credential, seen from outside. */
export interface AppIdentity {
  /**
   * Gets a token for `scope` (`https://storage.azure.com/.default`) and throws it away. Throws an
   * UpstreamError naming why there is none (retryable when the token service may recover).
   */
  acquireToken(scope: string): Promise<void>;
}
