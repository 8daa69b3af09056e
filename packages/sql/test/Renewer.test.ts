import * as Credentials from "@effect-renewal/core/Credentials"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import { TokenStore } from "@effect-renewal/core/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { backends, store } from "./support.js"

/**
 * A server with refresh token rotation: each renewal spends the refresh
 * token it presents; presenting a spent one is a reuse.
 */
const rotatingServer = () => {
  const state = { renewals: 0, reuses: 0, spent: new Set<string>() }
  const strategy = RenewalStrategy.RenewalStrategy.of({
    renew: (current) =>
      Effect.gen(function*() {
        const presented = current.refreshToken === undefined ? "" : Redacted.value(current.refreshToken)
        if (state.spent.has(presented)) state.reuses++
        state.spent.add(presented)
        state.renewals++
        const n = state.renewals
        yield* Effect.sleep("300 millis")
        return new Credentials.Credentials({
          accessToken: Redacted.make(`access-${n}`),
          refreshToken: Redacted.make(`refresh-${n}`),
          tokenType: "Bearer",
          expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000)
        })
      }),
    revoke: () => Effect.void
  })
  return { state, strategy }
}

const expired = new Credentials.Credentials({
  accessToken: Redacted.make("access-0"),
  refreshToken: Redacted.make("refresh-0"),
  tokenType: "Bearer",
  expiresAt: DateTime.unsafeMake(Date.now() - 1000)
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`Renewers of two processes sharing a SqlTokenStore on ${backend.name}`, () => {
    // Two "processes": each its own client (connections), store and Renewer.
    const renewerOn = (s: TokenStore.Service, strategy: RenewalStrategy.RenewalStrategy.Service) =>
      Layer.build(
        Renewer.layer({ key: "alice" }).pipe(
          Layer.provide(Layer.succeed(TokenStore, s)),
          Layer.provide(Layer.succeed(RenewalStrategy.RenewalStrategy, strategy))
        )
      ).pipe(Effect.map(Context.get(Renewer.Renewer)))

    it.scopedLive("concurrent gets in both renew once: the second re-reads the store inside the lock", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const server = rotatingServer()
        const a = yield* renewerOn(yield* store(db), server.strategy)
        const b = yield* renewerOn(yield* store(db), server.strategy)
        yield* a.save(expired)
        const got = yield* Effect.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).get()),
          { concurrency: "unbounded" }
        )
        expect(server.state.renewals).toBe(1)
        expect(server.state.reuses).toBe(0)
        expect(new Set(got.map((c) => Redacted.value(c.accessToken)))).toEqual(new Set(["access-1"]))
      }))

    it.scopedLive("a save and a clear by one process are seen by the other's get within a second", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const server = rotatingServer()
        const a = yield* renewerOn(yield* store(db), server.strategy)
        const b = yield* renewerOn(yield* store(db), server.strategy)
        const fresh = (name: string) =>
          new Credentials.Credentials({
            accessToken: Redacted.make(name),
            refreshToken: Redacted.make(`refresh-${name}`),
            tokenType: "Bearer",
            expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000)
          })
        yield* a.save(fresh("first"))
        expect(Redacted.value((yield* b.get()).accessToken)).toBe("first")
        yield* a.save(fresh("second"))
        yield* Effect.sleep("1 second")
        expect(Redacted.value((yield* b.get()).accessToken)).toBe("second")
        yield* a.clear()
        yield* Effect.sleep("1 second")
        expect((yield* Effect.flip(b.get()))._tag).toBe("LoginRequired")
        expect(server.state.renewals).toBe(0)
      }))
  })
}

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`A Renewer over a SqlTokenStore on ${backend.name} under TestClock`, () => {
    // the store's watch (a LISTEN confirmed by a probe, or a poll) runs on
    // the database's time, not on a clock the test never moves
    it.effect("builds, and its first get answers", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db)
        const server = rotatingServer()
        const fresh = new Credentials.Credentials({
          accessToken: Redacted.make("first"),
          refreshToken: Redacted.make("refresh-first"),
          tokenType: "Bearer",
          expiresAt: DateTime.unsafeMake(3_600_000)
        })
        yield* s.set("alice", fresh)
        const renewer = yield* Layer.build(
          Renewer.layer({ key: "alice" }).pipe(
            Layer.provide(Layer.succeed(TokenStore, s)),
            Layer.provide(Layer.succeed(RenewalStrategy.RenewalStrategy, server.strategy))
          )
        ).pipe(Effect.map(Context.get(Renewer.Renewer)))
        expect(Redacted.value((yield* renewer.get()).accessToken)).toBe("first")
        expect(server.state.renewals).toBe(0)
      }).pipe(Effect.scoped), 20_000)
  })
}
