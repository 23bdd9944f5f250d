// Service Bus data-plane access on one region's namespace for that region's identity only: Azure
// Service Bus Data Sender + Receiver (each region publishes to and consumes from its own namespace; the
// app has no Service Bus control-plane role).
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

param namespaceName string

@description('Principal (object) ids of the identities that use this namespace (its region\'s).')
param principalIds array

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
