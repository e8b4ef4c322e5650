// The function app identity's roles inside the app's resource group:
//   storage account: Storage Blob Data Owner (Flex deployment package + host blobs),
//                    Storage Queue Data Contributor, Storage Table Data Contributor;
//   Key Vault:       Key Vault Secrets User (Key Vault references);
//   and, with a build identity, Key Vault Secrets User for it on the upstream credential secrets only;
//   App Insights:    Monitoring Metrics Publisher (Entra-authenticated telemetry).
// Names are guid(scope, principalId, role): a recreated app has a new identity and so gets new assignments,
// instead of colliding with the left-over assignments of its deleted predecessor (same site id, other
// principal: RoleAssignmentUpdateNotPermitted). A role-assignment name must be known when the deployment
// starts, so the principal id comes in as a parameter (an output of function-app.bicep).

@description('Object id of the function app\'s system-assigned identity.')
param principalId string

@description('Storage account used by the Functions host and by Ripple.')
param storageAccountName string

@description('Key Vault holding the secrets the app references.')
param keyVaultName string

@description('Application Insights component the app publishes telemetry to.')
param applicationInsightsName string

@description('Object id of the ACR Tasks build identity (main.bicep buildIdentity); empty: none.')
param buildIdentityPrincipalId string = ''

@description('Key Vault secrets the build identity resolves in task runs (the upstream registry credentials): Key Vault Secrets User on each of these secrets only, never on the vault.')
param buildReadableSecretNames array = []

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var storageRoleIds = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoleIds: {
    name: guid(storage.id, principalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// A task run carries only the build identity, so it resolves the upstream credentials' Key Vault references
// with it: read access to exactly those secrets (a build must not read Ripple's own secrets).
resource buildSecrets 'Microsoft.KeyVault/vaults/secrets@2024-11-01' existing = [for secretName in (empty(buildIdentityPrincipalId) ? [] : buildReadableSecretNames): {
  parent: vault
  name: secretName
}]

resource buildSecretReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (secretName, index) in (empty(buildIdentityPrincipalId) ? [] : buildReadableSecretNames): {
  name: guid(vault.id, secretName, buildIdentityPrincipalId, roles.keyVaultSecretsUser)
  scope: buildSecrets[index]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: buildIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}]
