import { Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Knowledge from "../../src/internal/knowledge.js"

const slow = Effect.fail("slow path" as const)

describe("internal/knowledge", () => {
  it.effect("the hot path hands out the login while it has the default minTtl left", () =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      const login = yield* Fixtures.credentials({ ttl: "1 minute" })
      const knowledge = Knowledge.make(Option.some(login), 30_000, () => clock.unsafeCurrentTimeMillis())
      const hot = knowledge.hot(slow)
      expect(yield* hot).toBe(login)
      yield* TestClock.adjust("30 seconds")
      expect(yield* Effect.flip(hot)).toBe("slow path")
    }))

  it.effect("a write replaces what the hot path hands out; a removal empties it", () =>
    Effect.gen(function*() {
      const knowledge = Knowledge.make(Option.none(), 0, () => 0)
      const hot = knowledge.hot(slow)
      expect(yield* Effect.flip(hot)).toBe("slow path")
      const next = yield* Fixtures.credentials({ accessToken: "next" })
      knowledge.publish(next)
      expect(yield* hot).toBe(next)
      expect(knowledge.version()).toBe(1)
      knowledge.publish(undefined)
      expect(yield* Effect.flip(hot)).toBe("slow path")
    }))

  it.effect("invalidate: nothing known is handed out until a read is observed; a read started before is not taken", () =>
    Effect.gen(function*() {
      const login = yield* Fixtures.credentials({ ttl: "1 hour" })
      const knowledge = Knowledge.make(Option.some(login), 0, () => 0)
      const hot = knowledge.hot(slow)
      expect(yield* hot).toBe(login)
      const before = knowledge.version()
      knowledge.invalidate()
      expect(knowledge.stale()).toBe(true)
      expect(yield* Effect.flip(hot)).toBe("slow path")
      // a read that started before the invalidation must not be observed: the version moved
      expect(knowledge.version()).not.toBe(before)
      // the same credentials read again: handed out again, without a change published
      knowledge.observe(Option.some(login))
      expect(knowledge.stale()).toBe(false)
      expect(yield* hot).toBe(login)
      expect(knowledge.watched()).toBe(false)
    }))

  it.effect("changes: nothing is built before a subscriber; then the current value and each change", () =>
    Effect.gen(function*() {
      const first = yield* Fixtures.credentials({ accessToken: "first" })
      const knowledge = Knowledge.make(Option.some(first), 0, () => 0)
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(knowledge.changes, 3)))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      const second = yield* Fixtures.credentials({ accessToken: "second" })
      knowledge.publish(second)
      knowledge.publish(undefined)
      const values = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      expect(values).toEqual([Option.some(first), Option.some(second), Option.none()])
    }))

  it.effect("a read that finds what is known publishes nothing; a changed store is published", () =>
    Effect.gen(function*() {
      const first = yield* Fixtures.credentials({ accessToken: "first" })
      const knowledge = Knowledge.make(Option.some(first), 0, () => 0)
      // an equal copy (e.g. decoded from a file) is the same credentials
      knowledge.observe(Option.some(yield* Fixtures.credentials({ accessToken: "first" })))
      expect(knowledge.version()).toBe(0)
      knowledge.observe(Option.some(yield* Fixtures.credentials({ accessToken: "other" })))
      expect(knowledge.version()).toBe(1)
      knowledge.observe(Option.none())
      expect(knowledge.version()).toBe(2)
      expect(knowledge.login()).toBeUndefined()
    }))

  it.effect("a new login, or a changed store, drops API credentials and lifetimes", () =>
    Effect.gen(function*() {
      const login = yield* Fixtures.credentials()
      const knowledge = Knowledge.make(Option.some(login), 0, () => 0)
      const remember = () => {
        knowledge.setApi("api", login)
        knowledge.setLifetime("", 1000)
      }
      remember()
      knowledge.observe(Option.some(login)) // what was known: kept
      expect(knowledge.api("api")).toBe(login)
      const next = yield* Fixtures.credentials({ accessToken: "next" })
      knowledge.reset(next)
      expect([knowledge.api("api"), knowledge.lifetime(""), knowledge.login()]).toEqual([undefined, undefined, next])
      remember()
      knowledge.observe(Option.some(yield* Fixtures.credentials({ accessToken: "someone else's" })))
      expect([knowledge.api("api"), knowledge.lifetime("")]).toEqual([undefined, undefined])
    }))

  it.effect("close ends the changes stream", () =>
    Effect.gen(function*() {
      const knowledge = Knowledge.make(Option.none(), 0, () => 0)
      const seen = yield* Effect.fork(Stream.runCollect(knowledge.changes))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      yield* knowledge.close
      expect(Chunk.toReadonlyArray(yield* Fiber.join(seen))).toEqual([Option.none()])
    }))
})
