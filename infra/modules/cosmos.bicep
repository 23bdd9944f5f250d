// Cosmos DB (NoSQL API) account shared by both regions: one write region (DC04), DC06 as read region,
// service-managed failover. Holds the claim records (docs/storage.md): one item per message id,
// partition key /id, create-only PENDING claims and ETag-conditional updates.
//
// Consistency: Strong by default (docs/deployment.md explains the choice). A claim is a single-item
// conditional write that always goes to the write region, so the conflict check itself needs no more
// than Session; what Strong adds is RPO 0 across a regional failover: an acknowledged DELIVERED record
// is never lost when Cosmos promotes DC06, so the new write region never re-delivers a statement that
// was already recorded. Cost: writes wait for DC06, and a DC06 outage pauses writes until Cosmos takes
// the region out of the quorum (the runner's TransientError path retries meanwhile).
// Keys are disabled (disableLocalAuth): data access only through the Cosmos SQL data-plane role.
// Entra data-plane RBAC cannot create databases or containers, so they are declared here.
// AVM equivalent: br/public:avm/res/document-db/database-account.

param name string

@description('Write region (DC04 location) first, then the read region (DC06 location).')
param locations array

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

@description('Autoscale maximum RU/s of the records container.')
@minValue(1000)
param maxThroughput int = 1000

param tags object = {}

var cosmosLocations = [
  for (location, index) in locations: {
    locationName: location
    failoverPriority: index
    isZoneRedundant: false
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: locations[0]
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

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
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
      defaultTtl: -1
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
