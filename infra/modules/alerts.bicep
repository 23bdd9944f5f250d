// The six operator alerts (docs/alerts.md says what each means and what to do):
//   dead-letter depth      metric alert per Service Bus namespace (DeadletteredMessages > 0 on the queue)
//   FAILED records         log alert: a statement was recorded FAILED and quarantined
//   heartbeat missing      log alert per region: no successful Watchdog heartbeat
//   both regions active    log alert: both regions doing active-only work in the same minutes
//   QueueBuilder stale     log alert: no QueueBuilder run in the active role
//   reconcile stuck        log alert: a reconciliation report lists stuck statements (watchdog/reconcile.py)
// Log alerts read the structured log records of shared/telemetry.py (AppTraces.Properties.event)
// and the Functions host's own AppRequests rows (Name = function name).
//
// Where they run: every log rule is declared TWICE, once per region, each copy living in its region and
// scoped to that region's workspace while its query reads both workspaces with workspace()
// (https://learn.microsoft.com/azure/azure-monitor/logs/cross-workspace-query). A region outage takes
// that region's copies with it and leaves the other region's copies evaluating, so "Heartbeat missing:
// DC04" is still raised, from DC06, when all of DC04 is down. While both regions are up a condition is
// notified twice (rule names end in -from-dc04 / -from-dc06). Metric alerts are global
// (https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-metric-overview). The rules run as a
// system-assigned identity that gets Log Analytics Reader on both workspaces (log-reader.bicep).

param workload string

@description('Region codes, in the same order as the workspaces and locations.')
param regions array

@description('Log Analytics workspace ids of DC04 and DC06.')
param workspaceIds array

@description('Azure locations of DC04 and DC06.')
param locations array

param serviceBusNamespaceIds array
param queueName string
param actionGroupName string

@description('E-mail address for alert notifications; empty = the action group has no receiver yet.')
param alertEmail string = ''

@description('Minutes without a successful heartbeat before the heartbeat alert fires (a log alert window).')
@allowed([
  5
  10
  15
])
param heartbeatWindowMinutes int = 5

@description('Minutes without a QueueBuilder run in the active role before the stale alert fires.')
@allowed([
  5
  10
  15
])
param queueBuilderWindowMinutes int = 5

param tags object = {}

var emailReceivers = empty(alertEmail) ? [] : [
  {
    name: 'operators'
    emailAddress: alertEmail
    useCommonAlertSchema: true
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take(actionGroupName, 12)
    enabled: true
    emailReceivers: emailReceivers
  }
}

resource deadLetter 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for (namespaceId, i) in serviceBusNamespaceIds: {
    name: 'alert-${workload}-deadletter-${toLower(regions[i])}'
    location: 'global'
    tags: tags
    properties: {
      description: 'Messages in the dead-letter queue of ${queueName} (docs/alerts.md#dead-letter-depth).'
      severity: 1
      enabled: true
      scopes: [
        namespaceId
      ]
      evaluationFrequency: 'PT1M'
      windowSize: 'PT5M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'deadLettered'
            metricNamespace: 'Microsoft.ServiceBus/namespaces'
            metricName: 'DeadletteredMessages'
            dimensions: [
              {
                name: 'EntityName'
                operator: 'Include'
                values: [
                  queueName
                ]
              }
            ]
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Maximum'
          }
        ]
      }
      autoMitigate: true
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

var bothWorkspaces = 'union workspace("{ws0}").{table}, workspace("{ws1}").{table}'

// Event names are those of shared.telemetry.log_event (AppTraces.Properties.event); function names
// are those of the blueprints (AppRequests.Name). docs/alerts.md lists the contract.
var failedQuery = '''
{traces}
| where tostring(Properties.event) == "statement.failed"
| summarize n = count()
'''

// Successful Watchdog timer runs of one region minus its runs whose heartbeat write failed.
var heartbeatQuery = '''
let failed = toscalar({traces}
| where tostring(Properties.event) == "watchdog.heartbeat_failed"
| count);
{requests}
| where Name == "watchdog_timer" and Success == true
| summarize n = count() - failed
'''

// Minutes in which both regions did active-only work: delivered through the runner (successful
// transformation_runner invocations) or ingested from MQ (statement.ingested). A controlled failover
// overlaps for a few seconds at most; three such minutes out of five is a split brain.
var bothActiveQuery = '''
let work = union
  ({requests}
  | where Name == "transformation_runner" and Success == true
  | extend region = toupper(extract(@"-(dc0[46])-", 1, AppRoleName))),
  ({traces}
  | where tostring(Properties.event) == "statement.ingested"
  | extend region = tostring(Properties.region));
work
| where isnotempty(region)
| summarize regions = dcount(region) by bin(TimeGenerated, 1m)
| summarize n = countif(regions > 1)
'''

// Successful queue_builder runs that were neither passive nor cut short by a transient error.
var staleQuery = '''
let skipped = {traces}
| where tostring(Properties.event) in ("queue_builder.passive", "queue_builder.transient")
| distinct OperationId;
{requests}
| where Name == "queue_builder" and Success == true and OperationId !in (skipped)
| summarize n = count()
'''

