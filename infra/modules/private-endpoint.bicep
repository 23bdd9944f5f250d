// One private endpoint with its DNS zone group (the shared zone gets the A records automatically:
// https://learn.microsoft.com/azure/private-link/private-endpoint-dns-integration). Without a zone id
// the endpoint registers nothing: the standby Cosmos DB endpoint (main.bicep) waits unregistered so
// that the one shared zone holds one answer per name.
// AVM equivalent: br/public:avm/res/network/private-endpoint.

param name string
param location string
param subnetId string

@description('Resource id of the service the endpoint connects to.')
param targetId string

@description('Private link sub-resource: blob, queue, table, namespace, Sql, redisEnterprise, vault, sites.')
param groupId string

@description('Resource id of the shared privatelink zone to register in; empty = register nothing.')
param privateDnsZoneId string
param tags object = {}

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = if (!empty(privateDnsZoneId)) {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output id string = endpoint.id
