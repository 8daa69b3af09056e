/**
 * docs/testing.md: test doubles from Fixtures.
 */
import { AuthError, Credentials, Renewer, TokenStore } from "@effect-renewal/core"
import { Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

// --- renewerSucceeding ---
// Code under test: needs a Renewer, not a server.
const authorizationHeader = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  const credentials = yield* renewer.get()
  return `${credentials.tokenType} ${Redacted.value(credentials.accessToken)}`
})

describe("authorizationHeader", () => {
  it.effect("uses the current access token", () =>
    Effect.gen(function*() {
      const credentials = yield* Fixtures.credentials({ accessToken: "abc" })
      const header = yield* authorizationHeader.pipe(Effect.provide(Fixtures.renewerSucceeding(credentials)))
      expect(header).toBe("Bearer abc")
    }))
})
// --- end renewerSucceeding ---

// --- strategyFrom ---
// The real Renewer over a memory store, with a strategy that fails as a
// server would: 3 times 503, then a success.
const flakyStrategy = (attempts: { count: number }) =>
  Fixtures.strategyFrom((current) =>
    Effect.suspend(() => {
      attempts.count++
      return attempts.count <= 3
        ? Effect.fail(new AuthError.AuthApiError({ status: 503, code: "temporarily_unavailable", description: "busy" }))
        : Fixtures.credentials({ accessToken: `renewed-${attempts.count}`, ttl: "1 hour" }).pipe(
          Effect.map((renewed) => Credentials.merge(current, renewed))
        )
    })
  )

describe("Renewer with a scripted strategy", () => {
  it.effect("retries transient failures, then saves the result", () => {
    const attempts = { count: 0 }
    return Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.credentials({ refreshToken: "rt", ttl: "10 seconds" }))
      const fiber = yield* Effect.fork(renewer.get()) // 10s left < 30s minTtl: renews
      yield* TestClock.adjust("30 seconds") // the backoff sleeps
      const credentials = yield* Fiber.join(fiber)
      expect(Redacted.value(credentials.accessToken)).toBe("renewed-4")
      expect(attempts.count).toBe(4)
    }).pipe(
      Effect.provide(Renewer.layer().pipe(Layer.provide([TokenStore.layerMemory, flakyStrategy(attempts)])))
    )
  })
})
// --- end strategyFrom ---
