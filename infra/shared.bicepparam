// Stage 1 (shared.bicep): deployed once per subscription.
// Deploy: az deployment sub create --location westus2 --parameters infra/shared.bicepparam
// Values shared with dc04.bicepparam / dc06.bicepparam must be identical (tests/infra/test_parameters.py).
using 'shared.bicep'

param workload = 'bridge'
param suffix = 'x7q2'
param resourceGroupShared = 'rg-bridge-shared'
param resourceGroupDc04 = 'rg-bridge-dc04'
param resourceGroupDc06 = 'rg-bridge-dc06'
param serviceBusQueueName = 'statements'
param walContainer = 'wal'
param quarantineContainer = 'quarantine'
param operationsContainer = 'operations'
param backupContainer = 'output-backup'
param cosmosDatabase = 'bridge'
param cosmosContainer = 'records'
param cosmosControlContainer = 'control'
param locationDc04 = 'westus2'
param locationDc06 = 'westcentralus'
param walSkuDc04 = 'Standard_GZRS'
param walSkuDc06 = 'Standard_GRS'
param maxDeliveryCount = 10
param lockDuration = 'PT1M'
param duplicateDetectionWindow = 'PT1H'
// WAL retention (docs/storage.md#retention). The app's SERVICE_BUS_MESSAGE_TTL_DAYS and WAL_AUDIT_HORIZON_DAYS
// (dc04/dc06 tuning) must equal serviceBusMessageTtlDays and walAuditHorizonDays (tests/infra/test_retention.py).
param serviceBusMessageTtlDays = 14
param walAuditHorizonDays = 400
param walRetentionMarginDays = 30
param walSoftDeleteDays = 14
param cosmosConsistency = 'Strong'
// First deployment's failover order (index 0 writes). deploy.sh overrides it with the live order on
// every later run, so a re-run after a Cosmos failover keeps the write region where it is.
param cosmosFailoverOrder = [
  'westus2'
  'westcentralus'
  'westus3'
]
param redisSku = 'Balanced_B3'
param redisGroupFounder = 'DC04'
// deploy.sh overrides it with the live state (true once the joiner has linked to the founder).
param redisJoinerLinked = false
// DC04's then DC06's member. deploy.sh checks that Azure Managed Redis is offered in each before it
// deploys (docs/deployment.md#redis-azure-managed-redis-with-active-geo-replication).
param redisLocations = [
  'westus2'
  'westcentralus'
]
param alertEmail = ''
// '' = this deployment's own privatelink zones (rg-bridge-shared); else the landing zone's resource group id.
param privateDnsZonesGroupId = ''
param tags = {
  workload: 'statement-bridge'
  owner: 'payments-platform'
}
