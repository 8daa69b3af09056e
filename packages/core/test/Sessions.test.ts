import { Credentials, RenewalPolicy, RenewalStrategy, Sessions, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
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

/**
 * What the test sees of the memory store under the sessions: how many
 * renewers watch each key (a renewer registers with `watch` when it is built
 * and unregisters when it is released) and how many reads each key had.
 */
class Probe extends Context.Tag("test/Sessions/Probe")<Probe, {
  readonly watching: (key: string) => number
  readonly reads: (key: string) => number
}>() {}

const probedStore: Layer.Layer<TokenStore.TokenStore | Probe> = Layer.effectContext(Effect.gen(function*() {
  const underlying = yield* TokenStore.makeMemory
  const watching = new Map<string, number>()
  const reads = new Map<string, number>()
  const bump = (map: Map<string, number>, key: string, by: number) => map.set(key, (map.get(key) ?? 0) + by)
  const store: TokenStore.TokenStore.Service = {
    ...underlying,
    get: (key) => Effect.zipRight(Effect.sync(() => bump(reads, key, 1)), underlying.get(key)),
    watch: (key) =>
      Effect.acquireRelease(Effect.sync(() => bump(watching, key, 1)), () => Effect.sync(() => bump(watching, key, -1)))
  }
  return Context.make(TokenStore.TokenStore, store).pipe(
    Context.add(Probe, { watching: (key) => watching.get(key) ?? 0, reads: (key) => reads.get(key) ?? 0 })
  )
}))

const layer = (options: Sessions.Options = {}, emulator?: Emulator.Emulator.Options) =>
  Sessions.layer(options).pipe(
    Layer.provideMerge(RenewalStrategy.refreshToken),
    Layer.provideMerge(probedStore),
    Layer.provideMerge(Fixtures.layerClient()),
    Layer.provideMerge(Emulator.layerMemory(emulator))
  )

const counters = Effect.flatMap(Emulator.Emulator, (e) => e.counters)
const tokenRequests = Effect.map(counters, (c) => c.requests.token)

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

const stored = (key: string) =>
  Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key)).pipe(Effect.map(Option.getOrUndefined))

// Logs a user in at the emulator and saves the login under `key`.
const loggedIn = (key: string) =>
  Effect.gen(function*() {
    const credentials = yield* Fixtures.login({ username: key })
    yield* Effect.flatMap(Sessions.Sessions, (sessions) => sessions.save(key, credentials))
    return credentials
  })

