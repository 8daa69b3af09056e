import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Timers from "../../src/internal/timers.js"

const setup = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const clock = yield* Effect.clock
  const timers = Timers.make(clock, Effect.succeed(scope))
  const fired: Array<string> = []
  const at = (millis: number, name: string) => timers.schedule(millis, () => fired.push(name))
  return { scope, timers, fired, at }
})

describe("internal/timers", () => {
  it.effect("runs each timer when the clock reaches it, in order", () =>
    Effect.gen(function*() {
      const { at, fired } = yield* setup
      yield* at(3000, "c")
      yield* at(1000, "a") // earlier than the one the timer fiber sleeps for
      yield* at(2000, "b")
      yield* TestClock.adjust("1500 millis")
      expect(fired).toEqual(["a"])
      yield* TestClock.adjust("2 seconds")
      expect(fired).toEqual(["a", "b", "c"])
    }))

  it.effect("a cancelled timer never runs and leaves the list at once", () =>
    Effect.gen(function*() {
      const { at, fired, timers } = yield* setup
      const cancel = yield* at(1000, "a")
      yield* at(2000, "b")
      cancel()
      expect(timers.pending()).toBe(1)
      yield* TestClock.adjust("5 seconds")
      expect(fired).toEqual(["b"])
      expect(timers.pending()).toBe(0)
    }))

  it.effect("many set-and-cancelled timers keep the list empty", () =>
    Effect.gen(function*() {
      const { at, timers } = yield* setup
      for (let i = 0; i < 10_000; i++) (yield* at(10_000 + i, "x"))()
      expect(timers.pending()).toBe(0)
    }))

  it.effect("timers set after the fiber went idle still run", () =>
    Effect.gen(function*() {
      const { at, fired } = yield* setup
      yield* at(1000, "a")
      yield* TestClock.adjust("2 seconds")
      yield* at(3000, "b")
      yield* TestClock.adjust("2 seconds")
      expect(fired).toEqual(["a", "b"])
    }))

  it.effect("closing the scope stops the timers", () =>
    Effect.gen(function*() {
      const { at, fired, scope } = yield* setup
      yield* at(1000, "a")
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("2 seconds")
      expect(fired).toEqual([])
    }))
})
