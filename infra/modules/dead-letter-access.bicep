// Lets the Event Grid system topic's managed identity write dead-lettered events into the
// dead-letter container of the app's storage account (Storage Blob Data Contributor, container scope).
// Dead-lettering with the topic's identity works without storage account keys.

@description('Storage account that holds the dead-letter container.')
param storageAccountName string

@description('Dead-letter blob container.')
param containerName string

@description('Object id of the Event Grid system topic\'s managed identity.')
param principalId string

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' existing = {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  parent: blobService
  name: containerName
}

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, principalId, storageBlobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
