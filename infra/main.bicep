// Ripple on Azure: the Azure Functions app (Flex Consumption, Node.js) and everything it needs.
// Entry point for `azd` (infra/azure.yaml) or `az deployment sub create`. See infra/README.md.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Environment name (azd: AZURE_ENV_NAME); seeds resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region of the new resources; must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create for Ripple. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@minLength(5)
@maxLength(50)
@description('Name of the existing Azure Container Registry Ripple watches and rebuilds in.')
param containerRegistryName string

@description('Resource group of the existing registry. Default: Ripple\'s resource group.')
param containerRegistryResourceGroup string = ''

@description('Permissions mode of the registry: rbac = "RBAC Registry Permissions" (AcrPull), abac = "RBAC Registry + ABAC Repository Permissions" (Repository Reader + Catalog Lister).')
@allowed([
  'rbac'
  'abac'
])
param registryPermissionsMode string = 'rbac'

@secure()
@minLength(16)
@description('Shared secret registry webhooks must send (`Authorization: Bearer <secret>`); stored in Key Vault only.')
param webhookSecret string

@description('RIPPLE_GITHUB_APP_ID: the GitHub App\'s numeric id. Empty: the setting is not set. Give it with githubInstallationId and githubPrivateKey (the app serves GitHub repositories only with all three).')
param githubAppId string = ''

@description('RIPPLE_GITHUB_INSTALLATION_ID: numeric id of the App\'s installation on the account/organization that owns the repositories. Empty: not set.')
param githubInstallationId string = ''

@secure()
@description('The GitHub App\'s private key (PEM, PKCS#1 as GitHub hands it out, or PKCS#8; line breaks may be escaped as \\n). Empty: no secret, no setting. Given: stored in Key Vault only; RIPPLE_GITHUB_PRIVATE_KEY is a Key Vault reference.')
param githubPrivateKey string = ''

@secure()
@description('Secret of the GitHub App\'s webhook (X-Hub-Signature-256), at least 16 characters (the app refuses to start with a shorter one). Empty: no secret, no setting (the GitHub webhook answers 404). Given: stored in Key Vault only; RIPPLE_GITHUB_WEBHOOK_SECRET is a Key Vault reference.')
param githubWebhookSecret string = ''

@description('RIPPLE_GITHUB_API_URL: GitHub REST root (GitHub Enterprise Server: https://<host>/api/v3). Empty: not set, the app uses https://api.github.com.')
param githubApiUrl string = ''

@description('Create the Event Grid subscription to the registryEventGrid function. Leave false until the function code is deployed (the postdeploy hook in azure.yaml turns it on).')
param enableEventSubscription bool = false

@description('Upstream registry pull credentials: app setting name → Key Vault secret name, e.g. {"DOCKERHUB_USER": "dockerhub-user", "DOCKERHUB_TOKEN": "dockerhub-token"} (ripple.yaml upstream.registries[].credentials names the settings).')
param upstreamCredentialSecrets object = {}

@description('Grant the app "Container Registry Data Importer and Data Reader" on the registry, so watched upstream bases can be mirrored into it (ACR import).')
param mirrorUpstream bool = true

@description('How AzureWebJobsStorage is provided: identity (managed identity, no account key anywhere, Shared Key access off; the default) or keyVaultConnectionString (a Key Vault reference to a connection string built from the account key).')
@allowed([
  'keyVaultConnectionString'
  'identity'
])
param storageConnectionMode string = 'identity'

@description('RIPPLE_CONFIG: path of ripple.yaml in the deployed package (relative paths resolve against the app root).')
param rippleConfigPath string = 'ripple.yaml'

@minLength(1)
@maxLength(41)
@description('RIPPLE_TABLE_PREFIX: letter first, then letters and digits.')
param tablePrefix string = 'ripple'

@minLength(1)
@maxLength(20)
@description('RIPPLE_QUEUE_PREFIX: lowercase letters and digits; the queues are <prefix>-registry-events, <prefix>-campaigns, <prefix>-rebuild, <prefix>-pull-request.')
param queuePrefix string = 'ripple'

@description('Node.js major version of the function app.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '20'

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: maximum instance count.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: memory per instance (MB).')
param instanceMemoryMB int = 2048

@description('Key Vault purge protection (recommended; blocks re-using the vault name for the retention period after deletion).')
param keyVaultPurgeProtection bool = true

@minValue(1)
@maxValue(30)
@description('Event Grid: delivery attempts before dead-lettering.')
param eventGridMaxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
@description('Event Grid: minutes an event is retried before dead-lettering.')
param eventGridEventTimeToLiveInMinutes int = 1440

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'ripple'
}

