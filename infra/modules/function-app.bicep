// Ripple's Azure Functions app on the Flex Consumption plan (Linux, Node.js), with a system-assigned
// managed identity and the role assignments it needs inside the app's resource group:
//   storage account: Storage Blob Data Owner (Flex deployment package + host blobs),
//                    Storage Queue Data Contributor, Storage Table Data Contributor;
//   Key Vault:       Key Vault Secrets User (Key Vault references);
//   App Insights:    Monitoring Metrics Publisher (Entra-authenticated telemetry).
// App settings are written by a separate `sites/config` resource that depends on those role
// assignments, so Key Vault references are first resolved after the identity may read the vault.
// Registry roles (AcrPull, ACR Tasks) live in registry.bicep, in the registry's resource group.

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Function app name (globally unique host name <name>.azurewebsites.net).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('azd service name; tagged as azd-service-name so `azd deploy` finds the app.')
param serviceName string = 'ripple'

@description('Storage account used by the Functions host and by Ripple.')
param storageAccountName string

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Key Vault holding the secrets.')
param keyVaultName string

@description('Name of the webhook secret in the vault.')
param webhookSecretName string

@description('Name of the storage connection-string secret in the vault (used when storageConnectionMode = keyVaultConnectionString).')
param storageConnectionSecretName string

@description('keyVaultConnectionString: AzureWebJobsStorage is a Key Vault reference to a connection string (works with the app today). identity: AzureWebJobsStorage__* identity-based settings (needs the app follow-up described in infra/README.md).')
@allowed([
  'keyVaultConnectionString'
  'identity'
])
param storageConnectionMode string

@description('Name of the GitHub App private key secret in the vault; empty when none was given (RIPPLE_GITHUB_PRIVATE_KEY is then not set).')
param githubPrivateKeySecretName string = ''

@description('Name of the GitHub webhook secret in the vault; empty when none was given (RIPPLE_GITHUB_WEBHOOK_SECRET is then not set).')
param githubWebhookSecretName string = ''

@description('RIPPLE_GITHUB_APP_ID; empty: not set.')
param githubAppId string = ''

@description('RIPPLE_GITHUB_INSTALLATION_ID; empty: not set.')
param githubInstallationId string = ''

@description('RIPPLE_GITHUB_API_URL; empty: not set (the app defaults to https://api.github.com).')
param githubApiUrl string = ''

@description('RIPPLE_UPSTREAM_SCHEDULE: NCRONTAB (with seconds) of the watchUpstream timer; each watched tag is still checked on its own interval.')
param upstreamSchedule string = '*/5 * * * * *'

@description('Upstream registry pull credentials: app setting name → Key Vault secret name (the settings ripple.yaml names in upstream.registries[].credentials). The secrets are put into the vault by hand.')
param upstreamCredentialSecrets object = {}

@description('RIPPLE_CONFIG: path of ripple.yaml inside the deployed package.')
param rippleConfigPath string

@description('RIPPLE_TABLE_PREFIX.')
param tablePrefix string

@description('RIPPLE_QUEUE_PREFIX.')
param queuePrefix string

@description('Node.js major version.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '20'

@description('Maximum number of instances the plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// No basic-auth (publishing profile) credentials: azd and the portal deploy with Entra tokens.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
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
    name: guid(storage.id, site.id, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: site.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, site.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, site.id, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// AzureWebJobsStorage, two ways (see infra/README.md, "Storage connection"):
// - identity (default): the host and Ripple connect with the system-assigned managed identity
//   (`__credential: managedidentity`; a user-assigned one would add `__clientId`); no key anywhere.
// - keyVaultConnectionString: a Key Vault reference to the connection string; nothing in plain text.
var identityStorageSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
}

var connectionStringStorageSettings = {
  AzureWebJobsStorage: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${storageConnectionSecretName})'
}

var rippleSettings = {
  RIPPLE_CONFIG: rippleConfigPath
  RIPPLE_WEBHOOK_SECRET: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${webhookSecretName})'
  RIPPLE_TABLE_PREFIX: tablePrefix
  RIPPLE_QUEUE_PREFIX: queuePrefix
  RIPPLE_UPSTREAM_SCHEDULE: upstreamSchedule
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
}

// GitHub App and webhook: each setting only when its value (or, for the secrets, its Key Vault secret) was given,
// so that the app's own defaults and "unset" behaviour apply otherwise. Secrets are Key Vault references.
var githubAppSettings = union(empty(githubAppId) ? {} : { RIPPLE_GITHUB_APP_ID: githubAppId }, empty(githubInstallationId) ? {} : { RIPPLE_GITHUB_INSTALLATION_ID: githubInstallationId })
var githubPrivateKeySetting = empty(githubPrivateKeySecretName) ? {} : { RIPPLE_GITHUB_PRIVATE_KEY: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${githubPrivateKeySecretName})' }
var githubWebhookSecretSetting = empty(githubWebhookSecretName) ? {} : { RIPPLE_GITHUB_WEBHOOK_SECRET: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${githubWebhookSecretName})' }
var githubApiUrlSetting = empty(githubApiUrl) ? {} : { RIPPLE_GITHUB_API_URL: githubApiUrl }
var githubSettings = union(githubAppSettings, githubPrivateKeySetting, githubWebhookSecretSetting, githubApiUrlSetting)
var upstreamCredentialSettings = toObject(items(upstreamCredentialSecrets), entry => entry.key, entry => '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${entry.value})')

// The complete app settings (this resource replaces the whole set on every deployment).
resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(storageConnectionMode == 'identity' ? identityStorageSettings : connectionStringStorageSettings, rippleSettings, githubSettings, upstreamCredentialSettings)
  dependsOn: [
    storageRoleAssignments
    keyVaultSecretsUser
    metricsPublisher
  ]
}

output name string = site.name
output id string = site.id
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName
