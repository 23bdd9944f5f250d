// The one control-plane right the bridge needs at run time: Website Contributor on the region's bridge
// function app, so that the region's CONTROL app can flip the runner's
// AzureWebJobs.transformation_runner.Disabled app setting when its Watchdog asks
// (watchdog/control_blueprint.py, shared/adapters/azure_control.py). Held by the control identity,
// which only the control app carries; the bridge app's identity (IBM MQ, untrusted XML) holds no
// control-plane role and cannot obtain this one (docs/security.md#control-plane-rights). Changes to
// the other region's app are the operator's (runbook), with the operator's own identity. Built-in
// role id: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles#website-contributor

param functionAppName string
param controlPrincipalId string

var websiteContributor = 'de139f84-1756-47ae-9be6-808fbbe84772'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource appSettingsWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(site.id, controlPrincipalId, websiteContributor)
  scope: site
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributor)
    principalId: controlPrincipalId
    principalType: 'ServicePrincipal'
  }
}
