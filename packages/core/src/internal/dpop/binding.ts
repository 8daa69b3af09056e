/**
 * Whether credentials and their DPoP key belong together, before the key is
 * used: credentials bound to a key (token type `DPoP`, or an access token
 * whose `cnf.jkt` names one) need that key; a key needs to be the one its
 * thumbprint says, and the one the access token names. Otherwise a new login
 * is required (`DpopKeyMissing`, `DpopKeyMismatch`): a request with the wrong
 * key, or none, would fail at the server, or worse, present a bound refresh
 * token as a bearer one. The stored refresh token is kept: only the key is
 * wrong, and a restore of the key would make it usable again.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import { LoginRequired } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import * as Key from "./key.js"

/** Whether a token type is `DPoP` (compared case-insensitively, RFC 9449 §5). @internal */
export const isDpopType = (tokenType: string): boolean => tokenType.length === 4 && tokenType.toLowerCase() === "dpop"

/** The `cnf.jkt` of a JWT access token (read without a signature check), if it has one. */
const confirmation = (credentials: Credentials): string | undefined => {
  try {
    const cnf = jose.decodeJwt(Redacted.value(credentials.accessToken)).cnf as { readonly jkt?: unknown } | undefined
    return typeof cnf?.jkt === "string" ? cnf.jkt : undefined
  } catch {
    return undefined
  }
}

/** @internal */
export const missing = (description: string): LoginRequired =>
  new LoginRequired({ reason: "DpopKeyMissing", description })

/** @internal */
export const mismatch = (description: string): LoginRequired =>
  new LoginRequired({ reason: "DpopKeyMismatch", description })

/** The signer of a key, its problem as the `LoginRequired` it means. @internal */
export const signerOf = (key: Key.KeyFields): Effect.Effect<Key.Signer, LoginRequired> =>
  Effect.mapError(Key.signer(key), (problem) =>
    problem === "mismatch"
      ? mismatch("the stored DPoP key is not the key its thumbprint names")
      : mismatch("the stored DPoP key cannot be used by WebCrypto"))

/**
 * The signer the requests of `credentials` must use, `undefined` when they
 * are not bound to a key; a `LoginRequired` when they are bound and the key
 * is missing or another.
 *
 * @internal
 */
export const check = (credentials: Credentials): Effect.Effect<Key.Signer | undefined, LoginRequired> =>
  Effect.suspend(() => {
    const key = credentials.dpop
    const jkt = confirmation(credentials)
    if (key === undefined) {
      return isDpopType(credentials.tokenType) || jkt !== undefined
        ? Effect.fail(missing("the credentials are bound to a DPoP key and the key is not stored with them"))
        : Effect.succeed(undefined)
    }
    if (jkt !== undefined && jkt !== key.jkt) {
      return Effect.fail(mismatch("the stored DPoP key is not the one the access token is bound to"))
    }
    return signerOf(key)
  })
