// The write-ahead log storage account of one region (docs/storage.md): geo-redundant, Entra ID only
// (shared keys disabled), reachable only through private endpoints, with the containers the code reads
// (WAL_CONTAINER, QUARANTINE_CONTAINER, OUTPUT_BACKUP_CONTAINER). Blob versioning and soft delete keep
// an operator mistake recoverable; the WAL itself is create-only (If-None-Match: *).
// AVM equivalent: br/public:avm/res/storage/storage-account.

param name string
param location string

@description('Geo-redundant SKU: Standard_GZRS where the region has availability zones, else Standard_GRS.')
@allowed([
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string

@description('Containers to create (WAL, quarantine, output backup).')
param containerNames array

@minValue(1)
@maxValue(365)
param softDeleteDays int = 14

param tags object = {}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containerNames: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
