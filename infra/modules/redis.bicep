// Azure Managed Redis in both regions, linked by active geo-replication: each region reads and writes
// its own instance (RedisConnection__host), both are writable, replication is asynchronous and
// conflict-free (last writer wins per key). That is why only the passive side promotes and only the
// active side demotes (DESIGN.md), and why nothing needs to be made writable on failover.
// The alternative (Azure Cache for Redis Premium, passive geo-replication) and its failover steps are
// in docs/deployment.md. Access keys are disabled: Entra ID only (access policy assignments).
// Active geo-replication requires the NoEviction policy and the same SKU/modules on every member.
// AVM equivalent: br/public:avm/res/cache/redis-enterprise.

@description('Instance in the DC04 region (created first; the group is formed from it).')
param firstName string
param firstLocation string

@description('Instance in the DC06 region (joins the group formed by the first).')
param secondName string
param secondLocation string

@description('Name of the geo-replication group.')
param groupNickname string

param skuName string = 'Balanced_B1'

param tags object = {}

var databaseProperties = {
  clientProtocol: 'Encrypted'
  clusteringPolicy: 'EnterpriseCluster'
  evictionPolicy: 'NoEviction'
  accessKeysAuthentication: 'Disabled'
  port: 10000
}

resource first 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: firstName
  location: firstLocation
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

resource firstDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: first
  name: 'default'
  properties: union(databaseProperties, {
    geoReplication: {
      groupNickname: groupNickname
      linkedDatabases: [
        {
          id: '${first.id}/databases/default'
        }
      ]
    }
  })
}

resource second 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: secondName
  location: secondLocation
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

resource secondDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: second
  name: 'default'
  properties: union(databaseProperties, {
    geoReplication: {
      groupNickname: groupNickname
      linkedDatabases: [
        {
          id: '${first.id}/databases/default'
        }
        {
          id: '${second.id}/databases/default'
        }
      ]
    }
  })
  dependsOn: [
    firstDatabase
  ]
}

output firstId string = first.id
output secondId string = second.id
output firstHost string = '${first.properties.hostName}:10000'
output secondHost string = '${second.properties.hostName}:10000'
