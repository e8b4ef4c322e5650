// Key Vault (Azure RBAC authorization mode) holding the secrets the function app reads through
// Key Vault references (`@Microsoft.KeyVault(VaultName=…;SecretName=…)`):
// - the registry webhook secret (RIPPLE_WEBHOOK_SECRET), supplied as a secure parameter;
// - optionally (only when the secure parameter is not empty) the GitHub App's private key
//   (RIPPLE_GITHUB_PRIVATE_KEY) and the GitHub webhook secret (RIPPLE_GITHUB_WEBHOOK_SECRET);
// - while the app still needs a storage connection string (storageConnectionMode = keyVaultConnectionString),
//   the AzureWebJobsStorage connection string, built here from the account key so it never leaves Azure.
// Nothing secret is output. The function app's identity is granted "Key Vault Secrets User" in function-app.bicep.

@description('Azure region of the vault.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Key Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Storage account whose key goes into the connection-string secret.')
param storageAccountName string

@description('Whether to store the AzureWebJobsStorage connection string (only while the app cannot use an identity-based connection).')
param storeStorageConnectionString bool

@description('Shared secret registry webhooks send as `Authorization: Bearer <secret>`.')
@secure()
@minLength(16)
param webhookSecret string

@description('Name of the webhook secret in the vault.')
param webhookSecretName string

@description('Name of the storage connection-string secret in the vault.')
param storageConnectionSecretName string

@description('The GitHub App\'s private key (PEM). Empty: no secret is written.')
@secure()
param githubPrivateKey string = ''

@description('Name of the GitHub App private key secret in the vault.')
param githubPrivateKeySecretName string

@description('Secret of the GitHub webhook (X-Hub-Signature-256). Empty: no secret is written.')
@secure()
param githubWebhookSecret string = ''

@description('Name of the GitHub webhook secret in the vault.')
param githubWebhookSecretName string

@description('Enable purge protection (cannot be turned off again once on).')
param enablePurgeProtection bool = true

@description('Soft-delete retention in days.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

var vaultProperties = {
  tenantId: subscription().tenantId
  sku: {
    family: 'A'
    name: 'standard'
  }
  enableRbacAuthorization: true
  enableSoftDelete: true
  softDeleteRetentionInDays: softDeleteRetentionInDays
  publicNetworkAccess: 'Enabled'
  networkAcls: {
    defaultAction: 'Allow'
    bypass: 'AzureServices'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  // enablePurgeProtection accepts only `true` (or absence), hence the union.
  properties: union(vaultProperties, enablePurgeProtection ? { enablePurgeProtection: true } : {})
}

resource webhook 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = {
  parent: vault
  name: webhookSecretName
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

resource storageConnection 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (storeStorageConnectionString) {
  parent: vault
  name: storageConnectionSecretName
  properties: {
    value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
    contentType: 'Azure Storage connection string'
  }
}

// Written only when given. A later deployment without the value leaves an existing secret alone
// (function-app.bicep then drops the app setting that references it).
resource githubPrivateKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(githubPrivateKey)) {
  parent: vault
  name: githubPrivateKeySecretName
  properties: {
    value: githubPrivateKey
    contentType: 'application/x-pem-file'
  }
}

resource githubWebhookSecretResource 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(githubWebhookSecret)) {
  parent: vault
  name: githubWebhookSecretName
  properties: {
    value: githubWebhookSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