describe("Sessions", () => {
  // Under the real clock: the TestClock wakes its sleepers one at a time and
  // sorts them all each time, which makes thousands of renewers crawl.
  it.live("10,000 sessions expiring together are all renewed, never more than maxConcurrentRenewals at once", () => {
    const sessionCount = 10_000
    const maxConcurrentRenewals = 16
    return Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const emulator = yield* Emulator.Emulator
      const store = yield* TokenStore.TokenStore
      const keys = Array.from({ length: sessionCount }, (_, i) => `user-${i}`)
      const now = yield* DateTime.now
      // all saved expired a minute ago (the refresh tokens are good)
      // no openid: the bound is what is measured, not 20,000 RS256 signatures of id_tokens
      const logins = yield* Effect.forEach(keys, (key) =>
        Effect.map(
          Fixtures.login({ username: key, scope: "profile offline_access" }),
          (login) => new Credentials.Credentials({ ...login, expiresAt: DateTime.subtract(now, { minutes: 1 }) })
        ))
      yield* Effect.forEach(keys, (key, i) => store.set(key, logins[i]!), { discard: true })
      // The first answers are held 20 ms, so that requests overlap: all that
      // hold a permit are in flight together. Without the bound, all of
      // these would be.
      const held = 4 * maxConcurrentRenewals
      yield* emulator.faultOn("token", ...keys.slice(0, held).map(() => Fault.latency("20 millis")))
      const renewed = yield* Effect.forEach(keys, (key) => sessions.get(key), { concurrency: "unbounded" })

      const after = yield* DateTime.now
      expect(renewed.every((credentials) => credentials.isValidAt(after))).toBe(true)
      // each session got its own user's renewal
      expect(new Set(renewed.map((credentials) => value(credentials.accessToken))).size).toBe(sessionCount)
      expect(renewed.every((credentials, i) => value(credentials.accessToken) !== value(logins[i]!.accessToken)))
        .toBe(true)
      const counted = yield* counters
      expect(counted.requests.token).toBe(sessionCount)
      expect(counted.maxInFlight).toBe(maxConcurrentRenewals)
      expect(counted.inFlight).toBe(0)
      // what was renewed was saved
      expect(value((yield* stored(keys[0]!))?.accessToken)).toBe(value(renewed[0]!.accessToken))
    }).pipe(Effect.provide(layer({ maxConcurrentRenewals })))
  }, 120_000)

  it.effect("concurrent gets of one key share one renewal (the Renewer's single flight)", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      yield* loggedIn("alice")
      yield* TestClock.adjust("2 hours")
      const results = yield* Effect.all(Array.from({ length: 200 }, () => sessions.get("alice")), {
        concurrency: "unbounded"
      })
      expect(yield* tokenRequests).toBe(1)
      expect(new Set(results.map((credentials) => value(credentials.accessToken))).size).toBe(1)
    }).pipe(Effect.provide(layer())))

  it.effect("a fresh get is served by the key's renewer without reading the store", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const probe = yield* Probe
      const login = yield* loggedIn("alice")
      const reads = probe.reads("alice")
      for (let i = 0; i < 10; i++) {
        expect(value((yield* sessions.get("alice")).accessToken)).toBe(value(login.accessToken))
      }
      expect(probe.reads("alice")).toBe(reads)
      expect(yield* tokenRequests).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("a key's renewer is released idleTimeToLive after its last call, and built again when asked", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const probe = yield* Probe
      yield* loggedIn("alice")
      expect(probe.watching("alice")).toBe(1)
      const built = probe.reads("alice")
      yield* TestClock.adjust("4 minutes")
      yield* sessions.get("alice")
      yield* TestClock.adjust("4 minutes")
      // 4 minutes after the last call: kept, and the same renewer answers
      expect(probe.watching("alice")).toBe(1)
      yield* sessions.get("alice")
      expect(probe.reads("alice")).toBe(built)
      yield* TestClock.adjust(Duration.subtract(Duration.minutes(5), Duration.millis(1)))
      expect(probe.watching("alice")).toBe(1)
      yield* TestClock.adjust("1 millis")
      // released: its scope closed, it no longer watches the store
      expect(probe.watching("alice")).toBe(0)
      // asked again: a new renewer, which reads the store when it is built
      const got = yield* sessions.get("alice")
      expect(got.isValidAt(yield* DateTime.now)).toBe(true)
      expect(probe.watching("alice")).toBe(1)
      expect(probe.reads("alice")).toBe(built + 1)
    }).pipe(Effect.provide(layer({ idleTimeToLive: "5 minutes" }))))

  it.effect("renewer(key) is the key's Renewer, held while its scope is open", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const probe = yield* Probe
      const login = yield* Fixtures.login({ username: "alice" })
      const scope = yield* Scope.make()
      const renewer = yield* Scope.extend(sessions.renewer("alice"), scope)
      expect(renewer.key).toBe("alice")
      yield* renewer.save(login)
      expect(value((yield* sessions.get("alice")).accessToken)).toBe(value(login.accessToken))
      expect(yield* renewer.hasValid()).toBe(true)
      expect(yield* sessions.hasValid("alice")).toBe(true)
      // held: not released however long it is idle
      yield* TestClock.adjust("2 hours")
      expect(probe.watching("alice")).toBe(1)
      // it renews, and the sessions hand out what it renewed
      const renewed = yield* renewer.get()
      expect(value(renewed.accessToken)).not.toBe(value(login.accessToken))
      expect(value((yield* sessions.get("alice")).accessToken)).toBe(value(renewed.accessToken))
      expect(yield* tokenRequests).toBe(1)
      const current = yield* Stream.runHead(renewer.changes)
      expect(value(Option.getOrUndefined(Option.flatten(current))?.accessToken)).toBe(value(renewed.accessToken))
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 minute")
      expect(probe.watching("alice")).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("save, hasValid and clear of one key leave the other keys alone", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const alice = yield* loggedIn("alice")
      const bob = yield* loggedIn("bob")
      expect(yield* sessions.hasValid("alice")).toBe(true)
      expect(yield* sessions.hasValid("bob")).toBe(true)
      expect(yield* sessions.hasValid("carol")).toBe(false)
      expect(value((yield* sessions.get("alice")).accessToken)).toBe(value(alice.accessToken))
      expect(value((yield* sessions.get("bob")).accessToken)).toBe(value(bob.accessToken))

      // a new login of alice's replaces hers only
      const again = yield* Fixtures.login({ username: "alice" })
      yield* sessions.save("alice", again)
      expect(value((yield* sessions.get("alice")).accessToken)).toBe(value(again.accessToken))
      expect(value((yield* sessions.get("bob")).accessToken)).toBe(value(bob.accessToken))

      yield* sessions.clear("alice", { revoke: true })
      expect(yield* sessions.hasValid("alice")).toBe(false)
      expect(yield* stored("alice")).toBeUndefined()
      const error = yield* Effect.flip(sessions.get("alice"))
      expect(error._tag === "LoginRequired" && error.reason).toBe("NoCredentials")
      const emulator = yield* Emulator.Emulator
      expect(yield* emulator.isRevoked(value(again.refreshToken)!)).toBe(true)
      expect(yield* emulator.isRevoked(value(bob.refreshToken)!)).toBe(false)
      expect(yield* sessions.hasValid("bob")).toBe(true)
      expect(value((yield* stored("bob"))?.accessToken)).toBe(value(bob.accessToken))
      expect(value((yield* sessions.get("bob")).accessToken)).toBe(value(bob.accessToken))
    }).pipe(Effect.provide(layer())))

  it.effect("one key's LoginRequired does not affect the others", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const emulator = yield* Emulator.Emulator
      const alice = yield* loggedIn("alice")
      yield* loggedIn("bob")
      yield* loggedIn("carol")
      yield* emulator.revokeFamilyOf(value(alice.refreshToken)!)
      yield* TestClock.adjust("2 hours")
      const [a, b, c] = yield* Effect.all(
        ["alice", "bob", "carol"].map((key) => Effect.either(sessions.get(key))),
        { concurrency: "unbounded" }
      )
      expect(a!._tag === "Left" && a!.left._tag === "LoginRequired" && a!.left.reason).toBe("RefreshTokenRejected")
      const now = yield* DateTime.now
      expect(b!._tag === "Right" && b!.right.isValidAt(now)).toBe(true)
      expect(c!._tag === "Right" && c!.right.isValidAt(now)).toBe(true)
      // alice must log in again; bob and carol are still served
      expect(yield* sessions.hasValid("alice")).toBe(false)
      expect(yield* sessions.hasValid("bob")).toBe(true)
      const forced = yield* sessions.get("bob", { forceRefresh: true })
      expect(forced.isValidAt(now)).toBe(true)
      expect(yield* tokenRequests).toBe(4)
    }).pipe(Effect.provide(layer())))

  it.effect("the minTtl option is the default of every key's get", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      yield* loggedIn("alice")
      yield* TestClock.adjust("49 minutes")
      yield* sessions.get("alice")
      expect(yield* tokenRequests).toBe(0)
      yield* TestClock.adjust("1 minute")
      yield* sessions.get("alice")
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(layer({ minTtl: "10 minutes" }))))

  describe("options that cannot be used fail every get with a typed error", () => {
    const cases: ReadonlyArray<readonly [string, Sessions.Options, string]> = [
      ["maxConcurrentRenewals 0", { maxConcurrentRenewals: 0 }, "maxConcurrentRenewals"],
      ["maxConcurrentRenewals -2", { maxConcurrentRenewals: -2 }, "maxConcurrentRenewals"],
      ["maxConcurrentRenewals 1.5", { maxConcurrentRenewals: 1.5 }, "maxConcurrentRenewals"],
      ["maxConcurrentRenewals NaN", { maxConcurrentRenewals: Number.NaN }, "maxConcurrentRenewals"],
      ["maxConcurrentRenewals Infinity", { maxConcurrentRenewals: Infinity }, "maxConcurrentRenewals"],
      ["maxConcurrentRenewals \"4\"", { maxConcurrentRenewals: "4" as never }, "maxConcurrentRenewals"],
      ["idleTimeToLive -1 second", { idleTimeToLive: "-1 second" }, "idleTimeToLive"],
      ["idleTimeToLive NaN", { idleTimeToLive: Number.NaN }, "idleTimeToLive"],
      ["idleTimeToLive Infinity", { idleTimeToLive: Infinity }, "idleTimeToLive"],
      ["idleTimeToLive \"soon\"", { idleTimeToLive: "soon" as never }, "idleTimeToLive"],
      ["minTtl -5 seconds", { minTtl: "-5 seconds" }, "minTtl"]
    ]
    for (const [name, options, named] of cases) {
      it.effect(name, () =>
        Effect.gen(function*() {
          const sessions = yield* Sessions.Sessions
          // what does not renew goes on
          const login = yield* loggedIn("alice")
          expect(yield* sessions.hasValid("alice")).toBe(true)
          const error = yield* Effect.flip(sessions.get("alice"))
          expect(error._tag === "RenewalFailed" && error.reason).toBe("InvalidRequest")
          expect(error.message).toContain(named)
          const held = yield* Effect.scoped(
            Effect.flatMap(sessions.renewer("alice"), (renewer) => Effect.flip(renewer.get()))
          )
          expect(held._tag === "RenewalFailed" && held.reason).toBe("InvalidRequest")
          expect(yield* tokenRequests).toBe(0)
          expect(value((yield* stored("alice"))?.accessToken)).toBe(value(login.accessToken))
          yield* sessions.clear("alice")
          expect(yield* sessions.hasValid("alice")).toBe(false)
        }).pipe(Effect.provide(layer(options))))
    }
  })

  it.effect("once its scope is closed, get and clear fail with Shutdown", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(layer(), scope)
      const sessions = Context.get(context, Sessions.Sessions)
      const login = yield* Fixtures.login().pipe(Effect.provide(context))
      yield* sessions.save("alice", login)
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(sessions.get("alice"))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Shutdown")
      const cleared = yield* Effect.flip(sessions.clear("alice"))
      expect(cleared._tag === "RenewalFailed" && cleared.reason).toBe("Shutdown")
    }))

  it.effect("renewals follow the RenewalPolicy in force when the sessions were built", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const emulator = yield* Emulator.Emulator
      yield* loggedIn("alice")
      yield* TestClock.adjust("2 hours")
      yield* emulator.faultOn("token", Fault.latency("5 seconds"))
      const fiber = yield* Effect.fork(Effect.either(sessions.get("alice")))
      // the default policy would wait 10 seconds
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      expect(result._tag === "Left" && result.left._tag === "RenewalFailed" && result.left.reason).toBe("Transient")
      // the late answer is saved
      yield* TestClock.adjust("3 seconds")
      const got = yield* sessions.get("alice")
      expect(got.isValidAt(yield* DateTime.now)).toBe(true)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(Layer.provide(layer(), RenewalPolicy.layer({ attemptTimeout: "2 seconds" })))))
})

