// The region's function app on a Flex Consumption plan (FC1, Linux, Python 3.11): VNet integration
// for on-prem IBM MQ and the private endpoints, the user-assigned identity for everything (host
// storage, deployment package, Key Vault references, data access), always-ready instances so the
// timers and the Service Bus trigger never wait for a cold start. Why Flex rather than Elastic
// Premium: docs/deployment.md#hosting-plan-flex-consumption.
// App settings replace the app's settings as a whole on every deployment, including the runner's
// AzureWebJobs.<fn>.Disabled flag the Watchdog flips on failover: deploy.sh refuses to deploy roles
// that contradict the live gate (docs/runbook.md#after-a-failover-before-any-redeploy).
// AVM equivalent: br/public:avm/res/web/site (kind functionapp,linux) + br/public:avm/res/web/serverfarm.

param name string
param planName string
param location string
param identityId string
param subnetId string

@description('Blob container URL of the deployment package (host storage).')
param deploymentContainerUrl string

@description('App settings as an object (name: value); converted to the siteConfig list.')
param appSettings object

@description('Always-ready instances per function group (Flex Consumption); 0 = scale from zero.')
@minValue(0)
param alwaysReadyInstances int = 1

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Public access to the app (operator routes, deployment). Disabled (default): reachable only through its private endpoint; main.bicep opens it only when operatorPlanePublic is true.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Disabled'

@description('Function groups kept warm (Flex Consumption always-ready): the bridge app\'s three triggers and its HTTP routes; the control app: http only.')
param alwaysReadyGroups array = [
  'function:queue_builder'
  'function:transformation_runner'
  'function:watchdog_timer'
  'http'
]

param tags object = {}

var settingsList = [
  for setting in items(appSettings): {
    name: setting.key
    value: setting.value
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: publicNetworkAccess
    virtualNetworkSubnetId: subnetId
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: settingsList
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: [
          for group in alwaysReadyGroups: {
            name: group
            instanceCount: alwaysReadyInstances
          }
        ]
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Basic (user/password) publishing is off: `func azure functionapp publish` authenticates with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
