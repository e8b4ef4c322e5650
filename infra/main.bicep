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

// Required: Ripple's own group is new and empty, so it can never hold the registry (azd prompts when unset).
@minLength(1)
@maxLength(90)
@description('Resource group of the existing registry.')
param containerRegistryResourceGroup string

@description('Name of an Event Grid system topic that already exists on the registry (Azure allows only one per registry), to add Ripple\'s subscription to instead of creating evgt-ripple-<token>. It must have a system-assigned identity. Empty: create one.')
param existingSystemTopicName string = ''

@description('Resource group of existingSystemTopicName. Empty: the registry\'s.')
param existingSystemTopicResourceGroup string = ''

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

@description('Object id of the function app identity the code was deployed to (output RIPPLE_FUNCTION_APP_PRINCIPAL_ID, recorded by the postdeploy hook in azure.yaml). The Event Grid subscription is created or updated only when it equals the current app\'s identity, i.e. once the registryEventGrid function exists in this very app; a value left over from a deleted deployment matches no new app. Empty: no subscription.')
param eventSubscriptionPrincipalId string = ''

@description('How the Event Grid subscription delivers: AzureFunction (the registryEventGrid trigger) or WebHook (POST to RIPPLE_WEBHOOK_URL, answered by registryWebhook; with eventGridEntraTenantId, each delivery bears a Microsoft Entra token the app checks).')
@allowed([
  'AzureFunction'
  'WebHook'
])
param eventGridDeliveryKind string = 'AzureFunction'

@description('WebHook delivery: tenant id of the Entra application protecting the webhook (RIPPLE_EVENT_GRID_AAD_TENANT_ID). Empty: no Entra authentication.')
param eventGridEntraTenantId string = ''

@description('WebHook delivery: that application\'s id or application id URI, the tokens\' audience (RIPPLE_EVENT_GRID_AAD_AUDIENCE).')
param eventGridEntraApplicationIdOrUri string = ''

@description('Upstream registry pull credentials: app setting name → Key Vault secret name, e.g. {"DOCKERHUB_USER": "dockerhub-user", "DOCKERHUB_TOKEN": "dockerhub-token"} (ripple.yaml upstream.registries[].credentials names the settings).')
param upstreamCredentialSecrets object = {}

@description('Grant the app "Container Registry Data Importer and Data Reader" on the registry, so watched upstream bases can be mirrored into it (ACR import).')
param mirrorUpstream bool = true

@description('User-assigned identity ACR Tasks source builds run with, to pull base images from other ACRs by identity (ripple.yaml registries[].tasks.identity, from the outputs RIPPLE_BUILD_IDENTITY_CLIENT_ID and RIPPLE_BUILD_IDENTITY_RESOURCE_ID): "create" = a new id-ripple-builds-<token> in Ripple\'s resource group; a resource id = that existing identity; empty: none. The app gets Managed Identity Operator on it, to attach it to task runs.')
param buildIdentity string = ''

@description('Resource ids of the other container registries builds pull base images from: the build identity gets AcrPull on each (Container Registry Repository Reader with registryPermissionsMode abac). Needs buildIdentity.')
param buildPullRegistryIds array = []

@description('RIPPLE_SLA_SCHEDULE: NCRONTAB (with seconds) of the SLA monitor timer; it evaluates only changed or due campaigns.')
param slaSchedule string = '*/15 * * * * *'

@description('Alert sink secrets: app setting name → Key Vault secret name, for the settings ripple.yaml names in alerts.sinks[] (PagerDuty routing key, Teams/Slack webhook URL, Slack token, webhook URL and secret, Event Grid topic key). Put the secrets into the vault by hand.')
param alertSinkSecrets object = {}

@description('Create an Event Grid custom topic for Ripple\'s own events (campaign opened, obligation done/failed, SLA at risk/breached/resolved), local auth off, with EventGrid Data Sender for the app\'s identity. Its endpoint is the output RIPPLE_EVENTS_TOPIC_ENDPOINT, for an event-grid sink in ripple.yaml.')
param rippleEventsTopic bool = false

@description('Application (client) id of an Entra app registration for App Service Authentication in front of Ripple\'s pages and read API; empty: no sign-in is configured and those endpoints answer 401 to everyone (the webhooks keep working).')
param pagesAuthClientId string = ''

@description('App setting holding that registration\'s client secret (a Key Vault reference you add, e.g. through alertSinkSecrets); empty: implicit-flow sign-in.')
param pagesAuthClientSecretSettingName string = ''

