import { StoreError } from "@effect-renewal/core/AuthError"
import { sessionKeyOf } from "@effect-renewal/core/TokenStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"

/**
 * What the store tells spans and logs about a key: never the key, only the
 * short hash of its session (the one core's spans use, so that both name a
 * session alike). A `StoreError`'s message names its key, so a span of the
 * store ends, and a log line of the store is written, with a copy whose key
 * is that name; the caller still gets the original error.
 *
 * @internal
 */

/**
 * FNV-1a 64 of the key's UTF-8 bytes, in 16 hex digits: the same function as
 * core's `internal/tracing.ts` `sessionHash` (not exported by core). Not a
 * secret: it tells sessions apart.
 *
 * @internal
 */
export const sessionHash = (key: string): string => {
  // in four 16-bit limbs, low first: the prime is 2^40 + 0x1b3
  let h0 = 0x2325, h1 = 0x8422, h2 = 0x9ce4, h3 = 0xcbf2
  for (const byte of new TextEncoder().encode(key)) {
    h0 ^= byte
    const t0 = h0 * 0x1b3
    const t1 = h1 * 0x1b3 + (t0 >>> 16)
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16)
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)
    h0 = t0 & 0xffff
    h1 = t1 & 0xffff
    h2 = t2 & 0xffff
    h3 = t3 & 0xffff
  }
  return [h3, h2, h1, h0].map((limb) => limb.toString(16).padStart(4, "0")).join("")
}

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
      { attributes: { [sessionAttribute]: sessionHash(sessionKeyOf(key)) }, captureStackTrace: false },
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
export const annotateSession = (key: string) => Effect.annotateLogs(sessionAttribute, sessionHash(sessionKeyOf(key)))
