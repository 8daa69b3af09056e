/**
 * The JWKS that checks the id_token is read before the single-use grant is
 * spent: a JWKS that cannot be read fails the login while it can still be
 * retried, instead of throwing away the tokens the provider issued.
 */
import { Login } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Stack from "./support/loginStack.js"

const redirectUri = "http://127.0.0.1:8765/callback"

const unavailable = (count: number) => Array.from({ length: count }, () => Emulator.Fault.status(503))

describe("Login: the JWKS before the grant", () => {
  it.effect("complete: a JWKS down is Transient with the code unspent; the same callback completes once it is back", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const { pending, url } = yield* login.authorize({ redirectUri })
      const callback = yield* Stack.followAuthorize(url)
      yield* emulator.faultOn("jwks", ...unavailable(4))
      const fiber = yield* Effect.fork(Effect.flip(login.complete(pending, callback)))
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber)).reason).toBe("Transient")
      const counters = yield* emulator.counters
      expect(counters.codeExchanges).toBe(0)
      expect(counters.requests.token).toBe(0)
      // the JWKS answers again: the code was kept for this
      const credentials = yield* login.complete(pending, callback)
      expect(credentials.idToken).toBeDefined()
      expect((yield* emulator.counters).codeExchanges).toBe(1)
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("complete: a JWKS that answers 503 twice is read on the third try, then the code is exchanged", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const { pending, url } = yield* login.authorize({ redirectUri })
      const callback = yield* Stack.followAuthorize(url)
      yield* emulator.faultOn("jwks", ...unavailable(2))
      const fiber = yield* Effect.fork(login.complete(pending, callback))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      const counters = yield* emulator.counters
      expect(counters.requests.jwks).toBe(3)
      expect(counters.codeExchanges).toBe(1)
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("device: a JWKS down ends the polling before the first poll, Transient", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const authorization = yield* login.device()
      yield* emulator.approveDevice(authorization.userCode)
      yield* emulator.faultOn("jwks", ...unavailable(4))
      const fiber = yield* Effect.fork(Effect.flip(authorization.credentials))
      yield* TestClock.adjust("1 minute")
      expect((yield* Fiber.join(fiber)).reason).toBe("Transient")
      expect((yield* emulator.counters).requests.token).toBe(0)
    }).pipe(Effect.provide(Stack.layerMemory())))
})
