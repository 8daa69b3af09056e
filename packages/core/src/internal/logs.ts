import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as LogLevel from "effect/LogLevel"
import { type AuthenticationError, classify, type RenewerError, type StoreError } from "../AuthError.js"
import type { Credentials } from "../Credentials.js"
import type { Watch } from "./policy.js"
import { entryKey } from "./storeKeys.js"
import { attributes, sessionHash } from "./tracing.js"

/**
 * What the `Renewer` tells a logger, in one place: one function per event,
 * each with a fixed message and what varies in annotations (keys prefixed
 * `effect-renewal.`, as the spans' attributes).
 *
 * What a log line may hold: the session's hash (never its key), counts,
 * durations in millis, reasons, classifications, HTTP statuses and OAuth error
 * codes (scrubbed by the wire codec), a store's operation and its description
 * (only when it does not name the key). Never a token, a secret, a code, an
 * error's message or an error itself (a `StoreError`'s message names the key;
 * an `AuthApiError`'s description is the server's text).
 *
 * A log line inside a span becomes an event of that span: the same rule keeps
 * spans clean.
 *
 * @internal
 */

/** Annotation keys beyond the spans' attributes. @internal */
export const annotations = {
  ...attributes,
  duration: "effect-renewal.duration_ms",
  lockWait: "effect-renewal.lock_wait_ms",
  attempt: "effect-renewal.attempt",
  delay: "effect-renewal.delay_ms",
  classification: "effect-renewal.classification",
  error: "effect-renewal.error",
  status: "effect-renewal.status",
  code: "effect-renewal.code",
  operation: "effect-renewal.operation",
  description: "effect-renewal.description",
  unsavedRefreshToken: "effect-renewal.unsaved_refresh_token",
  expiresIn: "effect-renewal.expires_in_ms",
  lead: "effect-renewal.lead_ms",
  afterRelease: "effect-renewal.after_release_ms"
} as const

/**
 * One line at `level`, its annotations made only when the level is on: a
 * renewal at the default level (`Info`) pays nothing for its `Debug` lines.
 */
const line = (
  level: LogLevel.LogLevel,
  message: string,
  annotate?: () => Readonly<Record<string, unknown>>
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    if (LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), level)) return Effect.void
    const logged = Effect.logWithLevel(level, message)
    return annotate === undefined ? logged : Effect.annotateLogs(logged, annotate())
  })

/** `effect` with every line it logs naming the session by its hash. @internal */
export const forSession = (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.annotateLogs(effect, attributes.session, sessionHash(entryKey(key)))

/**
 * A renewal, run on its flight's own fiber: from here on, every line that
 * fiber logs names the session (the annotation is set on the fiber, not
 * around an effect: the fiber ends with the renewal, and an
 * `Effect.annotateLogs` would cost each renewal a FiberRef set and its
 * restoring, as much again as the rest of the flight).
 *
 * @internal
 */
export const onFlightFiber = (session: string): Effect.Effect<void> =>
  FiberRef.update(FiberRef.currentLogAnnotations, HashMap.set<string, unknown>(attributes.session, session))

/**
 * The end of a renewal, at `Debug`: its outcome (`success`, `already_valid`,
 * the error's tag), the error's reason, the requests sent and how long it
 * took. Called by the renewal's span as it ends (`Tracing.renewal`: one
 * `onExit` for both). (No log span: it would cost a renewal as much again as
 * the annotation, at any level.)
 *
 * @internal
 */
export const renewalEnded = (
  outcome: string,
  reason: string | undefined,
  watch: Watch,
  now: () => number
): Effect.Effect<void> =>
  line(LogLevel.Debug, renewalMessages[outcome] ?? "renewal failed", () => ({
    [attributes.outcome]: outcome,
    ...(reason === undefined ? {} : { [attributes.reason]: reason }),
    [attributes.attempts]: watch.attempts,
    [annotations.duration]: Math.max(0, now() - watch.startedAt)
  }))

const renewalMessages: Record<string, string> = {
  success: "renewal: credentials renewed and saved",
  already_valid: "renewal: the store already held credentials meeting the request; no request sent",
  interrupted: "renewal interrupted: the Renewer is closing",
  defect: "renewal failed with a defect"
}

/** The renewal holds the store's lock of the session: how long since it started (`Debug`). @internal */
export const lockTaken = (watch: Watch, now: () => number): Effect.Effect<void> =>
  line(LogLevel.Debug, "renewal: store lock taken", () => ({
    [annotations.lockWait]: Math.max(0, now() - watch.startedAt)
  }))

const failure = (error: AuthenticationError) =>
  error._tag === "AuthApiError"
    ? {
      [annotations.error]: error._tag,
      [annotations.status]: error.status,
      [annotations.code]: error.code,
      [annotations.classification]: classify(error)
    }
    : { [annotations.error]: error._tag, [attributes.reason]: error.reason, [annotations.classification]: "Transient" }

/**
 * The wait before a retry (`wait`, the policy's schedule). When it ends: the
 * retry, with the delay waited, the attempt about to be made and what failed
 * (`Debug`); when the schedule is exhausted: `Warning`, and the failure goes on.
 *
 * @internal
 */
export const retry = <A, E>(
  wait: Effect.Effect<A, E>,
  error: AuthenticationError,
  watch: Watch,
  now: () => number
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const from = now()
    return Effect.tapBoth(wait, {
      onSuccess: () =>
        line(LogLevel.Debug, "renewal: retrying after a transient failure", () => ({
          ...failure(error),
          [annotations.attempt]: watch.attempts + 1,
          [annotations.delay]: Math.max(0, now() - from)
        })),
      onFailure: () =>
        line(LogLevel.Warning, "renewal: retries exhausted; the renewal fails", () => ({
          ...failure(error),
          [attributes.attempts]: watch.attempts
        }))
    })
  })

