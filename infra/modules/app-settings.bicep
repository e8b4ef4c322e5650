// The function app's app settings (one `sites/config/appsettings` resource, which replaces the whole set).
// Deployed after app-roles.bicep, so Key Vault references are first resolved once the identity may read
// the vault. Settings added by hand (another Key Vault reference, WEBSITE_TIME_ZONE, …) survive a provision:
// the caller passes the app's current settings (list() of `config/appsettings`) and they are merged under
// ours. Names Ripple owns — RIPPLE_*, AzureWebJobsStorage*, APPLICATIONINSIGHTS_* — are not carried over,
// so a setting this template no longer writes (a GitHub value left out, the other storage mode) is removed.

@description('Function app name.')
param siteName string

// Secure: hand-added values must not land in the deployment history as a plain parameter.
@secure()
@description('The app\'s current app settings (name → value), read by the caller with list(); {} on a new app.')
param currentAppSettings object = {}

@description('Storage account used by the Functions host and by Ripple.')
param storageAccountName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Key Vault holding the secrets.')
param keyVaultName string

@description('Name of the webhook secret in the vault.')
param webhookSecretName string

@description('Name of the storage connection-string secret in the vault (used when storageConnectionMode = keyVaultConnectionString).')
param storageConnectionSecretName string

@description('keyVaultConnectionString: AzureWebJobsStorage is a Key Vault reference to a connection string (needs Shared Key access on the account). identity: AzureWebJobsStorage__* identity-based settings with the system-assigned identity.')
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

@description('RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP: resource group of a reused Event Grid system topic when it is not the registry\'s (ripple doctor looks there); empty: not set.')
param eventGridTopicResourceGroup string = ''

@description('RIPPLE_EVENT_GRID_AAD_TENANT_ID: tenant of the Entra application protecting the registry webhook (Event Grid WebHook delivery); empty: not set.')
param eventGridEntraTenantId string = ''

@description('RIPPLE_EVENT_GRID_AAD_AUDIENCE: the application id or URI Event Grid requests tokens for; set with eventGridEntraTenantId.')
param eventGridEntraAudience string = ''

@description('RIPPLE_SLA_SCHEDULE: NCRONTAB (with seconds) of the checkSla timer (the SLA monitor).')
param slaSchedule string = '*/15 * * * * *'

@description('Alert sink secrets: app setting name → Key Vault secret name (the settings ripple.yaml names in alerts.sinks[]: routingKeySetting, webhookUrlSetting, tokenSetting, urlSetting, secretSetting, keySetting). The secrets are put into the vault by hand.')
param alertSinkSecrets object = {}

@description('RIPPLE_CONFIG: path of ripple.yaml inside the deployed package.')
param rippleConfigPath string

@description('RIPPLE_TABLE_PREFIX.')
param tablePrefix string

@description('RIPPLE_QUEUE_PREFIX.')
param queuePrefix string

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: siteName
}

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
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
  RIPPLE_SLA_SCHEDULE: slaSchedule
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
var eventGridEntraSettings = empty(eventGridEntraTenantId) ? {} : { RIPPLE_EVENT_GRID_AAD_TENANT_ID: eventGridEntraTenantId, RIPPLE_EVENT_GRID_AAD_AUDIENCE: eventGridEntraAudience }
var eventGridTopicSetting = empty(eventGridTopicResourceGroup) ? {} : { RIPPLE_EVENT_GRID_TOPIC_RESOURCE_GROUP: eventGridTopicResourceGroup }
var upstreamCredentialSettings = toObject(items(upstreamCredentialSecrets), entry => entry.key, entry => '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${entry.value})')
var alertSinkSettings = toObject(items(alertSinkSecrets), entry => entry.key, entry => '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${entry.value})')

// Settings Flex Consumption refuses in app settings (the runtime is in functionAppConfig); never written back.
var platformSettings = [
  'FUNCTIONS_WORKER_RUNTIME'
  'FUNCTIONS_EXTENSION_VERSION'
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING'
  'WEBSITE_CONTENTSHARE'
  'WEBSITE_RUN_FROM_PACKAGE'
  'WEBSITE_NODE_DEFAULT_VERSION'
]
var keptSettings = toObject(
  filter(
    items(currentAppSettings),
    entry => !contains(platformSettings, entry.key) && !startsWith(entry.key, 'RIPPLE_') && !startsWith(entry.key, 'AzureWebJobsStorage') && !startsWith(entry.key, 'APPLICATIONINSIGHTS_')
  ),
  entry => entry.key,
  entry => entry.value
)

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  // Ours last: union() lets later objects win.
  properties: union(keptSettings, storageConnectionMode == 'identity' ? identityStorageSettings : connectionStringStorageSettings, rippleSettings, githubSettings, eventGridTopicSetting, eventGridEntraSettings, upstreamCredentialSettings, alertSinkSettings)
}
