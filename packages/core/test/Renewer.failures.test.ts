import { AuthError, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

const Fault = Emulator.Fault
const API = "https://orders.example.test"

const loggedIn = (options?: Emulator.Emulator.LoginOptions) =>
  Effect.gen(function*() {
    const credentials = yield* Fixtures.login(options)
    const renewer = yield* Renewer.Renewer
    yield* renewer.save(credentials)
    return credentials
  })

const storedAt = (key = "default") =>
  Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key)).pipe(Effect.map(Option.getOrUndefined))

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

// Nothing lost: what happens to a rotated refresh token and to what the
// renewer knows when things go wrong at the worst moment.
describe("Renewer: failures at the worst moment", () => {
  it.effect("clear({ revoke }) hung past the deadline: typed error, credentials removed, caller not interrupted", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      const renewer = yield* Renewer.Renewer
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("revoke", Fault.hang())
      // the caller does more after clear: the deadline must not interrupt it
      const fiber = yield* Effect.fork(
        Effect.zipRight(Effect.either(renewer.clear({ revoke: true })), Effect.succeed("went on"))
      )
      yield* TestClock.adjust("11 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isInterrupted(exit)).toBe(false)
      expect(exit).toStrictEqual(Exit.succeed("went on"))
      expect(yield* storedAt()).toBeUndefined()
    }).pipe(Effect.provide(Fixtures.layerMemory({ policy: { attemptTimeout: "4 seconds", deadline: "10 seconds" } }))))

  it.effect("closing the layer while a sent request is out waits for its answer and saves the rotated refresh token", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Fixtures.layerMemory(), scope)
      const renewer = Context.get(context, Renewer.Renewer)
      const store = Context.get(context, TokenStore.TokenStore)
      const login = yield* Fixtures.login().pipe(Effect.provide(context))
      yield* renewer.save(login)
      yield* TestClock.adjust("2 hours")
      const emulator = Context.get(context, Emulator.Emulator)
      // the server rotates at once, the answer takes 5 seconds to come back
      yield* emulator.faultOn("token", Fault.latency("5 seconds"))
      const caller = yield* Effect.fork(Effect.either(renewer.get()))
      yield* TestClock.adjust("1 second")
      expect((yield* emulator.counters).requests.token).toBe(1)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      // the caller gets Shutdown at once; the close waits for the answer
      const got = yield* Fiber.join(caller)
      expect(got._tag === "Left" && got.left._tag === "RenewalFailed" && got.left.reason).toBe("Shutdown")
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(closing)
      const saved = Option.getOrThrow(yield* store.get("default"))
      // the rotated refresh token was saved: the stored one is not rotated out at the server
      expect(value(saved.refreshToken)).not.toBe(value(login.refreshToken))
      expect(yield* emulator.isRevoked(value(saved.refreshToken)!)).toBe(false)
    }))

  it.effect("a 200 answer with a new refresh token but an invalid expires_in: the refresh token is saved", () =>
    Effect.gen(function*() {
      yield* loggedIn()
      yield* TestClock.adjust("2 hours")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn(
        "token",
        Fault.body(
          200,
          JSON.stringify({ access_token: "at-2", refresh_token: "rt-rotated", token_type: "Bearer", expires_in: -1 })
        )
      )
      const renewer = yield* Renewer.Renewer
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag).toBe("RenewalFailed")
      expect(value((yield* storedAt())?.refreshToken)).toBe("rt-rotated")
    }).pipe(Effect.provide(Fixtures.layerMemory())))

  it.effect("a save whose write fails after the old entry was removed does not leave the hot path serving it", () => {
    let failSet = false
    const flaky = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (store) =>
        TokenStore.TokenStore.of({
          ...store,
          set: (key, credentials) =>
            failSet
              ? Effect.fail(new AuthError.StoreError({ operation: "set", key, description: "disk full" }))
              : store.set(key, credentials)
        }))
    )
    return Effect.gen(function*() {
      const first = yield* loggedIn({ scope: "openid offline_access" })
      const renewer = yield* Renewer.Renewer
      const api = yield* renewer.get({ audience: API })
      failSet = true
      const second = yield* Fixtures.login({ scope: "openid offline_access" })
      const error = yield* Effect.flip(renewer.save(second))
      expect(error._tag).toBe("StoreError")
      // the store holds nothing now: neither the first login nor its API credentials
      expect(yield* storedAt()).toBeUndefined()
      // the hot path hands out neither the first login nor its API credentials
      const got = yield* Effect.either(renewer.get())
      expect(got._tag === "Right" ? value(got.right.accessToken) : "none").not.toBe(value(first.accessToken))
      const gotApi = yield* Effect.either(renewer.get({ audience: API }))
      expect(gotApi._tag === "Right" ? value(gotApi.right.accessToken) : "none").not.toBe(value(api.accessToken))
    }).pipe(Effect.provide(Fixtures.layerMemory({ store: flaky, emulator: { audiences: [API] } })))
  })

  it.effect("a new login seen in the store (saved by another renewer) drops the API credentials of the previous one", () =>
    Effect.gen(function*() {
      yield* loggedIn({ scope: "openid offline_access" })
      const a = yield* Renewer.Renewer
      const oldApi = yield* a.get({ audience: API })
      // another renewer over the same store (another process, in effect) logs a new user in
      const b = yield* Renewer.make()
      yield* b.save(yield* Fixtures.login({ scope: "openid offline_access" }))
      // a learns of the new login
      expect(yield* a.hasValid()).toBe(true)
      const known = yield* a.get()
      expect(value(known.refreshToken)).toBe(value((yield* storedAt())?.refreshToken))
      // the API credentials of the previous login are not served
      const api = yield* a.get({ audience: API })
      expect(value(api.accessToken)).not.toBe(value(oldApi.accessToken))
    }).pipe(Effect.scoped, Effect.provide(Fixtures.layerMemory({ emulator: { audiences: [API] } }))))
})
