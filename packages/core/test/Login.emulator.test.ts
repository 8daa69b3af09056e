import type { Credentials } from "@effect-renewal/core"
import { Jwt, Login, Renewer } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Stack from "./support/loginStack.js"

const redirectUri = "http://127.0.0.1:8765/callback"

// one provider, shared by reference; another emulator whose JWKS has other keys
const Provider = Emulator.layerMemory()
const OtherEmulator = Emulator.layerMemory()

const subjectOf = (credentials: Credentials.Credentials) =>
  Effect.map(Jwt.decode(credentials.idToken!), (claims) => claims.sub)

describe("Login against the emulator: device flow", () => {
  it.effect("pending until approved, then credentials whose id_token is checked, then renewals", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const authorization = yield* login.device({ scope: "openid profile offline_access" })
      expect(authorization.userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/)
      expect(authorization.verificationUri).toBe(`${emulator.issuer}activate`)
      expect(authorization.verificationUriComplete).toContain("user_code=")
      const fiber = yield* Effect.fork(authorization.credentials)
      yield* TestClock.adjust("12 seconds") // two polls: pending
      yield* emulator.approveDevice(authorization.userCode, { username: "bob" })
      yield* TestClock.adjust("3 seconds")
      const credentials = yield* Fiber.join(fiber)
      expect(yield* subjectOf(credentials)).toBe("bob")
      const polls = (yield* emulator.requests).filter((entry) => entry.endpoint === "token").map((entry) => entry.at)
      expect(polls).toEqual([5_000, 10_000, 15_000])

      const renewer = yield* Renewer.Renewer
      yield* renewer.save(credentials)
      const renewed = yield* renewer.get({ forceRefresh: true })
      expect(Redacted.value(renewed.accessToken)).not.toBe(Redacted.value(credentials.accessToken))
      expect(renewed.scope).toBe("openid profile offline_access")
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("slow_down adds 5 s to the interval for good", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const authorization = yield* login.device()
      yield* emulator.faultOn("token", Emulator.Fault.status(400, { error: "slow_down" }))
      const fiber = yield* Effect.fork(authorization.credentials)
      yield* TestClock.adjust("16 seconds") // 5 s: slow_down; 15 s: pending
      yield* emulator.approveDevice(authorization.userCode)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      const polls = (yield* emulator.requests).filter((entry) => entry.endpoint === "token").map((entry) => entry.at)
      expect(polls).toEqual([5_000, 15_000, 25_000])
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("denied is AccessDenied; nobody coming is Expired after the code's lifetime", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const denied = yield* login.device()
      const fiber = yield* Effect.fork(Effect.flip(denied.credentials))
      yield* emulator.denyDevice(denied.userCode)
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(fiber)).reason).toBe("AccessDenied")

      const forgotten = yield* login.device()
      const waiting = yield* Effect.fork(Effect.flip(forgotten.credentials))
      yield* TestClock.adjust("10 minutes")
      const expired = yield* Fiber.join(waiting)
      expect(expired.reason).toBe("Expired")
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("a server down for the code's lifetime is Transient", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const authorization = yield* login.device()
      yield* emulator.faultOn("token", ...Array.from({ length: 50 }, () => Emulator.Fault.status(503)))
      const fiber = yield* Effect.fork(Effect.flip(authorization.credentials))
      yield* TestClock.adjust("10 minutes")
      expect((yield* Fiber.join(fiber)).reason).toBe("Transient")
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("a client the provider does not know is Configuration", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const error = yield* Effect.flip(login.device())
      expect([error.reason, error.code]).toEqual(["Configuration", "invalid_client"])
    }).pipe(Effect.provide(Stack.layerMemory({ clientId: "unknown-client" }))))
})

