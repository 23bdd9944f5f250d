// The one Service Bus role of a region's identity: Azure Service Bus Data Owner on its OWN namespace's
// statements queue (the queue scope, nothing wider). The peer region's identity gets nothing here:
// each region publishes to and consumes from its own namespace only.
//
// Why Owner and not Sender + Receiver: the runner's Service Bus trigger scales on the queue's length,
// which the scale controller reads with the trigger's identity, and reading entity runtime properties
// is a manage operation. Microsoft lists Data Receiver *and* Data Owner for the trigger
// (https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus#grant-permission-to-the-identity)
// and warns that without manage rights "scaling isn't as accurate because the queue length can't be
// used to inform scaling decisions" (https://learn.microsoft.com/azure/azure-functions/event-driven-scaling).
// Data Owner at queue scope also covers the QueueBuilder's and the replay's sends. Role scopes:
// https://learn.microsoft.com/azure/service-bus-messaging/service-bus-managed-service-identity#resource-scope
// No control-plane role: without a Geo-DR alias there is nothing for the Watchdog to fail over.

param namespaceName string
param queueName string

@description('Principal (object) id of the region\'s managed identity.')
param principalId string

var serviceBusDataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: queueName
}

resource owner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, principalId, serviceBusDataOwner)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