// Statements taken off MQ with no final record after RECONCILE_STUCK_AFTER_S, and WAL segments whose
// index cannot be read (their statements are unknown), as counted by the reconciliation reports of
// either region (one reconcile.report event per run, daily and on demand).
var stuckQuery = '''
{traces}
| where tostring(Properties.event) == "reconcile.report"
| summarize n = sum(toint(Properties.stuck)) + sum(coalesce(toint(Properties.unreadable_wal), 0))
'''

// Clock hours in which a WAL retention slice of either region failed (storage, Cosmos, a permission).
// A slice runs on every steady Watchdog tick while a pass is under way, so failures in six separate
// hours of the last six is a retention that has stopped, not a blip: 30 days before the storage
// lifecycle safety net acts (docs/storage.md#retention).
var retentionQuery = '''
{traces}
| where tostring(Properties.event) == "wal.retention_failed"
| summarize n = dcount(bin(TimeGenerated, 1h))
'''

var traces = replace(replace(replace(bothWorkspaces, '{ws0}', workspaceIds[0]), '{ws1}', workspaceIds[1]), '{table}', 'AppTraces')
var requests = replace(replace(replace(bothWorkspaces, '{ws0}', workspaceIds[0]), '{ws1}', workspaceIds[1]), '{table}', 'AppRequests')

var sharedRules = [
  {
    key: 'failed-records'
    anchor: 'failed-records'
    displayName: 'Statements recorded FAILED (quarantined)'
    severity: 2
    window: 'PT15M'
    frequency: 'PT5M'
    query: replace(failedQuery, '{traces}', traces)
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    key: 'both-active'
    anchor: 'both-active'
    displayName: 'Both regions active'
    severity: 0
    window: 'PT5M'
    frequency: 'PT1M'
    query: replace(replace(bothActiveQuery, '{traces}', traces), '{requests}', requests)
    operator: 'GreaterThanOrEqual'
    threshold: 3
  }
  {
    key: 'queuebuilder-stale'
    anchor: 'queuebuilder-stale'
    displayName: 'QueueBuilder stale (no run in the active role)'
    severity: 1
    window: 'PT${queueBuilderWindowMinutes}M'
    frequency: 'PT1M'
    query: replace(staleQuery, '{traces}', traces)
    operator: 'LessThan'
    threshold: 1
  }
  {
    key: 'reconcile-stuck'
    anchor: 'reconciliation-stuck'
    displayName: 'Reconciliation found stuck statements'
    severity: 1
    window: 'PT1H'
    frequency: 'PT15M'
    query: replace(stuckQuery, '{traces}', traces)
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    key: 'wal-retention'
    anchor: 'wal-retention-failing'
    displayName: 'WAL retention failing'
    severity: 2
    window: 'PT6H'
    frequency: 'PT1H'
    query: replace(retentionQuery, '{traces}', traces)
    operator: 'GreaterThanOrEqual'
    threshold: 6
  }
]

var heartbeatRules = [
  for (region, i) in regions: {
    key: 'heartbeat-${toLower(region)}'
    anchor: 'heartbeat-missing'
    displayName: 'Heartbeat missing: ${region}'
    severity: 1
    window: 'PT${heartbeatWindowMinutes}M'
    frequency: 'PT1M'
    query: replace(replace(heartbeatQuery, '{traces}', 'workspace("${workspaceIds[i]}").AppTraces'), '{requests}', 'workspace("${workspaceIds[i]}").AppRequests')
    operator: 'LessThan'
    threshold: 1
  }
]

var rules = concat(sharedRules, heartbeatRules)

// Every rule once per evaluating region: index i = rule (i % rules) evaluated from region (i / rules).
var evaluations = [
  for i in range(0, length(rules) * length(regions)): {
    rule: rules[i % length(rules)]
    evaluator: i / length(rules)
  }
]

resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for evaluation in evaluations: {
    name: 'alert-${workload}-${evaluation.rule.key}-from-${toLower(regions[evaluation.evaluator])}'
    location: locations[evaluation.evaluator]
    tags: tags
    identity: {
      type: 'SystemAssigned'
    }
    properties: {
      displayName: '${evaluation.rule.displayName} (from ${regions[evaluation.evaluator]})'
      description: 'docs/alerts.md#${evaluation.rule.anchor}'
      severity: evaluation.rule.severity
      enabled: true
      scopes: [
        workspaceIds[evaluation.evaluator]
      ]
      evaluationFrequency: evaluation.rule.frequency
      windowSize: evaluation.rule.window
      skipQueryValidation: true
      criteria: {
        allOf: [
          {
            query: evaluation.rule.query
            timeAggregation: 'Total'
            metricMeasureColumn: 'n'
            operator: evaluation.rule.operator
            threshold: evaluation.rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: [
          actionGroup.id
        ]
      }
    }
  }
]

output actionGroupId string = actionGroup.id
output rulePrincipalIds array = [for (evaluation, i) in evaluations: logAlerts[i].identity.principalId]
