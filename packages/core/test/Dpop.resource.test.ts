/**
 * DPoP at the resource server, seen from the caller: what the response the
 * AuthorizedClient hands back renders, which 401s renew, where a nonce is
 * kept after a redirect.
 */
import {
  AuthenticationClient,
  AuthorizedClient,
  Credentials,
  Dpop,
  RenewalPolicy,
  RenewalStrategy,
  Renewer,
  TokenStore
} from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { inspect } from "node:util"
import * as DpopServer from "./support/dpopServer.js"

const clientLayer = (server: DpopServer.DpopServer) =>
  AuthenticationClient.layer({ domain: server.url, clientId: "dpop-client", timeout: "10 seconds" }).pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.orDie
  )

const stack = (server: DpopServer.DpopServer) =>
  Renewer.layer({ key: "default" }).pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provide(RenewalStrategy.refreshToken),
    Layer.provide(clientLayer(server)),
    Layer.provide(RenewalPolicy.layer({ retry: Schedule.stop }).pipe(Layer.orDie)),
    Layer.provideMerge(Dpop.layerNonces())
  )

const login = (server: DpopServer.DpopServer, key: Dpop.DpopKey) => {
  const minted = server.mint(key.jkt)
  return new Credentials.Credentials({
    accessToken: Redacted.make(minted.accessToken),
    refreshToken: Redacted.make(minted.refreshToken),
    tokenType: "DPoP",
    expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000),
    scope: "openid offline_access",
    dpop: key
  })
}

describe("AuthorizedClient with DPoP: what reaches the caller", () => {
  it.scopedLive("a logged response, its request and a ResponseError made from it render neither the proof nor the nonce", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      server.nonce.resource = "resource-nonce-SECRET"
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(login(server, key))
        const client = yield* AuthorizedClient.make().pipe(Effect.provide(FetchHttpClient.layer))
        const response = yield* client.execute(HttpClientRequest.get(`${server.url}/api/orders`)).pipe(Effect.orDie)
        const proof = server.requests.filter((r) => r.path === "/api/orders").at(-1)!.dpop!
        expect(proof.length).toBeGreaterThan(50)
        // the caller logs what it holds (the platform redacts headers when a logger renders them)
        const error = yield* Effect.flip(HttpClientResponse.filterStatus(response, (status) => status === 418))
        const lines: Array<string> = []
        const capture = Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ message }) => lines.push(inspect(message, { depth: 10 })))
        )
        yield* Effect.log(response.request, response, error).pipe(Effect.provide(capture))
        const text = lines.join("\n")
        // the access token is redacted (authorization is among the platform's redacted names) ...
        expect(text).not.toContain(Redacted.value((yield* renewer.get()).accessToken))
        // ... and so are the proof and the nonce, outside the send too
        expect(text).not.toContain(proof)
        expect(text).not.toContain("resource-nonce-SECRET")
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("a 401 invalid_dpop_proof (a clock 5 minutes ahead) is returned as it is: no renewal, no token request", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(login(server, key))
        const client = yield* AuthorizedClient.make().pipe(Effect.provide(FetchHttpClient.layer))
        // this machine's clock is 5 minutes ahead: every proof's iat is refused
        const real = yield* Effect.clock
        const ahead: Clock.Clock = {
          [Clock.ClockTypeId]: Clock.ClockTypeId,
          unsafeCurrentTimeMillis: () => real.unsafeCurrentTimeMillis() + 300_000,
          currentTimeMillis: Effect.map(real.currentTimeMillis, (now) => now + 300_000),
          unsafeCurrentTimeNanos: () => real.unsafeCurrentTimeNanos() + 300_000_000_000n,
          currentTimeNanos: Effect.map(real.currentTimeNanos, (now) => now + 300_000_000_000n),
          sleep: (duration) => real.sleep(duration)
        }
        const outcomes: Array<string> = []
        for (let i = 0; i < 3; i++) {
          const exit = yield* client.execute(HttpClientRequest.get(`${server.url}/api/orders`)).pipe(
            Effect.withClock(ahead),
            Effect.exit
          )
          outcomes.push(exit._tag === "Success" ? String(exit.value.status) : String(exit.cause))
        }
        const tokenCalls = server.requests.filter((r) => r.path === "/oauth/token").length
        // a new token cannot cure a refused proof: the API's 401, and no refresh-token request
        expect({ tokenCalls, outcomes }).toEqual({ tokenCalls: 0, outcomes: ["401", "401", "401"] })
      }).pipe(Effect.provide(stack(server)))
    }))
})
