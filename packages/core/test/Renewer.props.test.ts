import { Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

// Any JSON value for the other fields of a 200 answer, valid or not.
const anything = fc.oneof(fc.jsonValue(), fc.constant(undefined))
const body = fc.record({
  refresh_token: fc.string({ minLength: 1, maxLength: 40 }).map((s) => `rt-${s}`),
  access_token: fc.oneof(fc.string({ maxLength: 20 }), anything),
  token_type: fc.oneof(fc.constantFrom("Bearer", "bearer", "DPoP", "MAC", ""), anything),
  expires_in: fc.oneof(fc.constantFrom(3600, "3600", -1, 0, 1e300, "soon"), anything),
  scope: fc.oneof(fc.constantFrom("openid offline_access"), anything),
  id_token: anything
}, { requiredKeys: ["refresh_token"] })

describe("Renewer against hostile answers", () => {
  it.effect.prop(
    "a refresh token in a 200 answer is never lost, whatever else the answer holds",
    [body],
    ([answer]) =>
      Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(yield* Fixtures.login())
        yield* TestClock.adjust("2 hours")
        const emulator = yield* Emulator.Emulator
        yield* emulator.faultOn("token", Emulator.Fault.body(200, JSON.stringify(answer)))
        const exit = yield* Effect.exit(renewer.get())
        // a typed failure or credentials, never a defect
        if (Exit.isFailure(exit)) {
          expect(Cause.isDie(exit.cause)).toBe(false)
          expect(["LoginRequired", "RenewalFailed", "StoreError"]).toContain(
            Option.getOrThrow(Cause.failureOption(exit.cause))._tag
          )
        }
        const stored = Option.getOrThrow(yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.get("default")))
        expect(Redacted.value(stored.refreshToken!)).toBe(answer.refresh_token)
      }).pipe(Effect.provide(Layer.fresh(Fixtures.layerMemory({ emulator: { rotation: true } })))),
    { fastCheck: { numRuns: 150 } }
  )

  it.effect("callers interrupted at every moment of a renewal never lose a rotated refresh token", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      yield* renewer.save(yield* Fixtures.login())
      for (let round = 0; round < 30; round++) {
        yield* TestClock.adjust("2 hours")
        yield* emulator.faultOn("token", Emulator.Fault.latency(`${round * 100} millis`))
        const callers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(renewer.get()))
        // interrupt them at a different moment each round, some before the request is sent
        yield* TestClock.adjust(`${(round % 7) * 50} millis`)
        yield* Effect.forEach(callers, Fiber.interrupt)
        yield* TestClock.adjust("5 seconds")
      }
      // every rotation was saved: the stored refresh token is the live one, and nothing was reused
      yield* TestClock.adjust("2 hours")
      yield* renewer.get()
      const counters = yield* emulator.counters
      expect(counters.reuseDetections).toBe(0)
      expect(counters.revokedFamilies).toBe(0)
    }).pipe(Effect.provide(Fixtures.layerMemory({ emulator: { rotation: true, reuseInterval: "0 seconds" } }))))
})
