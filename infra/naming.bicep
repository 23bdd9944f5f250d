// One naming convention for every stage (shared.bicep and main.bicep import it), so the names one
// stage creates are the names the other stage references. Placeholders: {0} workload (lower case),
// {1} region code in lower case (dc04, dc06), {2} global suffix that makes public names unique.
// Storage account names allow only 3-24 lower-case letters and digits: keep workload + suffix short.

@export()
@description('Format strings for per-region resources; use format(nameFormats.x, workload, toLower(region), suffix).')
var nameFormats = {
  identity: 'id-{0}-{1}'
  logAnalytics: 'log-{0}-{1}'
  appInsights: 'appi-{0}-{1}'
  walStorage: 'st{0}wal{1}{2}'
  hostStorage: 'st{0}fn{1}{2}'
  functionApp: 'func-{0}-{1}-{2}'
  plan: 'asp-{0}-{1}'
  keyVault: 'kv-{0}-{1}-{2}'
  virtualNetwork: 'vnet-{0}-{1}'
  serviceBusNamespace: 'sb-{0}-{1}-{2}'
  redis: 'redis-{0}-{1}-{2}'
}

@export()
@description('Format strings for resources shared by both regions: {0} workload, {2} suffix ({1} unused).')
var sharedNameFormats = {
  cosmos: 'cosmos-{0}-{2}'
  actionGroup: 'ag-{0}'
}

@export()
@description('Region codes of the design and the Azure regions they stand for (DESIGN.md).')
var regionCodes = [
  'DC04'
  'DC06'
]

@export()
@description('The privatelink DNS zones every private endpoint registers in (stage 1 creates them once, in the shared resource group; both regions\' VNets and hubs are linked to them). {0} = environment().suffixes.storage. Zone names: https://learn.microsoft.com/azure/private-link/private-endpoint-dns')
var privateDnsZoneFormats = {
  blob: 'privatelink.blob.{0}'
  queue: 'privatelink.queue.{0}'
  table: 'privatelink.table.{0}'
  servicebus: 'privatelink.servicebus.windows.net'
  cosmos: 'privatelink.documents.azure.com'
  redis: 'privatelink.redis.azure.net'
  vault: 'privatelink.vaultcore.azure.net'
  sites: 'privatelink.azurewebsites.net' // the function app's own endpoint (the operator plane)
}
