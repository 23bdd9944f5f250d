// Stage 1 of 2 (docs/deployment.md): everything both regions reference, deployed once per
// subscription with `az deployment sub create`:
//   - the three resource groups (shared, DC04, DC06);
//   - per region, the pieces the other region also needs, so that stage 2 runs in one pass for each
//     region in any order: the managed identity, the WAL storage account (both regions write both),
//     Log Analytics + Application Insights (the cross-region alerts read both);
//   - the Service Bus Premium namespace of each region with its statements queue (one per region, no
//     Geo-DR pairing: each region's app uses its own; the dual-region WAL is the only replication);
//   - shared: Cosmos DB (one write region, Strong, three regions), Azure Managed Redis with active
//     geo-replication (the gate's fast-path mirror), the ONE set of privatelink DNS zones both regions
//     use, the data-plane role assignments, the action group and the alerts.
// Stage 2 is main.bicep, once per region (dc04.bicepparam, dc06.bicepparam).
//
// Re-runnable: deploy.sh runs this stage on every deployment. Two inputs describe live state that a
// re-run must not overwrite, and deploy.sh reads them from Azure before each run (docs/deployment.md#running-it-again):
// cosmosFailoverOrder (the live failover priorities: a re-run must not move the write region back)
// and redisJoinerLinked (whether the second Redis member has joined the group, so the founder is
// re-sent with both members).
targetScope = 'subscription'

import { nameFormats, sharedNameFormats, regionCodes } from 'naming.bicep'

@description('Short workload name used in every resource name (lower case letters, at most 6).')
@maxLength(6)
param workload string

@description('Global suffix that makes public names unique (lower case letters/digits, at most 6).')
@maxLength(6)
param suffix string

@description('Azure region of DC04 (active by default).')
param locationDc04 string

@description('Azure region of DC06 (passive by default).')
param locationDc06 string

param resourceGroupShared string
param resourceGroupDc04 string
param resourceGroupDc06 string

@description('WAL storage SKU in DC04 (zone- and geo-redundant where the region has zones).')
param walSkuDc04 string

@description('WAL storage SKU in DC06 (West Central US has no availability zones: Standard_GRS).')
param walSkuDc06 string

param walContainer string
param quarantineContainer string
param backupContainer string

@description('Operations journal: desk requests, reconciliation reports (OPERATIONS_CONTAINER).')
param operationsContainer string = 'operations'

param serviceBusQueueName string

@description('Service Bus message time to live in days: the queue\'s defaultMessageTimeToLive; the app\'s SERVICE_BUS_MESSAGE_TTL_DAYS (dc04/dc06 tuning) must be the same (docs/storage.md#retention).')
@minValue(1)
param serviceBusMessageTtlDays int

@description('The app\'s WAL audit horizon in days (WAL_AUDIT_HORIZON_DAYS in dc04/dc06 tuning): the storage lifecycle safety net and the Cosmos record TTL are derived from it (docs/storage.md#retention).')
@minValue(45)
param walAuditHorizonDays int

@description('Days the lifecycle safety net waits after the audit horizon, and the records outlive the last soft-deleted copy: longer than an outage of the app\'s own retention you would fix first.')
@minValue(7)
param walRetentionMarginDays int

@description('Blob soft delete retention of the WAL accounts (days).')
@minValue(1)
@maxValue(365)
param walSoftDeleteDays int

param maxDeliveryCount int
param lockDuration string
param duplicateDetectionWindow string

param cosmosDatabase string
param cosmosContainer string

@description('Cosmos DB container of the control items (the active-region gate).')
param cosmosControlContainer string

@description('Cosmos DB regions in failover-priority order, index 0 = write region. First deployment: West US 2, West Central US, West US 3. deploy.sh passes the live order on every later run.')
@minLength(3)
param cosmosFailoverOrder array

@allowed([
  'Strong'
  'BoundedStaleness'
  'Session'
])
param cosmosConsistency string

@description('Azure Managed Redis SKU, the same for both members (Balanced_B0/B1 do not support active geo-replication).')
param redisSku string

@description('Region whose Redis instance forms the geo-replication group (the other joins it).')
@allowed([
  'DC04'
  'DC06'
])
param redisGroupFounder string

@description('Whether the joiner\'s database is already linked to the founder\'s (deploy.sh reads it). true: the founder is re-sent with both members.')
param redisJoinerLinked bool

@description('Azure region of each Redis member, DC04 then DC06 (normally the regions\' own; see docs/deployment.md#redis-azure-managed-redis-with-active-geo-replication for a region that does not offer Azure Managed Redis).')
@minLength(2)
@maxLength(2)
param redisLocations array

