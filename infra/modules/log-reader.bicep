// Log Analytics Reader for the alert rules' identities on one workspace (cross-workspace log alerts
// run their query as the rule's identity).

param workspaceName string
param principalIds array

var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(workspace.id, principalId, logAnalyticsReader)
    scope: workspace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
