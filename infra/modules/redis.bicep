// One Azure Managed Redis instance (a region's), member of the active geo-replication group. Each
// region reads and writes its own instance (RedisConnection__host); both are writable, replication is
// asynchronous and conflict-free (last writer wins per key). That is why only the passive side
// promotes and only the active side demotes (DESIGN.md), and why nothing has to be made writable on
// failover. The alternative (Azure Cache for Redis Premium, passive geo-replication) and its failover
// steps are in docs/deployment.md (Redis). Access keys are disabled: Entra ID only.
// Active geo-replication requires NoEviction and the same SKU on every member; a member joins the
// group by listing the databases already in it and itself
// (https://learn.microsoft.com/azure/redis/how-to-active-geo-replication).
// Re-running: the caller passes the group as it stands (groupDatabaseIds, this member included). The
// founder is first deployed alone; once the joiner has linked, the founder's database must be re-sent
// with BOTH members, or the PUT asks to unlink the joiner and the service refuses it. deploy.sh reads
// the live group and passes redisJoinerLinked to shared.bicep, which builds the list.
// Since the gate's authority moved to Cosmos DB, Redis holds only the fast-path mirror of active_dc.
// AVM equivalent: br/public:avm/res/cache/redis-enterprise.

param name string
param location string
param skuName string

@description('Name of the geo-replication group.')
param groupNickname string

@description('Database ids of every member of the group as it stands, this member\'s own included.')
param groupDatabaseIds array

param tags object = {}

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: 'Enabled'
    publicNetworkAccess: 'Disabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Disabled'
    port: 10000
    geoReplication: {
      groupNickname: groupNickname
      linkedDatabases: [
        for id in groupDatabaseIds: {
          id: id
        }
      ]
    }
  }
}

output id string = cluster.id
output name string = cluster.name
output databaseId string = database.id
output host string = '${cluster.properties.hostName}:10000'
