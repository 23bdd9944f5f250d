// The operator plane's sign-in: App Service authentication (Easy Auth, authsettingsV2) with Entra ID
// in front of every HTTP route of the region's function app, and the app roles the routes check.
// Easy Auth validates the caller's token and hands the app the principal in X-MS-CLIENT-PRINCIPAL,
// stripping any such header a client sent; watchdog/auth.py reads nothing else
// (https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-user-identities).
// Unauthenticated browsers are sent to the Entra sign-in page; the CLI sends a bearer token for
// api://<clientId> (https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-provider-aad).
// No client secret: the browser sign-in uses the OpenID Connect implicit flow for the ID token, so the
// app registration must allow ID tokens (docs/security.md#operator-plane).
// App roles are defined on the Entra app registration, which Azure Resource Manager does not manage:
// this module outputs their definitions (`appRoles`), which deploy.sh/docs apply with
// `az ad app update --id <clientId> --app-roles @roles.json`; watchdog/auth.py uses the same values.

@description('Function app to protect.')
param functionAppName string

@description('Application (client) id of the Entra app registration for the operator plane.')
param clientId string

@description('Entra tenant of the app registration (default: the deployment\'s tenant).')
param tenantId string = tenant().tenantId

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
          clientId: clientId
        }
        validation: {
          allowedAudiences: [
            'api://${clientId}'
            clientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

var roleDescriptions = {
  'Bridge.Reader': 'Read the status page, traces, reconciliation reports and pending requests.'
  'Bridge.Operator': 'Reader, plus failover, replay, reconcile now, resubmit, and requesting a resend or a forced failover.'
  'Bridge.Approver': 'Reader, plus approving a resend or forced failover requested by someone else.'
}

output appRoles array = [
  for role in items(roleDescriptions): {
    allowedMemberTypes: [
      'User'
    ]
    description: role.value
    displayName: role.key
    id: guid(clientId, role.key)
    isEnabled: true
    value: role.key
  }
]
