/**
 * The tokens the tenant issues: HS256 access tokens (with `signingSecret`),
 * RS256 id_tokens (with the signing key published in the JWKS; HS256 with
 * `signingSecret` when `idTokenAlgorithm` says so), and the wire bodies that
 * carry them. Each JWT has a fresh `jti`, so two tokens issued in the same
 * second differ.
 */
import type * as Emulator from "../Emulator.js"
import type { Config } from "./config.js"
import * as Jwt from "./jwt.js"
import * as Keys from "./keys.js"
import * as Tenant from "./tenant.js"

const seconds = (millis: number): number => Math.floor(millis / 1000)

/** Who an id_token is about, and for whom. @internal */
export interface Subject {
  readonly user: string
  readonly email?: string | undefined
  /** The `aud`: a client id. */
  readonly audience: string
  /** The `nonce` of the authorization request, when it had one. */
  readonly nonce?: string | undefined
}

/** An id_token, RS256 unless `idTokenAlgorithm` is HS256. @internal */
export const idToken = (config: Config, keys: Keys.Keys, subject: Subject, now: number): string => {
  const iat = seconds(now)
  const claims = {
    iss: config.issuer,
    sub: subject.user,
    aud: subject.audience,
    iat,
    exp: iat + config.idTokenSeconds,
    ...(subject.email !== undefined ? { email: subject.email } : {}),
    ...(subject.nonce !== undefined ? { nonce: subject.nonce } : {}),
    jti: Jwt.jwtId()
  }
  return config.idTokenAlgorithm === "HS256" ? Jwt.sign(claims, config.signingSecret) : Keys.sign(keys, claims)
}

/** The claims of an id_token this tenant signed, or `undefined`; not checked otherwise. @internal */
export const verifyIdToken = (config: Config, keys: Keys.Keys, token: string): Jwt.Claims | undefined =>
  config.idTokenAlgorithm === "HS256" ? Jwt.verify(token, config.signingSecret) : Keys.verify(keys, token)

/**
 * The body of a successful token request: an access token for the grant's
 * audience and scope, an id_token for the client when the scope has `openid`
 * (with the `nonce` given), and the grant's refresh token if it has one.
 * With `jkt`, the access token is DPoP-bound (`cnf.jkt`, `token_type: DPoP`).
 *
 * @internal
 */
export const tokenBody = (
  config: Config,
  keys: Keys.Keys,
  grant: Tenant.Grant,
  now: number,
  nonce?: string | undefined,
  jkt?: string | undefined
): Emulator.TokenResponseBody => {
  const iat = seconds(now)
  const access_token = Jwt.sign({
    iss: config.issuer,
    sub: grant.user,
    aud: grant.audience,
    azp: config.clientId,
    iat,
    exp: iat + config.accessTokenSeconds,
    scope: grant.scope,
    jti: Jwt.jwtId(),
    // RFC 9449 §6.1: bound to the key of the request's DPoP proof
    ...(jkt !== undefined ? { cnf: { jkt } } : {})
  }, config.signingSecret)
  return {
    access_token,
    ...(Tenant.hasScope(grant.scope, "openid")
      ? {
        id_token: idToken(config, keys, { user: grant.user, email: grant.email, audience: config.clientId, nonce }, now)
      }
      : {}),
    ...(grant.refreshToken !== undefined ? { refresh_token: grant.refreshToken } : {}),
    token_type: jkt !== undefined ? "DPoP" : "Bearer",
    expires_in: config.accessTokenSeconds,
    scope: grant.scope
  }
}

/** The body of a successful `/delegation` request. @internal */
export const delegationBody = (config: Config, keys: Keys.Keys, user: string, audience: string, now: number) => ({
  id_token: idToken(config, keys, { user, audience }, now),
  token_type: "Bearer",
  expires_in: config.idTokenSeconds
})
