// The statements queue of ONE region's namespace (deployed once per region). Each region's app
// publishes to and consumes from its own namespace: no Geo-DR pairing, no alias, no Geo-Replication.
// The dual-region WAL is the only replication: a newly active region replays every WAL entry without
// a final record into its own namespace (docs/protocols.md, "Service Bus: one namespace per region").
//
// Queue semantics the code relies on (DESIGN.md): sessions (one per account: order per account),
// duplicate detection on MessageId (window chosen to outlive an MQ redelivery after an unknown
// commit; it can only be set when the queue is created), MaxDeliveryCount then dead-letter.

@description('Name of the region\'s namespace (in the resource group this module is deployed to).')
param namespaceName string

param queueName string

@minValue(1)
param maxDeliveryCount int = 10

@description('Peek-lock duration (ISO 8601, at most PT5M).')
param lockDuration string = 'PT1M'

@description('Duplicate detection window (ISO 8601, 20 s to 7 days).')
param duplicateDetectionWindow string = 'PT1H'

@description('Time to live of an unconsumed message (ISO 8601).')
param messageTimeToLive string = 'P14D'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    maxSizeInMegabytes: 5120
    enablePartitioning: false
    enableBatchedOperations: true
  }
}

output fullyQualifiedNamespace string = '${namespaceName}.servicebus.windows.net'
