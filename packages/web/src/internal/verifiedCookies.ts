/**
 * The session keys of session cookies already verified, by cookie value: a
 * request with a cookie seen before skips the HMAC check and the hash (two
 * WebCrypto calls, each a round trip to the thread pool). The result of both
 * depends only on the value and the keys, which do not change while the
 * service lives, so a hit is exactly what the check would say. Whether the
 * session still exists is read from the store on every request, cached or
 * not. Bounded: the oldest entries go first.
 *
 * @internal
 */

/** @internal */
export interface VerifiedCookies {
  readonly get: (value: string) => string | undefined
  readonly set: (value: string, sessionKey: string) => void
}

/** @internal */
export const make = (capacity = 10_000): VerifiedCookies => {
  const entries = new Map<string, string>()
  return {
    get: (value) => entries.get(value),
    set: (value, sessionKey) => {
      if (entries.size >= capacity) entries.delete(entries.keys().next().value!)
      entries.set(value, sessionKey)
    }
  }
}
