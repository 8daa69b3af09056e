/**
 * The login against `oidc-provider` (panva's OpenID Certified server) in
 * process on loopback: discovery, the device flow with the person confirming
 * the user code at the provider's own pages, and the authorization code with
 * PKCE, the interaction (login and consent) answered by the support module.
 * The emulator is our own reading of the standards; this one is not.
 */
import { AuthenticationClient, Jwt, Login, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as OidcProvider from "./support/oidcProvider.js"

const redirectUri = "http://127.0.0.1:8765/callback"

const publicClient = {
  client_id: "login-client",
  application_type: "native",
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
  response_types: ["code"],
  redirect_uris: [redirectUri]
}

const startProvider = OidcProvider.start({
  clients: [publicClient],
  features: { deviceFlow: { enabled: true }, revocation: { enabled: true } },
  accounts: { alice: { email: "alice@example.org" } },
  interaction: () => OidcProvider.approve("alice")
})

/** Login and a Renewer over the provider, found by discovery, reached with fetch. */
const stackFor = (issuer: string) =>
  Layer.mergeAll(
    Login.layer(),
    Renewer.layer().pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(RenewalStrategy.refreshToken))
  ).pipe(
    Layer.provideMerge(
      AuthenticationClient.layerDiscovery({ issuer, clientId: publicClient.client_id, timeout: "10 seconds" })
    ),
    Layer.provideMerge(FetchHttpClient.layer),
    Layer.orDie
  )

describe("Login against oidc-provider", () => {
  it.scopedLive("authorization code with PKCE: iss required and checked, id_token verified, then a renewal", () =>
    Effect.gen(function*() {
      const op = yield* startProvider
      yield* Effect.gen(function*() {
        const client = yield* AuthenticationClient.AuthenticationClient
        expect(client.metadata.authorizationResponseIssParameterSupported).toBe(true)
        const login = yield* Login.Login
        const { pending, url } = yield* login.authorize({
          redirectUri,
          scope: "openid email offline_access",
          // oidc-provider grants offline_access only with an explicit consent prompt
          prompt: "consent"
        })
        const callback = yield* OidcProvider.browse(url, (location) => location.startsWith(redirectUri))
        expect(new URL(callback).searchParams.get("iss")).toBe(op.issuer)
        const credentials = yield* login.complete(pending, callback)
        const claims = yield* Jwt.decode(credentials.idToken!)
        expect(claims.sub).toBe("alice")
        expect(credentials.refreshToken).toBeDefined()

        const renewer = yield* Renewer.Renewer
        yield* renewer.save(credentials)
        const renewed = yield* renewer.get({ forceRefresh: true })
        expect(Redacted.value(renewed.accessToken)).not.toBe(Redacted.value(credentials.accessToken))

        // a replayed code: oidc-provider refuses it (and revokes what the code gave, RFC 6749 §4.1.2)
        const replay = yield* Effect.flip(login.complete(pending, callback))
        expect([replay.reason, replay.code]).toEqual(["Rejected", "invalid_grant"])
        const revoked = yield* Effect.flip(renewer.get({ forceRefresh: true }))
        expect(revoked._tag).toBe("LoginRequired")
      }).pipe(Effect.provide(stackFor(op.issuer)))
    }))

  it.scopedLive("a denied authorization is AccessDenied", () =>
    Effect.gen(function*() {
      const op = yield* startProvider
      op.answerInteractions(() => OidcProvider.deny())
      yield* Effect.gen(function*() {
        const login = yield* Login.Login
        const { pending, url } = yield* login.authorize({ redirectUri })
        const callback = yield* OidcProvider.browse(url, (location) => location.startsWith(redirectUri))
        const error = yield* Effect.flip(login.complete(pending, callback))
        expect([error.reason, error.code]).toEqual(["AccessDenied", "access_denied"])
      }).pipe(Effect.provide(stackFor(op.issuer)))
    }))

  it.scopedLive(
    "device flow: the person confirms the user code at the provider; the polling ends with credentials",
    () =>
      Effect.gen(function*() {
        const op = yield* startProvider
        yield* Effect.gen(function*() {
          const login = yield* Login.Login
          const authorization = yield* login.device({ scope: "openid email offline_access" })
          expect(authorization.verificationUri).toBe(`${op.issuer}/device`)
          const polling = yield* Effect.fork(authorization.credentials)
          const page = yield* OidcProvider.confirmDevice(authorization.verificationUriComplete!)
          expect(page).toContain("Sign-in Success")
          const credentials = yield* polling
          const claims = yield* Jwt.decode(credentials.idToken!)
          expect(claims.sub).toBe("alice")
          expect(credentials.scope).toContain("openid")
        }).pipe(Effect.provide(stackFor(op.issuer)))
      }),
    30_000
  )

  it.scopedLive("device flow: an aborted confirmation is AccessDenied", () =>
    Effect.gen(function*() {
      const op = yield* startProvider
      yield* Effect.gen(function*() {
        const login = yield* Login.Login
        const authorization = yield* login.device()
        const polling = yield* Effect.fork(Effect.flip(authorization.credentials))
        yield* OidcProvider.confirmDevice(authorization.verificationUriComplete!, { abort: true })
        const error = yield* polling
        expect(error.reason).toBe("AccessDenied")
      }).pipe(Effect.provide(stackFor(op.issuer)))
    }), 30_000)
})
