// Alerts on the three ways work gets lost or stuck, with an optional action group (e-mail and/or webhook):
// - dead-lettered Event Grid events: metric alert on the system topic's DeadLetteredCount (Total > 0),
//   one time series per event subscription (EventSubscriptionName: '*');
// - messages moved to a `<queuePrefix>-*-poison` queue: log alert on StorageQueueLogs (PutMessage to a
//   poison queue, written by the diagnostic setting in diagnostics.bicep). Storage exposes no per-queue
//   depth metric (QueueMessageCount is account-wide and hourly), so this counts arrivals, not depth;
// - failed work: log alert on the app's fixed failure messages (functions/*.ts) in AppTraces (Application
//   Insights, possibly sampled) and FunctionAppLogs (diagnostic setting, not sampled).
// Log alerts skip query validation: the tables only appear in the workspace once data has arrived.

@description('Azure region of the log alert rules (the workspace\'s).')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Prefix of the alert and action group names.')
param namePrefix string

@description('Resource id of the Log Analytics workspace that receives the app\'s and the storage account\'s logs.')
param logAnalyticsWorkspaceId string

@description('Resource id of the Event Grid system topic on the registry.')
param systemTopicId string

@description('RIPPLE_QUEUE_PREFIX: the poison queues are <queuePrefix>-<queue>-poison.')
param queuePrefix string

@description('E-mail address that receives the alerts. Empty: no e-mail receiver.')
param alertEmail string = ''

@secure()
@description('HTTPS webhook that receives the alerts (common alert schema). Empty: no webhook receiver.')
param alertWebhookUrl string = ''

var hasReceivers = !empty(alertEmail) || !empty(alertWebhookUrl)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (hasReceivers) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'ripple'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'email'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = hasReceivers ? [actionGroup.id] : []

resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-lettered-events'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dead-lettered registry events: they are blobs in the eventgrid-deadletter container and nothing replays them (infra/README.md, "How registry events reach Ripple").'
    severity: 2
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          dimensions: [
            {
              name: 'EventSubscriptionName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

// Multi-line strings do not interpolate: QUEUE_PREFIX is replaced below.
var poisonQuery = '''
StorageQueueLogs
| where OperationName == "PutMessage"
| extend Queue = extract(@"/([a-z0-9-]+-poison)\b", 1, strcat(tostring(column_ifexists("Uri", "")), " ", ObjectKey))
| where Queue startswith "QUEUE_PREFIX-"
| project TimeGenerated, Queue
'''

// The entry points' fixed messages for work that ended in failure (functions/*.ts).
var failureQuery = '''
union isfuzzy=true AppTraces, FunctionAppLogs
| extend Failure = extract(@"^(registry event failed|rebuild failed|pull request failed|registry events given up after repeated requeues|upstream tags failing repeatedly|alert not delivered|Ripple events not published)", 1, Message)
| where isnotempty(Failure)
| project TimeGenerated, Failure
'''

// Ripple's SLA gauge (workspace-based Application Insights keeps custom metrics in AppMetrics): a backstop that
// pages through the action group even when Ripple's own alert sinks cannot.
var slaQuery = '''
AppMetrics
| where Name == "ripple.sla.open_obligations"
| extend Status = tostring(Properties["status"])
| where Status in ("overdue", "failed") and Sum > 0
| project TimeGenerated, Status
'''

var logAlerts = [
  {
    name: 'poison-messages'
    displayName: 'Ripple: messages moved to a poison queue'
    description: 'A work-queue message failed maxDequeueCount times (or the app gave up on it) and was moved to <prefix>-<queue>-poison. Inspect it with Storage Explorer or az storage message peek.'
    query: replace(poisonQuery, 'QUEUE_PREFIX', queuePrefix)
    dimension: 'Queue'
  }
  {
    name: 'failed-work'
    displayName: 'Ripple: failed registry events, rebuilds, pull requests, upstream checks or alert deliveries'
    description: 'The app logged a failure: registry event failed, rebuild failed, pull request failed (the obligations behind them failed), registry events given up after repeated requeues, upstream tags failing repeatedly, an on-call alert not delivered to a sink (ripple alerts shows which and why), or Ripple events not published to their Event Grid topic. The alert names which; the log line carries the reason.'
    query: failureQuery
    dimension: 'Failure'
  }
  {
    name: 'sla-late'
    displayName: 'Ripple: obligations overdue or failed (SLA backstop)'
    description: 'The SLA gauge ripple.sla.open_obligations reports overdue or failed obligations that are not waived. Ripple pages on-call for them through its own alert sinks; this rule fires even if those cannot deliver. ripple sla and GET /api/status show which, docs/runbook.md what to do.'
    query: slaQuery
    dimension: 'Status'
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in logAlerts: {
    name: '${namePrefix}-${alert.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: alert.displayName
      description: alert.description
      severity: 2
      enabled: true
      scopes: [
        logAnalyticsWorkspaceId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT5M'
      skipQueryValidation: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            dimensions: [
              {
                name: alert.dimension
                operator: 'Include'
                values: [
                  '*'
                ]
              }
            ]
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: actionGroupIds
      }
    }
  }
]
