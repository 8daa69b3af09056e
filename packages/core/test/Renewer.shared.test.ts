// A store shared with other processes: what the Renewer does when someone
// else writes the session's entry (another process renewed, logged out, or
// logged in anew) — seen through the store's `watch`, or found when the
// server rejects the refresh token this renewer presented.
import { Credentials, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

const value = (token: Redacted.Redacted<string> | undefined) => token === undefined ? undefined : Redacted.value(token)

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

/**
 * A memory store as another process sees it: `other` writes without this
 * process's lock, `notify` is the store telling its watchers, and `beforeRead`
 * runs once, inside the next read of the session's entry, after the entry
 * was read: what another process does in the window between this renewer's
 * read and its request.
 */
class Shared extends Effect.Service<Shared>()("test/Shared", {
  effect: Effect.gen(function*() {
    const underlying = yield* TokenStore.makeMemory
    const watchers = new Map<string, Set<Effect.Effect<void>>>()
    let beforeRead: Effect.Effect<void> | undefined
    const store: TokenStore.TokenStore.Service = {
      ...underlying,
      get: (key) =>
        Effect.tap(underlying.get(key), () => {
          const run = beforeRead
          beforeRead = undefined
          return run ?? Effect.void
        }),
      watch: (key, onChange) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const set = watchers.get(key) ?? new Set()
            watchers.set(key, set)
            set.add(onChange)
          }),
          () => Effect.sync(() => watchers.get(key)?.delete(onChange))
        )
    }
    return {
      store,
      other: underlying,
      notify: (key: string) =>
        Effect.suspend(() => Effect.forEach(watchers.get(key) ?? [], (onChange) => onChange, { discard: true })),
      watching: (key: string) => watchers.get(key)?.size ?? 0,
      onNextRead: (effect: Effect.Effect<void>) =>
        Effect.sync(() => {
          beforeRead = effect
        })
    }
  })
}) {}

const layer = (options: { readonly watch?: boolean } = {}) => {
  const store = Layer.effect(
    TokenStore.TokenStore,
    Effect.map(Shared, (shared) => options.watch === false ? { ...shared.store, watch: undefined } : shared.store)
  )
  return Fixtures.layerMemory({ store: Layer.provide(store, Shared.Default) }).pipe(
    Layer.provideMerge(Shared.Default)
  )
}

// Shared.Default is memoized by reference: the store and the test see the same instance.
const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login()
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
  return credentials
})

// In the window between this renewer's read and its request, the user logs
// in anew in another process (`second`), and the family of `first` is revoked.
const loginElsewhereDuringNextRead = (first: Credentials.Credentials, second: Credentials.Credentials) =>
  Effect.gen(function*() {
    const shared = yield* Shared
    const emulator = yield* Emulator.Emulator
    yield* shared.onNextRead(
      Effect.zipRight(
        Effect.orDie(emulator.revokeFamilyOf(value(first.refreshToken)!)),
        Effect.orDie(shared.other.set("default", second))
      )
    )
  })

