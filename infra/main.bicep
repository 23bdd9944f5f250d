// Stage 2 of 2 (docs/deployment.md): one region of the statement bridge, deployed into that
// region's resource group with `az deployment group create --parameters dc04.bicepparam` (or
// dc06.bicepparam). Both regions come from this one template; the parameter files differ only in
// region, location, role, peer region and network (tests/infra/test_parameters.py checks it).
// Requires stage 1 (shared.bicep): identities, WAL accounts, monitoring, Cosmos, Service Bus, Redis,
// the shared privatelink DNS zones.
//
// Modules, one per concern: network, private DNS links (into the shared zones), Key Vault, host storage, private endpoints,
// function app (with every app setting the code reads), role assignments on the region's resources.
// The passive region deploys with the runner's Service Bus trigger disabled
// (AzureWebJobs.transformation_runner.Disabled = true); the Watchdog flips it on promotion/demotion.
targetScope = 'resourceGroup'

import { nameFormats, sharedNameFormats, privateDnsZoneFormats } from 'naming.bicep'

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

@description('Subnet of the control app\'s VNet integration (its own Flex Consumption plan).')
param controlSubnetPrefix string

@description('Hub VNet (with the ExpressRoute/VPN gateway to on-prem) to peer with; empty = none.')
param hubVirtualNetworkId string

@description('Custom DNS servers for the VNet (on-prem names); empty = Azure-provided DNS. They must resolve privatelink.* through a VNet linked to the shared zones (the hub): docs/deployment.md#prerequisites-owned-by-other-teams.')
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

@description('The region whose Cosmos DB private endpoint answers for the account in the shared privatelink zone (the other region\'s endpoint stands by, unregistered): docs/deployment.md#private-networking-and-dns.')
@allowed([
  'DC04'
  'DC06'
])
param cosmosDnsRegion string

@description('Resource id of a resource group that already holds the organisation\'s privatelink.* zones, linked to its hubs (an Azure landing zone); empty = this deployment creates its own in the shared resource group and links both VNets and hubs to them. A VNet can be linked to only one zone of a name: docs/deployment.md#prerequisites-owned-by-other-teams.')
param privateDnsZonesGroupId string

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

@description('Open the function app (operator routes) to the public internet. Default false: private endpoint only; Easy Auth applies either way.')
param operatorPlanePublic bool = false

@description('Client id of the Entra app registration that signs operators in (auth.bicep): deploy.sh passes stage 1\'s output operatorAuthClientId (the registration shared.bicep declares, or the existing one it names). Empty = no Easy Auth, and the app then refuses every operator route (503).')
param operatorAuthClientId string = ''

// ---- Names (naming.bicep) ----

var own = toLower(region)
var names = {
  identity: format(nameFormats.identity, workload, own, suffix)
  appInsights: format(nameFormats.appInsights, workload, own, suffix)
  hostStorage: format(nameFormats.hostStorage, workload, own, suffix)
  functionApp: format(nameFormats.functionApp, workload, own, suffix)
  plan: format(nameFormats.plan, workload, own, suffix)
  // The region's control app (the runner switch only; docs/security.md#control-plane-rights).
  controlApp: format(nameFormats.functionApp, workload, '${own}-ctl', suffix)
  controlPlan: format(nameFormats.plan, workload, '${own}-ctl', suffix)
  keyVault: format(nameFormats.keyVault, workload, own, suffix)
  virtualNetwork: format(nameFormats.virtualNetwork, workload, own, suffix)
  redis: format(nameFormats.redis, workload, own, suffix)
  cosmos: format(sharedNameFormats.cosmos, workload, '', suffix)
  walDc04: format(nameFormats.walStorage, workload, 'dc04', suffix)
  walDc06: format(nameFormats.walStorage, workload, 'dc06', suffix)
  serviceBus: format(nameFormats.serviceBusNamespace, workload, own, suffix)
  wal: format(nameFormats.walStorage, workload, own, suffix)
}
var isPassive = role == 'passive'
// Where the privatelink zones live: the organisation's (landing zone) or this deployment's own (stage 1).
var dnsZonesGroupId = empty(privateDnsZonesGroupId) ? '${subscription().id}/resourceGroups/${resourceGroupShared}' : privateDnsZonesGroupId
var deploymentContainer = 'app-package'
var regionTags = union(tags, {
  region: region
})

// ---- Resources created by stage 1 ----

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: names.identity
}

