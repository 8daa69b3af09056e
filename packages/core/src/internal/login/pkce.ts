/**
 * The random values of an authorization request: the PKCE code verifier and
 * its S256 challenge (RFC 7636), `state` and `nonce`. All from WebCrypto's
 * randomness; the verifier and the others are 43 characters of the unreserved
 * set (base64url of 32 random bytes: 256 bits).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"

/** 32 random bytes, base64url: 43 characters of `[A-Za-z0-9_-]`. @internal */
export const randomValue = (): string => jose.base64url.encode(globalThis.crypto.getRandomValues(new Uint8Array(32)))

/**
 * Whether `verifier` is a code verifier RFC 7636 §4.1 allows: 43 to 128
 * characters of `[A-Za-z0-9-._~]`.
 *
 * @internal
 */
export const isVerifier = (verifier: string): boolean => /^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)

/** A new code verifier. @internal */
export const verifier = (): Redacted.Redacted<string> => Redacted.make(randomValue())

/**
 * The S256 challenge of a verifier: base64url (unpadded) of the SHA-256 of its
 * ASCII bytes (RFC 7636 §4.2).
 *
 * @internal
 */
export const challenge = (verifier: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(verifier))))
    .pipe(Effect.map((digest) => jose.base64url.encode(new Uint8Array(digest))))

/**
 * Compares two secrets in time that depends on their lengths only: a `state`
 * compared char by char would tell an attacker how much of a guess was right.
 *
 * @internal
 */
export const equalSecrets = (a: string, b: string): boolean => {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}