describe("Renewer over a store shared with other processes", () => {
  it.effect("registers with the store's watch, and stops watching when its scope closes", () =>
    Effect.gen(function*() {
      const shared = yield* Shared
      yield* Effect.scoped(
        Effect.gen(function*() {
          yield* Renewer.make({ key: "alice" })
          expect(shared.watching("alice")).toBe(1)
        })
      )
      expect(shared.watching("alice")).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("a logout in another process stops this one from handing out the old access token", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      yield* renewer.get() // known: the hot path serves it
      yield* shared.other.remove("default")
      yield* shared.notify("default")
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag).toBe("LoginRequired")
      expect(error._tag === "LoginRequired" && error.reason).toBe("NoCredentials")
      // with options too
      const withOptions = yield* Effect.flip(renewer.get({ minTtl: "1 second" }))
      expect(withOptions._tag).toBe("LoginRequired")
      expect(yield* tokenRequests).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("a change while the renewer reads the store for the first time is not missed", () =>
    Effect.gen(function*() {
      const shared = yield* Shared
      yield* shared.other.set("alice", yield* Fixtures.login())
      // another process logs Alice out just after the renewer's first read
      yield* shared.onNextRead(Effect.zipRight(Effect.orDie(shared.other.remove("alice")), shared.notify("alice")))
      const renewer = yield* Renewer.make({ key: "alice" })
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("NoCredentials")
    }).pipe(Effect.scoped, Effect.provide(layer())))

  it.effect("without the notification the old access token is still handed out (what watch is for)", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      yield* renewer.get()
      yield* shared.other.remove("default")
      // nobody told the renewer: it serves what it knows
      const got = yield* renewer.get()
      expect(value(got.accessToken)).toBe(value(login.accessToken))
    }).pipe(Effect.provide(layer({ watch: false }))))

  it.effect("another process's renewal is taken from the store: no request, the new token", () =>
    Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      const renewed = new Credentials.Credentials({
        ...login,
        accessToken: Redacted.make("renewed-elsewhere")
      })
      yield* shared.other.set("default", renewed)
      yield* shared.notify("default")
      const got = yield* renewer.get()
      expect(value(got.accessToken)).toBe("renewed-elsewhere")
      expect(yield* tokenRequests).toBe(0)
    }).pipe(Effect.provide(layer())))

  it.effect("changes subscribers hear of another process's write when the store notifies", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      const subscribed = yield* Deferred.make<void>()
      const seen = yield* renewer.changes.pipe(
        Stream.tap(() => Deferred.succeed(subscribed, undefined)),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(subscribed)
      yield* shared.other.remove("default")
      yield* shared.notify("default")
      const changes = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      expect(Option.isSome(changes[0]!)).toBe(true)
      expect(Option.isNone(changes[1]!)).toBe(true)
    }).pipe(Effect.provide(layer())))

  it.effect("a rejected refresh token is checked against the store: a newer one stored meanwhile renews", () =>
    Effect.gen(function*() {
      const first = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      const emulator = yield* Emulator.Emulator
      const second = yield* Fixtures.login()
      yield* loginElsewhereDuringNextRead(first, second)
      yield* TestClock.adjust("2 hours")
      const got = yield* renewer.get()
      expect(yield* tokenRequests).toBe(2)
      // renewed with the other process's login: the user stays logged in
      const stored = Option.getOrThrow(yield* shared.other.get("default"))
      expect(value(stored.accessToken)).toBe(value(got.accessToken))
      // the refresh token the retry rotated is the one saved, and it is live
      expect(stored.refreshToken).toBeDefined()
      expect(value(stored.refreshToken)).not.toBe(value(first.refreshToken))
      expect(value(stored.refreshToken)).not.toBe(value(second.refreshToken))
      expect(yield* emulator.isRevoked(value(stored.refreshToken)!)).toBe(false)
    }).pipe(Effect.provide(layer())))

  it.effect("a rejected refresh token is checked against the store: a valid login stored meanwhile is used as it is", () =>
    Effect.gen(function*() {
      const first = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* TestClock.adjust("2 hours")
      // logged in elsewhere just now, with another scope: nothing to renew
      const second = yield* Fixtures.login({ scope: "openid profile offline_access" })
      yield* loginElsewhereDuringNextRead(first, second)
      const got = yield* renewer.get()
      expect(value(got.accessToken)).toBe(value(second.accessToken))
      expect(got.scope).toBe(second.scope)
      expect(yield* tokenRequests).toBe(1)
    }).pipe(Effect.provide(layer())))

  it.effect("a rejected refresh token still in the store is dropped: LoginRequired, the rest kept", () =>
    Effect.gen(function*() {
      const first = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      const emulator = yield* Emulator.Emulator
      yield* emulator.revokeFamilyOf(value(first.refreshToken)!)
      yield* TestClock.adjust("2 hours")
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("RefreshTokenRejected")
      expect(yield* tokenRequests).toBe(1)
      const stored = Option.getOrThrow(yield* shared.other.get("default"))
      expect(stored.refreshToken).toBeUndefined()
      expect(value(stored.accessToken)).toBe(value(first.accessToken))
    }).pipe(Effect.provide(layer())))

  it.effect("when the newer refresh token is rejected too, it is the one dropped", () =>
    Effect.gen(function*() {
      const first = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const shared = yield* Shared
      const emulator = yield* Emulator.Emulator
      const second = yield* Fixtures.login()
      yield* emulator.revokeFamilyOf(value(second.refreshToken)!)
      yield* loginElsewhereDuringNextRead(first, second)
      yield* TestClock.adjust("2 hours")
      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("RefreshTokenRejected")
      expect(yield* tokenRequests).toBe(2)
      const stored = Option.getOrThrow(yield* shared.other.get("default"))
      expect(stored.refreshToken).toBeUndefined()
      expect(value(stored.accessToken)).toBe(value(second.accessToken))
    }).pipe(Effect.provide(layer())))
})
