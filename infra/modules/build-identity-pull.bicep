// Deployed into the resource group of another container registry that Ripple's builds pull base images from:
// the build identity (build-identity.bicep) may pull from it — AcrPull, or in "RBAC Registry + ABAC Repository
// Permissions" mode (where AcrPull is not honoured) Container Registry Repository Reader. Nothing else.

@description('Name of the other registry.')
param registryName string

@description('Object id of the build identity.')
param principalId string

@description('The other registry\'s permissions mode: rbac or abac.')
@allowed([
  'rbac'
  'abac'
])
param permissionsMode string = 'rbac'

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

var pullRoleId = permissionsMode == 'abac' ? 'b93aa761-3e63-49ed-ac28-beffa264f7ac' : '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource pullAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, principalId, pullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', pullRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
