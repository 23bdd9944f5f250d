// One Service Bus Premium namespace (one per region, in the region's resource group, so the Watchdog
// finds it with RESOURCE_GROUP_<region> + SERVICEBUS_NAMESPACE_<region>). Local (SAS) authentication
// is disabled; access only through private endpoints and Entra ID roles.
// AVM equivalent: br/public:avm/res/service-bus/namespace.

param name string
param location string

@minValue(1)
param messagingUnits int = 1

param tags object = {}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Premium'
    tier: 'Premium'
    capacity: messagingUnits
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    premiumMessagingPartitions: 1
  }
}

output id string = namespace.id
output name string = namespace.name
