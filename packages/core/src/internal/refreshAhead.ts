import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { isRetryable, type RenewerError } from "../AuthError.js"
import type { Credentials } from "../Credentials.js"
import type * as Renewer from "../Renewer.js"
import * as Logs from "./logs.js"

/**
 * Refresh ahead, resolved: millis before expiry at which a renewal starts
 * (`lead`), at most how much earlier still (`jitter`, random per
 * credentials, so that many instances do not renew at the same moment), and
 * the wait between two attempts after a failure (`retryInterval`).
 *
 * @internal
 */
export interface Settings {
  readonly lead: number
  readonly jitter: number
  readonly retryInterval: number
}

/**
 * Renews `renewer`'s credentials before they expire, for as long as it runs
 * (forked in the renewer's scope).
 *
 * For each credentials the renewer knows (its `changes`), it waits until
 * `lead` plus a random part of `jitter` before expiry, then calls
 * `get({ minTtl: lead + jitter })`: an ordinary `get`, so it joins (or is
 * joined by) a renewal in flight for the same target, and makes no request
 * when someone renewed meanwhile. Callers keep getting the still-valid
 * credentials from the hot path while it runs. The renewal's result is a
 * change, which plans the next one.
 *
 * A failure a later attempt may fix (`AuthError.isRetryable`: transient,
 * and the renewer's policy has already retried it) is logged and tried again
 * after `retryInterval`, until the credentials change; any other (a
 * `LoginRequired`, a `StoreError`, a `RenewalFailed` of another reason) is
 * logged and nothing more is tried until the credentials change. A renewal
 * that cannot bring `lead` (the lifetime is too short) is logged once per
 * credentials.
 *
 * @internal
 */
export const run = (renewer: Renewer.Renewer.Service, settings: Settings): Effect.Effect<void> =>
  renewer.changes.pipe(
    Stream.flatMap((current) => Stream.fromEffect(plan(renewer, settings, current)), { switch: true }),
    Stream.runDrain,
    Logs.forSession(renewer.key)
  )

const plan = (
  renewer: Renewer.Renewer.Service,
  settings: Settings,
  current: Option.Option<Credentials>
): Effect.Effect<void> => {
  if (Option.isNone(current)) return Effect.never
  const expiresAt = DateTime.toEpochMillis(current.value.expiresAt)
  // never stale-if-error: a transient failure must be tried again, not taken
  // for a renewal
  const options = { minTtl: Duration.millis(settings.lead + settings.jitter), staleIfError: 0 } as const
  return Effect.gen(function*() {
    const jitter = settings.jitter > 0 ? yield* Random.nextIntBetween(0, settings.jitter + 1) : 0
    const now = yield* Clock.currentTimeMillis
    const wait = expiresAt - settings.lead - jitter - now
    if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
    yield* Logs.refreshAhead(expiresAt - (yield* Clock.currentTimeMillis))
    yield* renewer.get(options).pipe(
      Effect.tapError(report(renewer.key)),
      Effect.retry({
        while: isRetryable,
        schedule: Schedule.spaced(Duration.millis(settings.retryInterval))
      }),
      Effect.ignore
    )
    // renewed: the change plans the next one; otherwise nothing until a change
    yield* Effect.never
  })
}

const report = (key: string) => (error: RenewerError) => Logs.refreshAheadFailed(key, error, isRetryable(error))
