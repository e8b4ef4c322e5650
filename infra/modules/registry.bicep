// Deployed into the resource group of the existing container registry:
// - the function app identity's roles on the registry:
//     reading manifests, configs, tags and the catalog: AcrPull (registries in "RBAC Registry Permissions"
//     mode) or Container Registry Repository Reader + Container Registry Repository Catalog Lister
//     (registries in "RBAC Registry + ABAC Repository Permissions" mode, where AcrPull is not honoured);
//     scheduling and polling ACR Tasks runs (`registries/scheduleRun/action`, `runs/read`, log SAS):
//     Container Registry Tasks Contributor, the only built-in role that carries scheduleRun short of
//     Contributor/Owner;
//     mirroring watched upstream bases into the registry (`registries/importImage/action`, ACR import):
//     Container Registry Data Importer and Data Reader (with mirrorUpstream);
// - the identity's Reader role on this (the registry's) resource group (with doctorReader), for `ripple doctor`:
//   listing the group's Event Grid system topics and their event subscriptions
//   (`Microsoft.EventGrid/systemTopics/read`, `…/systemTopics/eventSubscriptions/read`, which no narrower
//   built-in role carries at resource-group scope) and the identity's own permissions on the registry. Reader is
//   control-plane read only: no image data, no keys or secrets (those are actions, not reads);
// - the Event Grid system topic on the registry (Azure allows one per registry), with a system-assigned
//   identity that dead-letters undeliverable events into the app's storage account (granted in
//   dead-letter-access.bicep); or, with existingSystemTopicName, the registry's system topic that already
//   exists (another tool's, another Ripple environment's), referenced and left as it is. It must have a
//   system-assigned identity (`az eventgrid system-topic update --identity systemassigned`).
// The event subscription itself is in event-subscription.bicep: it can only be created once the
// `registryEventGrid` function exists, i.e. after the code is deployed.

@description('Name of the existing Azure Container Registry.')
param registryName string

@description('Object id of the function app\'s managed identity.')
param principalId string

@description('The registry\'s role assignment permissions mode: rbac ("RBAC Registry Permissions") or abac ("RBAC Registry + ABAC Repository Permissions").')
@allowed([
  'rbac'
  'abac'
])
param permissionsMode string = 'rbac'

@description('Grant the import role, so watched upstream bases can be mirrored into the registry.')
param mirrorUpstream bool = true

@description('Grant Reader on this resource group, so `ripple doctor` can read the Event Grid subscription and the app\'s permissions on the registry.')
param doctorReader bool = true

@description('Name of the Event Grid system topic created on the registry (when existingSystemTopicName is empty).')
param systemTopicName string

@description('Name of the registry\'s existing Event Grid system topic to reuse. Empty: create systemTopicName.')
param existingSystemTopicName string = ''

@description('Resource group of existingSystemTopicName. Empty: the registry\'s (this deployment\'s) resource group.')
param existingSystemTopicResourceGroup string = ''

@description('Tags applied to the system topic.')
param tags object = {}

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

var roles = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  repositoryReader: 'b93aa761-3e63-49ed-ac28-beffa264f7ac'
  repositoryCatalogLister: 'bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7'
  tasksContributor: 'fb382eab-e894-4461-af04-94435c366c3f'
  dataImporterAndReader: '577a9874-89fd-4f24-9dbd-b5034d0ad23a'
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
}

var readRoleIds = permissionsMode == 'abac' ? [roles.repositoryReader, roles.repositoryCatalogLister] : [roles.acrPull]

var registryRoleIds = concat(readRoleIds, [roles.tasksContributor], mirrorUpstream ? [roles.dataImporterAndReader] : [])

resource registryRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in registryRoleIds: {
    name: guid(registry.id, principalId, roleId)
    scope: registry
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource doctorReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (doctorReader) {
  name: guid(resourceGroup().id, principalId, roles.reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.reader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

var reuseSystemTopic = !empty(existingSystemTopicName)

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (!reuseSystemTopic) {
  name: systemTopicName
  location: registry.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: registry.id
    topicType: 'Microsoft.ContainerRegistry.Registries'
  }
}

// The documented new-or-existing pattern (Bicep "Conditional deployments", "New or existing resource").
resource existingSystemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (reuseSystemTopic) {
  name: existingSystemTopicName
  scope: resourceGroup(empty(existingSystemTopicResourceGroup) ? resourceGroup().name : existingSystemTopicResourceGroup)
}

output registryId string = registry.id
output loginServer string = registry.properties.loginServer
output systemTopicName string = reuseSystemTopic ? existingSystemTopic.name : systemTopic.name
output systemTopicId string = reuseSystemTopic ? existingSystemTopic.id : systemTopic.id
output systemTopicPrincipalId string = reuseSystemTopic ? existingSystemTopic.identity.principalId : systemTopic.identity.principalId
