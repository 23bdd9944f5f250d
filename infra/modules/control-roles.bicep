// Control-plane rights on the region's function app, held by the two regions' CONTROL identities only:
// Website Contributor, so either Watchdog can flip the runner's AzureWebJobs.transformation_runner.Disabled
// app setting here (azure-mgmt-web; shared/adapters/azure_control.py authenticates as
// AZURE_CONTROL_CLIENT_ID). The data identity, which reads IBM MQ and parses untrusted XML, holds no
// control-plane role (docs/security.md#operator-plane). Built-in role id:
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles#website-contributor

param functionAppName string
param ownControlPrincipalId string
param peerControlPrincipalId string

var websiteContributor = 'de139f84-1756-47ae-9be6-808fbbe84772'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource appSettingsWriters 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in [
    ownControlPrincipalId
    peerControlPrincipalId
  ]: {
    name: guid(site.id, principalId, websiteContributor)
    scope: site
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributor)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
