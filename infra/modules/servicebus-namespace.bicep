// One region's Service Bus Premium namespace with the statements queue. There is one namespace per
// region and NO Geo-DR pairing or Geo-Replication: each region's app publishes to and consumes from its
// own namespace, and the dual-region WAL is the only replication (docs/deployment.md#service-bus-one-namespace-per-region).
// Unpaired, both namespaces are ordinary writable primaries, so re-running stage 1 re-PUTs them and
// their queues without the "Cannot update a namespace which is secondary" refusal a Geo-DR secondary
// gives. Local (SAS) authentication is disabled; access only through a private endpoint and Entra ID.
// AVM equivalent: br/public:avm/res/service-bus/namespace.
//
// Queue semantics the code relies on (DESIGN.md): sessions (one per account: order per account),
// duplicate detection on MessageId (window chosen to outlive an MQ redelivery after an unknown
// commit; it can only be set when the queue is created), MaxDeliveryCount then dead-letter. Neither
// the queue nor the namespace is partitioned: the publisher's batches mix sessions, which only a
// non-partitioned entity accepts.

param name string
param location string

@minValue(1)
param messagingUnits int = 1

param queueName string

@minValue(1)
param maxDeliveryCount int = 10

@description('Peek-lock duration (ISO 8601, at most PT5M).')
param lockDuration string = 'PT1M'

@description('Duplicate detection window (ISO 8601, 20 s to 7 days).')
param duplicateDetectionWindow string = 'PT1H'

@description('Time to live of an unconsumed message (ISO 8601).')
param messageTimeToLive string = 'P14D'

param tags object = {}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Premium'
    tier: 'Premium'
    capacity: messagingUnits
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    premiumMessagingPartitions: 1
  }
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

output id string = namespace.id
output name string = namespace.name
output queueId string = queue.id