/**
 * A request's answer: when it brings credentials after `releasedAt` (the
 * callers were let go at the attempt timeout or the deadline), `Info`: they
 * are saved all the same.
 *
 * @internal
 */
export const lateAnswer = <A, E>(
  request: Effect.Effect<A, E>,
  now: () => number,
  releasedAt: number
): Effect.Effect<A, E> =>
  Effect.tap(request, () => {
    const at = now()
    return at < releasedAt ? Effect.void : line(
      LogLevel.Info,
      "renewal: an answer came after its callers were released; its credentials are saved",
      () => ({ [annotations.afterRelease]: at - releasedAt })
    )
  })

// A store's description, unless it names the session key (a database's
// message may quote the row).
const storeFailure = (key: string, error: StoreError) => {
  const named = [key, encodeURIComponent(key), JSON.stringify(key).slice(1, -1)].some((form) =>
    form.length > 0 && error.description.includes(form)
  )
  return {
    [annotations.operation]: error.operation,
    [annotations.description]: named ? "(omitted: it names the session key)" : error.description
  }
}

/** The server rejected the refresh token for good: it was dropped from the store (`Warning`). @internal */
export const refreshTokenDropped: Effect.Effect<void> = line(
  LogLevel.Warning,
  "refresh token rejected by the server (invalid_grant): dropped from the store; a new login is required"
)

/** The rejected refresh token could not be dropped from the store (`Warning`). @internal */
export const refreshTokenNotDropped = (key: string) => (error: StoreError): Effect.Effect<void> =>
  line(LogLevel.Warning, "could not drop a rejected refresh token from the store", () => storeFailure(key, error))

/** A 2xx answer was unusable but held a new refresh token, saved before the failure is reported (`Info`). @internal */
export const issuedRefreshTokenKept: Effect.Effect<void> = line(
  LogLevel.Info,
  "renewal: an unusable answer held a rotated refresh token; it was saved"
)

/**
 * Renewed credentials could not be saved: the caller's `StoreError` holds
 * them in `unsaved` (`Error` when they carry a refresh token: with rotation,
 * it is the only valid one; `Warning` otherwise).
 *
 * @internal
 */
export const unsaved = (key: string) => (error: StoreError): Effect.Effect<void> => {
  const refreshToken = error.unsaved?.refreshToken !== undefined
  return line(
    refreshToken ? LogLevel.Error : LogLevel.Warning,
    "renewal: renewed credentials could not be saved; the StoreError holds them (unsaved)",
    () => ({ ...storeFailure(key, error), [annotations.unsavedRefreshToken]: refreshToken })
  )
}

/**
 * Stale-if-error: after a transient failure, credentials that went stale
 * (but have not expired) are served (`Warning`).
 *
 * @internal
 */
export const staleServed = (
  session: string,
  error: RenewerError,
  served: Credentials,
  now: number
): Effect.Effect<void> =>
  line(LogLevel.Warning, "stale-if-error: renewal failed; still valid credentials served", () => ({
    [attributes.session]: session,
    [annotations.error]: error._tag,
    ...(error._tag === "StoreError" ? {} : { [attributes.reason]: error.reason }),
    [annotations.expiresIn]: DateTime.toEpochMillis(served.expiresAt) - now
  }))

/** Refresh ahead starts a renewal, `lead` millis before the credentials expire (`Debug`). @internal */
export const refreshAhead = (lead: number): Effect.Effect<void> =>
  line(LogLevel.Debug, "refresh ahead: renewing before expiry", () => ({ [annotations.lead]: Math.max(0, lead) }))

/**
 * A renewal of refresh ahead failed (`Warning`): tried again after its
 * interval (`retried`), or not until the credentials change. Its error as its
 * tag and reason (a store's failure as for a save).
 *
 * @internal
 */
export const refreshAheadFailed = (key: string, error: RenewerError, retried: boolean): Effect.Effect<void> =>
  line(
    LogLevel.Warning,
    retried
      ? "refresh ahead: the renewal failed, it will be tried again"
      : error._tag === "RenewalFailed" && error.reason === "TtlUnreachable"
      ? "refresh ahead: lead and jitter exceed the lifetime of renewed credentials; callers renew at expiry"
      : "refresh ahead: the renewal failed, nothing more is tried until the credentials change",
    () => ({
      [annotations.error]: error._tag,
      ...(error._tag === "StoreError" ? storeFailure(key, error) : { [attributes.reason]: error.reason })
    })
  )

/** `Sessions` released the renewer of a session idle for `idle` millis (`Debug`). @internal */
export const sessionReleased = (key: string, idle: number): Effect.Effect<void> =>
  line(LogLevel.Debug, "sessions: idle renewer released", () => ({
    [attributes.session]: sessionHash(entryKey(key)),
    [annotations.duration]: idle
  }))
