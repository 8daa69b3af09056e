import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * The metrics of the `Renewer`, defined once for the process (Effect keeps
 * metrics in one registry per process, by name and tags). None is updated on
 * the hot path. No tag holds a session key or its hash: a tag per session
 * would make a series per user.
 *
 * @internal
 */

/** @internal */
export const renewals = Metric.counter("effect_renewal_renewals", {
  description: "Renewals run (one per single flight, however many callers joined it), by outcome and reason",
  incremental: true
})

/** @internal */
export const renewalDuration = Metric.histogram(
  "effect_renewal_renewal_duration_seconds",
  // 5 ms to about 82 s: a renewal is bounded by the policy's deadline (30 s by default)
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 16 }),
  "How long a renewal took, lock wait included, in seconds (on the Clock), by outcome"
)

/** @internal */
export const joins = Metric.counter("effect_renewal_joins", {
  description: "Callers of get that joined a renewal already in flight instead of starting one",
  incremental: true
})

/** @internal */
export const lockWait = Metric.histogram(
  "effect_renewal_lock_wait_seconds",
  // 1 ms to about 16 s: in-process locks land in the first bucket, cross-process ones spread
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
  "How long the Renewer waited for the TokenStore's lock of a session, in seconds (on the Clock)"
)

/** @internal */
export const storeErrors = Metric.counter("effect_renewal_store_errors", {
  description:
    "TokenStore operations of the Renewer that failed, by operation (get, set, remove, lock, encode, decode)",
  incremental: true
})

/** @internal */
export const refreshTokensDropped = Metric.counter("effect_renewal_refresh_tokens_dropped", {
  description: "Refresh tokens removed from the store after the server definitively rejected them (invalid_grant)",
  incremental: true
})
