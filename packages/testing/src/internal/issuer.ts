/**
 * The tokens the tenant issues: HS256 access tokens and id_tokens, and the
 * wire bodies that carry them. Each JWT has a fresh `jti`, so two tokens
 * issued in the same second differ.
 */
import type * as Emulator from "../Emulator.js"
import type { Config } from "./config.js"
import * as Jwt from "./jwt.js"
import * as Tenant from "./tenant.js"

const sign = (config: Config, claims: Record<string, unknown>): string =>
  Jwt.sign({ ...claims, jti: Jwt.jwtId() }, config.signingSecret)

const seconds = (millis: number): number => Math.floor(millis / 1000)

/** An id_token for a user, for an audience (a client id). @internal */
export const idToken = (config: Config, user: string, audience: string, now: number): string => {
  const iat = seconds(now)
  return sign(config, { iss: config.issuer, sub: user, aud: audience, iat, exp: iat + config.idTokenSeconds })
}

/**
 * The body of a successful token request: an access token for the grant's
 * audience and scope, an id_token when the scope has `openid`, and the
 * grant's refresh token if it has one.
 *
 * @internal
 */
export const tokenBody = (config: Config, grant: Tenant.Grant, now: number): Emulator.TokenResponseBody => {
  const iat = seconds(now)
  const access_token = sign(config, {
    iss: config.issuer,
    sub: grant.user,
    aud: grant.audience,
    azp: config.clientId,
    iat,
    exp: iat + config.accessTokenSeconds,
    scope: grant.scope
  })
  return {
    access_token,
    ...(Tenant.hasScope(grant.scope, "openid") ? { id_token: idToken(config, grant.user, config.clientId, now) } : {}),
    ...(grant.refreshToken !== undefined ? { refresh_token: grant.refreshToken } : {}),
    token_type: "Bearer",
    expires_in: config.accessTokenSeconds,
    scope: grant.scope
  }
}

/** The body of a successful `/delegation` request. @internal */
export const delegationBody = (config: Config, user: string, audience: string, now: number) => ({
  id_token: idToken(config, user, audience, now),
  token_type: "Bearer",
  expires_in: config.idTokenSeconds
})