describe("Login against the emulator: authorization code with PKCE", () => {
  it.effect("approve, complete, check the id_token, renew", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      yield* emulator.approveNext({ username: "alice", email: "alice@example.org" })
      const { pending, url } = yield* login.authorize({ redirectUri, scope: "openid email offline_access" })
      const callback = yield* Stack.followAuthorize(url)
      expect(callback.startsWith(`${redirectUri}?`)).toBe(true)
      const credentials = yield* login.complete(pending, callback)
      expect(yield* subjectOf(credentials)).toBe("alice")
      expect(credentials.refreshToken).toBeDefined()
      expect((yield* emulator.counters).codeExchanges).toBe(1)

      const renewer = yield* Renewer.Renewer
      yield* renewer.save(credentials)
      yield* TestClock.adjust("2 hours")
      const renewed = yield* renewer.get()
      expect(Redacted.value(renewed.accessToken)).not.toBe(Redacted.value(credentials.accessToken))
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("the pending authorization survives its Schema's JSON form (a cookie)", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri })
      const Json = Schema.parseJson(Login.PendingAuthorization)
      const stored = yield* Schema.encode(Json)(pending)
      const restored = yield* Schema.decode(Json)(stored)
      const credentials = yield* login.complete(restored, yield* Stack.followAuthorize(url))
      expect(credentials.idToken).toBeDefined()
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("a replayed code is Rejected (invalid_grant), not a defect", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri })
      const callback = yield* Stack.followAuthorize(url)
      yield* login.complete(pending, callback)
      const replay = yield* Effect.flip(login.complete(pending, callback))
      expect([replay.reason, replay.code]).toEqual(["Rejected", "invalid_grant"])
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("denied is AccessDenied; a forged state is InvalidCallback; a stale pending is Expired", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      yield* emulator.denyNext()
      const denied = yield* login.authorize({ redirectUri })
      const error = yield* Effect.flip(login.complete(denied.pending, yield* Stack.followAuthorize(denied.url)))
      expect(error.reason).toBe("AccessDenied")

      const other = yield* login.authorize({ redirectUri })
      const forged = yield* login.authorize({ redirectUri })
      const mixed = yield* Effect.flip(login.complete(forged.pending, yield* Stack.followAuthorize(other.url)))
      expect(mixed.reason).toBe("InvalidCallback")

      const stale = yield* login.authorize({ redirectUri })
      const callback = yield* Stack.followAuthorize(stale.url)
      yield* TestClock.adjust("11 minutes")
      expect((yield* Effect.flip(login.complete(stale.pending, callback))).reason).toBe("Expired")
      expect((yield* emulator.counters).codeExchanges).toBe(0)
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("the provider's key rotation is followed: the JWKS is read again once for the new kid", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const first = yield* login.authorize({ redirectUri })
      yield* login.complete(first.pending, yield* Stack.followAuthorize(first.url))
      yield* emulator.rotateSigningKey()
      const second = yield* login.authorize({ redirectUri })
      yield* login.complete(second.pending, yield* Stack.followAuthorize(second.url))
      const third = yield* login.authorize({ redirectUri })
      yield* login.complete(third.pending, yield* Stack.followAuthorize(third.url))
      expect((yield* emulator.counters).requests.jwks).toBe(2)
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("an id_token signed by a key the provider does not publish is InvalidIdToken, and nothing is returned", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri })
      const error = yield* Effect.flip(login.complete(pending, yield* Stack.followAuthorize(url)))
      expect(error.reason).toBe("InvalidIdToken")
      expect(error.description).toContain("a key the provider does not publish")
    }).pipe(
      // the login reads the JWKS of another emulator (same issuer, other keys)
      Effect.provide(
        Layer.merge(
          Login.layer().pipe(Layer.provide([Stack.discoveredClient().pipe(Layer.provide(Provider)), OtherEmulator])),
          Provider
        ).pipe(Layer.orDie)
      )
    ))
})

describe("Login with Auth0's domain form of the client (metadata derived, not discovered)", () => {
  it.effect("the authorization code and the device flow work from the derived endpoints", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const { pending, url } = yield* login.authorize({ redirectUri })
      expect(url.startsWith(`${emulator.issuer}authorize?`)).toBe(true)
      const credentials = yield* login.complete(pending, yield* Stack.followAuthorize(url))
      expect(credentials.idToken).toBeDefined()
      const authorization = yield* login.device()
      const fiber = yield* Effect.fork(authorization.credentials)
      yield* emulator.approveDevice(authorization.userCode)
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(fiber)).refreshToken).toBeDefined()
    }).pipe(
      Effect.provide(
        Login.layer().pipe(Layer.provideMerge(Fixtures.layerClient()), Layer.provideMerge(Emulator.layerMemory()))
      )
    ))
})

describe("Login.make", () => {
  it.effect("settings that are not finite durations are an InvalidConfiguration, not a defect", () =>
    Effect.gen(function*() {
      for (const settings of [{ pendingLifetime: "Infinity" }, { clockTolerance: -1 }, { pendingLifetime: "soon" }]) {
        const error = yield* Effect.flip(Login.make(settings as Login.Options))
        expect(error._tag).toBe("InvalidConfiguration")
      }
    }).pipe(Effect.provide(Layer.orDie(Stack.discoveredClient().pipe(Layer.provideMerge(Emulator.layerMemory()))))))
})
