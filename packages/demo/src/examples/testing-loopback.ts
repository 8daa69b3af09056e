/**
 * docs/testing.md: the emulator as a real HTTP server on loopback.
 */
import { RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// --- loopback ---
// The server's URL is known once it listens: build the client from it.
const ClientOverLoopback = Layer.unwrapEffect(
  Effect.map(Emulator.EmulatorServer, (server) => Fixtures.layerClient({ domain: server.url }))
).pipe(Layer.provide(FetchHttpClient.layer))

const Stack = Renewer.layer().pipe(
  Layer.provideMerge(RenewalStrategy.refreshToken),
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provideMerge(ClientOverLoopback),
  Layer.provideMerge(Emulator.layerServer({ rotation: true }))
)

layer(Stack)("over loopback HTTP", (it) => {
  it.effect("renews with a real request", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.login())
      yield* renewer.get({ forceRefresh: true })
      const log = yield* emulator.requests
      expect(log.map((entry) => [entry.path, entry.grantType, entry.status])).toEqual([
        ["/oauth/token", "refresh_token", 200]
      ])
    }))
})
// --- end loopback ---
