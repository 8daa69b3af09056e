import { AuthError, Jwt, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const API = "https://orders.example.test"
const OTHER = "https://billing.example.test"

const layer = (emulator: Emulator.Emulator.Options = {}) =>
  Fixtures.layerMemory({ emulator: { rotation: true, audiences: [API], ...emulator } })

const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login({ scope: "openid email offline_access" })
  yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.save(credentials))
  return credentials
})

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.requests).pipe(
  Effect.map((log) => log.filter((entry) => entry.endpoint === "token"))
)

const stored = (key = "default") =>
  Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key)).pipe(Effect.map(Option.getOrUndefined))

const audienceOf = (credentials: { readonly accessToken: Redacted.Redacted<string> }) =>
  Effect.map(Jwt.decode(credentials.accessToken), (claims) => claims.aud)

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

describe("Renewer: API credentials", () => {
  it.effect("an audience gets credentials for that API, asked with the login's scope and the caller's parameters", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const orders = yield* renewer.get({ audience: API, parameters: { device: "kiosk-7" } })
      expect(yield* audienceOf(orders)).toBe(API)
      expect(orders.refreshToken).toBeUndefined()
      const [request] = yield* tokenRequests
      expect(request!.params).toMatchObject({
        audience: API,
        scope: "openid email offline_access",
        device: "kiosk-7",
        grant_type: "refresh_token"
      })
      // the login's own credentials are untouched, but hold the rotated refresh token
      const kept = (yield* stored())!
      expect(value(kept.accessToken)).toBe(value(login.accessToken))
      expect(value(kept.refreshToken)).not.toBe(value(login.refreshToken))
      expect(value((yield* renewer.get()).accessToken)).toBe(value(login.accessToken))
      // served from memory while valid
      yield* renewer.get({ audience: API })
      expect((yield* tokenRequests).length).toBe(1)
    }).pipe(Effect.provide(layer())))

  it.effect("API credentials survive a restart: another renewer over the same store reuses them", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const first = yield* (yield* Renewer.Renewer).get({ audience: API })
      const second = yield* Effect.scoped(Effect.flatMap(Renewer.make(), (renewer) => renewer.get({ audience: API })))
      expect(value(second.accessToken)).toBe(value(first.accessToken))
      expect((yield* tokenRequests).length).toBe(1)
    }).pipe(Effect.provide(layer())))

  it.effect("concurrent gets for one audience make one request; renewal then rotates through the session", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const all = yield* Effect.all(Array.from({ length: 200 }, () => renewer.get({ audience: API })), {
        concurrency: "unbounded"
      })
      expect(new Set(all.map((c) => value(c.accessToken))).size).toBe(1)
      expect((yield* tokenRequests).length).toBe(1)
      // both targets expire; each renews with the refresh token the other rotated: no reuse
      yield* TestClock.adjust("2 hours")
      yield* renewer.get({ audience: API })
      yield* renewer.get()
      yield* renewer.get({ audience: API, forceRefresh: true })
      const counters = yield* Effect.flatMap(Emulator.Emulator, (e) => e.counters)
      expect(counters.requests.token).toBe(4)
      expect(counters.reuseDetections).toBe(0)
      expect(counters.revokedFamilies).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("an audience the refresh token may not ask for is a typed failure; the rotated refresh token is saved", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get({ audience: OTHER }))
      expect(error._tag === "RenewalFailed" && error.reason).toBe("AudienceMismatch")
      expect(error.message).toContain(OTHER)
      const kept = (yield* stored())!
      expect(value(kept.refreshToken)).not.toBe(value(login.refreshToken))
      // the next renewal uses the saved refresh token: the family is intact
      expect(yield* audienceOf(yield* renewer.get({ audience: API }))).toBe(API)
      const counters = yield* Effect.flatMap(Emulator.Emulator, (e) => e.counters)
      expect(counters.reuseDetections).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("interrupting the caller of an API renewal loses nothing", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", Emulator.Fault.latency("2 seconds"))
      const renewer = yield* Renewer.Renewer
      const caller = yield* Effect.fork(renewer.get({ audience: API }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(caller)
      yield* TestClock.adjust("2 seconds")
      yield* renewer.get({ audience: API })
      yield* TestClock.adjust("2 hours")
      yield* renewer.get()
      const counters = yield* emulator.counters
      expect(counters.requests.token).toBe(2)
      expect(counters.reuseDetections).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("clear removes the API credentials with the login; a new login replaces them", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const orders = yield* renewer.get({ audience: API })
      yield* loggedIn // a new login
      const fresh = yield* renewer.get({ audience: API })
      expect(value(fresh.accessToken)).not.toBe(value(orders.accessToken))
      expect((yield* tokenRequests).length).toBe(2)
      yield* renewer.clear()
      const again = yield* Effect.flip(renewer.get({ audience: API }))
      expect(again._tag === "LoginRequired" && again.reason).toBe("NoCredentials")
      // nothing is left in the store under the session, nor under a key derived from it
      const second = yield* Effect.scoped(Effect.flatMap(Renewer.make(), (r) => Effect.flip(r.get({ audience: API }))))
      expect(second._tag).toBe("LoginRequired")
    }).pipe(Effect.provide(layer())))

  it.effect("a minTtl API credentials cannot meet fails clearly, after saving them, and is not retried on every call", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const first = yield* Effect.flip(renewer.get({ audience: API, minTtl: "2 hours" }))
      expect(first._tag === "RenewalFailed" && first.reason).toBe("TtlUnreachable")
      const second = yield* Effect.flip(renewer.get({ audience: API, minTtl: "2 hours" }))
      expect(second._tag === "RenewalFailed" && second.reason).toBe("TtlUnreachable")
      expect((yield* tokenRequests).length).toBe(1)
      expect(yield* audienceOf(yield* renewer.get({ audience: API }))).toBe(API)
      expect((yield* tokenRequests).length).toBe(1)
    }).pipe(Effect.provide(layer())))

  it.effect("option values that make no sense are typed errors, never defects", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      for (const minTtl of [1e308, Infinity, Number.NaN, -1, "soon" as never]) {
        const error = yield* Effect.flip(renewer.get({ minTtl }))
        expect(error._tag === "RenewalFailed" && error.reason).toBe("InvalidRequest")
        expect(AuthError.isLoginRequired(error)).toBe(false)
      }
    }).pipe(Effect.provide(layer())))

  it.effect("a Renewer built with an unusable minTtl fails every get with a typed error", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "RenewalFailed" && error.reason).toBe("InvalidRequest")
      expect(error.message).toContain("minTtl")
    }).pipe(Effect.provide(Fixtures.layerMemory({ renewer: { minTtl: Infinity } }))))
})
