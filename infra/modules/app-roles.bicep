// Role assignments on the region's own resources (deployed into the region's resource group):
//   own identity:  Key Vault Secrets User (Key Vault references), Storage Blob Data Owner + Queue and
//                  Table Data Contributor on the host storage (identity-based AzureWebJobsStorage and the
//                  Flex deployment container), Monitoring Metrics Publisher on Application Insights
//                  (Entra-authenticated telemetry);
//   both regions' identities: Website Contributor on this function app, so either Watchdog can flip
//                  the runner's AzureWebJobs.transformation_runner.Disabled setting here (azure-mgmt-web).
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

param ownPrincipalId string
param peerPrincipalId string
param keyVaultName string
param hostStorageName string
param appInsightsName string
param functionAppName string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var websiteContributor = 'de139f84-1756-47ae-9be6-808fbbe84772'

var hostStorageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

var watchdogPrincipals = [
  ownPrincipalId
  peerPrincipalId
]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, ownPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: ownPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hostStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in hostStorageRoles: {
    name: guid(hostStorage.id, ownPrincipalId, roleId)
    scope: hostStorage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: ownPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, ownPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: ownPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appSettingsWriters 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in watchdogPrincipals: {
    name: guid(site.id, principalId, websiteContributor)
    scope: site
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributor)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
