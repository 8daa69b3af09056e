import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"

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
  current(key: string): Flight<A, E> | undefined
  /**
   * Starts `run` for `key` (replacing the current run of that key for later
   * callers) and awaits its outcome.
   */
  start(key: string, run: (flight: Flight<A, E>) => Effect.Effect<A, E>): Effect.Effect<A, E>
  /**
   * Stops: callers waiting now get `onShutdown()` at once, and so does every
   * later caller; the runs go on. Gives an effect that waits for them to end.
   */
  close(): Effect.Effect<void>
  /** Whether `close` was called. */
  closed(): boolean
  /** Keys with a run in progress (for tests). */
  size(): number
}

/** @internal */
export interface Flight<A, E> {
  /** Awaits the outcome. */
  readonly await: Effect.Effect<A, E>
  /** Settles the callers now (the run goes on); the key is free for a new run. */
  readonly release: (exit: Exit.Exit<A, E>) => void
  /** The span of the run, once the run has made one: callers who join link to it. */
  span: Tracer.Span | undefined
}

/**
 * What the callers of a run wait for: settled once, by the first `done`.
 * (A `Deferred` does the same; this one costs a fraction of it to make, and
 * one is made per renewal.)
 */
class Outcome<A, E> {
  private exit: Exit.Exit<A, E> | undefined
  private waiters: Array<(exit: Exit.Exit<A, E>) => void> | undefined

  readonly await: Effect.Effect<A, E> = Effect.async<A, E>((resume) => {
    if (this.exit !== undefined) return resume(this.exit)
    const waiter = (exit: Exit.Exit<A, E>) => resume(exit)
    ;(this.waiters ??= []).push(waiter)
    // an interrupted caller stops waiting; the run goes on
    return Effect.sync(() => {
      const index = this.waiters?.indexOf(waiter) ?? -1
      if (index !== -1) this.waiters!.splice(index, 1)
    })
  })

  done(exit: Exit.Exit<A, E>): void {
    if (this.exit !== undefined) return
    this.exit = exit
    const waiters = this.waiters
    this.waiters = undefined
    if (waiters !== undefined) { for (const waiter of waiters) waiter(exit) }
  }
}

class SingleFlightImpl<A, E> implements SingleFlight<A, E> {
  // created with the first run
  private flights: Map<string, Flight<A, E>> | undefined
  private running: Set<Fiber.RuntimeFiber<Exit.Exit<A, E>>> | undefined
  private stopped = false

  constructor(private readonly scope: Effect.Effect<Scope.Scope>, private readonly onShutdown: () => E) {}

  current(key: string): Flight<A, E> | undefined {
    return this.flights?.get(key)
  }

  start(key: string, run: (flight: Flight<A, E>) => Effect.Effect<A, E>): Effect.Effect<A, E> {
    // Registering the run and its observer is not interrupted half-way: a
    // run nobody settles would make every later caller wait forever.
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (this.stopped) return Effect.fail(this.onShutdown())
        const flights = this.flights ??= new Map()
        const running = this.running ??= new Set()
        const outcome = new Outcome<A, E>()
        const flight: Flight<A, E> = {
          await: outcome.await,
          release: (exit) => {
            if (flights.get(key) === flight) flights.delete(key)
            outcome.done(exit)
          },
          span: undefined
        }
        flights.set(key, flight)
        // forked interruptible, like the caller was: the scope may close. Its
        // failure goes to the callers, not to the log as an unhandled error
        // (whose line would show a StoreError's message: the session key):
        // the fiber ends with the run's exit as its value. (Not
        // `withUnhandledErrorLogLevel`: setting a FiberRef around the fork
        // cost each renewal more than the rest of the flight.)
        const forked = Effect.flatMap(this.scope, (scope) =>
          Effect.forkIn(restore(Effect.exit(Effect.suspend(() => run(flight)))), scope))
        return Effect.flatMap(forked, (fiber) => {
          running.add(fiber)
          // The observer settles the callers however the run ends, even when
          // the scope was already closed and the run never started.
          fiber.addObserver((ended) => {
            running.delete(fiber)
            const exit: Exit.Exit<A, E> = Exit.isSuccess(ended) ? ended.value : Exit.failCause(ended.cause)
            flight.release(
              Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? Exit.fail(this.onShutdown()) : exit
            )
          })
          return restore(flight.await)
        })
      })
    )
  }

  close(): Effect.Effect<void> {
    this.stopped = true
    if (this.flights !== undefined) {
      for (const flight of [...this.flights.values()]) flight.release(Exit.fail(this.onShutdown()))
    }
    return this.running === undefined ? Effect.void : Effect.asVoid(Fiber.awaitAll([...this.running]))
  }

  closed(): boolean {
    return this.stopped
  }

  size(): number {
    return this.flights?.size ?? 0
  }
}

/**
 * A flight group whose runs are forked into `scope` (asked for at the first
 * run, so that it may be created then).
 *
 * @internal
 */
export const make = <A, E>(scope: Effect.Effect<Scope.Scope>, onShutdown: () => E): SingleFlight<A, E> =>
  new SingleFlightImpl(scope, onShutdown)
