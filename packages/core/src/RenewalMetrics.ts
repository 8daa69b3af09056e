/**
 * The metrics the `Renewer` records, as Effect `Metric`s: read them with
 * `Metric.value`, export them with `@effect/opentelemetry` (see
 * `docs/observability.md`), or find them by name in `Metric.snapshot`.
 *
 * Nothing is recorded on the hot path (credentials known and valid). The tags
 * are bounded sets (outcome, reason, operation): no session key, nor its hash,
 * so that a process with many sessions keeps a few series. Durations are in
 * seconds, measured on the `Clock`.
 *
 * ```ts
 * import * as RenewalMetrics from "@effect-renewal/core/RenewalMetrics"
 * import * as Effect from "effect/Effect"
 * import * as Metric from "effect/Metric"
 *
 * const joinedSoFar = Effect.map(Metric.value(RenewalMetrics.joins), (state) => state.count)
 * ```
 *
 * @since 0.3.0
 */
import type * as Metric from "effect/Metric"
import * as internal from "./internal/metrics.js"

/**
 * `effect_renewal_renewals`: renewals run, one per single flight however
 * many callers joined it. Tagged `outcome`: `success` (renewed and saved),
 * `already_valid` (no request: the store, read again, held credentials that
 * meet the request), `LoginRequired`, `RenewalFailed`, `StoreError`,
 * `interrupted` (the Renewer's scope closed) or `defect`; and, for
 * `LoginRequired` and `RenewalFailed`, `reason` (e.g.
 * `RefreshTokenRejected`, `Transient`, `Deadline`). The untagged counter
 * stays at zero: read a tagged one with `Metric.tagged`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const renewals: Metric.Metric.Counter<number> = internal.renewals

/**
 * `effect_renewal_renewal_duration_seconds`: how long each renewal took, in
 * seconds, from its start (the wait for the store's lock included) to its
 * end, tagged `outcome`. Buckets from 5 ms to about 82 s.
 *
 * @since 0.3.0
 * @category metrics
 */
export const renewalDuration: Metric.Metric.Histogram<number> = internal.renewalDuration

/**
 * `effect_renewal_joins`: callers of `get` that joined a renewal already in
 * flight instead of starting one.
 *
 * @since 0.3.0
 * @category metrics
 */
export const joins: Metric.Metric.Counter<number> = internal.joins

/**
 * `effect_renewal_lock_wait_seconds`: how long the `Renewer` waited for the
 * `TokenStore`'s lock of its session (renewals, `save`, `clear`), in
 * seconds. Buckets from 1 ms to about 16 s.
 *
 * @since 0.3.0
 * @category metrics
 */
export const lockWait: Metric.Metric.Histogram<number> = internal.lockWait

/**
 * `effect_renewal_store_errors`: `TokenStore` operations of the `Renewer`
 * that failed, tagged `operation` (the `StoreError`'s: `get`, `set`,
 * `remove`, `lock`, `encode`, `decode`).
 *
 * @since 0.3.0
 * @category metrics
 */
export const storeErrors: Metric.Metric.Counter<number> = internal.storeErrors

/**
 * `effect_renewal_refresh_tokens_dropped`: refresh tokens removed from the
 * store after the server rejected them definitively (`invalid_grant`, reason
 * `RefreshTokenRejected`); the user must log in again.
 *
 * @since 0.3.0
 * @category metrics
 */
export const refreshTokensDropped: Metric.Metric.Counter<number> = internal.refreshTokensDropped
