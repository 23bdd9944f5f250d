// Service Bus Premium namespaces in both regions, paired by a Geo-Disaster Recovery alias, and the
// statements queue (declared on the primary only: Geo-DR replicates entity metadata to the secondary,
// which refuses entity writes while paired). Clients use the alias FQDN, never a namespace name.
//
// Geo-DR moves metadata only, not messages: messages still in the old primary after a failover are
// recovered by the WAL replay (docs/runbook.md). Geo-Replication (Premium, replicates messages too,
// synchronous mode RPO 0) is the alternative described in docs/deployment.md.
//
// Queue semantics the code relies on (DESIGN.md): sessions (one per account, order per account),
// duplicate detection on MessageId (window chosen to outlive an MQ redelivery after an unknown
// commit), MaxDeliveryCount then dead-letter. Local (SAS) authentication is disabled.
// AVM equivalent: br/public:avm/res/service-bus/namespace (supports disasterRecoveryConfig).

@description('Namespace that holds the alias (primary) and its region.')
param primaryName string
param primaryLocation string

@description('Paired namespace (secondary) and its region.')
param secondaryName string
param secondaryLocation string

@description('Geo-DR alias; its FQDN is <alias>.servicebus.windows.net. Must differ from both namespace names.')
param aliasName string

param queueName string

@minValue(1)
param maxDeliveryCount int = 10

@description('Peek-lock duration (ISO 8601, at most PT5M).')
param lockDuration string = 'PT1M'

@description('Duplicate detection window (ISO 8601, 20 s to 7 days; can only be set at queue creation).')
param duplicateDetectionWindow string = 'PT1H'

@description('Time to live of an unconsumed message (ISO 8601).')
param messageTimeToLive string = 'P14D'

@minValue(1)
param messagingUnits int = 1

param tags object = {}

var namespaceProperties = {
  disableLocalAuth: true
  minimumTlsVersion: '1.2'
  publicNetworkAccess: 'Disabled'
  premiumMessagingPartitions: 1
}

resource primary 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: primaryName
  location: primaryLocation
  tags: tags
  sku: {
    name: 'Premium'
    tier: 'Premium'
    capacity: messagingUnits
  }
  properties: namespaceProperties
}

resource secondary 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: secondaryName
  location: secondaryLocation
  tags: tags
  sku: {
    name: 'Premium'
    tier: 'Premium'
    capacity: messagingUnits
  }
  properties: namespaceProperties
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
    partnerNamespace: secondary.id
  }
  dependsOn: [
    queue
  ]
}

output primaryId string = primary.id
output secondaryId string = secondary.id
output aliasFqdn string = '${aliasName}.servicebus.windows.net'