resource controlIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: format(nameFormats.identity, workload, '${own}-control', suffix)
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
    controlSubnetPrefix: controlSubnetPrefix
    hubVirtualNetworkId: hubVirtualNetworkId
    dnsServers: dnsServers
    tags: regionTags
  }
}

// Link this region's VNet (and its hub, if any) to the ONE shared set of privatelink zones (stage 1).
// With the organisation's zones, their links are the DNS team's (the hub is already linked).
module privateDnsLinks 'modules/private-dns-links.bicep' = if (empty(privateDnsZonesGroupId)) {
  name: 'private-dns-links-${own}'
  scope: resourceGroup(resourceGroupShared)
  params: {
    virtualNetworkIds: [
      network.outputs.id
      hubVirtualNetworkId
    ]
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

// One private endpoint per service, in the region the service lives in (it dies with that region
// anyway), registered in the shared zones; the other region reaches it over the routed network
// (docs/deployment.md#private-networking-and-dns). Cosmos DB outlives a region, so both regions have an
// endpoint to it, and only cosmosDnsRegion's registers (one answer per name in one shared zone).
var privateEndpointTargets = [
  {
    key: 'wal'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.wal)
    groupId: 'blob'
    zone: 'blob'
    register: true
  }
  {
    key: 'sb'
    targetId: resourceId('Microsoft.ServiceBus/namespaces', names.serviceBus)
    groupId: 'namespace'
    zone: 'servicebus'
    register: true
  }
  {
    key: 'cosmos'
    targetId: resourceId(resourceGroupShared, 'Microsoft.DocumentDB/databaseAccounts', names.cosmos)
    groupId: 'Sql'
    zone: 'cosmos'
    register: region == cosmosDnsRegion
  }
  {
    key: 'redis'
    targetId: resourceId(resourceGroupShared, 'Microsoft.Cache/redisEnterprise', names.redis)
    groupId: 'redisEnterprise'
    zone: 'redis'
    register: true
  }
  {
    key: 'vault'
    targetId: resourceId('Microsoft.KeyVault/vaults', names.keyVault)
    groupId: 'vault'
    zone: 'vault'
    register: true
  }
  {
    key: 'host-blob'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.hostStorage)
    groupId: 'blob'
    zone: 'blob'
    register: true
  }
  {
    key: 'host-queue'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.hostStorage)
    groupId: 'queue'
    zone: 'queue'
    register: true
  }
  {
    key: 'host-table'
    targetId: resourceId('Microsoft.Storage/storageAccounts', names.hostStorage)
    groupId: 'table'
    zone: 'table'
    register: true
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
      privateDnsZoneId: target.register ? '${dnsZonesGroupId}/providers/Microsoft.Network/privateDnsZones/${format(privateDnsZoneFormats[target.zone], environment().suffixes.storage)}' : ''
      tags: regionTags
    }
    dependsOn: [
      keyVault
      hostStorage
      privateDnsLinks
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
  // Python worker threads = host.json maxConcurrentSessions (16): the runner's handler is synchronous,
  // one thread per session it holds. FUNCTIONS_WORKER_PROCESS_COUNT is not valid on Flex Consumption
  // (one worker process per instance; the runner scales out over instances). docs/deployment.md,
  // "QueueBuilder run length and worker processes"; tests/infra/test_settings_coverage.py.
  PYTHON_THREADPOOL_THREAD_COUNT: '16'
  'AzureWebJobs.transformation_runner.Disabled': isPassive ? 'true' : 'false'
  BRIDGE_REGION: region
  // Only the region deployed active creates the region lease (the gate) when none exists yet.
  BRIDGE_ROLE: role
  // Connections (identity-based: <connection>__<endpoint>, <connection>__credential, __clientId).
  // Service Bus: this region's OWN namespace (no Geo-DR alias).
  ServiceBusConnection__fullyQualifiedNamespace: '${names.serviceBus}.servicebus.windows.net'
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
  MQ_QUEUE_MANAGER: mq.queueManager
  MQ_CHANNEL: mq.channel
  MQ_CONN_NAME: mq.connName
  MQ_QUEUE: mq.queue
  MQ_BACKOUT_QUEUE: mq.backoutQueue
  MQ_USER: mq.user
  MQ_CIPHER_SPEC: mq.cipherSpec
  MQ_KEY_REPOSITORY: mq.keyRepository
  MESSAGEWAY_QUEUE: messageWayQueue
}

