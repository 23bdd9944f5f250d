// The ONE set of privatelink DNS zones of the deployment (stage 1, shared resource group). Every
// private endpoint of both regions registers its A records here, and stage 2 links each region's VNet
// and hub to these zones (private-dns-links.bicep), so a name resolves to the same private address
// from DC04, DC06, the hubs and (through the hubs' DNS forwarders) on-prem. Private DNS zones are
// global and keep answering while a region is down:
// https://learn.microsoft.com/azure/dns/private-dns-resiliency
// Per-region copies of a zone linked only to their own VNet do not work with hub or on-prem DNS: the
// forwarder's VNet sees no zone and the name resolves to the public address, which the services refuse
// (publicNetworkAccess Disabled): https://learn.microsoft.com/azure/private-link/private-endpoint-dns-integration
// AVM equivalent: br/public:avm/res/network/private-dns-zone.

import { privateDnsZoneFormats } from '../naming.bicep'

param tags object = {}

var zoneNames = toObject(items(privateDnsZoneFormats), zone => zone.key, zone => format(zone.value, environment().suffixes.storage))

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for zone in items(zoneNames): {
    name: zone.value
    location: 'global'
    tags: tags
  }
]

output zoneIds object = toObject(items(zoneNames), zone => zone.key, zone => resourceId('Microsoft.Network/privateDnsZones', zone.value))
