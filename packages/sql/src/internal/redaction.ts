import { StoreError } from "@effect-renewal/core/AuthError"
import { sessionHash, sessionKeyOf } from "@effect-renewal/core/TokenStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"

/**
 * What the store tells spans and logs about a key: never the key, only the
 * short hash of its session (`TokenStore.sessionHash`, as core's spans and
 * logs, so that both name a session alike). A `StoreError`'s message names its key, so a span of the
 * store ends, and a log line of the store is written, with a copy whose key
 * is that name; the caller still gets the original error.
 *
 * @internal
 */

/** The span attribute and log annotation that names a session (core's name). @internal */
export const sessionAttribute = "effect-renewal.session"

/**
 * How a key reads in spans and logs: `<session 1a2b…>`, and for a key
 * derived from a session (API credentials) `<session 1a2b…> (API
 * credentials)`, as core's spans write it. `"*"` (the whole store) stays.
 *
 * @internal
 */
export const labelOf = (key: string): string => {
  if (key === "*") return key
  const session = sessionKeyOf(key)
  const label = `<session ${sessionHash(session)}>`
  return session === key ? label : `${label} (API credentials)`
}

/** A copy of `error` that names its key by {@link labelOf}, without `unsaved` credentials. @internal */
export const scrubError = (error: StoreError): StoreError =>
  new StoreError({ operation: error.operation, key: labelOf(error.key), description: error.description })

/**
 * A copy of `error` named by `label` (how a re-encryption report names its
 * row: the session's hash, or its HMAC in hashed mode) instead of its key,
 * which re-encryption may have learnt from the entry itself. @internal
 */
export const relabel = (label: string, error: StoreError): StoreError =>
  new StoreError({ operation: error.operation, key: label, description: error.description })

/** `cause` with every `StoreError` in it scrubbed. @internal */
export const scrubCause = <E>(cause: Cause.Cause<E>): Cause.Cause<E> =>
  Cause.map(cause, (error) => (error instanceof StoreError ? scrubError(error) as E : error))

/**
 * `effect` in a span named `name` (with the session's hash as an attribute)
 * that ends with the scrubbed error, or with no value (a value would be
 * recorded in the span's exit: an entry, a held lock naming its key); the
 * caller gets the original error or value.
 *
 * @internal
 */
export const traced = <A, R>(
  name: string,
  key: string,
  effect: Effect.Effect<A, StoreError, R>
): Effect.Effect<A, StoreError, R> =>
  Effect.suspend(() => {
    let error: StoreError | undefined = undefined
    let value: A | undefined = undefined
    return Effect.useSpan(
      name,
      { attributes: { [sessionAttribute]: sessionHash(key) }, captureStackTrace: false },
      () =>
        Effect.matchEffect(effect, {
          onFailure: (failure) => {
            error = failure
            return Effect.fail(scrubError(failure))
          },
          onSuccess: (success) => {
            value = success
            return Effect.void
          }
        })
    ).pipe(Effect.matchEffect({
      onFailure: (scrubbed) => Effect.fail(error ?? scrubbed),
      onSuccess: () => Effect.succeed(value as A)
    }))
  })

/**
 * Log annotations naming the session of `key` by its hash.
 *
 * @internal
 */
export const annotateSession = (key: string) => Effect.annotateLogs(sessionAttribute, sessionHash(key))
