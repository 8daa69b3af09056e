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
  schedule(at: number, task: () => void): Effect.Effect<() => void>
  /** Timers set and not yet run or cancelled (for tests). */
  pending(): number
}

const starting = "starting" as const

interface Timer {
  readonly at: number
  readonly task: () => void
  cancelled: boolean
}

class TimersImpl implements Timers {
  // sorted by `at`; timers are nearly always added last
  private readonly timers: Array<Timer> = []
  // `starting` while a fiber is being forked
  private fiber: Fiber.RuntimeFiber<void> | typeof starting | undefined
  // when the fiber sleeps: until when (-Infinity while it runs or has not yet
  // run: it reads the timers then); when it waits for a timer: its wake-up
  private sleepingUntil = -Infinity
  private wake: Deferred.Deferred<void> | undefined
  private loopEffect: Effect.Effect<void> | undefined

  constructor(private readonly clock: Clock.Clock, private readonly scope: Effect.Effect<Scope.Scope>) {}

  private get loop(): Effect.Effect<void> {
    return this.loopEffect ??= Effect.suspend(() => {
      const timers = this.timers
      if (timers.length === 0) {
        const deferred = Deferred.unsafeMake<void>(FiberId.none)
        this.wake = deferred
        this.sleepingUntil = -Infinity
        return Effect.zipRight(Deferred.await(deferred), this.loop)
      }
      const now = this.clock.unsafeCurrentTimeMillis()
      const head = timers[0]!
      if (head.at > now) {
        this.sleepingUntil = head.at
        return Effect.zipRight(this.clock.sleep(Duration.millis(head.at - now)), this.loop)
      }
      this.sleepingUntil = -Infinity
      while (timers.length > 0 && timers[0]!.at <= now) {
        const due = timers.shift()!
        due.cancelled = true
        due.task()
      }
      return this.loop
    })
  }

  // interruptible, whatever the region it is started from: the scope's close interrupts it
  private start(): Effect.Effect<void> {
    return Effect.flatMap(
      this.scope,
      (scope) =>
        Effect.map(Effect.forkIn(Effect.interruptible(this.loop), scope), (started) => {
          this.fiber = started
        })
    )
  }

  schedule(at: number, task: () => void): Effect.Effect<() => void> {
    return Effect.suspend(() => {
      const timers = this.timers
      const timer: Timer = { at, task, cancelled: false }
      // a cancelled timer leaves the list at once (it is nearly always among
      // the last), so that the list holds only the live ones
      const cancel = () => {
        if (timer.cancelled) return
        timer.cancelled = true
        const index = timers.lastIndexOf(timer)
        if (index !== -1) timers.splice(index, 1)
      }
      let index = timers.length
      while (index > 0 && timers[index - 1]!.at > at) index--
      timers.splice(index, 0, timer)
      if (this.fiber === undefined) {
        // the first timer: the fiber starts (it reads the timers when it runs)
        this.fiber = starting
        return Effect.as(this.start(), cancel)
      }
      if (this.wake !== undefined) {
        const deferred = this.wake
        this.wake = undefined
        Deferred.unsafeDone(deferred, Effect.void)
      } else if (at < this.sleepingUntil && this.fiber !== starting) {
        // the fiber sleeps for a later timer: start over
        const sleeping = this.fiber
        this.fiber = starting
        return Effect.as(Effect.zipRight(Fiber.interruptFork(sleeping), this.start()), cancel)
      }
      return Effect.succeed(cancel)
    })
  }

  pending(): number {
    return this.timers.length
  }
}

/**
 * Timers on `clock`; the fiber is forked into `scope` (asked for when the
 * first timer is set, so that it may be created then).
 *
 * @internal
 */
export const make = (clock: Clock.Clock, scope: Effect.Effect<Scope.Scope>): Timers => new TimersImpl(clock, scope)
