/**
 * How the `Renewer` renews: which failures it retries and how often, how long
 * one attempt and the whole renewal may take, and how much lifetime
 * credentials must have left to be handed out.
 *
 * The policy is a `Context.Reference`: without a layer the `Renewer` uses
 * {@link defaultPolicy}; {@link layer} replaces some of its settings. Provide
 * it to the `Renewer`'s layer, which reads it when it is built.
 *
 * @example
 * ```ts
 * import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as Layer from "effect/Layer"
 *
 * // A Renewer that gives up sooner: 2 retries, 5s per attempt, 10s in all.
 * const RenewerLive = Renewer.layer().pipe(
 *   Layer.provide(
 *     RenewalPolicy.layer({
 *       retry: RenewalPolicy.exponentialBackoff({ base: "100 millis", max: "2 seconds", retries: 2 }),
 *       attemptTimeout: "5 seconds",
 *       deadline: "10 seconds"
 *     })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { type AuthenticationError, InvalidConfiguration } from "./AuthError.js"
import * as Durations from "./internal/durations.js"

/**
 * The settings of renewal, each always given: what {@link RenewalPolicy}
 * holds. {@link make} builds one from {@link Options}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /**
   * The delays between attempts. Only answered transient failures and
   * transport errors are retried (see `AuthError.isTransient`), never sooner
   * than a `Retry-After` asks, never past the deadline.
   */
  readonly retry: Schedule.Schedule<unknown, AuthenticationError>
  /**
   * How long callers wait for one unanswered request: then they fail with a
   * transient timeout, while the request goes on (it may have rotated the
   * refresh token) and a late answer is saved.
   */
  readonly attemptTimeout: Duration.Duration
  /**
   * How long callers wait for a renewal, retries included: then they fail
   * with `Deadline`. No attempt starts after it, but a request already sent
   * goes on (its answer may have rotated the refresh token) until
   * `abandonAfter`, and a late answer is saved.
   */
  readonly deadline: Duration.Duration
  /**
   * How long, from its start, a renewal may wait for a request already sent
   * before it abandons it (at least the deadline). An answer lost that way
   * may have rotated the refresh token: keep it well above the deadline.
   */
  readonly abandonAfter: Duration.Duration
  /**
   * How much lifetime credentials must have left, when neither a `get` nor
   * the `Renewer` says: at most half the lifetime renewed credentials were
   * issued with (tokens that live shorter than it are served for the first
   * half of their life).
   */
  readonly minTtl: Duration.Duration
  /** A `Retry-After` longer than this is not waited for: the renewal fails. */
  readonly maxRetryAfter: Duration.Duration
}

/**
 * Exponential backoff with full jitter between 80% and 120% of each delay,
 * each delay capped at `max`, at most `retries` retries.
 *
 * @example
 * ```ts
 * import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
 *
 * // about 500ms, 1s, 2s, 4s, 5s, 5s between the attempts: 7 attempts in all
 * const retry = RenewalPolicy.exponentialBackoff({ base: "500 millis", max: "5 seconds", retries: 6 })
 * const Policy = RenewalPolicy.layer({ retry, deadline: "1 minute" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const exponentialBackoff = (options: {
  readonly base: Duration.DurationInput
  readonly factor?: number | undefined
  readonly max: Duration.DurationInput
  readonly retries: number
}): Schedule.Schedule<unknown, AuthenticationError> => {
  const max = Duration.decode(options.max)
  return Schedule.exponential(options.base, options.factor ?? 2).pipe(
    Schedule.jittered,
    // whole milliseconds: a TestClock moved by fractional ones cannot report nanoseconds
    Schedule.modifyDelay((_, delay) => Duration.millis(Math.round(Duration.toMillis(Duration.min(delay, max))))),
    Schedule.intersect(Schedule.recurs(options.retries)),
    Schedule.as<unknown>(undefined)
  )
}

/**
 * The defaults: 4 retries from 250ms doubling up to 10s, 10s per attempt, 30s
 * in all for the callers, a request already sent abandoned after 2 minutes, a
 * `minTtl` of 30s, and `Retry-After` honoured up to 60s.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: Policy = {
  retry: exponentialBackoff({ base: "250 millis", max: "10 seconds", retries: 4 }),
  attemptTimeout: Duration.seconds(10),
  deadline: Duration.seconds(30),
  abandonAfter: Duration.minutes(2),
  minTtl: Duration.seconds(30),
  maxRetryAfter: Duration.seconds(60)
}

/**
 * The policy in force: {@link defaultPolicy} unless a layer provides another.
 *
 * @since 0.1.0
 * @category tags
 */
export class RenewalPolicy extends Context.Reference<RenewalPolicy>()("@effect-renewal/core/RenewalPolicy", {
  defaultValue: (): Policy => defaultPolicy
}) {}

/**
 * Settings that replace those of {@link defaultPolicy}, each the field of
 * {@link Policy} of the same name; durations in any `Duration.DurationInput`
 * form (`"10 seconds"`, milliseconds as a number, a `Duration`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly retry?: Schedule.Schedule<unknown, AuthenticationError> | undefined
  readonly attemptTimeout?: Duration.DurationInput | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly abandonAfter?: Duration.DurationInput | undefined
  readonly minTtl?: Duration.DurationInput | undefined
  readonly maxRetryAfter?: Duration.DurationInput | undefined
}

/**
 * The default policy with some settings replaced. A setting that cannot be
 * used fails with `InvalidConfiguration` naming it: a duration that is not
 * one (`"soon"`), negative, not finite or above 100 years, and an
 * `attemptTimeout` or `deadline` of zero.
 *
 * @example
 * ```ts
 * import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
 * import * as Duration from "effect/Duration"
 * import * as Effect from "effect/Effect"
 *
 * const policy = Effect.runSync(RenewalPolicy.make({ minTtl: "2 minutes" }))
 * console.log(Duration.toSeconds(policy.minTtl)) // 120
 * console.log(Duration.toSeconds(policy.deadline)) // 30, the default
 *
 * const wrong = Effect.runSync(Effect.flip(RenewalPolicy.make({ deadline: -1 })))
 * console.log(wrong.message) // "Invalid configuration: the RenewalPolicy's deadline must be a duration of at least zero"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Policy, InvalidConfiguration> => {
  const setting = (field: Exclude<keyof Options, "retry">, positive: boolean) =>
    Effect.suspend(() => {
      const input = options[field]
      if (input === undefined) return Effect.succeed(defaultPolicy[field])
      const millis = Durations.decode(input, `the RenewalPolicy's ${field}`, { positive })
      return typeof millis === "number"
        ? Effect.succeed(Duration.millis(millis))
        : Effect.fail(new InvalidConfiguration({ description: millis }))
    })
  return Effect.all({
    retry: Effect.succeed(options.retry ?? defaultPolicy.retry),
    attemptTimeout: setting("attemptTimeout", true),
    deadline: setting("deadline", true),
    abandonAfter: setting("abandonAfter", false),
    minTtl: setting("minTtl", false),
    maxRetryAfter: setting("maxRetryAfter", false)
  })
}

/**
 * Provides a policy to everything built after it; fails with
 * `InvalidConfiguration` when a setting cannot be used (see {@link make}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RenewalPolicy, InvalidConfiguration> =>
  Layer.effect(RenewalPolicy, make(options))
