// The operators' Entra app registration, declared with the Microsoft Graph Bicep extension (GA,
// types v1.0 1.0.0, Bicep >= 0.36.1: https://learn.microsoft.com/graph/templates/bicep/whats-new ;
// the alias `microsoftGraphV1` is set in infra/bicepconfig.json, as in
// https://learn.microsoft.com/graph/templates/how-to-dynamic-types). Resource types
// Microsoft.Graph/applications and Microsoft.Graph/servicePrincipals (v1.0):
// https://learn.microsoft.com/graph/templates/reference/overview
//
// One registration serves both regions' function apps (Easy Auth, auth.bicep): the app roles the
// routes check (watchdog/auth.py; definitions in operator-roles.bicep), the Easy Auth callback of
// each region's app as a redirect URI, ID tokens for the browser sign-in (no client secret), and a
// service principal that requires an assignment, so only people given one of the roles can sign in.
// Deploying it needs Application.ReadWrite.All (delegated) or Application.ReadWrite.OwnedBy
// (application) for the deploying principal, on top of the Azure roles
// (https://learn.microsoft.com/graph/templates/bicep/reference/applications); shared.bicep skips this
// module when an existing registration is named (existingOperatorAppClientId).
extension microsoftGraphV1

import { operatorAppRoles, switchAppRole } from '../operator-roles.bicep'

@description('Immutable alternate key of the registration (Graph uniqueName): a re-run updates the same one.')
param uniqueName string

param displayName string

@description('Host names of the function apps that sign operators in (https://<host>/.auth/login/aad/callback).')
param appHostNames array

@description('Object ids of the bridge apps\' identities: each gets the application role Bridge.Switch (its region\'s control app accepts only its own bridge identity).')
param switchPrincipalIds array

// The delegated scope the operators' CLI token carries (`az account get-access-token --scope
// <client id>/.default`), pre-authorized for the Azure CLI (first-party app id 04b07795-8ddb-461a-bbee-02f9e1bf7b46:
// https://learn.microsoft.com/troubleshoot/azure/entra/entra-id/governance/verify-first-party-apps-sign-in),
// so no consent prompt; v2 access tokens, whose issuer is the v2.0 issuer Easy Auth validates (auth.bicep).
var cliScopeId = 'b96c4f01-4cd1-471b-b3c4-73673cc48ffd'
var azureCliAppId = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  appRoles: concat(operatorAppRoles, [
    switchAppRole
  ])
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: cliScopeId
        value: 'user_impersonation'
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Use the statement bridge operator plane'
        adminConsentDescription: 'Call the bridge\'s operator routes as the signed-in operator (app roles still apply).'
        userConsentDisplayName: 'Use the statement bridge operator plane'
        userConsentDescription: 'Call the bridge\'s operator routes as you (your app roles still apply).'
      }
    ]
    preAuthorizedApplications: [
      {
        appId: azureCliAppId
        delegatedPermissionIds: [
          cliScopeId
        ]
      }
    ]
  }
  web: {
    redirectUris: [for host in appHostNames: 'https://${host}/.auth/login/aad/callback']
    implicitGrantSettings: {
      enableIdTokenIssuance: true
      enableAccessTokenIssuance: false
    }
  }
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  appRoleAssignmentRequired: true
}

resource switchAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for principalId in switchPrincipalIds: {
    appRoleId: switchAppRole.id
    principalId: principalId
    resourceId: servicePrincipal.id
  }
]

output clientId string = app.appId
