import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * A client of the emulator found by discovery from its issuer (in memory:
 * over the emulator's `HttpClient`).
 */
export const discoveredClient = (clientId?: string) =>
  Layer.unwrapEffect(
    Effect.map(Emulator.Emulator, (emulator) =>
      AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: clientId ?? emulator.clientId }))
  )

/**
 * The login over an emulator reached through `transport` (its `HttpClient`),
 * with a Renewer beside it (memory store, refresh-token strategy) for what
 * comes after the login.
 */
export const layer = (
  transport: Layer.Layer<Emulator.Emulator | HttpClient.HttpClient, unknown>,
  options: { readonly clientId?: string | undefined; readonly login?: Login.Options | undefined } = {}
) =>
  Layer.mergeAll(
    Login.layer(options.login),
    Renewer.layer().pipe(Layer.provide(TokenStore.layerMemory), Layer.provide(RenewalStrategy.refreshToken))
  ).pipe(
    Layer.provideMerge(discoveredClient(options.clientId)),
    Layer.provideMerge(transport),
    Layer.orDie
  )

/** {@link layer} over an in-memory emulator. */
export const layerMemory = (options: {
  readonly emulator?: Emulator.Emulator.Options | undefined
  readonly clientId?: string | undefined
  readonly login?: Login.Options | undefined
} = {}) => layer(Emulator.layerMemory(options.emulator), options)

/** The "browser" at `/authorize` of the in-memory emulator: the URL it is redirected to. */
export const followAuthorize = (url: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.get(url))
    const location = response.headers["location"]
    if (response.status !== 302 || location === undefined) {
      return yield* Effect.dieMessage(`/authorize answered ${response.status}`)
    }
    return location
  }).pipe(Effect.orDie)