// The runner's consumption switch: the Watchdog asks the region's control app (this app's identity
// holds no control-plane role; the token is for the operators' registration, which carries the
// application role Bridge.Switch assigned to this app's identity in stage 1).
var operatorPlaneSettings = {
  CONTROL_APP_URL: 'https://${names.controlApp}.azurewebsites.net/api/consumption'
  CONTROL_APP_SCOPE: '${operatorAuthClientId}/.default'
}

// The control app: the same package with BRIDGE_APP=control (bootstrap/control.py), its own identity
// (the control identity: Website Contributor on THIS region's bridge app, nothing else), and the one
// caller it accepts (this region's bridge identity). No MQ, Service Bus, Blob, Cosmos or Redis setting.
var controlClientId = controlIdentity.properties.clientId
var controlAppSettings = {
  AzureWebJobsStorage__accountName: names.hostStorage
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: controlClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${controlClientId};Authorization=AAD'
  AZURE_CLIENT_ID: controlClientId
  BRIDGE_APP: 'control'
  BRIDGE_REGION: region
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  CONTROL_TARGET_GROUP: resourceGroup().name
  CONTROL_TARGET_APP: names.functionApp
  CONTROL_CALLER_OBJECT_ID: identity.properties.principalId
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
    appSettings: union(tuning, appSettingsBase, mqPasswordSetting, operatorPlaneSettings)
    publicNetworkAccess: operatorPlanePublic ? 'Enabled' : 'Disabled'
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
    keyVaultName: keyVault.outputs.name
    hostStorageName: hostStorage.outputs.name
    appInsightsName: names.appInsights
  }
}

// ---- Operator plane (docs/security.md#operator-plane) ----

module controlApp 'modules/function-app.bicep' = {
  name: 'control-app'
  params: {
    name: names.controlApp
    planName: names.controlPlan
    location: location
    identityId: controlIdentity.id
    subnetId: network.outputs.controlSubnetId
    deploymentContainerUrl: '${hostStorage.outputs.blobEndpoint}${deploymentContainer}-control'
    appSettings: controlAppSettings
    publicNetworkAccess: 'Disabled' // reached by the bridge app over its private endpoint only
    alwaysReadyGroups: [
      'http'
    ]
    alwaysReadyInstances: 1
    maximumInstanceCount: 40
    tags: regionTags
  }
  dependsOn: [
    privateEndpoints
  ]
}

module controlAppRoles 'modules/app-roles.bicep' = {
  name: 'control-app-roles'
  params: {
    ownPrincipalId: controlIdentity.properties.principalId
    keyVaultAccess: false
    keyVaultName: keyVault.outputs.name
    hostStorageName: hostStorage.outputs.name
    appInsightsName: names.appInsights
  }
}

module controlRoles 'modules/control-roles.bicep' = {
  name: 'control-roles'
  params: {
    functionAppName: functionApp.outputs.name
    controlPrincipalId: controlIdentity.properties.principalId
  }
}

module controlAppPrivateEndpoint 'modules/private-endpoint.bicep' = {
  name: 'pe-control-app'
  params: {
    name: 'pe-${workload}-${own}-ctl'
    location: location
    subnetId: network.outputs.privateEndpointsSubnetId
    targetId: controlApp.outputs.id
    groupId: 'sites'
    privateDnsZoneId: '${dnsZonesGroupId}/providers/Microsoft.Network/privateDnsZones/${privateDnsZoneFormats.sites}'
    tags: regionTags
  }
  dependsOn: [
    privateDnsLinks
  ]
}

module appPrivateEndpoint 'modules/private-endpoint.bicep' = {
  name: 'pe-app'
  params: {
    name: 'pe-${workload}-${own}-app'
    location: location
    subnetId: network.outputs.privateEndpointsSubnetId
    targetId: functionApp.outputs.id
    groupId: 'sites'
    privateDnsZoneId: '${dnsZonesGroupId}/providers/Microsoft.Network/privateDnsZones/${privateDnsZoneFormats.sites}'
    tags: regionTags
  }
  dependsOn: [
    privateDnsLinks
  ]
}

module auth 'modules/auth.bicep' = if (!empty(operatorAuthClientId)) {
  name: 'auth'
  params: {
    functionAppName: functionApp.outputs.name
    clientId: operatorAuthClientId
  }
}

module controlAuth 'modules/auth.bicep' = if (!empty(operatorAuthClientId)) {
  name: 'control-auth'
  params: {
    functionAppName: controlApp.outputs.name
    clientId: operatorAuthClientId
    unauthenticatedClientAction: 'Return401'
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output runnerDisabled bool = isPassive
output controlAppName string = controlApp.outputs.name
