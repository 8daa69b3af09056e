// Refresh ahead (opt-in): a background renewal before expiry, under TestClock.
import { RenewalPolicy, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

const stored = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("default")).pipe(
  Effect.map(Option.getOrThrow)
)

const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login()
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
  return credentials
})

// lets the background fiber run what is due at the current TestClock time
const settle = Effect.repeatN(Effect.yieldNow(), 20)

const layer = (
  refreshAhead: Renewer.RefreshAheadOptions,
  policy?: RenewalPolicy.Options,
  renewer: Renewer.Options = {}
) => Fixtures.layerMemory({ renewer: { ...renewer, refreshAhead }, ...(policy === undefined ? {} : { policy }) })

describe("Renewer refresh ahead", () => {
  it.effect("renews `lead` before expiry while callers keep the valid credentials, and again for the next ones", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* TestClock.adjust("54 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(0)
      expect(value((yield* renewer.get()).accessToken)).toBe(value(login.accessToken))

      yield* TestClock.adjust("1 minute") // 5 minutes before expiry
      yield* settle
      expect(yield* tokenRequests).toBe(1)
      const renewed = yield* stored
      expect(value(renewed.accessToken)).not.toBe(value(login.accessToken))
      // callers get the renewed credentials from memory
      expect(value((yield* renewer.get()).accessToken)).toBe(value(renewed.accessToken))
      expect(yield* tokenRequests).toBe(1)

      // the renewed credentials expire an hour after 55 minutes: renewed again at 110
      yield* TestClock.adjust("54 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(1)
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(layer({ lead: "5 minutes" }))))

  it.effect("jitter starts the renewal at most `jitter` earlier, never later than `lead`", () =>
    Effect.gen(function*() {
      yield* loggedIn
      yield* TestClock.adjust("53 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(0) // not before lead + jitter
      yield* TestClock.adjust("2 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(1) // by lead at the latest
    }).pipe(Effect.provide(layer({ lead: "5 minutes", jitter: "2 minutes" }))))

  it.effect("never more than one renewal in flight with the callers' own", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Emulator.Fault.latency("5 seconds"))
      yield* TestClock.adjust("55 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(1) // the background renewal is in flight
      // callers that need more than what is stored join it
      const callers = yield* Effect.fork(
        Effect.all(Array.from({ length: 20 }, () => renewer.get({ minTtl: "6 minutes" })), {
          concurrency: "unbounded"
        })
      )
      yield* settle
      yield* TestClock.adjust("5 seconds")
      const got = yield* Fiber.join(callers)
      expect(new Set(got.map((c) => value(c.accessToken))).size).toBe(1)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(layer({ lead: "5 minutes" }))))

  it.effect.each(
    [
      ["", {}],
      [" (with staleIfError, which the background renewal does not take for a renewal)", { staleIfError: "1 hour" }]
    ] as const
  )("a transient failure is tried again after retryInterval, before expiry%s", ([, options]) =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const emulator = yield* Emulator.Emulator
      // more failures than the policy retries
      yield* emulator.faultOn("token", ...Array.from({ length: 3 }, () => Emulator.Fault.status(503)))
      yield* TestClock.adjust("55 minutes")
      yield* settle
      yield* TestClock.adjust("2 seconds") // the policy's one retry
      yield* settle
      expect(yield* tokenRequests).toBe(2)
      expect(value((yield* stored).accessToken)).toBe(value(login.accessToken))
      yield* TestClock.adjust("30 seconds") // retryInterval: the third fault
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* tokenRequests).toBe(4)
      expect(value((yield* stored).accessToken)).not.toBe(value(login.accessToken))
    }).pipe(Effect.provide(
      layer(
        { lead: "5 minutes", retryInterval: "30 seconds" },
        { retry: RenewalPolicy.exponentialBackoff({ base: "1 second", max: "1 second", retries: 1 }) },
        options
      )
    )))

  it.effect("a rejected refresh token stops it until a new login is saved", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const emulator = yield* Emulator.Emulator
      const renewer = yield* Renewer.Renewer
      yield* emulator.revokeFamilyOf(value(login.refreshToken)!)
      yield* TestClock.adjust("55 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(1)
      yield* TestClock.adjust("3 hours")
      yield* settle
      expect(yield* tokenRequests).toBe(1)
      // a new login: renewed ahead again
      yield* renewer.save(yield* Fixtures.login())
      yield* TestClock.adjust("55 minutes")
      yield* settle
      expect(yield* tokenRequests).toBe(2)
    }).pipe(Effect.provide(layer({ lead: "5 minutes" }))))

  it.effect("stops with the renewer's scope: its fiber is gone, it tries nothing more", () =>
    Effect.gen(function*() {
      // what the refresh ahead logs: a closed renewer it still drove would
      // answer Shutdown, which it would log
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => void logged.push(String(message)))
      yield* Effect.scoped(
        Effect.gen(function*() {
          const renewer = yield* Renewer.make({ key: "default", refreshAhead: { lead: "5 minutes" } })
          yield* renewer.save(yield* Fixtures.login())
        })
      ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      yield* TestClock.adjust("3 hours")
      yield* settle
      expect(yield* tokenRequests).toBe(0)
      expect(logged.filter((line) => line.includes("refresh ahead"))).toEqual([])
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a lead that is not a duration fails every get with InvalidRequest", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "RenewalFailed" && error.reason).toBe("InvalidRequest")
      expect(error.message).toContain("refreshAhead")
    }).pipe(Effect.provide(layer({ lead: -5 }))))
})
