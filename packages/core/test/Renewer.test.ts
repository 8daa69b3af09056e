import { AuthError, Credentials, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

const Fault = Emulator.Fault

// Logs in at the emulator and saves the login through the Renewer.
const loggedIn = (options?: Emulator.Emulator.LoginOptions) =>
  Effect.gen(function*() {
    const credentials = yield* Fixtures.login(options)
    const renewer = yield* Renewer.Renewer
    yield* renewer.save(credentials)
    return credentials
  })

const stored = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("default")).pipe(
  Effect.map(Option.getOrThrow)
)

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

const HOUR = Duration.hours(1)

describe("Renewer", () => {
  it.effect("hands out stored credentials while they are valid, without a request", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const got = yield* renewer.get()
      expect(value(got.accessToken)).toBe(value(login.accessToken))
      expect(yield* tokenRequests).toBe(0)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("fails with LoginRequired when nothing is stored", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag).toBe("LoginRequired")
      expect(error._tag === "LoginRequired" && error.reason).toBe("NoCredentials")
      expect(yield* tokenRequests).toBe(0)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("expiry counts from the local receipt time minus minTtl", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour") // the receipt time is not the epoch
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      // default minTtl of the policy: 30 seconds
      yield* TestClock.adjust(Duration.subtract(HOUR, Duration.seconds(31)))
      yield* renewer.get()
      expect(yield* tokenRequests).toBe(0)
      // a larger minTtl asked by the caller renews now
      const renewed = yield* renewer.get({ minTtl: "5 minutes" })
      expect(yield* tokenRequests).toBe(1)
      expect(value(renewed.accessToken)).not.toBe(value(login.accessToken))
      // the renewed credentials expire one lifetime after their receipt
      const now = yield* DateTime.now
      expect(DateTime.toEpochMillis(renewed.expiresAt)).toBe(DateTime.toEpochMillis(now) + Duration.toMillis(HOUR))
      yield* TestClock.adjust(Duration.subtract(HOUR, Duration.seconds(29)))
      yield* renewer.get()
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("renewals ask for the scope of the first login; another scope renews for that scope", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid email offline_access" })
      const renewer = yield* Renewer.Renewer
      const forced = yield* renewer.get({ forceRefresh: true })
      expect(Credentials.sameScope(forced.scope, "openid email offline_access")).toBe(true)
      // the same scope in another order is the same scope: no renewal
      yield* renewer.get({ scope: "offline_access  email openid" })
      expect(yield* tokenRequests).toBe(1)
      const narrow = yield* renewer.get({ scope: "openid offline_access" })
      expect(yield* tokenRequests).toBe(2)
      expect(Credentials.sameScope(narrow.scope, "openid offline_access")).toBe(true)
      // API credentials never carry the refresh token: the store still holds the
      // first login's scope, with the refresh token rotated by that renewal
      expect(narrow.refreshToken).toBeUndefined()
      const kept = yield* stored
      expect(Credentials.sameScope(kept.scope, "openid email offline_access")).toBe(true)
      expect(value(kept.refreshToken)).not.toBe(value(forced.refreshToken))
      expect(yield* Effect.flatMap(Emulator.Emulator, (e) => e.isRevoked(value(kept.refreshToken)!))).toBe(false)
      const later = yield* renewer.get({ forceRefresh: true })
      expect(Credentials.sameScope(later.scope, "openid email offline_access")).toBe(true)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("1,000 concurrent gets on expired credentials make one request and share its result", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const renewer = yield* Renewer.Renewer
      const results = yield* Effect.all(Array.from({ length: 1000 }, () => renewer.get()), {
        concurrency: "unbounded"
      })
      expect(yield* tokenRequests).toBe(1)
      expect(new Set(results.map((c) => value(c.accessToken))).size).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a failure is not cached: the next caller tries again", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.status(400, { error: "invalid_request", description: "bad" }))
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag).toBe("RenewalFailed")
      const ok = yield* renewer.get()
      expect(ok.isValidAt(yield* DateTime.now)).toBe(true)
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("interrupting the only caller interrupts neither the renewal in flight nor its save", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      // the emulator rotates at once, and holds the response for 5 seconds
      yield* emulator.faultOn("token", Fault.latency("5 seconds"))
      const renewer = yield* Renewer.Renewer
      const caller = yield* Effect.fork(renewer.get())
      yield* TestClock.adjust("1 second")
      expect((yield* emulator.counters).rotations).toBe(1)
      yield* Fiber.interrupt(caller)
      yield* TestClock.adjust("10 seconds")
      const saved = yield* stored
      expect(value(saved.refreshToken)).not.toBe(value(login.refreshToken))
      expect(yield* emulator.isRevoked(value(saved.refreshToken)!)).toBe(false)
      // the saved rotation is usable: the next renewal succeeds
      const next = yield* renewer.get({ forceRefresh: true })
      expect(next.isValidAt(yield* DateTime.now)).toBe(true)
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("rotation: a new refresh token replaces the stored one", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const renewed = yield* renewer.get({ forceRefresh: true })
      expect(value(renewed.refreshToken)).not.toBe(value(login.refreshToken))
      expect(value((yield* stored).refreshToken)).toBe(value(renewed.refreshToken))
    }).pipe(Effect.provide(Fixtures.layerMemory({ emulator: { rotation: true } }))))

  it.effect("no rotation: a response without refresh_token keeps the stored one", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const renewed = yield* renewer.get({ forceRefresh: true })
      expect(value(renewed.refreshToken)).toBe(value(login.refreshToken))
      expect(value((yield* stored).refreshToken)).toBe(value(login.refreshToken))
      expect(value((yield* stored).accessToken)).toBe(value(renewed.accessToken))
    }).pipe(Effect.provide(Fixtures.layerMemory({ emulator: { rotation: false } }))))

  it.effect("saves before returning; a failed save reports the new credentials inside the error", () => {
    let failWrites = false
    const flakyStore = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (store) => ({
        ...store,
        set: (key: string, credentials: Credentials.Credentials) =>
          failWrites
            ? Effect.fail(new AuthError.StoreError({ operation: "set", key, description: "disk full" }))
            : store.set(key, credentials)
      }))
    )
    return Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const first = yield* renewer.get({ forceRefresh: true })
      expect(value((yield* stored).accessToken)).toBe(value(first.accessToken))
      failWrites = true
      const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
      expect(error._tag).toBe("StoreError")
      const unsaved = error._tag === "StoreError" ? error.unsaved : undefined
      expect(unsaved).toBeDefined()
      expect(value(unsaved!.refreshToken)).not.toBe(value(first.refreshToken))
      expect(value(unsaved!.refreshToken)).not.toBe(value(login.refreshToken))
      const emulator = yield* Emulator.Emulator
      expect(yield* emulator.isRevoked(value(unsaved!.refreshToken)!)).toBe(false)
      expect(error.message).not.toContain(value(unsaved!.refreshToken)!)
      expect(JSON.stringify(error)).not.toContain(value(unsaved!.refreshToken)!)
    }).pipe(
      Effect.provide(Fixtures.layerMemory({ store: flakyStore }))
    )
  })

  it.effect("a minTtl at or above the lifetime fails clearly after saving, and does not renew on every call", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get({ minTtl: "2 minutes" }))
      expect(error._tag).toBe("RenewalFailed")
      expect(error._tag === "RenewalFailed" && error.reason).toBe("TtlUnreachable")
      expect(error.message).toContain("minTtl")
      expect(yield* tokenRequests).toBe(1)
      expect(value((yield* stored).refreshToken)).not.toBe(value(login.refreshToken))
      const again = yield* Effect.flip(renewer.get({ minTtl: "2 minutes" }))
      expect(again._tag === "RenewalFailed" && again.reason).toBe("TtlUnreachable")
      expect(yield* tokenRequests).toBe(1)
      // a reachable minTtl still works
      const ok = yield* renewer.get({ minTtl: "10 seconds" })
      expect(ok.isValidAt(yield* DateTime.now, "10 seconds")).toBe(true)
    }).pipe(
      Effect.provide(Fixtures.layerMemory({
        emulator: { accessTokenLifetime: "1 minute" },
        policy: { minTtl: "5 seconds" }
      }))
    ))

  it.effect("transient failures are retried per policy, honouring Retry-After", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.status(503, { retryAfter: 7 }), Fault.reset())
      const renewer = yield* Renewer.Renewer
      const fiber = yield* Effect.fork(renewer.get())
      yield* TestClock.adjust("6 seconds")
      expect(yield* tokenRequests).toBe(1)
      yield* TestClock.adjust("2 seconds")
      yield* TestClock.adjust("30 seconds")
      const got = yield* Fiber.join(fiber)
      expect(got.isValidAt(yield* DateTime.now)).toBe(true)
      const log = (yield* emulator.requests).filter((r) => r.endpoint === "token")
      expect(log.map((r) => r.status)).toEqual([503, "reset", 200])
      expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(7000)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("definitive errors are never retried", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.status(401, { error: "unauthorized_client", format: "auth0" }))
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag).toBe("RenewalFailed")
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("exhausted transient failures give RenewalFailed and leave the stored credentials untouched", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", ...Array.from({ length: 10 }, () => Fault.html(502)))
      const renewer = yield* Renewer.Renewer
      const fiber = yield* Effect.fork(Effect.flip(renewer.get()))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("RenewalFailed")
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Transient")
      expect(AuthError.isTransient(error._tag === "RenewalFailed" ? error.cause : undefined)).toBe(true)
      expect(yield* tokenRequests).toBe(5) // one attempt and 4 retries
      const kept = yield* stored
      expect(value(kept.refreshToken)).toBe(value(login.refreshToken))
      expect(value(kept.accessToken)).toBe(value(login.accessToken))
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a hung server: callers go at attemptTimeout and the deadline, the request only at abandonAfter, nothing is lost", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.hang())
      const renewer = yield* Renewer.Renewer
      const first = yield* Effect.fork(Effect.flip(renewer.get()))
      yield* TestClock.adjust("4 seconds")
      const error = yield* Fiber.join(first)
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Transient")
      expect(AuthError.isNetworkError(error)).toBe(true)
      // the hung request still holds the lock: no second request with the same refresh token,
      // and the next caller is released at its own deadline
      const second = yield* Effect.fork(Effect.flip(renewer.get()))
      yield* TestClock.adjust("10 seconds")
      const late = yield* Fiber.join(second)
      expect(late._tag === "RenewalFailed" && late.reason).toBe("Deadline")
      expect(yield* tokenRequests).toBe(1)
      expect(value((yield* stored).refreshToken)).toBe(value(login.refreshToken))
      // abandoned after a minute: the next renewal goes through
      yield* TestClock.adjust("50 seconds")
      const third = yield* Effect.fork(renewer.get())
      yield* TestClock.adjust("1 second")
      const got = yield* Fiber.join(third)
      expect(got.isValidAt(yield* DateTime.now)).toBe(true)
      expect(yield* tokenRequests).toBe(2)
    }).pipe(
      Effect.provide(
        Fixtures.layerMemory({
          policy: { attemptTimeout: "4 seconds", deadline: "10 seconds", abandonAfter: "1 minute" }
        })
      )
    ))

  it.effect("an answer after the deadline is still saved: callers were released, the rotation is not lost", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.latency("25 seconds"))
      const renewer = yield* Renewer.Renewer
      const caller = yield* Effect.fork(Effect.flip(renewer.get()))
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(caller)
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Deadline")
      yield* TestClock.adjust("15 seconds")
      const saved = yield* stored
      expect(value(saved.refreshToken)).not.toBe(value(login.refreshToken))
      expect(value((yield* renewer.get()).accessToken)).toBe(value(saved.accessToken))
      const counters = yield* emulator.counters
      expect(counters.requests.token).toBe(1)
      expect(counters.reuseDetections).toBe(0)
    }).pipe(
      Effect.provide(
        Fixtures.layerMemory({
          emulator: { rotation: true, reuseInterval: "0 seconds" },
          // no attempt timeout before the deadline: the callers are released by the deadline
          policy: { attemptTimeout: "1 minute", deadline: "10 seconds" }
        })
      )
    ))

  it.effect("an answer slower than attemptTimeout is still saved: no second request, no reuse", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.latency("15 seconds"))
      const renewer = yield* Renewer.Renewer
      const caller = yield* Effect.fork(Effect.flip(renewer.get()))
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(caller))._tag).toBe("RenewalFailed")
      yield* TestClock.adjust("5 seconds")
      const saved = yield* stored
      expect(value(saved.refreshToken)).not.toBe(value(login.refreshToken))
      const got = yield* renewer.get()
      expect(value(got.accessToken)).toBe(value(saved.accessToken))
      const counters = yield* emulator.counters
      expect(counters.requests.token).toBe(1)
      expect(counters.reuseDetections).toBe(0)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a Retry-After beyond the deadline fails at once, with the server's answer as the cause", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.status(429, { retryAfter: 45 }))
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Transient")
      expect(AuthError.isRateLimited(error)).toBe(true)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory({ policy: { deadline: "30 seconds", maxRetryAfter: "1 minute" } }))))

  it.effect("a get after the layer's scope is closed fails instead of hanging", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Fixtures.layerMemory(), scope)
      const renewer = Context.get(context, Renewer.Renewer)
      yield* renewer.save(yield* Fixtures.login().pipe(Effect.provide(context)))
      yield* TestClock.adjust("2 hours")
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Shutdown")
    }))

  it.effect("a caller interrupted while it starts a renewal does not leave later callers waiting forever", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const expired = new Credentials.Credentials({ ...login, expiresAt: DateTime.unsafeMake(0) }, true)
      const spin = (n: number): Effect.Effect<void> =>
        n <= 0 ? Effect.void : Effect.flatMap(Effect.void, () => spin(n - 1))
      // interrupt a caller at each point of the start of a renewal: with few ops
      // before a yield, one of them lands between registering the flight and
      // watching its fiber
      for (let k = 0; k < 120; k++) {
        yield* renewer.save(expired)
        const caller = yield* Effect.fork(Effect.zipRight(spin(k), renewer.get()))
        yield* Effect.yieldNow()
        yield* Fiber.interruptFork(caller)
        yield* TestClock.adjust("1 second")
      }
      yield* renewer.save(expired)
      const later = yield* Effect.fork(renewer.get())
      yield* TestClock.adjust("5 minutes")
      expect(Option.isSome(yield* Fiber.poll(later))).toBe(true)
    }).pipe(Effect.withMaxOpsBeforeYield(64), Effect.provide(Fixtures.layerMemory({ emulator: { rotation: false } }))))

  it.effect("an interrupted clear still leaves the renewer knowing the store is empty", () => {
    const slowRemove = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (store) => ({
        ...store,
        // the entry is gone at once; the call returns later (like a directory sync)
        remove: (key: string) =>
          Effect.flatMap(store.get(key), (entry) =>
            Option.isSome(entry)
              ? Effect.zipRight(store.remove(key), Effect.sleep("1 second"))
              : store.remove(key))
      }))
    )
    return Effect.gen(function*() {
      yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const clearing = yield* Effect.fork(renewer.clear())
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interruptFork(clearing)
      yield* TestClock.adjust("2 seconds")
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("NoCredentials")
    }).pipe(Effect.provide(Fixtures.layerMemory({ store: slowRemove })))
  })

  it.effect("credentials for another scope are kept in memory: repeated gets make one request", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid email offline_access" })
      const renewer = yield* Renewer.Renewer
      for (let i = 0; i < 5; i++) yield* renewer.get({ scope: "openid offline_access" })
      expect(yield* tokenRequests).toBe(1)
      // a new login forgets them
      yield* loggedIn({ scope: "openid email offline_access" })
      yield* renewer.get({ scope: "openid offline_access" })
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("concurrent gets whose minTtl cannot be met for another scope still make one request", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid email offline_access" })
      const renewer = yield* Renewer.Renewer
      const results = yield* Effect.all(
        Array.from(
          { length: 20 },
          () => Effect.either(renewer.get({ scope: "openid offline_access", minTtl: "2 hours" }))
        ),
        { concurrency: "unbounded" }
      )
      expect(results.every((r) => r._tag === "Left")).toBe(true)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("invalid_grant gives LoginRequired and removes the refresh token", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const emulator = yield* Emulator.Emulator
      yield* emulator.revokeFamilyOf(value(login.refreshToken)!)
      yield* TestClock.adjust("2 hours")
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag).toBe("LoginRequired")
      expect(AuthError.isInvalidGrant(error)).toBe(true)
      expect(AuthError.isLoginRequired(error)).toBe(true)
      expect((yield* stored).refreshToken).toBeUndefined()
      for (const text of [error.message, String(error), JSON.stringify(error)]) {
        expect(text).not.toContain(value(login.refreshToken)!)
      }
      const next = yield* Effect.flip(renewer.get())
      expect(next._tag === "LoginRequired" && next.reason).toBe("NoRefreshToken")
      expect(yield* tokenRequests).toBe(1)
      expect(yield* renewer.hasValid()).toBe(false)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("reuse of a rotated-out refresh token revokes the family and requires a login", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      yield* renewer.get({ forceRefresh: true })
      // a stale copy of the first login comes back (e.g. restored from a backup)
      yield* renewer.save(login)
      const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
      expect(error._tag).toBe("LoginRequired")
      const emulator = yield* Emulator.Emulator
      const counters = yield* emulator.counters
      expect(counters.reuseDetections).toBe(1)
      expect(counters.revokedFamilies).toBe(1)
      expect((yield* stored).refreshToken).toBeUndefined()
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("clear({ revoke: true }) revokes the refresh token and empties the store", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      expect(yield* renewer.hasValid()).toBe(true)
      yield* renewer.clear({ revoke: true })
      const emulator = yield* Emulator.Emulator
      expect(yield* emulator.isRevoked(value(login.refreshToken)!)).toBe(true)
      expect(yield* renewer.hasValid()).toBe(false)
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("NoCredentials")
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("changes streams the current state, then every save, renewal and clear", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const subscribed = yield* Deferred.make<void>()
      const collected = yield* renewer.changes.pipe(
        Stream.tap(() => Deferred.succeed(subscribed, void 0)),
        Stream.take(4),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(subscribed)
      const login = yield* loggedIn()
      const renewed = yield* renewer.get({ forceRefresh: true })
      yield* renewer.clear()
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      expect(events.map((e) => Option.map(e, (c) => value(c.accessToken)))).toEqual([
        Option.none(),
        Option.some(value(login.accessToken)),
        Option.some(value(renewed.accessToken)),
        Option.none()
      ])
    }).pipe(Effect.provide(Fixtures.layerMemory())))
})

describe("Renewer edge cases", () => {
  it.effect("a caller that joins a renewal gets credentials meeting its own minTtl", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const renewer = yield* Renewer.Renewer
      const [demanding, modest] = yield* Effect.all([
        Effect.either(renewer.get({ minTtl: "2 minutes" })),
        Effect.either(renewer.get())
      ], { concurrency: "unbounded" })
      expect(demanding._tag === "Left" && demanding.left._tag === "RenewalFailed" && demanding.left.reason)
        .toBe("TtlUnreachable")
      expect(modest._tag).toBe("Right")
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory({ emulator: { accessTokenLifetime: "1 minute" } }))))

  it.effect("after a save, the lifetime remembered from earlier renewals is forgotten", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      yield* Effect.flip(renewer.get({ minTtl: "2 minutes" }))
      expect(yield* tokenRequests).toBe(1)
      yield* loggedIn() // a new login
      yield* Effect.flip(renewer.get({ minTtl: "2 minutes" }))
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(Fixtures.layerMemory({ emulator: { accessTokenLifetime: "1 minute" } }))))

  it.effect("a hasValid read that overlaps a renewal does not bring back the replaced credentials", () => {
    let slowReads = false
    const slowStore = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (store) => ({
        ...store,
        get: (key: string) =>
          Effect.flatMap(
            store.get(key),
            (found) => slowReads ? Effect.as(Effect.sleep("1 second"), found) : Effect.succeed(found)
          )
      }))
    )
    return Effect.gen(function*() {
      const login = yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      slowReads = true
      const check = yield* Effect.fork(renewer.hasValid())
      yield* Effect.yieldNow()
      slowReads = false
      const renewed = yield* renewer.get({ forceRefresh: true })
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(check)
      const got = yield* renewer.get()
      expect(value(got.accessToken)).toBe(value(renewed.accessToken))
      expect(value(got.accessToken)).not.toBe(value(login.accessToken))
    }).pipe(
      Effect.provide(Fixtures.layerMemory({ store: slowStore }))
    )
  })

  it.effect("a short lifetime seen for another scope does not stop renewals of the login's scope", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.credentials({ refreshToken: "r", scope: "openid email", ttl: "0 millis" }))
      const scoped = yield* Effect.flip(renewer.get({ scope: "openid", minTtl: "2 minutes" }))
      expect(scoped._tag === "RenewalFailed" && scoped.reason).toBe("TtlUnreachable")
      const got = yield* renewer.get({ minTtl: "2 minutes" })
      expect(got.ttl(yield* DateTime.now)).toEqual(Duration.hours(1))
    }).pipe(
      Effect.provide(
        Renewer.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provideMerge(
            Fixtures.strategyFrom((current, { scope }) =>
              Fixtures.credentials({ ttl: Credentials.sameScope(scope, current.scope) ? "1 hour" : "1 minute" })
                .pipe(Effect.map((next) => Credentials.merge(current, next)))
            )
          )
        )
      )
    ))

  it.effect("an entry that cannot be read does not block clear", () => {
    const unreadable = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (store) => ({
        ...store,
        get: (key: string) => Effect.fail(new AuthError.StoreError({ operation: "decode", key, description: "bad" }))
      }))
    )
    return Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      yield* renewer.clear()
      const error = yield* Effect.flip(renewer.clear({ revoke: true }))
      expect(error._tag).toBe("RenewalFailed")
      expect(error.message).toContain("removed locally")
    }).pipe(
      Effect.provide(Fixtures.layerMemory({ store: unreadable }))
    )
  })

  it.effect("changes also reports what a read of the store finds changed by someone else", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const strategy = yield* RenewalStrategy.RenewalStrategy
      const other = yield* Renewer.make().pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(RenewalStrategy.RenewalStrategy, strategy)
      )
      const renewer = yield* Renewer.Renewer
      const login = yield* loggedIn()
      const seen = yield* renewer.changes.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toReadonlyArray(seen).map(Option.map((c) => value(c.accessToken)))).toEqual([
        Option.some(value(login.accessToken))
      ])
      const renewed = yield* other.get({ forceRefresh: true })
      const subscribed = yield* Deferred.make<void>()
      const next = yield* renewer.changes.pipe(
        Stream.tap(() => Deferred.succeed(subscribed, void 0)),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(subscribed)
      expect(yield* renewer.hasValid()).toBe(true)
      const events = Chunk.toReadonlyArray(yield* Fiber.join(next))
      expect(Option.map(events[1]!, (c) => value(c.accessToken))).toEqual(Option.some(value(renewed.accessToken)))
    }).pipe(Effect.scoped, Effect.provide(Fixtures.layerMemory())))

  it.effect("a renewal for another scope that keeps the refresh token writes nothing", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid email" })
      const renewer = yield* Renewer.Renewer
      const subscribed = yield* Deferred.make<void>()
      const events = yield* renewer.changes.pipe(
        Stream.tap(() => Deferred.succeed(subscribed, void 0)),
        Stream.interruptWhen(Effect.sleep("1 minute")),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(subscribed)
      const scoped = yield* renewer.get({ scope: "openid" })
      expect(scoped.scope).toBe("openid")
      yield* TestClock.adjust("2 minutes")
      expect(Chunk.size(yield* Fiber.join(events))).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory({ strategy: "delegation" }))))
})

