// Event Grid subscription on the registry's system topic: delivers ImagePushed / ImageDeleted to the
// `registryEventGrid` Event Grid trigger (endpointType AzureFunction; Event Grid uses the function's
// eventgrid_extension system key itself, no URL or key appears here). Retries with exponential back-off
// up to maxDeliveryAttempts / eventTimeToLiveInMinutes, then dead-letters the event as a blob in the
// app's storage account, written with the system topic's managed identity.
// Create it only after the function code is deployed: ARM validates that the function exists. The caller
// decides with `enabled`, computed from outputs of earlier modules (a module parameter may be, a condition
// in the caller may not): true only when the code was deployed to this very app (see main.bicep).
// With deliveryKind 'WebHook' the subscription instead POSTs to the app's HTTP endpoint (registryWebhook),
// and with an Entra application given, Event Grid sends a Microsoft Entra bearer token issued for it with
// every delivery (the app checks it: RIPPLE_EVENT_GRID_AAD_TENANT_ID / RIPPLE_EVENT_GRID_AAD_AUDIENCE).
// The deploying identity must own the application's service principal or hold its
// AzureEventGridSecureWebhookSubscriber role, and Event Grid's service principal must hold that role.

@description('Name of the Event Grid system topic on the registry (same resource group as this deployment).')
param systemTopicName string

@description('Create or update the subscription. False: nothing is deployed (an existing subscription is left as it is).')
param enabled bool = true

@description('Name of the event subscription.')
param subscriptionName string = 'ripple-registry-events'

@description('Resource id of the function app.')
param functionAppId string

@description('Name of the Event Grid-triggered function.')
param functionName string = 'registryEventGrid'

@description('AzureFunction: the Event Grid trigger (functionName). WebHook: POST to webhookUrl, the HTTP endpoint.')
@allowed([
  'AzureFunction'
  'WebHook'
])
param deliveryKind string = 'AzureFunction'

@description('WebHook delivery: the endpoint URL (https://<app>/api/registry/events).')
param webhookUrl string = ''

@description('WebHook delivery: the Microsoft Entra tenant id of the webhook\'s application. Empty: no token (then the webhook URL must carry the secret some other way; the app refuses Event Grid deliveries without one).')
param entraTenantId string = ''

@description('WebHook delivery: the application id or application id URI Event Grid requests its token for (the token\'s audience).')
param entraApplicationIdOrUri string = ''

@description('Resource id of the storage account that receives dead-lettered events.')
param deadLetterStorageAccountId string

@description('Blob container that receives dead-lettered events.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

var functionDestination = {
  endpointType: 'AzureFunction'
  properties: {
    resourceId: '${functionAppId}/functions/${functionName}'
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
  }
}

// WebHookEventSubscriptionDestinationProperties (api 2025-02-15): the Entra pair only when given.
var entraProperties = empty(entraTenantId) ? {} : {
  azureActiveDirectoryTenantId: entraTenantId
  azureActiveDirectoryApplicationIdOrUri: entraApplicationIdOrUri
}

var webhookDestination = {
  endpointType: 'WebHook'
  properties: union({
    endpointUrl: webhookUrl
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
    minimumTlsVersionAllowed: '1.2'
  }, entraProperties)
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (enabled) {
  parent: systemTopic
  name: subscriptionName
  properties: {
    destination: deliveryKind == 'WebHook' ? webhookDestination : functionDestination
    filter: {
      includedEventTypes: [
        'Microsoft.ContainerRegistry.ImagePushed'
        'Microsoft.ContainerRegistry.ImageDeleted'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output name string = subscriptionName
output created bool = enabled
