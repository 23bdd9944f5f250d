// The statements queue and the Geo-Disaster Recovery alias, declared on the primary namespace (the
// one that holds the alias): Geo-DR replicates entity metadata to the secondary, which refuses entity
// writes while paired. Clients use the alias FQDN <alias>.servicebus.windows.net, never a namespace.
//
// Geo-DR moves metadata only, not messages: messages still in the old primary after a failover are
// recovered by the WAL replay (docs/runbook.md). Geo-Replication (Premium, replicates messages too,
// synchronous mode RPO 0) is the alternative described in docs/deployment.md.
//
// Queue semantics the code relies on (DESIGN.md): sessions (one per account: order per account),
// duplicate detection on MessageId (window chosen to outlive an MQ redelivery after an unknown
// commit; it can only be set when the queue is created), MaxDeliveryCount then dead-letter.

@description('Name of the primary namespace (in the resource group this module is deployed to).')
param primaryName string

@description('Resource id of the secondary namespace (the partner).')
param secondaryId string

@description('Geo-DR alias; must differ from both namespace names.')
param aliasName string

param queueName string

@minValue(1)
param maxDeliveryCount int = 10

@description('Peek-lock duration (ISO 8601, at most PT5M).')
param lockDuration string = 'PT1M'

@description('Duplicate detection window (ISO 8601, 20 s to 7 days).')
param duplicateDetectionWindow string = 'PT1H'

@description('Time to live of an unconsumed message (ISO 8601).')
param messageTimeToLive string = 'P14D'

resource primary 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: primaryName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: primary
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

resource alias 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs@2024-01-01' = {
  parent: primary
  name: aliasName
  properties: {
    partnerNamespace: secondaryId
  }
  dependsOn: [
    queue
  ]
}

output aliasFqdn string = '${aliasName}.servicebus.windows.net'
