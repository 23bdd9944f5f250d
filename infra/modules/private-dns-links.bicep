// Links virtual networks (a region's VNet and, when given, its hub) to every shared privatelink zone
// (private-dns-zones.bicep). Deployed by stage 2 into the SHARED resource group, where the zones live.
// A link's name is derived from the VNet id, so two regions that name the same hub declare the same
// link (an idempotent re-PUT, not a conflict: a zone can be linked to a given VNet only once).
// https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links

import { privateDnsZoneFormats } from '../naming.bicep'

@description('Resource ids of the virtual networks to link (empty strings are skipped).')
param virtualNetworkIds array

param tags object = {}

var zoneNames = [for zone in items(privateDnsZoneFormats): format(zone.value, environment().suffixes.storage)]
var networks = filter(virtualNetworkIds, id => !empty(id))
var pairs = [
  for i in range(0, length(zoneNames) * length(networks)): {
    zone: zoneNames[i % length(zoneNames)]
    network: networks[i / length(zoneNames)]
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' existing = [
  for zone in zoneNames: {
    name: zone
  }
]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (pair, i) in pairs: {
    parent: zones[i % length(zoneNames)]
    name: 'link-${uniqueString(pair.network)}'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: pair.network
      }
    }
  }
]
