// Private DNS zones of one region, linked to its VNet only. Each region resolves every service it
// uses (its own and the peer's WAL account, both Service Bus namespaces, Cosmos DB, its Redis, its
// Key Vault, its host storage) to its own private endpoints, so the two regions never share a record.
// AVM equivalent: br/public:avm/res/network/private-dns-zone.

param virtualNetworkId string
param tags object = {}

var zoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  servicebus: 'privatelink.servicebus.windows.net'
  cosmos: 'privatelink.documents.azure.com'
  redis: 'privatelink.redis.azure.net'
  vault: 'privatelink.vaultcore.azure.net'
  sites: 'privatelink.azurewebsites.net'
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for zone in items(zoneNames): {
    name: zone.value
    location: 'global'
    tags: tags
  }
]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (zone, i) in items(zoneNames): {
    parent: zones[i]
    name: 'link-${uniqueString(virtualNetworkId)}'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: virtualNetworkId
      }
    }
  }
]

output zoneIds object = toObject(items(zoneNames), zone => zone.key, zone => resourceId('Microsoft.Network/privateDnsZones', zone.value))
