// App Service Authentication (Easy Auth) with Entra ID in front of the function app (optional: with
// pagesAuthClientId). Ripple's pages and read API (campaigns, status, runbook) are anonymous at the
// Functions level and answer only requests App Service Authentication signed in (they read the
// x-ms-client-principal-* headers, trusted because WEBSITE_AUTH_ENABLED is set by the platform): browsers
// are sent to the Entra sign-in page, API clients present an Entra access token for the app registration.
// Paths that authenticate on their own are excluded: the registry webhook (shared secret), the GitHub
// webhook (HMAC signature), the waiver API (authLevel function: the function key is its gate, so scripts
// and on-call tooling call it without a session; a signed-in caller is still recorded as who asked) and
// the Event Grid runtime endpoint (system key). Keep shared/local/local-host.ts SIGN_IN_EXCLUDED_PATHS equal.

@description('Function app name.')
param siteName string

@description('Application (client) id of the Entra app registration users sign in to.')
param clientId string

@description('Name of an app setting holding the registration\'s client secret (a Key Vault reference); empty: sign-in by the OpenID Connect implicit flow (ID tokens enabled on the registration).')
param clientSecretSettingName string = ''

@description('Paths served without sign-in (they authenticate requests themselves).')
param excludedPaths array = [
  '/api/registry/events'
  '/api/github/events'
  '/api/waivers'
  '/runtime/webhooks/eventgrid'
]

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: siteName
}

resource auth 'Microsoft.Web/sites/config@2024-11-01' = {
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
      excludedPaths: excludedPaths
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: union({
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          clientId: clientId
        }, empty(clientSecretSettingName) ? {} : { clientSecretSettingName: clientSecretSettingName })
        validation: {
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
