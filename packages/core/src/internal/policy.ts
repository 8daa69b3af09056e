import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Schedule from "effect/Schedule"
import { type AuthenticationError, classify, type LoginRequired, NetworkError, RenewalFailed } from "../AuthError.js"
import type { Policy } from "../RenewalPolicy.js"
import * as Logs from "./logs.js"
import type { Timers } from "./timers.js"

/**
 * The retry policy, in one place: which failures are retried, on which
 * schedule (never sooner than a `Retry-After` asks, never past the deadline,
 * not at all for a `Retry-After` beyond `maxRetryAfter`), when the callers
 * may stop waiting, and when a request that was sent is abandoned.
 *
 * A request that was sent is not given up early: the server may have
 * processed it and rotated the refresh token, and a second request with the
 * old one would look like reuse. So the callers are let go (a transient
 * timeout after `attemptTimeout`, `Deadline` at the deadline) while the
 * request goes on; only `abandonAfter`, counted from the start, abandons it.
 *
 * @internal
 */
export interface Runner {
  /**
   * Watches the callers of a renewal from now: at the deadline they are
   * released with `Deadline` (naming the last failure the run noted).
   */
  readonly watch: (release: (error: RenewalFailed) => void) => Effect.Effect<Watch>
  /**
   * Runs `attempt` under the policy for the callers `watch` watches. Must run
   * on a fiber of its own (a renewal's), where it cannot be interrupted
   * (inside `uninterruptibleMask`): only the attempts and the waits between
   * them can be, so that an answer, once in, is never dropped. At
   * `abandonAfter` that fiber is interrupted, and the run fails with
   * `Deadline`; interrupted otherwise, the run is interrupted too.
   */
  readonly run: <A, E extends AuthenticationError | LoginRequired>(
    attempt: Effect.Effect<A, E>,
    watch: Watch
  ) => Effect.Effect<A, E | RenewalFailed>
}

/** @internal */
export interface Watch {
  readonly startedAt: number
  readonly deadlineAt: number
  readonly release: (error: RenewalFailed) => void
  /** The callers are no longer watched (the renewal is over). */
  readonly stop: () => void
  /** The last failure of the run, named by the deadline's error. */
  last: AuthenticationError | undefined
  /** Attempts made so far (requests sent), for the renewal's span. */
  attempts: number
}

/** @internal */
export const make = (policy: Policy, clock: Clock.Clock, timers: Timers): Runner => {
  const attemptMillis = Duration.toMillis(policy.attemptTimeout)
  const deadlineMillis = Duration.toMillis(policy.deadline)
  const abandonMillis = Math.max(deadlineMillis, Duration.toMillis(policy.abandonAfter))
  const now = () => clock.unsafeCurrentTimeMillis()

  // `Retry-After` merged into the schedule; every delay capped by the time left
  const schedule = (deadlineAt: number) =>
    Schedule.intersect(policy.retry, Schedule.identity<AuthenticationError>()).pipe(
      Schedule.modifyDelay(([, error], delay) => {
        const asked = error._tag === "AuthApiError" && error.retryAfter !== undefined
          ? Duration.max(delay, error.retryAfter)
          : delay
        return Duration.millis(Math.round(Math.min(Duration.toMillis(asked), Math.max(0, deadlineAt - now()))))
      })
    )

  const deadlineExceeded = (last: AuthenticationError | undefined) =>
    new RenewalFailed({
      reason: "Deadline",
      description: `renewal did not finish within ${Duration.format(policy.deadline)}${
        last === undefined ? "" : `; last failure: ${last.message}`
      }`,
      cause: last
    })
  const attemptTimedOut = () =>
    new RenewalFailed({
      reason: "Transient",
      description: `no answer within ${
        Duration.format(policy.attemptTimeout)
      }; the request goes on and a late answer will be saved`,
      cause: new NetworkError({
        reason: "Timeout",
        description: `renewal attempt took longer than ${Duration.format(policy.attemptTimeout)}`
      })
    })

  const watch = (release: (error: RenewalFailed) => void): Effect.Effect<Watch> =>
    Effect.suspend(() => {
      const startedAt = now()
      let cancel = () => {}
      const watched: Watch = {
        startedAt,
        deadlineAt: startedAt + deadlineMillis,
        release,
        stop: () => cancel(),
        last: undefined,
        attempts: 0
      }
      return Effect.map(timers.schedule(watched.deadlineAt, () => release(deadlineExceeded(watched.last))), (c) => {
        cancel = c
        return watched
      })
    })

  const run = <A, E extends AuthenticationError | LoginRequired>(
    attempt: Effect.Effect<A, E>,
    watched: Watch
  ): Effect.Effect<A, E | RenewalFailed> =>
    Effect.withFiberRuntime((fiber) => {
      const { deadlineAt } = watched
      let abandoned = false

      // One attempt: interruptible while the request is out, and only then.
      // Callers are let go when it is slow; the request goes on.
      const once = Effect.suspend((): Effect.Effect<A, E | RenewalFailed> => {
        const left = deadlineAt - now()
        if (left <= 0) return Effect.fail(deadlineExceeded(watched.last))
        watched.attempts++
        const sent = Logs.lateAnswer(Effect.interruptible(attempt), now, Math.min(now() + attemptMillis, deadlineAt))
        if (left <= attemptMillis) return sent
        return Effect.flatMap(
          timers.schedule(now() + attemptMillis, () => watched.release(attemptTimedOut())),
          (cancel) => Effect.ensuring(sent, Effect.sync(cancel))
        )
      })

      const retryable = (error: E | RenewalFailed): error is Extract<E, AuthenticationError> => {
        if (error._tag !== "AuthApiError" && error._tag !== "NetworkError") return false
        watched.last = error
        if (classify(error) !== "Transient") return false
        const after = error._tag === "AuthApiError" ? error.retryAfter : undefined
        return after === undefined ||
          (Duration.lessThanOrEqualTo(after, policy.maxRetryAfter) && Duration.toMillis(after) < deadlineAt - now())
      }

      // The retry machinery starts only after a first failure: a renewal that
      // succeeds at once pays nothing for it. The waits between attempts can
      // be interrupted (the layer's scope closes), like the attempts.
      const withRetries = Effect.catchAll(once, (first) => {
        if (!retryable(first)) return Effect.fail(first)
        return Effect.flatMap(Schedule.driver(schedule(deadlineAt)), (driver) => {
          const retry = (error: Extract<E, AuthenticationError>): Effect.Effect<A, E | RenewalFailed> =>
            Effect.matchEffect(Effect.interruptible(Logs.retry(driver.next(error), error, watched, now)), {
              onFailure: () => Effect.fail(error), // the schedule is exhausted
              onSuccess: () => Effect.catchAll(once, (next) => retryable(next) ? retry(next) : Effect.fail(next))
            })
          return retry(first)
        })
      })

      const abandon = () => {
        abandoned = true
        fiber.unsafeInterruptAsFork(FiberId.none)
      }
      return Effect.flatMap(timers.schedule(watched.startedAt + abandonMillis, abandon), (cancel) =>
        Effect.flatMap(Effect.exit(withRetries), (exit) => {
          cancel()
          if (Exit.isSuccess(exit) || !Cause.isInterrupted(exit.cause)) {
            return exit
          }
          // abandoned (the callers were released at the deadline); a shutdown
          // stays an interruption
          return abandoned ? Effect.fail(deadlineExceeded(watched.last)) : exit
        }))
    })

  return { watch, run }
}
