/**
 * docs/getting-started.md: the layers of an application, the first login and
 * saving it, getting credentials.
 */
import {
  AuthenticationClient,
  Credentials,
  Login,
  RenewalStrategy,
  Renewer,
  TokenCodec,
  TokenStore
} from "@effect-renewal/core"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

// --- layers ---
// Credentials in owner-only files under .tokens/, encrypted with the key in
// EFFECT_RENEWAL_STORE_KEY.
const Store = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
  Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
)

// The provider found from OIDC_ISSUER (its discovery document), the client from
// OIDC_CLIENT_ID and (optional) OIDC_CLIENT_SECRET, reached with fetch.
const Client = AuthenticationClient.layerDiscoveryConfig().pipe(Layer.provide(FetchHttpClient.layer))

// Renew with the refresh token; one Renewer for the session key "default".
export const RenewerLive = Renewer.layer().pipe(
  Layer.provide([Store, RenewalStrategy.refreshToken.pipe(Layer.provide(Client))])
)
// --- end layers ---

// --- auth0 ---
// AUTH0_DOMAIN, AUTH0_CLIENT_ID and (optional) AUTH0_CLIENT_SECRET
export const Auth0Client = AuthenticationClient.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
// --- end auth0 ---

// --- options ---
// The same client from explicit options, e.g. with a secret from your secret manager:
export const clientFromOptions = (clientSecret: Redacted.Redacted<string>) =>
  AuthenticationClient.layerDiscovery({
    issuer: "https://sso.example.com/realms/demo", // https://; http:// only for loopback hosts
    clientId: "my-client-id",
    clientSecret,
    clientAuthentication: "client_secret_basic" // default: client_secret_post
  }).pipe(Layer.provide(FetchHttpClient.layer))

// Auth0's domain form, with a key instead of a secret (private_key_jwt)
export const auth0WithKey = (privateKeyPem: Redacted.Redacted<string>) =>
  AuthenticationClient.layer({
    domain: "tenant.eu.auth0.com", // or a full https:// URL
    clientId: "my-client-id",
    privateKey: privateKeyPem // PKCS#8 PEM or a private JWK; RS256 for an RSA key
  }).pipe(Layer.provide(FetchHttpClient.layer))
// --- end options ---

// --- login ---
// The login, over the same client; the code to enter goes to stderr.
const LoginLive = Login.layer().pipe(Layer.provide([Client, FetchHttpClient.layer]))

export const firstLogin = Effect.gen(function*() {
  const login = yield* Login.Login
  const authorization = yield* login.device({ scope: "openid profile offline_access" })
  yield* Console.error(`Open ${authorization.verificationUri} and enter the code ${authorization.userCode}`)
  const credentials = yield* authorization.credentials // polls until the person approves
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
}).pipe(Effect.provide(LoginLive))
// --- end login ---

// --- save ---
// `body` is the JSON body of the token response that ended a login made
// elsewhere (e.g. an authorization-code exchange of your own).
export const saveLogin = (body: unknown) =>
  Effect.gen(function*() {
    const response = yield* Schema.decodeUnknown(Credentials.TokenResponse)(body)
    // expiresAt = now (Clock) + expires_in; the scope is the response's (renewals ask for it)
    const credentials = yield* Credentials.fromTokenResponse(response)
    const renewer = yield* Renewer.Renewer
    yield* renewer.save(credentials)
  })
// --- end save ---

// --- get ---
export const getProfile = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  // valid for at least the default minTtl (30s), renewed and saved if needed
  const credentials = yield* renewer.get()
  const client = yield* HttpClient.HttpClient
  const response = yield* client.execute(
    HttpClientRequest.get("https://api.example.com/me").pipe(
      HttpClientRequest.bearerToken(credentials.accessToken) // a Redacted is accepted as is
    )
  )
  return yield* response.json
}).pipe(
  // no usable credentials: the user must log in again
  Effect.catchTag("LoginRequired", () => Console.log("Please log in again."))
)

export const main = getProfile.pipe(
  Effect.provide(Layer.merge(RenewerLive, FetchHttpClient.layer))
)
// --- end get ---