@description('Resource id of a resource group that already holds the organisation\'s privatelink.* zones, linked to its hubs (an Azure landing zone); empty = this deployment creates its own in the shared resource group and links both VNets and hubs to them. A VNet can be linked to only one zone of a name: docs/deployment.md#prerequisites-owned-by-other-teams.')
param privateDnsZonesGroupId string

@description('E-mail address that receives the alerts (empty: add receivers to the action group later).')
param alertEmail string

param tags object

var locations = [
  locationDc04
  locationDc06
]
var regionGroupNames = [
  resourceGroupDc04
  resourceGroupDc06
]
var founderIndex = redisGroupFounder == 'DC04' ? 0 : 1
var serviceBusNames = [for region in regionCodes: format(nameFormats.serviceBusNamespace, workload, toLower(region), suffix)]
var redisNames = [for region in regionCodes: format(nameFormats.redis, workload, toLower(region), suffix)]
var redisDatabaseIds = [
  for name in redisNames: '${subscription().id}/resourceGroups/${resourceGroupShared}/providers/Microsoft.Cache/redisEnterprise/${name}/databases/default'
]
var walNames = [for region in regionCodes: format(nameFormats.walStorage, workload, toLower(region), suffix)]
// Retention (docs/storage.md#retention): the app deletes a final segment after walAuditHorizonDays; the
// lifecycle safety net deletes what is left walRetentionMarginDays later; a lifecycle-deleted blob is
// soft-deleted for walSoftDeleteDays; the Cosmos records (TTL from their last write, which is after the
// segment's creation) outlive all of that by another margin, so no copy of a segment, restored or not,
// is ever found without its records (replay would take it for unfinished work).
var walSafetyNetDays = walAuditHorizonDays + walRetentionMarginDays
var recordTtlDays = walSafetyNetDays + walSoftDeleteDays + walRetentionMarginDays
var walSkus = [
  walSkuDc04
  walSkuDc06
]

resource sharedGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupShared
  location: locationDc04
  tags: tags
}

resource regionGroups 'Microsoft.Resources/resourceGroups@2024-03-01' = [
  for (region, i) in regionCodes: {
    name: regionGroupNames[i]
    location: locations[i]
    tags: union(tags, {
      region: region
    })
  }
]

module identities 'modules/identity.bicep' = [
  for (region, i) in regionCodes: {
    name: 'identity-${region}'
    scope: regionGroups[i]
    params: {
      name: format(nameFormats.identity, workload, toLower(region), suffix)
      location: locations[i]
      tags: tags
    }
  }
]

// The control-plane identity of each region (Website Contributor on both function apps, control-roles.bicep):
// separate from the data identity that reads IBM MQ and parses XML (docs/security.md#operator-plane).
module controlIdentities 'modules/identity.bicep' = [
  for (region, i) in regionCodes: {
    name: 'control-identity-${region}'
    scope: regionGroups[i]
    params: {
      name: format(nameFormats.identity, workload, '${toLower(region)}-control', suffix)
      location: locations[i]
      tags: tags
    }
  }
]

module walStorage 'modules/wal-storage.bicep' = [
  for (region, i) in regionCodes: {
    name: 'wal-storage-${region}'
    scope: regionGroups[i]
    params: {
      name: walNames[i]
      location: locations[i]
      skuName: walSkus[i]
      containerNames: [
        walContainer
        quarantineContainer
        backupContainer
        operationsContainer
      ]
      walContainer: walContainer
      safetyNetDays: walSafetyNetDays
      softDeleteDays: walSoftDeleteDays
      tags: tags
    }
  }
]

module monitoring 'modules/monitoring.bicep' = [
  for (region, i) in regionCodes: {
    name: 'monitoring-${region}'
    scope: regionGroups[i]
    params: {
      logAnalyticsName: format(nameFormats.logAnalytics, workload, toLower(region), suffix)
      appInsightsName: format(nameFormats.appInsights, workload, toLower(region), suffix)
      location: locations[i]
      tags: tags
    }
  }
]

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: sharedGroup
  params: {
    name: format(sharedNameFormats.cosmos, workload, '', suffix)
    location: locationDc04
    failoverOrder: cosmosFailoverOrder
    consistencyLevel: cosmosConsistency
    databaseName: cosmosDatabase
    containerName: cosmosContainer
    controlContainerName: cosmosControlContainer
    recordTtlSeconds: recordTtlDays * 86400
    tags: tags
  }
}

