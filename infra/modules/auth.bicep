// The operator plane's sign-in: App Service authentication (Easy Auth, authsettingsV2) with Entra ID
// in front of every HTTP route of the region's function app, and the app roles the routes check.
// Easy Auth validates the caller's token and hands the app the principal in X-MS-CLIENT-PRINCIPAL,
// stripping any such header a client sent; watchdog/auth.py reads nothing else
// (https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-user-identities).
// Unauthenticated browsers are sent to the Entra sign-in page; the CLI sends a bearer token for
// api://<clientId> (https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-provider-aad).
// No client secret: the browser sign-in uses the OpenID Connect implicit flow for the ID token, so the
// app registration must allow ID tokens (docs/security.md#operator-plane).
// The app registration and its app roles are declared in stage 1 with the Microsoft Graph Bicep
// extension (modules/operator-app.bicep, roles in operator-roles.bicep; watchdog/auth.py checks the
// same values); its client id reaches this module as main.bicep's operatorAuthClientId (deploy.sh
// passes stage 1's output operatorAuthClientId).

@description('Function app to protect.')
param functionAppName string

@description('Application (client) id of the Entra app registration for the operator plane.')
param clientId string

@description('Unauthenticated requests: the operators\' app sends browsers to sign in; the control app (service calls only) answers 401.')
@allowed([
  'RedirectToLoginPage'
  'Return401'
])
param unauthenticatedClientAction string = 'RedirectToLoginPage'

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
      unauthenticatedClientAction: unauthenticatedClientAction
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
