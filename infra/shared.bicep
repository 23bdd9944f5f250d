// Stage 1 of 2 (docs/deployment.md): everything both regions reference, deployed once per
// subscription with `az deployment sub create`:
//   - the three resource groups (shared, DC04, DC06);
//   - per region, the pieces the other region also needs, so that stage 2 runs in one pass for each
//     region in any order: the managed identity, the WAL storage account (both regions write both),
//     Log Analytics + Application Insights (the cross-region alerts read both);
//   - the Service Bus Premium namespace of each region (in the region's group) with its own queue, not
//     paired (each region publishes to and consumes from its own; the WAL replay is the replication);
//   - shared: Cosmos DB, Azure Managed Redis with active geo-replication, the data-plane role
//     assignments on all of them, the action group and the alerts.
// Stage 2 is main.bicep, once per region (dc04.bicepparam, dc06.bicepparam).
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

param serviceBusQueueName string
param maxDeliveryCount int
param lockDuration string
param duplicateDetectionWindow string

param cosmosDatabase string
param cosmosContainer string

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
var walNames = [for region in regionCodes: format(nameFormats.walStorage, workload, toLower(region), suffix)]
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
      ]
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
    locations: locations
    consistencyLevel: cosmosConsistency
    databaseName: cosmosDatabase
    containerName: cosmosContainer
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
      tags: tags
    }
  }
]

module serviceBusQueues 'modules/servicebus-queue.bicep' = [
  for (region, i) in regionCodes: {
    name: 'servicebus-queue-${region}'
    scope: regionGroups[i]
    params: {
      namespaceName: serviceBusNamespaces[i].outputs.name
      queueName: serviceBusQueueName
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      duplicateDetectionWindow: duplicateDetectionWindow
    }
  }
]

module serviceBusRoles 'modules/servicebus-roles.bicep' = [
  for (region, i) in regionCodes: {
    name: 'servicebus-roles-${region}'
    scope: regionGroups[i]
    params: {
      namespaceName: serviceBusNamespaces[i].outputs.name
      principalIds: [
        identities[i].outputs.principalId
      ]
    }
  }
]

// The member that forms the geo-replication group first; the other joins it. After a region's
// instance was lost and force-unlinked, set redisGroupFounder to the surviving region so the re-created
// instance joins the surviving group (docs/runbook.md#redis).
module redisFounder 'modules/redis.bicep' = {
  name: 'redis-founder'
  scope: sharedGroup
  params: {
    name: redisNames[founderIndex]
    location: locations[founderIndex]
    skuName: redisSku
    groupNickname: '${workload}-${suffix}'
    linkedDatabaseIds: []
    tags: tags
  }
}

module redisJoiner 'modules/redis.bicep' = {
  name: 'redis-joiner'
  scope: sharedGroup
  params: {
    name: redisNames[1 - founderIndex]
    location: locations[1 - founderIndex]
    skuName: redisSku
    groupNickname: '${workload}-${suffix}'
    linkedDatabaseIds: [
      redisFounder.outputs.databaseId
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

module logReaders 'modules/log-reader.bicep' = [
  for (region, i) in regionCodes: {
    name: 'log-reader-${region}'
    scope: regionGroups[i]
    params: {
      workspaceName: format(nameFormats.logAnalytics, workload, toLower(region), suffix)
      principalIds: concat(alerts.outputs.crossRegionPrincipalIds, alerts.outputs.heartbeatPrincipalIds)
    }
    dependsOn: [
      monitoring
    ]
  }
]

output serviceBusFqdns array = [for (region, i) in regionCodes: serviceBusQueues[i].outputs.fullyQualifiedNamespace]
output cosmosEndpoint string = cosmos.outputs.endpoint
output redisHosts array = [
  redisFounder.outputs.host
  redisJoiner.outputs.host
]
