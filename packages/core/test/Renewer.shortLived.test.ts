// Tokens that live shorter than the default minTtl (a provider issuing
// 20-second tokens under the policy's 30-second default): the default minTtl
// is bounded by half the lifetime credentials were issued with, so `get`
// serves them for the first half of their life and renews in the second,
// instead of failing every call with TtlUnreachable. An explicit minTtl
// (of the get, or of the Renewer) stays strict.
import { Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"

const tokenRequests = Effect.flatMap(Emulator.Emulator, (e) => e.counters).pipe(Effect.map((c) => c.requests.token))

const layer = (renewer: Renewer.Options = {}) =>
  Fixtures.layerMemory({ emulator: { accessTokenLifetime: "20 seconds" }, renewer })

const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login()
  yield* Effect.flatMap(Renewer.Renewer, (renewer) => renewer.save(credentials))
  return credentials
})

/** A get that may have to renew: forked, the clock moved a little, joined. */
const getNow = (renewer: Renewer.Renewer.Service, options?: Renewer.GetOptions) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.either(renewer.get(options)))
    yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

describe("Renewer: tokens that live shorter than the default minTtl", () => {
  it.effect("repeated gets over minutes succeed, never TtlUnreachable, renewing a bounded number of times", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const seconds = 300
      for (let second = 0; second < seconds; second++) {
        const got = yield* getNow(renewer)
        if (got._tag === "Left") expect.fail(`a get failed after ${second} s: ${got.left.message}`)
        const now = yield* DateTime.now
        // what is handed out has at least half its 20-second life left
        expect(DateTime.distance(now, got.right.expiresAt)).toBeGreaterThan(10_000 - 1_000)
        yield* TestClock.adjust("1 second")
      }
      // one renewal at the start (the lifetime is not known yet), then about one every 10 seconds
      const requests = yield* tokenRequests
      expect(requests).toBeGreaterThanOrEqual(seconds / 10 - 1)
      expect(requests).toBeLessThanOrEqual(seconds / 10 + 2)
    }).pipe(Effect.provide(layer())))

  it.effect("a fresh renewer over the same store makes at most one request, then serves from what it learnt", () =>
    Effect.gen(function*() {
      yield* loggedIn
      for (let process = 0; process < 3; process++) {
        const before = yield* tokenRequests
        yield* Effect.scoped(Effect.gen(function*() {
          const renewer = yield* Renewer.make()
          for (let i = 0; i < 5; i++) {
            const got = yield* getNow(renewer)
            expect(got._tag).toBe("Right")
            yield* TestClock.adjust("1 second")
          }
        }))
        expect((yield* tokenRequests) - before).toBeLessThanOrEqual(1)
      }
    }).pipe(Effect.provide(layer())))

  it.effect("an explicit minTtl above the lifetime of a get still fails with TtlUnreachable", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      // the default works
      expect((yield* getNow(renewer))._tag).toBe("Right")
      const got = yield* getNow(renewer, { minTtl: "30 seconds" })
      expect(got._tag === "Left" && got.left._tag === "RenewalFailed" && got.left.reason).toBe("TtlUnreachable")
    }).pipe(Effect.provide(layer())))

  it.effect("an explicit minTtl of the Renewer above the lifetime still fails with TtlUnreachable", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      const first = yield* getNow(renewer)
      expect(first._tag === "Left" && first.left._tag === "RenewalFailed" && first.left.reason).toBe("TtlUnreachable")
      const requests = yield* tokenRequests
      const again = yield* getNow(renewer)
      expect(again._tag === "Left" && again.left._tag === "RenewalFailed" && again.left.reason).toBe("TtlUnreachable")
      // known to be unreachable: no request
      expect(yield* tokenRequests).toBe(requests)
    }).pipe(Effect.provide(layer({ minTtl: "30 seconds" }))))

  it.effect("tokens that live longer than twice the default keep the default minTtl", () =>
    Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* TestClock.adjust("3565 seconds") // 35 s left of a 1-hour token: no renewal
      expect((yield* getNow(renewer))._tag).toBe("Right")
      expect(yield* tokenRequests).toBe(0)
      yield* TestClock.adjust("10 seconds") // 25 s left: under the 30 s default
      expect((yield* getNow(renewer))._tag).toBe("Right")
      expect(yield* tokenRequests).toBe(1)
      const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("default"))
      expect(stored._tag).toBe("Some")
    }).pipe(Effect.provide(Fixtures.layerMemory())))
})