describe("Sessions refresh ahead and stale-if-error", () => {
  it.effect("every live session is renewed ahead of expiry, never more than maxConcurrentRenewals at once", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const emulator = yield* Emulator.Emulator
      const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`)
      const logins = yield* Effect.forEach(
        keys,
        (key) => Effect.tap(Fixtures.login(), (login) => sessions.save(key, login))
      )
      // the renewers are live (a get each, answered from memory)
      yield* Effect.forEach(keys, (key) => sessions.get(key), { discard: true })
      expect(yield* tokenRequests).toBe(0)
      yield* emulator.faultOn("token", ...keys.map(() => Fault.latency("1 second")))
      yield* TestClock.adjust("55 minutes")
      for (let i = 0; i < 12; i++) {
        yield* Effect.repeatN(Effect.yieldNow(), 50)
        yield* TestClock.adjust("1 second")
      }
      expect(yield* tokenRequests).toBe(keys.length)
      const c = yield* counters
      expect(c.maxInFlight).toBe(4)
      // all renewed, ahead of the expiry of the first logins
      for (const [i, key] of keys.entries()) {
        expect(value((yield* stored(key))?.accessToken)).not.toBe(value(logins[i]!.accessToken))
      }
    }).pipe(Effect.provide(layer({
      maxConcurrentRenewals: 4,
      idleTimeToLive: "2 hours",
      refreshAhead: { lead: "5 minutes" }
    }))))

  it.effect("staleIfError applies to every session", () =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const emulator = yield* Emulator.Emulator
      const login = yield* Fixtures.login()
      yield* sessions.save("alice", login)
      yield* emulator.faultOn("token", ...Array.from({ length: 10 }, () => Fault.status(503)))
      yield* TestClock.adjust("3580 seconds") // 20 s left: under the 30 s minTtl
      const fiber = yield* Effect.fork(sessions.get("alice"))
      yield* TestClock.adjust("2 seconds")
      const got = yield* Fiber.join(fiber)
      expect(value(got.accessToken)).toBe(value(login.accessToken))
    }).pipe(
      Effect.provide(layer({ staleIfError: "1 minute" })),
      Effect.provide(RenewalPolicy.layer({
        retry: RenewalPolicy.exponentialBackoff({ base: "1 second", max: "1 second", retries: 1 })
      }))
    ))
})
