/**
 * A DPoP proof (RFC 9449 §4): a JWT of type `dpop+jwt` signed with ES256, the
 * public JWK in its header; claims `htm` (the method), `htu` (the URL without
 * query and fragment), `iat` (from the `Clock`), a fresh random `jti`, the
 * server's `nonce` when one is known, and `ath` (base64url SHA-256 of the
 * access token) when the proof goes with one to a resource server.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import type { Signer } from "./key.js"

/** @internal */
export interface Target {
  readonly method: string
  /** An absolute URL: its query and fragment are not part of `htu`. */
  readonly url: URL
  readonly nonce?: string | undefined
  /** The `ath` of the access token sent with the proof (see {@link accessTokenHash}). */
  readonly ath?: string | undefined
}

/** `htu`: the URL without its query and fragment (RFC 9449 §4.2). @internal */
export const htu = (url: URL): string => `${url.origin}${url.pathname}`

/** 16 random bytes, base64url: unguessable and never repeated. */
const jti = (): string => jose.base64url.encode(globalThis.crypto.getRandomValues(new Uint8Array(16)))

/** @internal */
export const sign = (signer: Signer, target: Target): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.map(
      Effect.promise(() =>
        new jose.SignJWT({
          htm: target.method.toUpperCase(),
          htu: htu(target.url),
          iat: Math.floor(now / 1000),
          jti: jti(),
          ...(target.nonce === undefined ? {} : { nonce: target.nonce }),
          ...(target.ath === undefined ? {} : { ath: target.ath })
        })
          .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: signer.publicJwk })
          .sign(signer.privateKey)
      ),
      Redacted.make
    ))

/** `ath`: base64url of the SHA-256 of the access token's ASCII bytes (RFC 9449 §4.2). @internal */
export const accessTokenHash = (accessToken: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.map(
    Effect.promise(() =>
      globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(accessToken)))
    ),
    (digest) => jose.base64url.encode(new Uint8Array(digest))
  )
