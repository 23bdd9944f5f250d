// Stage 2 of 2 (docs/deployment.md): one region of the statement bridge, deployed into that
// region's resource group with `az deployment group create --parameters dc04.bicepparam` (or
// dc06.bicepparam). Both regions come from this one template; the parameter files differ only in
// region, location, role, peer region and network (tests/infra/test_regions.py checks it).
// Requires stage 1 (shared.bicep): identities, WAL accounts, monitoring, Cosmos, Service Bus, Redis.
//
// Modules, one per concern: network, private DNS, Key Vault, host storage, private endpoints,
// function app (with every app setting the code reads), role assignments on the region's resources.
// The passive region deploys with the runner's Service Bus trigger disabled
// (AzureWebJobs.transformation_runner.Disabled = true); the Watchdog flips it on promotion/demotion.
targetScope = 'resourceGroup'

import { nameFormats, sharedNameFormats } from 'naming.bicep'

// ---- Region-specific parameters (the only ones that differ between dc04 and dc06) ----

@description('This region\'s code.')
@allowed([
  'DC04'
  'DC06'
])
param region string

@description('The other region\'s code.')
@allowed([
  'DC04'
  'DC06'
])
param peerRegion string

@description('Azure region of this deployment (westus2 for DC04, westcentralus for DC06).')
param location string

@description('Role at deployment: active consumes from Service Bus, passive has the runner trigger disabled.')
@allowed([
  'active'
  'passive'
])
param role string

param vnetAddressPrefix string
param functionsSubnetPrefix string
param privateEndpointsSubnetPrefix string

@description('Hub VNet (with the ExpressRoute/VPN gateway to on-prem) to peer with; empty = none.')
param hubVirtualNetworkId string

@description('Custom DNS servers for the VNet (on-prem names); empty = Azure-provided DNS.')
param dnsServers array

// ---- Parameters shared by both regions (same value in both parameter files) ----

@maxLength(6)
param workload string

@maxLength(6)
param suffix string

param resourceGroupShared string
param resourceGroupDc04 string
param resourceGroupDc06 string

param serviceBusQueueName string
param walContainer string
param quarantineContainer string
param backupContainer string
param cosmosDatabase string
param cosmosContainer string

@description('IBM MQ input: queueManager, channel, connName (host(port)[,host(port)]), queue, backoutQueue, user, cipherSpec, keyRepository (docs/onprem.md).')
param mq object

@description('Key Vault secret name holding the MQ password; empty = no password (MQ_PASSWORD not set).')
param mqPasswordSecretName string

@description('MessageWay input queue (the MQ put delivery target).')
param messageWayQueue string

@description('Protocol tunables as app settings (name: string value); see docs/deployment.md#tunables.')
param tuning object

@description('Always-ready instances per function group on the Flex Consumption plan.')
param alwaysReadyInstances int

param tags object

// ---- Names (naming.bicep) ----

var own = toLower(region)
var peer = toLower(peerRegion)
var names = {
  identity: format(nameFormats.identity, workload, own, suffix)
  peerIdentity: format(nameFormats.identity, workload, peer, suffix)
  appInsights: format(nameFormats.appInsights, workload, own, suffix)
  hostStorage: format(nameFormats.hostStorage, workload, own, suffix)
  functionApp: format(nameFormats.functionApp, workload, own, suffix)
  plan: format(nameFormats.plan, workload, own, suffix)
  keyVault: format(nameFormats.keyVault, workload, own, suffix)
  virtualNetwork: format(nameFormats.virtualNetwork, workload, own, suffix)
  redis: format(nameFormats.redis, workload, own, suffix)
  cosmos: format(sharedNameFormats.cosmos, workload, '', suffix)
  walDc04: format(nameFormats.walStorage, workload, 'dc04', suffix)
  walDc06: format(nameFormats.walStorage, workload, 'dc06', suffix)
  serviceBusDc04: format(nameFormats.serviceBusNamespace, workload, 'dc04', suffix)
  serviceBusDc06: format(nameFormats.serviceBusNamespace, workload, 'dc06', suffix)
  functionAppDc04: format(nameFormats.functionApp, workload, 'dc04', suffix)
  functionAppDc06: format(nameFormats.functionApp, workload, 'dc06', suffix)
}
var peerResourceGroup = region == 'DC04' ? resourceGroupDc06 : resourceGroupDc04
var isPassive = role == 'passive'
var deploymentContainer = 'app-package'
var regionTags = union(tags, {
  region: region
})

