import { AuthorizedClient, Renewer } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

// A protected API: it answers 401 to the tokens the test has revoked, after
// an optional delay, and records the bearer token of every request.
const makeApi = (options: { readonly delay?: Duration.DurationInput } = {}) => {
  const rejected = new Set<string>()
  const seen: Array<string> = []
  const client = HttpClient.make((request) =>
    Effect.gen(function*() {
      const token = (request.headers["authorization"] ?? "").replace(/^Bearer /, "")
      seen.push(token)
      if (options.delay !== undefined) yield* Effect.sleep(options.delay)
      const status = token.length > 0 && !rejected.has(token) ? 200 : 401
      return HttpClientResponse.fromWeb(request, new Response(status === 200 ? "ok" : null, { status }))
    })
  )
  return { client, rejected, seen }
}

const authorized = (api: ReturnType<typeof makeApi>) =>
  AuthorizedClient.make().pipe(Effect.provideService(HttpClient.HttpClient, api.client))

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login()
  yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.save(credentials))
  return Redacted.value(credentials.accessToken)
})

const call = (client: HttpClient.HttpClient.With<unknown>) =>
  client.execute(HttpClientRequest.get("https://api.example.com/orders")).pipe(Effect.map((r) => r.status))

describe("AuthorizedClient", () => {
  it.effect("sends the Renewer's access token as a bearer token", () =>
    Effect.gen(function*() {
      const token = yield* loggedIn
      const api = makeApi()
      expect(yield* call(yield* authorized(api))).toBe(200)
      expect(api.seen).toEqual([token])
      expect(yield* tokenRequests).toBe(0)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("on a 401, renews once and retries with the new token", () =>
    Effect.gen(function*() {
      const token = yield* loggedIn
      const api = makeApi()
      api.rejected.add(token)
      expect(yield* call(yield* authorized(api))).toBe(200)
      expect(api.seen.length).toBe(2)
      expect(api.seen[0]).toBe(token)
      expect(api.seen[1]).not.toBe(token)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a second 401 is returned as it is: one renewal, no loop", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const rejectEverything = HttpClient.make((request) =>
        Effect.succeed(HttpClientResponse.fromWeb(request, new Response(null, { status: 401 })))
      )
      const client = yield* AuthorizedClient.make().pipe(Effect.provideService(HttpClient.HttpClient, rejectEverything))
      expect(yield* call(client)).toBe(401)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a 401 renews only for invalid_token or a challenge without an error; any other error is returned", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const outcome = (challenge: string | undefined) =>
        Effect.gen(function*() {
          const before = yield* tokenRequests
          const answer = HttpClient.make((request) =>
            Effect.succeed(HttpClientResponse.fromWeb(
              request,
              new Response(null, {
                status: 401,
                headers: challenge === undefined ? {} : { "www-authenticate": challenge }
              })
            ))
          )
          const client = yield* AuthorizedClient.make().pipe(Effect.provideService(HttpClient.HttpClient, answer))
          const status = yield* call(client)
          return { status, renewals: (yield* tokenRequests) - before }
        })
      expect(yield* outcome(undefined)).toEqual({ status: 401, renewals: 1 })
      expect(yield* outcome(`Bearer realm="api"`)).toEqual({ status: 401, renewals: 1 })
      expect(yield* outcome(`Bearer error="invalid_token", error_description="expired"`)).toEqual({
        status: 401,
        renewals: 1
      })
      expect(yield* outcome(`Bearer realm="api", error=invalid_request`)).toEqual({ status: 401, renewals: 0 })
      expect(yield* outcome(`Bearer error="insufficient_scope", scope="write"`)).toEqual({ status: 401, renewals: 0 })
      expect(yield* outcome(`DPoP error="invalid_dpop_proof", algs="ES256"`)).toEqual({ status: 401, renewals: 0 })
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("renews only if the rejected token is still the current one", () =>
    Effect.gen(function*() {
      const token = yield* loggedIn
      const api = makeApi({ delay: "1 second" })
      api.rejected.add(token)
      const client = yield* authorized(api)
      const first = yield* Effect.fork(call(client))
      yield* TestClock.adjust("500 millis")
      const second = yield* Effect.fork(call(client)) // sent with the same token, rejected later
      yield* TestClock.adjust("500 millis") // the first is rejected and renews
      yield* TestClock.adjust("500 millis") // the second is rejected: the token was already replaced
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(first)).toBe(200)
      expect(yield* Fiber.join(second)).toBe(200)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a failed renewal is a typed error of the request", () =>
    Effect.gen(function*() {
      const api = makeApi()
      const error = yield* Effect.flip(call(yield* authorized(api)))
      expect(error).toMatchObject({ _tag: "LoginRequired", reason: "NoCredentials" })
      expect(api.seen).toEqual([])
    }).pipe(Effect.provide(Fixtures.layerMemory())))
})
