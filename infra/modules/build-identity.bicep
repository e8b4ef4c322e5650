// The user-assigned identity ACR Tasks source builds run with (ripple.yaml registries[].tasks.identity), so
// that a build logs in to other ACRs with it (task run credentials `{ identity: <client id> }`) instead of a
// password: created here, or an existing one of this resource group referenced. A task run carries the
// identity only if whoever creates it may assign it (`Microsoft.ManagedIdentity/userAssignedIdentities/
// assign/action`): the function app's identity gets Managed Identity Operator on this identity alone.
// Its pull rights on the other registries are in build-identity-pull.bicep (one per registry).

@description('Name of the identity.')
param name string

@description('Create the identity (true), or reference an existing one of this resource group (false).')
param create bool

@description('Region of a created identity.')
param location string = resourceGroup().location

@description('Tags of a created identity.')
param tags object = {}

@description('Object id of the function app\'s managed identity, which attaches the identity to task runs.')
param appPrincipalId string

var managedIdentityOperatorRoleId = 'f1a07417-d97a-45cb-824c-7a7467783830'

resource createdIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (create) {
  name: name
  location: location
  tags: tags
}

// Created or given, the identity is read through one reference (after its creation).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: name
}

resource operatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(identity.id, appPrincipalId, managedIdentityOperatorRoleId)
  scope: identity
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', managedIdentityOperatorRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    createdIdentity
  ]
}

output resourceId string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