// ---- Resources created by stage 1 ----

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: names.identity
}

resource peerIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: names.peerIdentity
  scope: resourceGroup(peerResourceGroup)
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: names.appInsights
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: names.cosmos
  scope: resourceGroup(resourceGroupShared)
}

resource redis 'Microsoft.Cache/redisEnterprise@2025-07-01' existing = {
  name: names.redis
  scope: resourceGroup(resourceGroupShared)
}

// ---- This region ----

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    name: names.virtualNetwork
    location: location
    addressPrefix: vnetAddressPrefix
    functionsSubnetPrefix: functionsSubnetPrefix
    privateEndpointsSubnetPrefix: privateEndpointsSubnetPrefix
    hubVirtualNetworkId: hubVirtualNetworkId
    dnsServers: dnsServers
    tags: regionTags
  }
}

module privateDns 'modules/private-dns.bicep' = {
  name: 'private-dns'
  params: {
    virtualNetworkId: network.outputs.id
    tags: regionTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: regionTags
  }
}

module hostStorage 'modules/host-storage.bicep' = {
  name: 'host-storage'
  params: {
    name: names.hostStorage
    location: location
    deploymentContainerName: deploymentContainer
    tags: regionTags
  }
}

var privateEndpointTargets = [
  {
    key: 'wal-dc04'
    targetId: resourceId(resourceGroupDc04, 'Microsoft.Storage/storageAccounts', names.walDc04)
    groupId: 'blob'
    zone: 'blob'
  }
  {
    key: 'wal-dc06'
    targetId: resourceId(resourceGroupDc06, 'Microsoft.Storage/storageAccounts', names.walDc06)
    groupId: 'blob'
    zone: 'blob'
  }
  {
    key: 'sb-dc04'
    targetId: resourceId(resourceGroupDc04, 'Microsoft.ServiceBus/namespaces', names.serviceBusDc04)
    groupId: 'namespace'
    zone: 'servicebus'
  }
  {
    key: 'sb-dc06'
    targetId: resourceId(resourceGroupDc06, 'Microsoft.ServiceBus/namespaces', names.serviceBusDc06)
    groupId: 'namespace'
    zone: 'servicebus'
  }
  {
    key: 'cosmos'
    targetId: resourceId(resourceGroupShared, 'Microsoft.DocumentDB/databaseAccounts', names.cosmos)
    groupId: 'Sql'
    zone: 'cosmos'
  }
  {
    key: 'redis'
    targetId: resourceId(resourceGroupShared, 'Microsoft.Cache/redisEnterprise', names.redis)
    groupId: 'redisEnterprise'
    zone: 'redis'
  }
  {
    key: 'vault'
    targetId: resourceId('Microsoft.KeyVault/vaults', names.keyVault)
    groupId: 'vault'
    zone: 'vault'
  }
  {
    key: 'host-blob'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.hostStorage)
    groupId: 'blob'
    zone: 'blob'
  }
  {
    key: 'host-queue'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.hostStorage)
    groupId: 'queue'
    zone: 'queue'
  }
  {
    key: 'host-table'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.hostStorage)
    groupId: 'table'
    zone: 'table'
  }
]

module privateEndpoints 'modules/private-endpoint.bicep' = [
  for target in privateEndpointTargets: {
    name: 'pe-${target.key}'
    params: {
      name: 'pe-${workload}-${own}-${target.key}'
      location: location
      subnetId: network.outputs.privateEndpointsSubnetId
      targetId: target.targetId
      groupId: target.groupId
      privateDnsZoneId: privateDns.outputs.zoneIds[target.zone]
      tags: regionTags
    }
    dependsOn: [
      keyVault
      hostStorage
    ]
  }
]

