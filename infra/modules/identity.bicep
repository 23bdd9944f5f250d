// The region's user-assigned managed identity: the function app runs as it and every data-plane
// access (Blob, Service Bus, Cosmos DB, Redis, Key Vault) is granted to it. Created in the shared
// stage so that both regions' deployments can grant roles to both identities in one pass.

@description('Identity name (naming.bicep nameFormats.identity).')
param name string

@description('Azure region of the identity (the region it serves).')
param location string

param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
