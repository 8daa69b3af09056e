/**
 * DPoP against `oidc-provider` (panva's OpenID Certified server) in process:
 * logins with `dpop: true` (authorization code with `dpop_jkt`, device flow),
 * nonces required at the token endpoint and at the userinfo endpoint (a
 * resource server of its own), refresh tokens rotating with reuse detection
 * across many renewals and nonce changes.
 */
import {
  AuthenticationClient,
  AuthorizedClient,
  Dpop,
  Login,
  RenewalStrategy,
  Renewer,
  TokenStore
} from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as OidcProvider from "./support/oidcProvider.js"

const redirectUri = "http://127.0.0.1:8765/callback"

const publicClient = {
  client_id: "dpop-login-client",
  application_type: "native",
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
  response_types: ["code"],
  redirect_uris: [redirectUri]
}

const startProvider = Effect.gen(function*() {
  const op = yield* OidcProvider.start({
    clients: [publicClient],
    features: {
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
    },
    accounts: { alice: { email: "alice@example.org" } },
    interaction: () => OidcProvider.approve("alice"),
    // rotate every refresh token, bound or not: a presented one is consumed, a reuse revokes the grant
    configuration: { rotateRefreshToken: true }
  })
  const tokenPosts: Array<string> = []
  op.server.on("request", (request: { readonly url?: string; readonly method?: string }) => {
    if (request.method === "POST" && request.url?.startsWith("/token")) tokenPosts.push(request.url)
  })
  return { ...op, tokenPosts }
})

/** The thumbprint oidc-provider bound an access token to (its model's `jkt`; not in its typings). */
const boundTo = (op: OidcProvider.OidcProvider, token: Redacted.Redacted<string>) =>
  Effect.promise(async () => {
    const model = (op.provider as unknown as {
      readonly AccessToken: { readonly find: (value: string) => Promise<{ readonly jkt?: string } | undefined> }
    }).AccessToken
    return (await model.find(Redacted.value(token)))?.jkt
  })

const stackFor = (issuer: string) =>
  Layer.mergeAll(
    Login.layer(),
    AuthorizedClient.layer().pipe(
      Layer.provideMerge(
        Renewer.layer().pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(RenewalStrategy.refreshToken))
      )
    )
  ).pipe(
    Layer.provideMerge(
      AuthenticationClient.layerDiscovery({ issuer, clientId: publicClient.client_id, timeout: "10 seconds" })
    ),
    Layer.provideMerge(FetchHttpClient.layer),
    Layer.provideMerge(Dpop.layerNonces()),
    Layer.orDie
  )

describe("DPoP against oidc-provider", () => {
  it.scopedLive(
    "authorize with dpop: true: dpop_jkt, bound tokens, renewals across nonce changes, rotation, userinfo",
    () =>
      Effect.gen(function*() {
        const op = yield* startProvider
        yield* Effect.gen(function*() {
          const login = yield* Login.Login
          const { pending, url } = yield* login.authorize({
            redirectUri,
            scope: "openid email offline_access",
            prompt: "consent",
            dpop: true
          })
          const key = pending.dpop!
          expect(new URL(url).searchParams.get("dpop_jkt")).toBe(key.jkt)
          const callback = yield* OidcProvider.browse(url, (location) => location.startsWith(redirectUri))
          const credentials = yield* login.complete(pending, callback)
          expect(credentials.tokenType).toBe("DPoP")
          expect(credentials.dpop?.jkt).toBe(key.jkt)
          expect(yield* boundTo(op, credentials.accessToken)).toBe(key.jkt)

          const renewer = yield* Renewer.Renewer
          yield* renewer.save(credentials)
          const nonces = yield* Dpop.Nonces
          let refreshToken = Redacted.value(credentials.refreshToken!)
          for (let i = 0; i < 12; i++) {
            // every other renewal the nonce the client holds is one the server no longer takes
            if (i % 2 === 0) nonces.set(new URL(op.issuer).origin, `stale-${i}`)
            const renewed = yield* renewer.get({ forceRefresh: true })
            expect(renewed.tokenType).toBe("DPoP")
            expect(Redacted.value(renewed.refreshToken!)).not.toBe(refreshToken)
            refreshToken = Redacted.value(renewed.refreshToken!)
          }
          // 12 renewals, 6 of them answered use_dpop_nonce once first, plus the code exchange's own
          expect(op.tokenPosts.length).toBeGreaterThanOrEqual(12 + 6 + 1)

          // userinfo is a resource server: DPoP scheme, ath, its own nonce demanded
          const client = yield* AuthorizedClient.AuthorizedClient
          const response = yield* client.execute(HttpClientRequest.get(`${op.issuer}/me`))
          expect(response.status).toBe(200)
          expect(yield* response.json).toMatchObject({ sub: "alice" })

          // still logged in: the grant was never revoked for a reuse
          const last = yield* renewer.get({ forceRefresh: true })
          expect(last.dpop?.jkt).toBe(key.jkt)
        }).pipe(Effect.provide(stackFor(op.issuer)))
      }),
    30_000
  )

  it.scopedLive(
    "device flow with dpop: true: each poll proves the key; the tokens are bound to it",
    () =>
      Effect.gen(function*() {
        const op = yield* startProvider
        yield* Effect.gen(function*() {
          const login = yield* Login.Login
          const authorization = yield* login.device({ scope: "openid email offline_access", dpop: true })
          const polling = yield* Effect.fork(authorization.credentials)
          yield* OidcProvider.confirmDevice(authorization.verificationUriComplete!)
          const credentials = yield* polling
          expect(credentials.tokenType).toBe("DPoP")
          expect(yield* boundTo(op, credentials.accessToken)).toBe(credentials.dpop?.jkt)
          const renewer = yield* Renewer.Renewer
          yield* renewer.save(credentials)
          const renewed = yield* renewer.get({ forceRefresh: true })
          expect(renewed.dpop?.jkt).toBe(credentials.dpop?.jkt)
        }).pipe(Effect.provide(stackFor(op.issuer)))
      }),
    30_000
  )

  it.scopedLive(
    "a bound refresh token presented without its key is refused by the server",
    () =>
      Effect.gen(function*() {
        const op = yield* startProvider
        yield* Effect.gen(function*() {
          const login = yield* Login.Login
          const { pending, url } = yield* login.authorize({ redirectUri, prompt: "consent", dpop: true })
          const callback = yield* OidcProvider.browse(url, (location) => location.startsWith(redirectUri))
          const credentials = yield* login.complete(pending, callback)
          const client = yield* AuthenticationClient.AuthenticationClient
          const stolen = yield* Effect.flip(client.renewAuth(credentials.refreshToken!))
          expect(stolen._tag === "AuthApiError" && stolen.code).toBe("invalid_grant")
        }).pipe(Effect.provide(stackFor(op.issuer)))
      }),
    30_000
  )
})
