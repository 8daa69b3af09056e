import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
import * as Credentials from "@effect-renewal/core/Credentials"
import * as Dpop from "@effect-renewal/core/Dpop"
import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as DpopServer from "./dpopServer.js"

/** A client of the DPoP server over `fetch`. */
export const clientLayer = (server: DpopServer.DpopServer) =>
  AuthenticationClient.layer({ domain: server.url, clientId: "dpop-client", timeout: "10 seconds" }).pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.orDie
  )

/**
 * A Renewer and the store beside it, over the server; the nonces given, or
 * nonces of their own. No retry by the policy: a nonce retry must happen
 * inside the one attempt.
 */
export const stack = (server: DpopServer.DpopServer, nonces: Layer.Layer<Dpop.Nonces> = Dpop.layerNonces()) =>
  Renewer.layer({ key: "default" }).pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provide(RenewalStrategy.refreshToken),
    Layer.provide(clientLayer(server)),
    Layer.provide(RenewalPolicy.layer({ retry: Schedule.stop }).pipe(Layer.orDie)),
    Layer.provideMerge(nonces)
  )

/** Credentials the server minted, bound to `key` (DPoP) or, without one, Bearer; valid for an hour. */
export const login = (server: DpopServer.DpopServer, key: Dpop.DpopKey | undefined) => {
  const minted = server.mint(key?.jkt)
  return new Credentials.Credentials({
    accessToken: Redacted.make(minted.accessToken),
    refreshToken: Redacted.make(minted.refreshToken),
    tokenType: key === undefined ? "Bearer" : "DPoP",
    expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000),
    scope: "openid offline_access",
    ...(key === undefined ? {} : { dpop: key })
  })
}

/** The AuthorizedClient of the Renewer in context, over `fetch`. */
export const api = AuthorizedClient.make().pipe(Effect.provide(FetchHttpClient.layer))

/** Why the AuthorizedClient refuses a request to the server's resource: the `LoginRequired` reason (`false` if another error). */
export const refusal = (server: DpopServer.DpopServer) =>
  Effect.flatMap(api, (client) => Effect.flip(client.execute(HttpClientRequest.get(`${server.url}/api/x`)))).pipe(
    Effect.map((error) => error._tag === "LoginRequired" && error.reason)
  )

/** The Renewer of the stack, with credentials the server minted for `key` saved: a session logged in with DPoP. */
export const loggedIn = (server: DpopServer.DpopServer, key: Dpop.DpopKey) =>
  Effect.tap(Renewer.Renewer, (renewer) => renewer.save(login(server, key)))