describe("Renewer with the delegation strategy", () => {
  it.effect("renews with a still-valid id_token", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn({ scope: "openid email" })
      yield* TestClock.adjust("2 hours")
      const renewer = yield* Renewer.Renewer
      const renewed = yield* renewer.get()
      expect(value(renewed.idToken)).not.toBe(value(login.idToken))
      expect(value(renewed.accessToken)).toBe(value(renewed.idToken))
      expect(renewed.isValidAt(yield* DateTime.now)).toBe(true)
      const emulator = yield* Emulator.Emulator
      expect((yield* emulator.counters).requests.delegation).toBe(1)
    }).pipe(
      Effect.provide(Fixtures.layerMemory({
        strategy: "delegation",
        emulator: { accessTokenLifetime: "1 hour", idTokenLifetime: "10 hours" }
      }))
    ))

  it.effect("a rejected id_token gives LoginRequired and keeps the refresh token", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn({ scope: "openid email offline_access" })
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("delegation", Fault.status(401, { error: "invalid_grant", description: "bad id_token" }))
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("IdTokenRejected")
      expect(value((yield* stored).refreshToken)).toBe(value(login.refreshToken))
    }).pipe(
      Effect.provide(Fixtures.layerMemory({
        strategy: "delegation",
        emulator: { accessTokenLifetime: "1 hour", idTokenLifetime: "10 hours" }
      }))
    ))

  it.effect("an expired id_token gives LoginRequired without a request", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid email" })
      yield* TestClock.adjust("3 hours")
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("IdTokenExpired")
      const emulator = yield* Emulator.Emulator
      expect((yield* emulator.counters).requests.delegation).toBe(0)
    }).pipe(
      Effect.provide(Fixtures.layerMemory({
        strategy: "delegation",
        emulator: { accessTokenLifetime: "1 hour", idTokenLifetime: "2 hours" }
      }))
    ))
})

