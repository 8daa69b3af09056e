import { Credentials, Renewer } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

/** A refresh token from elsewhere: the emulator's login, of which only the refresh token is kept. */
const refreshTokenOnly = (scope = "openid profile offline_access") =>
  Effect.flatMap(Fixtures.login({ scope }), (login) => Effect.succeed(login.refreshToken!))

describe("Credentials.fromRefreshToken", () => {
  it.effect("the first get renews, whatever its minTtl, and asks for the given scope", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      const refreshToken = yield* refreshTokenOnly()
      yield* renewer.save(yield* Credentials.fromRefreshToken(refreshToken, { scope: "openid offline_access" }))

      // at the TestClock's epoch, with no minTtl at all: still renewed first
      const credentials = yield* renewer.get({ minTtl: 0 })
      expect(Redacted.value(credentials.accessToken)).not.toBe(Credentials.noAccessToken)
      expect(credentials.isValidAt(yield* DateTime.now)).toBe(true)
      const requests = (yield* emulator.requests).filter((entry) => entry.endpoint === "token")
      expect(requests).toHaveLength(1)
      expect(requests[0]!.params["scope"]).toBe("openid offline_access")
      // saved: the next get makes no request
      yield* renewer.get()
      expect((yield* emulator.counters).requests.token).toBe(1)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a rejected refresh token leaves nothing to hand out: LoginRequired, never the placeholder", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      const refreshToken = yield* refreshTokenOnly()
      yield* emulator.revokeFamilyOf(Redacted.value(refreshToken))
      yield* renewer.save(yield* Credentials.fromRefreshToken(refreshToken))
      const first = yield* Effect.flip(renewer.get())
      expect(first._tag).toBe("LoginRequired")
      const second = yield* Effect.flip(renewer.get({ minTtl: 0 }))
      expect(second._tag).toBe("LoginRequired")
      expect(yield* renewer.hasValid()).toBe(false)
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("stale-if-error never serves the placeholder when the server is down", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      const refreshToken = yield* refreshTokenOnly()
      yield* renewer.save(yield* Credentials.fromRefreshToken(refreshToken))
      yield* emulator.faultOn(
        "token",
        ...Array.from({ length: 20 }, () => Emulator.Fault.status(503, { error: "temporarily_unavailable" }))
      )
      const fiber = yield* Effect.fork(Effect.flip(renewer.get({ staleIfError: "100 days" })))
      yield* TestClock.adjust("10 minutes")
      const error = yield* fiber
      expect(error._tag).toBe("RenewalFailed")
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("an empty refresh token is a LoginRequired, not a defect", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Credentials.fromRefreshToken(Redacted.make("")))
      expect(error._tag).toBe("LoginRequired")
      expect(error.reason).toBe("NoRefreshToken")
    }))
})
