/**
 * What every flow checks before it returns credentials: the id_token, when
 * one came or `openid` was asked (none when asked is refused), and the scope
 * the renewals will ask for (the one asked, when the answer does not say:
 * RFC 6749 §5.1 lets a server leave out a scope identical to the request's).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { LoginFailed } from "../../AuthError.js"
import { Credentials } from "../../Credentials.js"
import * as Scope from "../scope.js"
import type { Verifier } from "./idToken.js"

/**
 * The scope of a login that names none: `openid` (an id_token, checked) and
 * `offline_access` (a refresh token, for the renewals).
 *
 * @internal
 */
export const defaultScope = "openid offline_access"

/** Whether `scope` asks for an id_token (`openid`), which the JWKS checks. @internal */
export const asksIdToken = (scope: string): boolean => Scope.names(scope).includes("openid")

/** @internal */
export const accept = (
  verifier: Verifier,
  credentials: Credentials,
  asked: {
    readonly scope: string
    readonly nonce: Redacted.Redacted<string> | undefined
    readonly maxAge?: number | undefined
  }
): Effect.Effect<Credentials, LoginFailed> =>
  Effect.gen(function*() {
    if (credentials.idToken !== undefined) {
      yield* verifier.verify(credentials.idToken, { nonce: asked.nonce, maxAge: asked.maxAge })
    } else if (asksIdToken(asked.scope)) {
      return yield* new LoginFailed({
        reason: "InvalidIdToken",
        description: "the scope asked for openid and the answer has no id_token"
      })
    }
    if (credentials.scope !== undefined) return credentials
    return new Credentials({
      accessToken: credentials.accessToken,
      tokenType: credentials.tokenType,
      expiresAt: credentials.expiresAt,
      scope: asked.scope,
      ...(credentials.idToken === undefined ? {} : { idToken: credentials.idToken }),
      ...(credentials.refreshToken === undefined ? {} : { refreshToken: credentials.refreshToken }),
      ...(credentials.dpop === undefined ? {} : { dpop: credentials.dpop })
    }, true)
  })