describe("RenewalStrategy.delegation options", () => {
  it.effect("an unusable idTokenLeeway is an InvalidConfiguration, never a defect", () =>
    Effect.gen(function*() {
      for (
        const idTokenLeeway of [
          "soon" as Duration.DurationInput,
          "-5 seconds" as Duration.DurationInput,
          -1,
          Number.NaN,
          Infinity
        ]
      ) {
        const exit = yield* Effect.exit(
          Layer.build(RenewalStrategy.delegation({ idTokenLeeway })).pipe(
            Effect.provide(Fixtures.layerClient()),
            Effect.provide(Emulator.layerMemory()),
            Effect.scoped
          )
        )
        expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(Cause.squash), Option.getOrUndefined))
          .toMatchObject({ _tag: "InvalidConfiguration" })
      }
    }))
})

describe("RenewalPolicy", () => {
  it.effect("the delegation strategy's id_token leeway is its own option", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid email" })
      yield* TestClock.adjust("7 seconds") // the id_token has 3 seconds left: enough with a 1 second leeway
      const renewer = yield* Renewer.Renewer
      const renewed = yield* renewer.get()
      expect(renewed.isValidAt(yield* DateTime.now)).toBe(true)
    }).pipe(
      Effect.provide(Fixtures.layerMemory({
        strategy: RenewalStrategy.delegation({ idTokenLeeway: "1 second" }),
        emulator: { accessTokenLifetime: "2 seconds", idTokenLifetime: "10 seconds" },
        policy: { minTtl: "0 millis" }
      }))
    ))

  it.effect("a Retry-After beyond maxRetryAfter is not waited for", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Fault.status(429, { retryAfter: 3600 }))
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(AuthError.isRateLimited(error)).toBe(true)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory({ policy: { maxRetryAfter: "1 minute" } }))))
})
