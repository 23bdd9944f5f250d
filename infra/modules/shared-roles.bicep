// Data-plane access of both regions' managed identities to the shared resources (deployed into the
// shared resource group): Service Bus sender + receiver on both namespaces (the alias may point at
// either), the Geo-DR failover role on both namespaces (the Watchdog fails the alias over), the Cosmos
// DB Built-in Data Contributor SQL role, and the Redis "default" data access policy on both instances.
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

@description('Principal (object) ids of the regions\' managed identities.')
param principalIds array

param serviceBusNamespaceNames array
param cosmosAccountName string
param redisNames array

@description('Resource id of the custom role that may fail over the Geo-DR alias.')
param failoverRoleDefinitionId string

var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource namespaceA 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceNames[0]
}

resource namespaceB 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceNames[1]
}

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

resource senderA 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespaceA.id, principalId, serviceBusDataSender)
    scope: namespaceA
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource receiverA 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespaceA.id, principalId, serviceBusDataReceiver)
    scope: namespaceA
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource failoverA 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespaceA.id, principalId, failoverRoleDefinitionId)
    scope: namespaceA
    properties: {
      roleDefinitionId: failoverRoleDefinitionId
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource senderB 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespaceB.id, principalId, serviceBusDataSender)
    scope: namespaceB
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource receiverB 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespaceB.id, principalId, serviceBusDataReceiver)
    scope: namespaceB
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource failoverB 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespaceB.id, principalId, failoverRoleDefinitionId)
    scope: namespaceB
    properties: {
      roleDefinitionId: failoverRoleDefinitionId
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

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
