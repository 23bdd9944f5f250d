// Data-plane access of both regions' managed identities to the resources in the shared resource
// group: the Cosmos DB Built-in Data Contributor SQL role, and the Redis "default" data access policy
// on both instances (each region uses its own; the peer's is granted so an operator can repoint a
// region in an emergency). Service Bus roles: servicebus-roles.bicep (namespaces live per region).
// Serialized (@batchSize(1)): Cosmos DB applies SQL role assignments under an account-level lock, and
// two assignments PUT in parallel make one fail with a conflict; the Redis access policy assignments
// of one database are serialized for the same reason. ARM runs copy loops in parallel unless told
// otherwise: https://learn.microsoft.com/azure/azure-resource-manager/bicep/loops#deploy-in-batches
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

@description('Principal (object) ids of the regions\' managed identities.')
param principalIds array

param cosmosAccountName string
param redisNames array

var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource redisA 'Microsoft.Cache/redisEnterprise@2025-07-01' existing = {
  name: redisNames[0]
}

resource redisADatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' existing = {
  parent: redisA
  name: 'default'
}

resource redisB 'Microsoft.Cache/redisEnterprise@2025-07-01' existing = {
  name: redisNames[1]
}

resource redisBDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' existing = {
  parent: redisB
  name: 'default'
}

@batchSize(1)
resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: cosmos
    name: guid(cosmos.id, principalId, cosmosDataContributor)
    properties: {
      roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
      principalId: principalId
      scope: cosmos.id
    }
  }
]

// Access policy assignment names allow letters and digits only, hence the dashes removed from guid().
@batchSize(1)
resource redisAccessA 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = [
  for principalId in principalIds: {
    parent: redisADatabase
    name: replace(guid(redisADatabase.id, principalId, 'default'), '-', '')
    properties: {
      accessPolicyName: 'default'
      user: {
        objectId: principalId
      }
    }
  }
]

@batchSize(1)
resource redisAccessB 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = [
  for principalId in principalIds: {
    parent: redisBDatabase
    name: replace(guid(redisBDatabase.id, principalId, 'default'), '-', '')
    properties: {
      accessPolicyName: 'default'
      user: {
        objectId: principalId
      }
    }
  }
]