var names = {
  resourceGroup: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  logAnalytics: 'log-ripple-${resourceToken}'
  applicationInsights: 'appi-ripple-${resourceToken}'
  storageAccount: 'stripple${resourceToken}'
  keyVault: 'kv-ripple-${resourceToken}'
  plan: 'plan-ripple-${resourceToken}'
  functionApp: 'func-ripple-${resourceToken}'
  systemTopic: 'evgt-ripple-${resourceToken}'
}

var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var queueNames = [
  '${queuePrefix}-registry-events'
  '${queuePrefix}-campaigns'
  '${queuePrefix}-rebuild'
  '${queuePrefix}-pull-request'
  '${queuePrefix}-scans'
]
var webhookSecretName = 'ripple-webhook-secret'
var storageConnectionSecretName = 'ripple-storage-connection'
var githubPrivateKeySecretName = 'ripple-github-private-key'
var githubWebhookSecretName = 'ripple-github-webhook-secret'

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

var registryResourceGroupName = empty(containerRegistryResourceGroup) ? rg.name : containerRegistryResourceGroup

module monitoring 'modules/monitoring.bicep' = {
  name: 'ripple-monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
  }
}

module storage 'modules/storage.bicep' = {
  name: 'ripple-storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.storageAccount
    allowSharedKeyAccess: storageConnectionMode != 'identity'
    queueNames: queueNames
    containerNames: [
      deploymentContainerName
      deadLetterContainerName
    ]
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'ripple-keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.keyVault
    storageAccountName: storage.outputs.name
    storeStorageConnectionString: storageConnectionMode != 'identity'
    webhookSecret: webhookSecret
    webhookSecretName: webhookSecretName
    storageConnectionSecretName: storageConnectionSecretName
    githubPrivateKey: githubPrivateKey
    githubPrivateKeySecretName: githubPrivateKeySecretName
    githubWebhookSecret: githubWebhookSecret
    githubWebhookSecretName: githubWebhookSecretName
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'ripple-function-app'
  scope: rg
  params: {
    location: location
    tags: tags
    name: names.functionApp
    planName: names.plan
    serviceName: 'ripple'
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    webhookSecretName: webhookSecretName
    storageConnectionSecretName: storageConnectionSecretName
    storageConnectionMode: storageConnectionMode
    // Empty secret name = that secret was not given: no Key Vault secret, no app setting.
    githubPrivateKeySecretName: empty(githubPrivateKey) ? '' : githubPrivateKeySecretName
    githubWebhookSecretName: empty(githubWebhookSecret) ? '' : githubWebhookSecretName
    githubAppId: githubAppId
    githubInstallationId: githubInstallationId
    githubApiUrl: githubApiUrl
    upstreamCredentialSecrets: upstreamCredentialSecrets
    rippleConfigPath: rippleConfigPath
    tablePrefix: tablePrefix
    queuePrefix: queuePrefix
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// Deployment names in the registry's resource group carry the token: several environments may share it.
module registry 'modules/registry.bicep' = {
  name: 'ripple-registry-${resourceToken}'
  scope: resourceGroup(registryResourceGroupName)
  params: {
    registryName: containerRegistryName
    principalId: functionApp.outputs.principalId
    permissionsMode: registryPermissionsMode
    mirrorUpstream: mirrorUpstream
    systemTopicName: names.systemTopic
    tags: tags
  }
}

module deadLetterAccess 'modules/dead-letter-access.bicep' = {
  name: 'ripple-dead-letter-access'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: deadLetterContainerName
    principalId: registry.outputs.systemTopicPrincipalId
  }
}

module eventSubscription 'modules/event-subscription.bicep' = if (enableEventSubscription) {
  name: 'ripple-event-subscription-${resourceToken}'
  scope: resourceGroup(registryResourceGroupName)
  params: {
    systemTopicName: registry.outputs.systemTopicName
    functionAppId: functionApp.outputs.id
    functionName: 'registryEventGrid'
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
    maxDeliveryAttempts: eventGridMaxDeliveryAttempts
    eventTimeToLiveInMinutes: eventGridEventTimeToLiveInMinutes
  }
  dependsOn: [
    deadLetterAccess
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment; none is secret)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output RIPPLE_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/registry/events'
output RIPPLE_GITHUB_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/github/events'
output RIPPLE_REGISTRY_LOGIN_SERVER string = registry.outputs.loginServer
output RIPPLE_EVENT_GRID_SYSTEM_TOPIC string = registry.outputs.systemTopicName
output RIPPLE_EVENT_GRID_DEAD_LETTER_CONTAINER string = deadLetterContainerName
