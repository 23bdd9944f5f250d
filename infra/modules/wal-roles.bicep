// Storage Blob Data Contributor for both regions' identities on one region's WAL account: every
// region writes the WAL to both accounts before MQCMIT (DESIGN.md), and replay reads either copy.

param storageAccountName string

@description('Principal (object) ids of the regions\' managed identities.')
param principalIds array

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobData 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(account.id, principalId, storageBlobDataContributor)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
