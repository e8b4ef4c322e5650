// Diagnostic settings that send platform logs and metrics to Ripple's Log Analytics workspace:
// - function app: every log category (FunctionAppLogs: host and function logs, not sampled) and AllMetrics;
// - storage account: Transaction metrics;
// - its queue service: StorageWrite logs (StorageQueueLogs: PutMessage, so also every message the host or the
//   app moves to a `-poison` queue; alerts.bicep counts those) and Transaction metrics. StorageRead is left
//   out on purpose: the queue triggers poll several times a second, which would be most of the bill.
// Blob and table logs are not collected (host leases and the state store would dominate them).

@description('Function app name.')
param functionAppName string

@description('Storage account used by the Functions host and by Ripple.')
param storageAccountName string

@description('Resource id of the Log Analytics workspace.')
param logAnalyticsWorkspaceId string

@description('Name of each diagnostic setting.')
param settingName string = 'ripple-log-analytics'

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' existing = {
  parent: storage
  name: 'default'
}

resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: site
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource storageDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: storage
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: queueService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}
