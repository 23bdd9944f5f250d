// Service Bus access of both regions' identities on one namespace (the alias may point at either):
// Azure Service Bus Data Sender + Receiver, and the custom Geo-DR failover role (the Watchdog fails
// the alias over to its own namespace on promotion, azure-mgmt-servicebus).
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

param namespaceName string

@description('Principal (object) ids of the regions\' managed identities.')
param principalIds array

@description('Resource id of the custom role that may fail over the Geo-DR alias.')
param failoverRoleDefinitionId string

var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespace.id, principalId, serviceBusDataSender)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespace.id, principalId, serviceBusDataReceiver)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource failover 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in principalIds: {
    name: guid(namespace.id, principalId, failoverRoleDefinitionId)
    scope: namespace
    properties: {
      roleDefinitionId: failoverRoleDefinitionId
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
