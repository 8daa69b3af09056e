import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import * as SingleFlight from "../../src/internal/singleFlight.js"

const shutdown = () => "shutdown" as const

// lets forked fibers (and the runs they fork) start
const tick = Effect.repeatN(Effect.yieldNow(), 10)

// A flight group over a fresh scope, and a run that counts its starts and waits for `gate`.
const setup = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const flights = SingleFlight.make<number, string>(Effect.succeed(scope), shutdown)
  const gate = yield* Deferred.make<number, string>()
  let runs = 0
  const run = () =>
    Effect.suspend(() => {
      runs++
      return Deferred.await(gate)
    })
  const call = (key: string) =>
    Effect.suspend(() => {
      const current = flights.current(key)
      return current === undefined ? flights.start(key, run) : current.await
    })
  return { scope, flights, gate, call, runs: () => runs }
})

describe("internal/singleFlight", () => {
  it.effect("callers of one key share one run and its outcome", () =>
    Effect.gen(function*() {
      const { call, flights, gate, runs } = yield* setup
      const callers = yield* Effect.forkAll(Array.from({ length: 100 }, () => call("a")))
      yield* tick
      expect(runs()).toBe(1)
      expect(flights.size()).toBe(1)
      yield* Deferred.succeed(gate, 7)
      expect(yield* Fiber.join(callers)).toEqual(Array.from({ length: 100 }, () => 7))
      expect(flights.size()).toBe(0)
    }))

  it.effect("other keys run on their own", () =>
    Effect.gen(function*() {
      const { call, gate, runs } = yield* setup
      const a = yield* Effect.fork(call("a"))
      const b = yield* Effect.fork(call("b"))
      yield* tick
      expect(runs()).toBe(2)
      yield* Deferred.succeed(gate, 1)
      expect([yield* Fiber.join(a), yield* Fiber.join(b)]).toEqual([1, 1])
    }))

  it.effect("a run that fails or dies is not logged as an unhandled error: its outcome goes to the callers", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const flights = SingleFlight.make<number, string>(Effect.succeed(scope), shutdown)
      const lines: Array<unknown> = []
      const collector = Logger.make((options) => {
        lines.push(options.message)
      })
      const logged = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, collector)),
          Logger.withMinimumLogLevel(LogLevel.All)
        )
      const failed = yield* logged(Effect.exit(flights.start("a", () => Effect.fail("alice's session key"))))
      const died = yield* logged(Effect.exit(flights.start("b", () => Effect.die("alice's session key"))))
      yield* tick
      expect(failed).toEqual(Exit.fail("alice's session key"))
      expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
      expect(lines).toEqual([])
    }))

  it.effect("a failure is not kept: the next caller runs again", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const flights = SingleFlight.make<number, string>(Effect.succeed(scope), shutdown)
      let runs = 0
      const failing = () => Effect.suspend(() => (runs++, Effect.fail("boom")))
      expect(yield* Effect.flip(flights.start("a", failing))).toBe("boom")
      expect(yield* Effect.flip(flights.start("a", failing))).toBe("boom")
      expect(runs).toBe(2)
    }))

  it.effect("interrupting the caller that started the run interrupts neither the run nor its outcome", () =>
    Effect.gen(function*() {
      const { call, gate, runs } = yield* setup
      const first = yield* Effect.fork(call("a"))
      yield* tick
      yield* Fiber.interrupt(first)
      const second = yield* Effect.fork(call("a"))
      yield* tick
      expect(runs()).toBe(1) // the second caller joined the run the first one started
      yield* Deferred.succeed(gate, 3)
      expect(yield* Fiber.join(second)).toBe(3)
    }))

  it.effect("release lets the callers go while the run goes on; the next caller starts anew", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const flights = SingleFlight.make<number, string>(Effect.succeed(scope), shutdown)
      const gate = yield* Deferred.make<number>()
      const finished = yield* Deferred.make<number>()
      const caller = yield* Effect.fork(
        flights.start("a", (flight) =>
          Effect.zipRight(
            Effect.sync(() => flight.release(Exit.fail("slow"))),
            Effect.tap(Deferred.await(gate), (n) => Deferred.succeed(finished, n))
          ))
      )
      expect(yield* Effect.flip(Fiber.join(caller))).toBe("slow")
      expect(flights.current("a")).toBeUndefined()
      yield* Deferred.succeed(gate, 5)
      expect(yield* Deferred.await(finished)).toBe(5) // the run went on
    }))

  it.effect("closing the scope interrupts the run and its callers get the shutdown error", () =>
    Effect.gen(function*() {
      const { call, scope } = yield* setup
      const caller = yield* Effect.fork(call("a"))
      yield* tick
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.flip(Fiber.join(caller))).toBe("shutdown")
      // after the close, a new run cannot start: its callers do not hang
      expect(yield* Effect.flip(call("a"))).toBe("shutdown")
    }))
})
