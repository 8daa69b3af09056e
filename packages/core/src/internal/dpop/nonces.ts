/**
 * The last `DPoP-Nonce` (RFC 9449 §8, §9) each origin gave: the token
 * endpoint's and each resource server's apart. A nonce is the server's, not a
 * user's: every session of the process shares the memory. Bounded (the least
 * recently set origin goes first), and a value that is not a nonce's
 * characters (`NQCHAR`, at most 512) is not kept.
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"

/** @internal */
export interface Nonces {
  /** The last nonce of `origin` (`URL.origin`), if one is known. */
  readonly get: (origin: string) => string | undefined
  /** Keeps `nonce` as the last of `origin`. */
  readonly set: (origin: string, nonce: string) => void
}

const nonceSyntax = /^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/

/** The origins kept by {@link make} unless told. @internal */
export const defaultCapacity = 1024

/** A memory of at most `capacity` origins; safe under concurrency (each call is atomic). @internal */
export const make = (capacity: number = defaultCapacity): Nonces => {
  const byOrigin = new Map<string, string>()
  return {
    get: (origin) => byOrigin.get(origin),
    set: (origin, nonce) => {
      if (!nonceSyntax.test(nonce)) return
      byOrigin.delete(origin)
      byOrigin.set(origin, nonce)
      if (byOrigin.size > capacity) byOrigin.delete(byOrigin.keys().next().value!)
    }
  }
}

/** Keeps the `DPoP-Nonce` of an answer from `origin`, if it has one. @internal */
export const observe = (nonces: Nonces, origin: string, headers: Headers.Headers): void => {
  const nonce = headers["dpop-nonce"]
  if (nonce !== undefined) nonces.set(origin, nonce.trim())
}

/** The origin of an absolute URL, `undefined` for one that does not parse. @internal */
export const originOf = (url: string): string | undefined => URL.canParse(url) ? new URL(url).origin : undefined
