// Stage 1 (shared.bicep): deployed once per subscription.
// Deploy: az deployment sub create --location westus2 --parameters infra/shared.bicepparam
// Values shared with dc04.bicepparam / dc06.bicepparam must be identical (tests/infra/test_regions.py).
using 'shared.bicep'

param workload = 'bridge'
param suffix = 'x7q2'
param resourceGroupShared = 'rg-bridge-shared'
param resourceGroupDc04 = 'rg-bridge-dc04'
param resourceGroupDc06 = 'rg-bridge-dc06'
param serviceBusQueueName = 'statements'
param walContainer = 'wal'
param quarantineContainer = 'quarantine'
param backupContainer = 'output-backup'
param cosmosDatabase = 'bridge'
param cosmosContainer = 'records'
param locationDc04 = 'westus2'
param locationDc06 = 'westcentralus'
param walSkuDc04 = 'Standard_GZRS'
param walSkuDc06 = 'Standard_GRS'
param maxDeliveryCount = 10
param lockDuration = 'PT1M'
param duplicateDetectionWindow = 'PT1H'
param cosmosConsistency = 'Strong'
param redisSku = 'Balanced_B3'
param redisGroupFounder = 'DC04'
param alertEmail = ''
param tags = {
  workload: 'statement-bridge'
  owner: 'payments-platform'
}
