import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/**
 * One run per key at a time, shared by everyone who asks while it runs.
 *
 * A run belongs to `scope`, not to the caller that started it: interrupting
 * any caller (the first included) interrupts neither the run nor what it
 * does with its result. Callers await its outcome; a run may let them go
 * early (`release`), and then the next caller for the key starts a new run.
 * An outcome is never kept: once a run is over, the next caller starts anew.
 * When the scope closes, a run is interrupted and its callers get
 * `onShutdown()`.
 *
 * @internal
 */
export interface SingleFlight<A, E> {
  /** The run in progress for `key`, if any. */
  readonly current: (key: string) => Flight<A, E> | undefined
  /**
   * Starts `run` for `key` (replacing the current run of that key for later
   * callers) and awaits its outcome.
   */
  readonly start: (key: string, run: (flight: Flight<A, E>) => Effect.Effect<A, E>) => Effect.Effect<A, E>
  /**
   * Stops: callers waiting now get `onShutdown()` at once, and so does every
   * later caller; the runs go on. Gives an effect that waits for them to end.
   */
  readonly close: () => Effect.Effect<void>
  /** Whether `close` was called. */
  readonly closed: () => boolean
  /** Keys with a run in progress (for tests). */
  readonly size: () => number
}

/** @internal */
export interface Flight<A, E> {
  /** Awaits the outcome. */
  readonly await: Effect.Effect<A, E>
  /** Settles the callers now (the run goes on); the key is free for a new run. */
  readonly release: (exit: Exit.Exit<A, E>) => void
}

/** @internal */
export const make = <A, E>(scope: Scope.Scope, onShutdown: () => E): SingleFlight<A, E> => {
  const flights = new Map<string, Flight<A, E>>()
  const running = new Set<Fiber.RuntimeFiber<A, E>>()
  let closed = false

  const start = (key: string, run: (flight: Flight<A, E>) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
    // Registering the run and its observer is not interrupted half-way: a
    // run nobody settles would make every later caller wait forever.
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(onShutdown())
        const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
        const flight: Flight<A, E> = {
          await: Deferred.await(deferred),
          release: (exit) => {
            if (flights.get(key) === flight) flights.delete(key)
            Deferred.unsafeDone(deferred, exit)
          }
        }
        flights.set(key, flight)
        // The observer settles the callers however the run ends, even when
        // the scope was already closed and the run never started.
        // forked interruptible, like the caller was: the scope may close
        return Effect.flatMap(Effect.forkIn(restore(Effect.suspend(() => run(flight))), scope), (fiber) => {
          running.add(fiber)
          fiber.addObserver((exit) => {
            running.delete(fiber)
            flight.release(
              Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? Exit.fail(onShutdown()) : exit
            )
          })
          return restore(flight.await)
        })
      })
    )

  const close = () => {
    closed = true
    for (const flight of [...flights.values()]) flight.release(Exit.fail(onShutdown()))
    return Effect.asVoid(Fiber.awaitAll([...running]))
  }

  return {
    current: (key) => flights.get(key),
    start,
    close,
    closed: () => closed,
    size: () => flights.size
  }
}
