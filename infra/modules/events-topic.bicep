// An Event Grid custom topic for Ripple's own events (optional, rippleEventsTopic): CloudEvents 1.0 input,
// local (key) auth disabled, so only Entra identities publish; the function app's identity gets
// EventGrid Data Sender on this topic only. Subscribers add their own event subscriptions.

@description('Topic name.')
param name string

param location string
param tags object = {}

@description('Object id of the function app\'s system-assigned identity.')
param principalId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, principalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('The publish endpoint (https://<topic>.<region>-1.eventgrid.azure.net/api/events).')
output endpoint string = topic.properties.endpoint
