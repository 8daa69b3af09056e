/**
 * Every request of a login is bounded, whatever the `AuthenticationClient`'s
 * own `timeout` (none by default: the `Renewer` bounds its renewals, and a
 * login does not go through it): a provider that never answers ends the login
 * typed, never keeps it waiting.
 */
import { Login } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Stack from "./support/loginStack.js"

const redirectUri = "http://127.0.0.1:8765/callback"

const hangs = (count: number) => Array.from({ length: count }, () => Emulator.Fault.hang())

/** The calls to `endpoint` the emulator received, by when. */
const calls = (endpoint: Emulator.Endpoint) =>
  Effect.map(
    Effect.flatMap(Emulator.Emulator, (emulator) => emulator.requests),
    (log) => log.filter((entry) => entry.endpoint === endpoint).map((entry) => entry.at)
  )

describe("Login: every request is bounded", () => {
  it.effect("complete: a token endpoint that never answers is Transient after 30 s, not a wait forever", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const { pending, url } = yield* login.authorize({ redirectUri })
      const callback = yield* Stack.followAuthorize(url)
      yield* emulator.faultOn("token", ...hangs(1))
      const fiber = yield* Effect.fork(Effect.flip(login.complete(pending, callback)))
      yield* TestClock.adjust("10 hours")
      const error = yield* Fiber.join(fiber)
      expect(error.reason).toBe("Transient")
      expect(error.description).toContain("within 30s")
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("device(): a device endpoint that never answers is Transient; the Login's requestTimeout sets the bound", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("device", ...hangs(1))
      const fiber = yield* Effect.fork(Effect.flip(login.device()))
      yield* TestClock.adjust("10 hours")
      const error = yield* Fiber.join(fiber)
      expect(error.reason).toBe("Transient")
      expect(error.description).toContain("within 5s")
    }).pipe(Effect.provide(Stack.layerMemory({ login: { requestTimeout: "5 seconds" } }))))

  it.effect("a poll that never answers times out and is retried within the code's lifetime, then Transient", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const authorization = yield* login.device()
      yield* emulator.faultOn("token", ...hangs(100))
      const fiber = yield* Effect.fork(Effect.flip(authorization.credentials))
      yield* TestClock.adjust("10 hours")
      const error = yield* Fiber.join(fiber)
      expect(error.reason).toBe("Transient")
      const polls = yield* calls("token")
      expect(polls.length).toBeGreaterThan(1)
      expect(polls.every((at) => at < 600_000)).toBe(true)
    }).pipe(Effect.provide(Stack.layerMemory())))

  it.effect("a requestTimeout that is not a positive duration is InvalidConfiguration", () =>
    Effect.gen(function*() {
      for (const requestTimeout of ["0 seconds", -1, "forever"] as ReadonlyArray<Duration.DurationInput>) {
        const error = yield* Effect.flip(Login.Login.pipe(
          Effect.provide(Login.layer({ requestTimeout })),
          Effect.provide(Stack.discoveredClient()),
          Effect.provide(Emulator.layerMemory())
        ))
        expect(error._tag).toBe("InvalidConfiguration")
      }
    }))
})
