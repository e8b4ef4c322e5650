// Reader on the resource group of an Event Grid system topic reused from outside the registry's resource group
// (main.bicep deploys this only then, with doctorReader): `ripple doctor` lists the topic's event subscriptions
// there to check that ImagePushed reaches registryEventGrid. Read-only; nothing of Ripple's runs with it.
// The assignment's name is guid(scope, principal, role), as every role assignment of these templates.

@description('Object id of the function app\'s managed identity.')
param principalId string

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource topicReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
