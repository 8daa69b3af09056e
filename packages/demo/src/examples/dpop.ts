// docs/dpop.md: turning DPoP on, what happens after, the errors, the nonces.
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
import * as Dpop from "@effect-renewal/core/Dpop"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { existsSync, readFileSync, writeFileSync } from "node:fs"

// The key travels with the credentials: encrypt the store.
const Store = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
  Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
)
const Client = AuthenticationClient.layerDiscoveryConfig().pipe(Layer.provide(FetchHttpClient.layer))
export const LoginLive = Login.layer().pipe(Layer.provide([Client, FetchHttpClient.layer]))
export const RenewerLive = Renewer.layer().pipe(
  Layer.provide(RenewalStrategy.refreshToken),
  Layer.provide([Client, Store])
)
export const ApiLive = AuthorizedClient.layer().pipe(Layer.provide([RenewerLive, FetchHttpClient.layer]))

// One option at the login: the tokens are bound to a new key, which the
// credentials carry. Nothing else changes: renewals, API credentials and the
// AuthorizedClient use the key they find in the credentials.
export const deviceLogin = Effect.gen(function*() {
  const login = yield* Login.Login
  const authorization = yield* login.device({ scope: "openid profile offline_access", dpop: true })
  yield* Console.error(`Open ${authorization.verificationUri} and enter the code ${authorization.userCode}`)
  const credentials = yield* authorization.credentials
  // credentials.tokenType === "DPoP"; credentials.dpop?.jkt is the key's thumbprint
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
})

// Requests carry `Authorization: DPoP <token>` and a proof; a nonce challenge
// is answered once, without renewing.
export const listOrders = Effect.gen(function*() {
  const api = yield* AuthorizedClient.AuthorizedClient
  const response = yield* api.execute(HttpClientRequest.get("https://api.example.com/orders"))
  return yield* response.json
})

// A key lost (credentials restored from a backup without it, a store that
// dropped it) or swapped: a new login, the refresh token kept meanwhile.
export const orLogIn = listOrders.pipe(
  Effect.catchTag("LoginRequired", (error) =>
    error.reason === "DpopKeyMissing" || error.reason === "DpopKeyMismatch"
      ? Console.error("The key these tokens are bound to is gone: log in again.").pipe(Effect.as(undefined))
      : Effect.fail(error))
)

// A proof for a request of your own (a WebSocket upgrade, a client that is
// not an HttpClient): the last nonce of the origin, if any, from Dpop.Nonces.
export const ownProof = (url: string) =>
  Effect.gen(function*() {
    const renewer = yield* Renewer.Renewer
    const credentials = yield* renewer.get()
    if (credentials.dpop === undefined) return undefined
    const nonces = yield* Dpop.Nonces
    return yield* Dpop.proof(credentials.dpop, {
      method: "GET",
      url,
      accessToken: credentials.accessToken,
      nonce: nonces.get(new URL(url).origin)
    })
  })

// Nonces that outlive the process, for a server that consumes the refresh token
// before it checks the nonce: read once at start, written through on every new
// nonce (a small file, readable by this user alone). A nonce the server has
// since retired is still refused, so this narrows the loss, it does not end it.
export const NoncesKeptInFile = (path: string) =>
  Layer.effect(
    Dpop.Nonces,
    Effect.sync((): Dpop.Nonces.Service => {
      const memory = Dpop.makeNonces()
      const saved: Record<string, string> = {}
      try {
        const json: unknown = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {}
        for (const [origin, nonce] of Object.entries(typeof json === "object" && json !== null ? json : {})) {
          if (typeof nonce !== "string") continue
          memory.set(origin, nonce)
          saved[origin] = nonce
        }
      } catch {
        // an unreadable file is no nonce: the first request of each origin goes without one
      }
      return {
        get: memory.get,
        set: (origin, nonce) => {
          memory.set(origin, nonce)
          if (memory.get(origin) !== nonce || saved[origin] === nonce) return
          saved[origin] = nonce
          try {
            writeFileSync(path, JSON.stringify(saved), { mode: 0o600 })
          } catch {
            // a file that cannot be written: the nonce is still kept in memory
          }
        }
      }
    })
  )
