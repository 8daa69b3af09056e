import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Schedule from "effect/Schedule"
import { type AuthenticationError, classify, type LoginRequired, NetworkError, RenewalFailed } from "../AuthError.js"
import type { Policy } from "../RenewalPolicy.js"
import type { Timers } from "./timers.js"

/**
 * The retry policy, in one place: which failures are retried, on which
 * schedule (never sooner than a `Retry-After` asks, never past the deadline,
 * not at all for a `Retry-After` beyond `maxRetryAfter`), when the callers
 * may stop waiting for a slow attempt, and when a request is abandoned.
 *
 * @internal
 */
export interface Runner {
  /**
   * Runs `attempt` under the policy. Must be called where the caller cannot
   * be interrupted (the renewal's fiber, inside `uninterruptibleMask`): only
   * the attempts themselves and the waits between them can be interrupted,
   * so that an answer, once in, is never dropped by an interruption.
   *
   * A request that was sent is not given up before the deadline: the server
   * may have processed it and rotated the refresh token, and a second request
   * with the old one would look like reuse. When an attempt is slower than
   * `attemptTimeout`, `release` lets the callers go (a transient timeout)
   * while the request goes on. At the deadline `release` gets the deadline
   * error and the attempt is interrupted. Interrupted otherwise (the layer's
   * scope closes), the run is interrupted too.
   */
  readonly run: <A, E extends AuthenticationError | LoginRequired>(
    attempt: Effect.Effect<A, E>,
    release: (error: RenewalFailed) => void
  ) => Effect.Effect<A, E | RenewalFailed>
}

/** @internal */
export const make = (policy: Policy, clock: Clock.Clock, timers: Timers): Runner => {
  const attemptMillis = Duration.toMillis(policy.attemptTimeout)
  const deadlineMillis = Duration.toMillis(policy.deadline)
  // `Retry-After` merged into the schedule; every delay capped by the time left
  const schedule = (deadlineAt: number) =>
    Schedule.intersect(policy.retry, Schedule.identity<AuthenticationError>()).pipe(
      Schedule.modifyDelay(([, error], delay) => {
        const asked = error._tag === "AuthApiError" && error.retryAfter !== undefined
          ? Duration.max(delay, error.retryAfter)
          : delay
        return Duration.min(asked, Duration.millis(Math.max(0, deadlineAt - clock.unsafeCurrentTimeMillis())))
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
      }; the request goes on until the deadline and a late answer will be saved`,
      cause: new NetworkError({
        reason: "Timeout",
        description: `renewal attempt took longer than ${Duration.format(policy.attemptTimeout)}`
      })
    })

  const run = <A, E extends AuthenticationError | LoginRequired>(
    attempt: Effect.Effect<A, E>,
    release: (error: RenewalFailed) => void
  ): Effect.Effect<A, E | RenewalFailed> =>
    Effect.withFiberRuntime((fiber) => {
      const deadlineAt = clock.unsafeCurrentTimeMillis() + deadlineMillis
      const remaining = () => deadlineAt - clock.unsafeCurrentTimeMillis()
      let last: AuthenticationError | undefined
      let deadlinePassed = false
      const onDeadline = () => {
        deadlinePassed = true
        release(deadlineExceeded(last))
        fiber.unsafeInterruptAsFork(FiberId.none)
      }

      // One attempt: interruptible while the request is out, and only then.
      const once = Effect.suspend((): Effect.Effect<A, E | RenewalFailed> => {
        const left = remaining()
        if (left <= 0) return Effect.fail(deadlineExceeded(last))
        if (left <= attemptMillis) return Effect.interruptible(attempt)
        return Effect.flatMap(
          timers.schedule(clock.unsafeCurrentTimeMillis() + attemptMillis, () => release(attemptTimedOut())),
          (cancel) => Effect.ensuring(Effect.interruptible(attempt), Effect.sync(cancel))
        )
      })

      const retryable = (error: E | RenewalFailed): error is Extract<E, AuthenticationError> => {
        if (error._tag !== "AuthApiError" && error._tag !== "NetworkError") return false
        last = error
        if (classify(error) !== "Transient") return false
        const after = error._tag === "AuthApiError" ? error.retryAfter : undefined
        return after === undefined ||
          (Duration.lessThanOrEqualTo(after, policy.maxRetryAfter) && Duration.toMillis(after) < remaining())
      }

      // The retry machinery starts only after a first failure: a renewal that
      // succeeds at once pays nothing for it. The waits between attempts can
      // be interrupted (the layer's scope closes), like the attempts.
      const withRetries = Effect.catchAll(once, (first) => {
        if (!retryable(first)) return Effect.fail(first)
        return Effect.flatMap(Schedule.driver(schedule(deadlineAt)), (driver) => {
          const retry = (error: Extract<E, AuthenticationError>): Effect.Effect<A, E | RenewalFailed> =>
            Effect.matchEffect(Effect.interruptible(driver.next(error)), {
              onFailure: () => Effect.fail(error), // the schedule is exhausted
              onSuccess: () => Effect.catchAll(once, (next) => retryable(next) ? retry(next) : Effect.fail(next))
            })
          return retry(first)
        })
      })

      return Effect.flatMap(timers.schedule(deadlineAt, onDeadline), (cancel) =>
        Effect.flatMap(Effect.exit(withRetries), (exit) => {
          cancel()
          if (Exit.isSuccess(exit) || !Cause.isInterrupted(exit.cause)) {
            return exit
          }
          // abandoned at the deadline (the callers already have the error); a
          // shutdown stays an interruption
          return deadlinePassed ? Effect.fail(deadlineExceeded(last)) : exit
        }))
    })

  return { run }
}