module serviceBusNamespaces 'modules/servicebus-namespace.bicep' = [
  for (region, i) in regionCodes: {
    name: 'servicebus-${region}'
    scope: regionGroups[i]
    params: {
      name: serviceBusNames[i]
      location: locations[i]
      queueName: serviceBusQueueName
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      duplicateDetectionWindow: duplicateDetectionWindow
      messageTimeToLive: 'P${serviceBusMessageTtlDays}D'
      tags: tags
    }
  }
]

module serviceBusRoles 'modules/servicebus-roles.bicep' = [
  for (region, i) in regionCodes: {
    name: 'servicebus-roles-${region}'
    scope: regionGroups[i]
    params: {
      namespaceName: serviceBusNamespaces[i].outputs.name
      queueName: serviceBusQueueName
      principalId: identities[i].outputs.principalId
    }
  }
]

module privateDnsZones 'modules/private-dns-zones.bicep' = if (empty(privateDnsZonesGroupId)) {
  name: 'private-dns-zones'
  scope: sharedGroup
  params: {
    tags: tags
  }
}

// The member that forms the geo-replication group first; the other joins it. After a region's
// instance was lost and force-unlinked, set redisGroupFounder to the surviving region so the re-created
// instance joins the surviving group (docs/runbook.md#redis). On a re-run after the joiner linked, the
// founder is re-sent with both members (redisJoinerLinked), never with itself alone.
module redisFounder 'modules/redis.bicep' = {
  name: 'redis-founder'
  scope: sharedGroup
  params: {
    name: redisNames[founderIndex]
    location: redisLocations[founderIndex]
    skuName: redisSku
    groupNickname: '${workload}-${suffix}'
    groupDatabaseIds: redisJoinerLinked ? [
      redisDatabaseIds[founderIndex]
      redisDatabaseIds[1 - founderIndex]
    ] : [
      redisDatabaseIds[founderIndex]
    ]
    tags: tags
  }
}

module redisJoiner 'modules/redis.bicep' = {
  name: 'redis-joiner'
  scope: sharedGroup
  params: {
    name: redisNames[1 - founderIndex]
    location: redisLocations[1 - founderIndex]
    skuName: redisSku
    groupNickname: '${workload}-${suffix}'
    groupDatabaseIds: [
      redisFounder.outputs.databaseId
      redisDatabaseIds[1 - founderIndex]
    ]
    tags: tags
  }
}

module sharedRoles 'modules/shared-roles.bicep' = {
  name: 'shared-roles'
  scope: sharedGroup
  params: {
    principalIds: [
      identities[0].outputs.principalId
      identities[1].outputs.principalId
    ]
    cosmosAccountName: cosmos.outputs.name
    redisNames: redisNames
  }
  dependsOn: [
    redisFounder
    redisJoiner
  ]
}

module walRoles 'modules/wal-roles.bicep' = [
  for (region, i) in regionCodes: {
    name: 'wal-roles-${region}'
    scope: regionGroups[i]
    params: {
      storageAccountName: walStorage[i].outputs.name
      principalIds: [
        identities[0].outputs.principalId
        identities[1].outputs.principalId
      ]
    }
  }
]

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: sharedGroup
  params: {
    workload: workload
    regions: regionCodes
    workspaceIds: [
      monitoring[0].outputs.workspaceId
      monitoring[1].outputs.workspaceId
    ]
    locations: locations
    serviceBusNamespaceIds: [
      serviceBusNamespaces[0].outputs.id
      serviceBusNamespaces[1].outputs.id
    ]
    queueName: serviceBusQueueName
    actionGroupName: format(sharedNameFormats.actionGroup, workload, '', suffix)
    alertEmail: alertEmail
    tags: tags
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: sharedGroup
  params: {
    workload: workload
    location: locationDc04
    workspaceIds: [
      monitoring[0].outputs.workspaceId
      monitoring[1].outputs.workspaceId
    ]
    tags: tags
  }
}

module logReaders 'modules/log-reader.bicep' = [
  for (region, i) in regionCodes: {
    name: 'log-reader-${region}'
    scope: regionGroups[i]
    params: {
      workspaceName: format(nameFormats.logAnalytics, workload, toLower(region), suffix)
      principalIds: alerts.outputs.rulePrincipalIds
    }
    dependsOn: [
      monitoring
    ]
  }
]

output serviceBusNamespaces array = [for (region, i) in regionCodes: '${serviceBusNamespaces[i].outputs.name}.servicebus.windows.net']
output cosmosEndpoint string = cosmos.outputs.endpoint
output redisHosts array = [
  redisFounder.outputs.host
  redisJoiner.outputs.host
]
