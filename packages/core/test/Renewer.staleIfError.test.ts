// Stale-if-error (opt-in): when a renewal fails transiently, credentials that
// have not expired may still be handed out, for a bounded time.
import { RenewalPolicy, Renewer } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login()
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
  return credentials
})

// one retry a second later; the default minTtl is 30 seconds
const policy: RenewalPolicy.Options = {
  retry: RenewalPolicy.exponentialBackoff({ base: "1 second", max: "1 second", retries: 1 }),
  deadline: "10 seconds"
}

const layer = (renewer: Renewer.Options = {}) => Fixtures.layerMemory({ renewer, policy })

const unavailable = Effect.flatMap(
  Emulator.Emulator,
  (emulator) => emulator.faultOn("token", ...Array.from({ length: 10 }, () => Emulator.Fault.status(503)))
)

// runs a get while the TestClock moves past the policy's retry
const getWhileRetrying = (get: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.either(get))
    yield* TestClock.adjust("2 seconds")
    return yield* Fiber.join(fiber)
  })

describe("Renewer stale-if-error", () => {
  it.effect("hands out credentials that have not expired when the renewal fails transiently", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* unavailable
      yield* TestClock.adjust("3580 seconds") // 20 s left: under minTtl, not expired
      const got = yield* getWhileRetrying(renewer.get())
      expect(got._tag).toBe("Right")
      expect(got._tag === "Right" && value((got.right as typeof login).accessToken)).toBe(value(login.accessToken))
      expect(yield* tokenRequests).toBe(2) // the renewal was tried, under the policy
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("is off by default: the failure is reported", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* unavailable
      yield* TestClock.adjust("3580 seconds")
      const got = yield* getWhileRetrying(renewer.get())
      expect(got._tag === "Left" && (got.left as { reason: string }).reason).toBe("Transient")
    }).pipe(Effect.provide(layer())))

  it.effect("never hands out expired credentials", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* unavailable
      yield* TestClock.adjust("1 hour")
      const got = yield* getWhileRetrying(renewer.get())
      expect(got._tag === "Left" && (got.left as { _tag: string })._tag).toBe("RenewalFailed")
    }).pipe(Effect.provide(layer({ staleIfError: "1 hour" }))))

  it.effect("is bounded: not longer than staleIfError after the credentials went stale", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* unavailable
      // stale (under the 30 s minTtl) for 10 s: more than the 5 s allowed
      yield* TestClock.adjust("3580 seconds")
      const got = yield* getWhileRetrying(renewer.get())
      expect(got._tag === "Left" && (got.left as { _tag: string })._tag).toBe("RenewalFailed")
    }).pipe(Effect.provide(layer({ staleIfError: "5 seconds" }))))

  it.effect("never hides a LoginRequired", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      yield* emulator.revokeFamilyOf(value(login.refreshToken)!)
      yield* TestClock.adjust("3580 seconds")
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("RefreshTokenRejected")
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("a get can ask for it, or turn it off", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* unavailable
      yield* TestClock.adjust("3580 seconds")
      const off = yield* getWhileRetrying(renewer.get({ staleIfError: 0 }))
      expect(off._tag).toBe("Left")
      const on = yield* getWhileRetrying(renewer.get({ staleIfError: "1 minute" }))
      expect(on._tag === "Right" && value((on.right as typeof login).accessToken)).toBe(value(login.accessToken))
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("a bad staleIfError is an InvalidRequest", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get({ staleIfError: -1 }))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("InvalidRequest")
    }).pipe(Effect.provide(layer())))
})
