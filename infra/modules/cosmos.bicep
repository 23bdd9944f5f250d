// Cosmos DB (NoSQL API) account shared by both regions: ONE write region, Strong consistency, THREE
// regions, service-managed failover. Holds the claim records (docs/storage.md: one item per message id,
// partition key /id, create-only PENDING claims and ETag-conditional updates) and the control items
// (the active-region gate: active_dc, epoch, lease, changed only by ETag compare-and-set).
//
// Topology (docs/deployment.md#cosmos-db-one-write-region-strong-three-regions): West US 2 (DC04)
// writes, West Central US (DC06) and West US 3 replicate. Strong keeps RPO 0 and a linearizable
// compare-and-set; with three regions the dynamic quorum keeps writes available when one read region
// (e.g. DC06's) is lost: "Cosmos DB instances utilizing Strong consistency need to configure at least
// three regions to retain write availability if there is one region failure"
// (https://learn.microsoft.com/azure/reliability/resiliency-recommendations/recommend-cosmos-db-nosql,
// https://learn.microsoft.com/azure/cosmos-db/consistency-levels). Losing the WRITE region stops every
// write until the service-managed failover or an operator's forced failover
// (https://learn.microsoft.com/azure/reliability/reliability-cosmos-db-nosql).
//
// Re-running stage 1: `failoverOrder` is the order the caller wants the account to keep. On the first
// deployment that is the design's order; afterwards deploy.sh reads the LIVE order (after a
// service-managed failover West Central US may be priority 0) and passes it, because a PUT with other
// failover priorities is itself a failover request: a re-run must not move the write region back
// (https://learn.microsoft.com/azure/cosmos-db/how-to-manage-database-account#set-failover-priorities-for-your-azure-cosmos-db-account).
// The account's own `location` never changes (it is fixed at creation).
// Keys are disabled (disableLocalAuth): data access only through the Cosmos SQL data-plane role.
// Entra data-plane RBAC cannot create databases or containers, so they are declared here.
// AVM equivalent: br/public:avm/res/document-db/database-account.

param name string

@description('Where the account resource itself lives (fixed at creation: the design\'s first write region).')
param location string

@description('Regions in failover-priority order: index 0 is the write region. Pass the live order on a re-run.')
@minLength(3)
param failoverOrder array

@allowed([
  'Strong'
  'BoundedStaleness'
  'Session'
])
param consistencyLevel string = 'Strong'

param databaseName string
param containerName string

@description('The control container: region lease (the gate), ingest sequences, checkpoints, heartbeats (partition key /id).')
param controlContainerName string = 'control'

@description('Partition key path of the records container (the adapter uses /id = message id).')
param partitionKeyPath string = '/id'

@description('Time to live of a record after its last write, in seconds (shared.bicep derives it from the WAL audit horizon).')
@minValue(86400)
param recordTtlSeconds int

@description('Autoscale maximum RU/s of the records container.')
@minValue(1000)
param maxThroughput int = 1000

param tags object = {}

var cosmosLocations = [
  for (region, index) in failoverOrder: {
    locationName: region
    failoverPriority: index
    isZoneRedundant: false
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: cosmosLocations
    consistencyPolicy: {
      defaultConsistencyLevel: consistencyLevel
    }
    enableAutomaticFailover: true
    enableMultipleWriteLocations: false
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    publicNetworkAccess: 'Disabled'
    minimalTlsVersion: 'Tls12'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

// The records: one item per message id. TTL from each item's last write (recordTtlSeconds, from
// shared.bicep: longer than every copy of the WAL segments they describe, docs/storage.md#retention):
// "Azure Cosmos DB will automatically remove these items after the time period, since the time they were
// last modified" (https://learn.microsoft.com/azure/cosmos-db/time-to-live). The adapter writes no
// per-item `ttl`, so the container's default applies to every record.
resource recordsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          partitionKeyPath
        ]
        kind: 'Hash'
      }
      defaultTtl: recordTtlSeconds
    }
    options: {
      autoscaleSettings: {
        maxThroughput: maxThroughput
      }
    }
  }
}

// The control plane's items (shared/adapters/cosmos_control.py): a handful of small items, each its own
// logical partition, written by the Watchdogs (lease renewals every tick) and the QueueBuilder
// (sequence reservations per unit of work). No TTL: every item is overwritten in place.
resource controlContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: controlContainerName
  properties: {
    resource: {
      id: controlContainerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: 1000
      }
    }
  }
}

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