@description('Grant the app Reader on the registry\'s resource group, so `ripple doctor` can check the Event Grid subscription and the app\'s permissions on the registry (read-only, control plane).')
param doctorReader bool = true

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

@maxLength(7)
@description('Letters and digits appended to the Key Vault name (kv-<token>-<suffix>). Set a new one to deploy again after `azd down` while the old vault is soft-deleted with purge protection (its name stays reserved for the retention period). Empty: kv-ripple-<token>.')
param keyVaultNameSuffix string = ''

@description('Create the alerts (dead-lettered events, poison-queue messages, failed work) and the diagnostic settings to Log Analytics.')
param enableMonitoring bool = true

@description('E-mail address for the alerts. Empty (and no webhook): the alerts fire in Azure Monitor without notifying anyone.')
param alertEmail string = ''

@secure()
@description('HTTPS webhook for the alerts (common alert schema), e.g. a Teams/Slack relay. Empty: none.')
param alertWebhookUrl string = ''

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
  keyVault: empty(keyVaultNameSuffix) ? 'kv-ripple-${resourceToken}' : 'kv-${resourceToken}-${toLower(keyVaultNameSuffix)}'
  plan: 'plan-ripple-${resourceToken}'
  functionApp: 'func-ripple-${resourceToken}'
  systemTopic: 'evgt-ripple-${resourceToken}'
  eventsTopic: 'evgt-ripple-events-${resourceToken}'
  buildIdentity: buildIdentity == 'create' || empty(buildIdentity) ? 'id-ripple-builds-${resourceToken}' : last(split(buildIdentity, '/'))
}

var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var queueNames = [
  '${queuePrefix}-registry-events'
  '${queuePrefix}-campaigns'
  '${queuePrefix}-rebuild'
  '${queuePrefix}-pull-request'
  '${queuePrefix}-scans'
  '${queuePrefix}-alerts'
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

var registryResourceGroupName = containerRegistryResourceGroup
var systemTopicResourceGroupName = empty(existingSystemTopicName) || empty(existingSystemTopicResourceGroup) ? registryResourceGroupName : existingSystemTopicResourceGroup

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
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module appRoles 'modules/app-roles.bicep' = {
  name: 'ripple-app-roles'
  scope: rg
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    buildIdentityPrincipalId: empty(buildIdentity) ? '' : buildIdentityAccess!.outputs.principalId
    buildReadableSecretNames: [for entry in items(upstreamCredentialSecrets): entry.value]
  }
}

module pagesAuth 'modules/pages-auth.bicep' = if (!empty(pagesAuthClientId)) {
  name: 'ripple-pages-auth'
  scope: rg
  params: {
    siteName: functionApp.outputs.name
    clientId: pagesAuthClientId
    clientSecretSettingName: pagesAuthClientSecretSettingName
  }
  dependsOn: [
    appSettings
  ]
}

module eventsTopic 'modules/events-topic.bicep' = if (rippleEventsTopic) {
  name: 'ripple-events-topic'
  scope: rg
  params: {
    name: names.eventsTopic
    location: location
    tags: tags
    principalId: functionApp.outputs.principalId
  }
}

module appSettings 'modules/app-settings.bicep' = {
  name: 'ripple-app-settings'
  scope: rg
  params: {
    siteName: functionApp.outputs.name
    // The app's current settings, merged under ours so settings added by hand survive. Evaluated when this
    // module starts, i.e. after function-app.bicep created the app: it works on the first deployment too.
    currentAppSettings: list('${functionApp.outputs.id}/config/appsettings', '2024-11-01').properties
    storageAccountName: storage.outputs.name
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
    slaSchedule: slaSchedule
    eventGridTopicResourceGroup: systemTopicResourceGroupName == registryResourceGroupName ? '' : systemTopicResourceGroupName
    eventGridEntraTenantId: eventGridEntraTenantId
    eventGridEntraAudience: eventGridEntraApplicationIdOrUri
    alertSinkSecrets: alertSinkSecrets
    rippleConfigPath: rippleConfigPath
    tablePrefix: tablePrefix
    queuePrefix: queuePrefix
  }
  // Key Vault references resolve on first start only once the identity may read the vault.
  dependsOn: [
    appRoles
  ]
}

