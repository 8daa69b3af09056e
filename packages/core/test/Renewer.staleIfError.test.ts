// Stale-if-error (opt-in): when a renewal fails transiently, credentials that
// have not expired may still be handed out, for a bounded time.
import { RenewalPolicy, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
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

/**
 * A memory store shared with "another process": `holdLocks` makes every
 * `withLock` wait (someone else holds the lock), `logoutElsewhere` empties
 * the session and tells the store's watchers.
 */
class Controlled extends Effect.Service<Controlled>()("test/StaleIfError/Controlled", {
  effect: Effect.gen(function*() {
    const underlying = yield* TokenStore.makeMemory
    const watchers = new Set<Effect.Effect<void>>()
    let held = false
    const store: TokenStore.TokenStore.Service = {
      ...underlying,
      withLock: (key, effect) => Effect.suspend(() => held ? Effect.never : underlying.withLock(key, effect)),
      watch: (_key, onChange) =>
        Effect.acquireRelease(
          Effect.sync(() => void watchers.add(onChange)),
          () => Effect.sync(() => void watchers.delete(onChange))
        )
    }
    return {
      store,
      holdLocks: Effect.sync(() => {
        held = true
      }),
      logoutElsewhere: Effect.zipRight(
        Effect.orDie(underlying.remove("default")),
        Effect.forEach(watchers, (onChange) => onChange, { discard: true })
      )
    }
  })
}) {}

const controlledLayer = (renewer: Renewer.Options) =>
  Fixtures.layerMemory({
    renewer,
    policy,
    store: Layer.effect(TokenStore.TokenStore, Effect.map(Controlled, (c) => c.store)).pipe(
      Layer.provide(Controlled.Default)
    )
  }).pipe(Layer.provideMerge(Controlled.Default))

// Logs in, makes the server unavailable, lets `elapsed` pass, then runs
// `get` while the TestClock moves past the policy's retry.
const failingRenewal = (elapsed: Duration.DurationInput, options?: Renewer.GetOptions) =>
  Effect.gen(function*() {
    const login = yield* loggedIn
    const renewer = yield* Renewer.Renewer
    yield* unavailable
    yield* TestClock.adjust(elapsed)
    const fiber = yield* Effect.fork(Effect.either(renewer.get(options)))
    yield* TestClock.adjust("2 seconds")
    return { login, got: yield* Fiber.join(fiber) }
  })

// 20 s left of a 1-hour token: under the default 30 s minTtl (stale for 10 s), not expired
const STALE = "3580 seconds"

describe("Renewer stale-if-error", () => {
  it.effect("hands out credentials that have not expired when the renewal fails transiently", () =>
    Effect.gen(function*() {
      const { got, login } = yield* failingRenewal(STALE)
      expect(Either.map(got, (c) => value(c.accessToken))).toEqual(Either.right(value(login.accessToken)))
      expect(yield* tokenRequests).toBe(2) // the renewal was tried, under the policy
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("is off by default: the failure is reported", () =>
    Effect.gen(function*() {
      const { got } = yield* failingRenewal(STALE)
      expect(Either.isLeft(got) && got.left._tag === "RenewalFailed" && got.left.reason).toBe("Transient")
    }).pipe(Effect.provide(layer())))

  it.effect("never hands out expired credentials", () =>
    Effect.gen(function*() {
      const { got } = yield* failingRenewal("1 hour")
      expect(Either.isLeft(got) && got.left._tag).toBe("RenewalFailed")
    }).pipe(Effect.provide(layer({ staleIfError: "1 hour" }))))

  it.effect("is bounded: not longer than staleIfError after the credentials went stale", () =>
    Effect.gen(function*() {
      // stale for 10 s: more than the 5 s allowed
      const { got } = yield* failingRenewal(STALE)
      expect(Either.isLeft(got) && got.left._tag).toBe("RenewalFailed")
    }).pipe(Effect.provide(layer({ staleIfError: "5 seconds" }))))

  it.effect("never hides a LoginRequired", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      yield* emulator.revokeFamilyOf(value(login.refreshToken)!)
      yield* TestClock.adjust(STALE)
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("RefreshTokenRejected")
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("never hands out what another process has logged out meanwhile (the store said it changed)", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const store = yield* Controlled
      yield* TestClock.adjust(STALE)
      // the renewal waits for a lock another process holds...
      yield* store.holdLocks
      const fiber = yield* Effect.fork(Effect.either(renewer.get()))
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      // ...which logs the user out, and the store says so
      yield* store.logoutElsewhere
      yield* TestClock.adjust("10 seconds") // the deadline
      const got = yield* Fiber.join(fiber)
      expect(Either.isLeft(got) && got.left._tag === "RenewalFailed" && got.left.reason).toBe("Deadline")
    }).pipe(Effect.provide(controlledLayer({ staleIfError: "1 minute" }))))

  it.effect("never answers a forced refresh (asked after an API rejected the token) with that token", () =>
    Effect.gen(function*() {
      const { got } = yield* failingRenewal(STALE, { forceRefresh: true })
      expect(Either.isLeft(got) && got.left._tag).toBe("RenewalFailed")
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("a get can ask for it, or turn it off", () =>
    Effect.gen(function*() {
      const { got: off } = yield* failingRenewal(STALE, { staleIfError: 0 })
      expect(Either.isLeft(off)).toBe(true)
      const renewer = yield* Renewer.Renewer
      const fiber = yield* Effect.fork(Effect.either(renewer.get({ staleIfError: "1 minute" })))
      yield* TestClock.adjust("2 seconds")
      expect(Either.isRight(yield* Fiber.join(fiber))).toBe(true)
    }).pipe(Effect.provide(layer({ staleIfError: "1 minute" }))))

  it.effect("a bad staleIfError is an InvalidRequest", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get({ staleIfError: -1 }))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("InvalidRequest")
    }).pipe(Effect.provide(layer())))
})
