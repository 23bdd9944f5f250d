// Role assignments on the region's own resources (deployed into the region's resource group):
//   own identity:  Key Vault Secrets User (Key Vault references), Storage Blob Data Owner + Queue and
//                  Table Data Contributor on the host storage (identity-based AzureWebJobsStorage and the
//                  Flex deployment container), Monitoring Metrics Publisher on Application Insights
//                  (Entra-authenticated telemetry);
//   no control-plane role: Website Contributor on the app belongs to the control identities
//                  (control-roles.bicep), not to the identity that reads IBM MQ and parses XML.
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

param ownPrincipalId string

@description('Key Vault Secrets User for Key Vault references (the bridge app: MQ password); the control app reads no secret.')
param keyVaultAccess bool = true
param keyVaultName string
param hostStorageName string
param appInsightsName string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var hostStorageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
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

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (keyVaultAccess) {
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