// ---- App settings: every name shared/settings.py reads (tests/infra/test_settings_coverage.py) ----

var clientId = identity.properties.clientId

var appSettingsBase = {
  // Functions host: identity-based host storage and Entra-authenticated telemetry.
  AzureWebJobsStorage__accountName: names.hostStorage
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${clientId};Authorization=AAD'
  AZURE_CLIENT_ID: clientId
  'AzureWebJobs.transformation_runner.Disabled': isPassive ? 'true' : 'false'
  BRIDGE_REGION: region
  // Only the region deployed active creates the region lease (the gate) when none exists yet.
  BRIDGE_ROLE: role
  // Connections (identity-based: <connection>__<endpoint>, <connection>__credential, __clientId).
  // Its own region's namespace: no alias, no pairing (docs/protocols.md).
  ServiceBusConnection__fullyQualifiedNamespace: '${region == 'DC04' ? names.serviceBusDc04 : names.serviceBusDc06}.servicebus.windows.net'
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: clientId
  WalStorageDC04__serviceUri: 'https://${names.walDc04}.blob.${environment().suffixes.storage}'
  WalStorageDC04__credential: 'managedidentity'
  WalStorageDC04__clientId: clientId
  WalStorageDC06__serviceUri: 'https://${names.walDc06}.blob.${environment().suffixes.storage}'
  WalStorageDC06__credential: 'managedidentity'
  WalStorageDC06__clientId: clientId
  CosmosConnection__accountEndpoint: cosmos.properties.documentEndpoint
  CosmosConnection__credential: 'managedidentity'
  CosmosConnection__clientId: clientId
  RedisConnection__host: '${redis.properties.hostName}:10000'
  // Names.
  ServiceBusQueueName: serviceBusQueueName
  WAL_CONTAINER: walContainer
  QUARANTINE_CONTAINER: quarantineContainer
  OUTPUT_BACKUP_CONTAINER: backupContainer
  COSMOS_DATABASE: cosmosDatabase
  COSMOS_CONTAINER: cosmosContainer
  COSMOS_CONTROL_CONTAINER: 'control'
  // IBM MQ input and MessageWay output (on-prem, through the VNet).
  MQ_MODE: 'ibmmq'
  MQ_QUEUE_MANAGER: mq.queueManager
  MQ_CHANNEL: mq.channel
  MQ_CONN_NAME: mq.connName
  MQ_QUEUE: mq.queue
  MQ_BACKOUT_QUEUE: mq.backoutQueue
  MQ_USER: mq.user
  MQ_CIPHER_SPEC: mq.cipherSpec
  MQ_KEY_REPOSITORY: mq.keyRepository
  MESSAGEWAY_MODE: 'ibmmq'
  MESSAGEWAY_QUEUE: messageWayQueue
  // Azure control plane, for the Watchdog's consumption switch (azure-mgmt-web).
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  FUNCTION_APP_NAME_DC04: names.functionAppDc04
  FUNCTION_APP_NAME_DC06: names.functionAppDc06
  RESOURCE_GROUP_DC04: resourceGroupDc04
  RESOURCE_GROUP_DC06: resourceGroupDc06
}

var mqPasswordSetting = empty(mqPasswordSecretName) ? {} : {
  MQ_PASSWORD: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${mqPasswordSecretName}/)'
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    identityId: identity.id
    subnetId: network.outputs.functionsSubnetId
    deploymentContainerUrl: '${hostStorage.outputs.blobEndpoint}${deploymentContainer}'
    appSettings: union(tuning, appSettingsBase, mqPasswordSetting)
    alwaysReadyInstances: alwaysReadyInstances
    tags: regionTags
  }
  dependsOn: [
    privateEndpoints
  ]
}

module appRoles 'modules/app-roles.bicep' = {
  name: 'app-roles'
  params: {
    ownPrincipalId: identity.properties.principalId
    peerPrincipalId: peerIdentity.properties.principalId
    keyVaultName: keyVault.outputs.name
    hostStorageName: hostStorage.outputs.name
    appInsightsName: names.appInsights
    functionAppName: functionApp.outputs.name
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output runnerDisabled bool = isPassive
