// The region's virtual network: a subnet delegated to the Flex Consumption plan's VNet integration
// (Microsoft.App/environments) through which the function app reaches on-prem IBM MQ / MessageWay and
// the private endpoints, and a subnet for the private endpoints. On-prem routing is the hub's job: give
// hubVirtualNetworkId to peer this VNet with the hub that holds the ExpressRoute/VPN gateway.
// AVM equivalent: br/public:avm/res/network/virtual-network.

param name string
param location string
param addressPrefix string
param functionsSubnetPrefix string
param privateEndpointsSubnetPrefix string

@description('Subnet of the control app\'s VNet integration (its own Flex Consumption plan needs its own subnet).')
param controlSubnetPrefix string

@description('Hub VNet resource id to peer with (uses the hub\'s gateway); empty = no peering.')
param hubVirtualNetworkId string = ''

@description('Custom DNS servers (must forward privatelink zones to 168.63.129.16); empty = Azure DNS.')
param dnsServers array = []

param tags object = {}

resource functionsNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-functions'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource endpointsNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-endpoints'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    dhcpOptions: {
      dnsServers: dnsServers
    }
    subnets: [
      {
        name: 'snet-functions'
        properties: {
          addressPrefix: functionsSubnetPrefix
          networkSecurityGroup: {
            id: functionsNsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'snet-control'
        properties: {
          addressPrefix: controlSubnetPrefix
          networkSecurityGroup: {
            id: functionsNsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'snet-private-endpoints'
        properties: {
          addressPrefix: privateEndpointsSubnetPrefix
          networkSecurityGroup: {
            id: endpointsNsg.id
          }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

resource hubPeering 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2024-05-01' = if (!empty(hubVirtualNetworkId)) {
  parent: vnet
  name: 'to-hub'
  properties: {
    remoteVirtualNetwork: {
      id: hubVirtualNetworkId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: true
    useRemoteGateways: true
  }
}

output id string = vnet.id
output functionsSubnetId string = '${vnet.id}/subnets/snet-functions'
output controlSubnetId string = '${vnet.id}/subnets/snet-control'
output privateEndpointsSubnetId string = '${vnet.id}/subnets/snet-private-endpoints'
