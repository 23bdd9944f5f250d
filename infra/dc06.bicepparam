// DC06 (US West Central): the passive region at first deployment.
// Same template as the other region (main.bicep); only the first block differs between the two files
// (tests/infra/test_parameters.py). Deploy: az deployment group create -g rg-bridge-dc06 --parameters infra/dc06.bicepparam
using 'main.bicep'

// ---- This region ----
param region = 'DC06'
param peerRegion = 'DC04'
param location = 'westcentralus'
param role = 'passive'
param vnetAddressPrefix = '10.60.0.0/24'
param functionsSubnetPrefix = '10.60.0.0/25'
param privateEndpointsSubnetPrefix = '10.60.0.128/26'
param hubVirtualNetworkId = ''
param dnsServers = []

// ---- Shared by both regions (keep identical to the other file and to shared.bicepparam) ----
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
param cosmosDnsRegion = 'DC04'
// '' = this deployment's own privatelink zones (rg-bridge-shared); else the landing zone's resource group id.
param privateDnsZonesGroupId = ''
param mq = {
  queueManager: 'QMSTMT01'
  channel: 'BRIDGE.SVRCONN'
  connName: 'mq1.corp.example(1414),mq2.corp.example(1414)'
  queue: 'STATEMENTS.IN'
  backoutQueue: 'STATEMENTS.BACKOUT'
  user: 'bridge'
  cipherSpec: 'ANY_TLS13_OR_HIGHER'
  keyRepository: ''
}
param mqPasswordSecretName = 'mq-password'
param messageWayQueue = 'MESSAGEWAY.IN'
param alwaysReadyInstances = 1
// Operator plane: private endpoint only unless opened here; Easy Auth with the operators' Entra app
// registration (its client id; empty = every operator route answers 503). docs/security.md#operator-plane
param operatorPlanePublic = false
param operatorAuthClientId = ''
param tuning = {
  GATE_CACHE_TTL_S: '2'
  HEARTBEAT_TTL_S: '30'
  WATCHDOG_MISSES: '3'
  LEASE_S: '60'
  CLOCK_SKEW_S: '5'
  LEASE_GUARD_S: '10'
  AUTO_PROMOTE: 'true'
  REPLAY_INTERVAL_S: '900'
  REPLAY_SLICE_S: '5'
  COSMOS_WRITE_HOLD_S: '480'
  CLAIM_LEASE_S: '60'
  CLAIM_CHECK_BYTES: '196608'
  WAL_REPLICATION_WINDOW_S: '60'
  MAX_BODY_BYTES: '104857600'
  WAL_ALLOW_DEGRADED: 'false'
  MQ_BACKOUT_THRESHOLD: '3'
  QUEUE_BUILDER_SCHEDULE: '*/10 * * * * *'
  QUEUE_BUILDER_DRAIN_S: '8'
  QUEUE_BUILDER_BATCH: '128'
  QUEUE_BUILDER_UNIT_BYTES: '4194304'
  QUEUE_BUILDER_STALE_S: '60'
  WATCHDOG_SCHEDULE: '*/15 * * * * *'
  TRANSLATION_BALANCE_MODE: 'strict'
  BALANCE_POLICIES: '{}'
  OPERATIONS_CONTAINER: 'operations'
  RECONCILE_SCHEDULE: '0 30 5 * * *'
  RECONCILE_STUCK_AFTER_S: '900'
  // WAL retention (docs/storage.md#retention): SERVICE_BUS_MESSAGE_TTL_DAYS = shared.bicepparam's
  // serviceBusMessageTtlDays, WAL_AUDIT_HORIZON_DAYS = its walAuditHorizonDays (tests/infra/test_retention.py).
  SERVICE_BUS_MESSAGE_TTL_DAYS: '14'
  DEAD_LETTER_WINDOW_DAYS: '30'
  WAL_AUDIT_HORIZON_DAYS: '400'
  WAL_RETENTION_PAGE: '50'
  WAL_RETENTION_INTERVAL_S: '86400'
  STATEMENT_FORMATS: '{}'
  DEFAULT_SENDER_BIC: ''
  DEFAULT_RECEIVER_BIC: ''
}
param tags = {
  workload: 'statement-bridge'
  owner: 'payments-platform'
}
