// The operations desk's figures from telemetry: an Azure Monitor workbook over both regions'
// workspaces showing what the status page (watchdog/status_page.py) shows from the live stores —
// active region and epoch, health per probe, heartbeat and QueueBuilder ages, MQ backlog, last
// failovers, the last reconciliation, recent FAILED and in-doubt statements. It reads the events of
// log_event in shared/telemetry.py (AppTraces.Properties.event), the bridge.* gauges (AppMetrics) and the
// Functions host's invocations (AppRequests); tests/infra/test_operator_plane.py checks that every
// event, metric and function name it reads is one the code emits.
// Workbook resource: https://learn.microsoft.com/en-us/azure/azure-monitor/visualize/workbooks-automate

param workload string
param location string

@description('Log Analytics workspace ids of DC04 and DC06 (the workbook queries both).')
param workspaceIds array

param tags object = {}

var bothTraces = 'union workspace("${workspaceIds[0]}").AppTraces, workspace("${workspaceIds[1]}").AppTraces'
var bothRequests = 'union workspace("${workspaceIds[0]}").AppRequests, workspace("${workspaceIds[1]}").AppRequests'
var bothMetrics = 'union workspace("${workspaceIds[0]}").AppMetrics, workspace("${workspaceIds[1]}").AppMetrics'

var activeQuery = '''
{traces}
| where tostring(Properties.event) == "watchdog.tick"
| summarize arg_max(TimeGenerated, *) by region = tostring(Properties.region)
| project region, active_dc = tostring(Properties.active_dc), epoch = toint(Properties.epoch), action = tostring(Properties.action), at = TimeGenerated
'''

var agesQuery = '''
{requests}
| where Success == true and Name in ("watchdog_timer", "queue_builder")
| extend region = toupper(extract(@"-(dc0[46])-", 1, AppRoleName))
| summarize last = max(TimeGenerated) by region, Name
| extend age_s = datetime_diff("second", now(), last)
| project region, what = iff(Name == "watchdog_timer", "heartbeat", "QueueBuilder run"), age_s, last
'''

var probesQuery = '''
{metrics}
| where Name startswith "bridge.probe_"
| extend region = toupper(extract(@"-(dc0[46])-", 1, AppRoleName)), probe = extract(@"bridge\.probe_(.+)_ok", 1, Name)
| summarize arg_max(TimeGenerated, Max) by region, probe
| project region, probe, healthy = Max == 1, at = TimeGenerated
'''

var backlogQuery = '''
{metrics}
| where Name == "bridge.mq_depth"
| extend region = toupper(extract(@"-(dc0[46])-", 1, AppRoleName))
| summarize depth = max(Max) by bin(TimeGenerated, 5m), region
'''

var failoverQuery = '''
{traces}
| where tostring(Properties.event) in ("watchdog.transferred", "watchdog.activated")
| project TimeGenerated, event = tostring(Properties.event), from_dc = tostring(Properties.previous), to_dc = tostring(Properties.to), epoch = toint(Properties.epoch), by = tostring(Properties.by), reason = tostring(Properties.reason)
| top 10 by TimeGenerated
'''

var reconcileQuery = '''
{traces}
| where tostring(Properties.event) == "reconcile.report"
| project TimeGenerated, region = tostring(Properties.region), report = tostring(Properties.report), taken_off_mq = toint(Properties.taken_off_mq), delivered = toint(Properties.delivered), stuck = toint(Properties.stuck), failed = toint(Properties.failed), in_doubt = toint(Properties.in_doubt), redelivered = toint(Properties.redelivered), missing_at_target = toint(Properties.missing_at_target), out_of_order = toint(Properties.out_of_order)
| top 5 by TimeGenerated
'''

var problemsQuery = '''
{traces}
| where tostring(Properties.event) in ("statement.failed", "statement.in_doubt_redeliver", "statement.in_doubt_reconciled")
| project TimeGenerated, event = tostring(Properties.event), message_id = tostring(Properties.message_id), region = tostring(Properties.region), reason = tostring(Properties.reason)
| top 50 by TimeGenerated
'''

var panels = [
  {
    title: 'Active region and epoch (each Watchdog\'s last tick)'
    query: replace(activeQuery, '{traces}', bothTraces)
  }
  {
    title: 'Heartbeat and QueueBuilder age'
    query: replace(agesQuery, '{requests}', bothRequests)
  }
  {
    title: 'Health per probe'
    query: replace(probesQuery, '{metrics}', bothMetrics)
  }
  {
    title: 'MQ backlog'
    query: replace(backlogQuery, '{metrics}', bothMetrics)
  }
  {
    title: 'Last failovers'
    query: replace(failoverQuery, '{traces}', bothTraces)
  }
  {
    title: 'Last reconciliations'
    query: replace(reconcileQuery, '{traces}', bothTraces)
  }
  {
    title: 'Recent FAILED and in-doubt statements (trace: python -m watchdog.cli trace <message_id>)'
    query: replace(problemsQuery, '{traces}', bothTraces)
  }
]

var content = {
  version: 'Notebook/1.0'
  items: concat(
    [
      {
        type: 1
        name: 'title'
        content: {
          json: '## Statement bridge — operations\nThe same figures as the Watchdog\'s status page (`/api/statuspage`), from telemetry.'
        }
      }
    ],
    map(panels, panel => {
      type: 3
      name: panel.title
      content: {
        version: 'KqlItem/1.0'
        title: panel.title
        query: panel.query
        size: 0
        timeContext: {
          durationMs: 86400000
        }
        queryType: 0
        resourceType: 'microsoft.operationalinsights/workspaces'
        crossComponentResources: workspaceIds
      }
    })
  )
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, workload, 'operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Statement bridge (${workload}) — operations'
    category: 'workbook'
    sourceId: workspaceIds[0]
    serializedData: string(content)
  }
}

output id string = workbook.id
