/** The ARM names the ACR Tasks contract tests use: one subscription, resource group and registry, and the token ARM accepts. */
export const SUBSCRIPTION = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
export const RESOURCE_GROUP = "rg-ripple";
export const REGISTRY_NAME = "rippleacr";
export const REGISTRY = "rippleacr.azurecr.io";
export const ARM_TOKEN = "arm-test-token";
export const REGISTRY_PATH = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.ContainerRegistry/registries/${REGISTRY_NAME}`;