// A system topic reused from another resource group: the doctor reads its subscriptions there (Reader).
module topicReader 'modules/topic-reader.bicep' = if (doctorReader && systemTopicResourceGroupName != registryResourceGroupName) {
  name: 'ripple-topic-reader-${resourceToken}'
  scope: resourceGroup(systemTopicResourceGroupName)
  params: {
    principalId: functionApp.outputs.principalId
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
    doctorReader: doctorReader
    systemTopicName: names.systemTopic
    existingSystemTopicName: existingSystemTopicName
    existingSystemTopicResourceGroup: systemTopicResourceGroupName
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

// Only a module parameter, not a module condition, may depend on another module's output: hence `enabled`.
module eventSubscription 'modules/event-subscription.bicep' = if (!empty(eventSubscriptionPrincipalId)) {
  name: 'ripple-event-subscription-${resourceToken}'
  scope: resourceGroup(systemTopicResourceGroupName)
  params: {
    enabled: eventSubscriptionPrincipalId == functionApp.outputs.principalId
    systemTopicName: registry.outputs.systemTopicName
    functionAppId: functionApp.outputs.id
    functionName: 'registryEventGrid'
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
    maxDeliveryAttempts: eventGridMaxDeliveryAttempts
    eventTimeToLiveInMinutes: eventGridEventTimeToLiveInMinutes
    deliveryKind: eventGridDeliveryKind
    webhookUrl: 'https://${functionApp.outputs.defaultHostName}/api/registry/events'
    entraTenantId: eventGridEntraTenantId
    entraApplicationIdOrUri: eventGridEntraApplicationIdOrUri
  }
  dependsOn: [
    deadLetterAccess
    appSettings
  ]
}

// The build identity lives in Ripple's resource group when created, in its own (from its resource id) when given.
var buildIdentityGiven = !empty(buildIdentity) && buildIdentity != 'create'

module buildIdentityAccess 'modules/build-identity.bicep' = if (!empty(buildIdentity)) {
  name: 'ripple-build-identity-${resourceToken}'
  scope: resourceGroup(buildIdentityGiven ? split(buildIdentity, '/')[2] : subscription().subscriptionId, buildIdentityGiven ? split(buildIdentity, '/')[4] : rg.name)
  params: {
    name: names.buildIdentity
    create: buildIdentity == 'create'
    location: location
    tags: tags
    appPrincipalId: functionApp.outputs.principalId
  }
  // A created identity goes into Ripple's new resource group, named (not referenced) in the scope above.
  dependsOn: [
    rg
  ]
}

module buildIdentityPulls 'modules/build-identity-pull.bicep' = [for (registryId, index) in (empty(buildIdentity) ? [] : buildPullRegistryIds): {
  name: 'ripple-build-pull-${index}-${resourceToken}'
  scope: resourceGroup(split(registryId, '/')[2], split(registryId, '/')[4])
  params: {
    registryName: last(split(registryId, '/'))
    principalId: buildIdentityAccess!.outputs.principalId
    permissionsMode: registryPermissionsMode
  }
}]

module diagnostics 'modules/diagnostics.bicep' = if (enableMonitoring) {
  name: 'ripple-diagnostics'
  scope: rg
  params: {
    functionAppName: functionApp.outputs.name
    storageAccountName: storage.outputs.name
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module alerts 'modules/alerts.bicep' = if (enableMonitoring) {
  name: 'ripple-alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'ripple-${resourceToken}'
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    systemTopicId: registry.outputs.systemTopicId
    queuePrefix: queuePrefix
    alertEmail: alertEmail
    alertWebhookUrl: alertWebhookUrl
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment; none is secret)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output RIPPLE_FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output RIPPLE_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/registry/events'
output RIPPLE_GITHUB_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/github/events'
output RIPPLE_REGISTRY_LOGIN_SERVER string = registry.outputs.loginServer
output RIPPLE_EVENT_GRID_SYSTEM_TOPIC string = registry.outputs.systemTopicName
output RIPPLE_EVENT_GRID_SYSTEM_TOPIC_RESOURCE_GROUP string = systemTopicResourceGroupName
output RIPPLE_EVENT_GRID_DEAD_LETTER_CONTAINER string = deadLetterContainerName
output RIPPLE_PAGES_URL string = 'https://${functionApp.outputs.defaultHostName}/api/status'
output RIPPLE_EVENTS_TOPIC_ENDPOINT string = rippleEventsTopic ? eventsTopic!.outputs.endpoint : ''
output RIPPLE_BUILD_IDENTITY_CLIENT_ID string = empty(buildIdentity) ? '' : buildIdentityAccess!.outputs.clientId
output RIPPLE_BUILD_IDENTITY_RESOURCE_ID string = empty(buildIdentity) ? '' : buildIdentityAccess!.outputs.resourceId
