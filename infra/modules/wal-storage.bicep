// The write-ahead log storage account of one region (docs/storage.md): geo-redundant, Entra ID only
// (shared keys disabled), reachable only through private endpoints, with the containers the code reads
// (WAL_CONTAINER, QUARANTINE_CONTAINER, OUTPUT_BACKUP_CONTAINER). Blob versioning and soft delete keep
// an operator mistake recoverable; the WAL itself is create-only (If-None-Match: *).
//
// Retention (docs/storage.md#retention): the app deletes a WAL segment (watchdog/retention.py) once every
// record in it is final and it is older than the audit horizon. With versioning on, that delete turns the
// segment into a previous version ("When you delete a blob, the current version of the blob becomes a
// previous version": https://learn.microsoft.com/azure/storage/blobs/versioning-overview). The lifecycle
// rule below is the safety net, on the WAL container only: base blobs (segments the app never deleted:
// a region whose app is gone) and previous versions (the app's deletions) are deleted
// `safetyNetDays` after creation, which is later than the app's own retention
// (https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-policy-delete,
// https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts/managementpolicies).
// A lifecycle delete in an account with soft delete leaves the blob soft-deleted for `softDeleteDays`,
// and "Lifecycle management policies do not impact blobs that are already in a soft-deleted state": the
// soft-delete retention itself removes them ("After the retention period has expired, the object is
// permanently deleted": https://learn.microsoft.com/azure/storage/blobs/soft-delete-blob-overview).
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

@description('The WAL container (WAL_CONTAINER): the only one the lifecycle safety net applies to.')
param walContainer string

@description('Days after creation when the lifecycle safety net deletes a WAL segment and its previous versions: the app\'s audit horizon plus a margin (shared.bicep).')
@minValue(45)
param safetyNetDays int

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

// The safety net (see the header): WAL segments only (prefix = the container), never quarantine,
// output backups or the operations journal. Versions are created once, when the segment is written
// (create-only), so a version's creation time is the segment's.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'wal-retention-safety-net'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${walContainer}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterCreationGreaterThan: safetyNetDays
                }
              }
              version: {
                delete: {
                  daysAfterCreationGreaterThan: safetyNetDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: safetyNetDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
