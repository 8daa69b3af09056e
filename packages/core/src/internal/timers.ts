import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/**
 * Timers driven by a `Clock` (a `TestClock` in tests) without a fiber per
 * timer: one fiber, started in `scope` when the first timer is set, sleeps
 * until the earliest one and runs the due ones. Cancelling a timer takes it
 * off the list; the fiber is never interrupted for it (interrupting a fiber costs more than
 * the renewal it watches). Only a timer due before the one the fiber sleeps
 * for restarts the fiber.
 *
 * Tasks run synchronously on the timer fiber: they must be short and must not
 * throw.
 *
 * @internal
 */
export interface Timers {
  /** Runs `task` at `at` (epoch millis of the Clock) unless cancelled before; gives the cancel. */
  readonly schedule: (at: number, task: () => void) => Effect.Effect<() => void>
  /** Timers set and not yet run or cancelled (for tests). */
  readonly pending: () => number
}

const starting = "starting" as const

interface Timer {
  readonly at: number
  readonly task: () => void
  cancelled: boolean
}

/** @internal */
export const make = (clock: Clock.Clock, scope: Scope.Scope): Timers => {
  // sorted by `at`; timers are nearly always added last
  const timers: Array<Timer> = []
  // `starting` while a fiber is being forked
  let fiber: Fiber.RuntimeFiber<void> | typeof starting | undefined
  // when the fiber sleeps: until when (-Infinity while it runs or has not yet
  // run: it reads the timers then); when it waits for a timer: its wake-up
  let sleepingUntil = -Infinity
  let wake: Deferred.Deferred<void> | undefined

  const loop: Effect.Effect<void> = Effect.suspend(() => {
    if (timers.length === 0) {
      const deferred = Deferred.unsafeMake<void>(FiberId.none)
      wake = deferred
      sleepingUntil = -Infinity
      return Effect.zipRight(Deferred.await(deferred), loop)
    }
    const now = clock.unsafeCurrentTimeMillis()
    const head = timers[0]!
    if (head.at > now) {
      sleepingUntil = head.at
      return Effect.zipRight(clock.sleep(Duration.millis(head.at - now)), loop)
    }
    sleepingUntil = -Infinity
    while (timers.length > 0 && timers[0]!.at <= now) {
      const due = timers.shift()!
      due.cancelled = true
      due.task()
    }
    return loop
  })

  // interruptible, whatever the region it is started from: the scope's close interrupts it
  const start: Effect.Effect<void> = Effect.map(Effect.forkIn(Effect.interruptible(loop), scope), (started) => {
    fiber = started
  })

  const schedule = (at: number, task: () => void): Effect.Effect<() => void> =>
    Effect.suspend(() => {
      const timer: Timer = { at, task, cancelled: false }
      // a cancelled timer leaves the list at once (it is nearly always among
      // the last), so that the list holds only the live ones
      const cancel = () => {
        if (timer.cancelled) return
        timer.cancelled = true
        const at = timers.lastIndexOf(timer)
        if (at !== -1) timers.splice(at, 1)
      }
      let index = timers.length
      while (index > 0 && timers[index - 1]!.at > at) index--
      timers.splice(index, 0, timer)
      if (fiber === undefined) {
        // the first timer: the fiber starts (it reads the timers when it runs)
        fiber = starting
        return Effect.as(start, cancel)
      }
      if (wake !== undefined) {
        const deferred = wake
        wake = undefined
        Deferred.unsafeDone(deferred, Effect.void)
      } else if (at < sleepingUntil && fiber !== starting) {
        // the fiber sleeps for a later timer: start over
        const sleeping = fiber
        fiber = starting
        return Effect.as(Effect.zipRight(Fiber.interruptFork(sleeping), start), cancel)
      }
      return Effect.succeed(cancel)
    })

  return {
    schedule,
    pending: () => timers.length
  }
}
