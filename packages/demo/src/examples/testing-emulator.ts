/**
 * docs/testing.md: the Renewer against the in-memory emulator, driven by
 * TestClock.
 */
import { AuthError, Renewer } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

// --- expiry ---
describe("renewal", () => {
  it.effect("renews once the access token is within minTtl of expiry", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.login())

      yield* TestClock.adjust("59 minutes") // 1 hour tokens, 30s minTtl: still fresh
      yield* renewer.get()
      expect((yield* emulator.counters).requests.token).toBe(0)

      yield* TestClock.adjust("1 minute") // within minTtl of expiry
      yield* renewer.get()
      const counters = yield* emulator.counters
      expect(counters.requests.token).toBe(1)
      expect(counters.rotations).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))
})
// --- end expiry ---

// --- faults ---
describe("faults", () => {
  it.effect("rides out a 503 with Retry-After, then a reset connection", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.login())
      yield* TestClock.adjust("2 hours") // expired
      yield* emulator.faultOn("token", Emulator.Fault.status(503, { retryAfter: 5 }), Emulator.Fault.reset())

      // the renewal sleeps between attempts: fork it, move the clock, join it
      const fiber = yield* Effect.fork(renewer.get())
      yield* TestClock.adjust("10 seconds")
      const credentials = yield* Fiber.join(fiber)

      expect(credentials.isValidAt(yield* DateTime.now)).toBe(true)
      const log = yield* emulator.requests
      expect(log.map((entry) => entry.status)).toEqual([503, "reset", 200])
      expect(log.map((entry) => entry.fault)).toEqual(["Status", "Reset", undefined])
      expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(5000) // Retry-After: 5
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("invalid_grant requires a new login and drops the refresh token", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const renewer = yield* Renewer.Renewer
      const login = yield* Fixtures.login()
      yield* renewer.save(login)
      yield* emulator.revokeFamilyOf(Redacted.value(login.refreshToken!))

      const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
      expect(error._tag).toBe("LoginRequired")
      expect(AuthError.isInvalidGrant(error)).toBe(true)
      const next = yield* Effect.flip(renewer.get({ forceRefresh: true }))
      expect(next._tag === "LoginRequired" && next.reason).toBe("NoRefreshToken")
      expect((yield* emulator.counters).requests.token).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))
})
// --- end faults ---
