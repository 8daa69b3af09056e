/**
 * The authorization code grant with PKCE (RFC 7636, S256 only): the URL the
 * person is sent to, and the checks of the redirect back before the code is
 * exchanged, in the order of oauth4webapi's `validateAuthResponse`: each
 * parameter once, `state` this login's, `iss` the issuer (RFC 9207: required
 * when the provider says it sends it), an `error` parameter, then the code.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { LoginFailed, toLoginFailed } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import * as Dpop from "../../Dpop.js"
import type { DpopKey } from "../../Dpop.js"
import type * as Login from "../../Login.js"
import * as Scope from "../scope.js"
import { accept, asksIdToken, defaultScope } from "./accept.js"
import type { Client } from "./client.js"
import type { Verifier } from "./idToken.js"
import * as Pkce from "./pkce.js"

/** @internal */
export type Options = Login.AuthorizeOptions

/** What a pending authorization holds (`Login.PendingAuthorization`'s fields). @internal */
export interface Pending {
  readonly state: Redacted.Redacted<string>
  readonly nonce: Redacted.Redacted<string>
  readonly codeVerifier: Redacted.Redacted<string>
  readonly redirectUri: string
  readonly scope: string
  readonly audience?: string
  /** The `max_age` sent, in seconds: the id_token's `auth_time` is checked against it. */
  readonly maxAge?: number
  readonly createdAt: DateTime.Utc
  /** The DPoP key of a login with `dpop: true`: the code exchange proves it, the tokens are bound to it. */
  readonly dpop?: DpopKey
}

/** How long a pending authorization may wait for its callback, unless configured. @internal */
export const defaultPendingLifetime = Duration.minutes(10)

/** Names the login sets itself: a caller's `parameters` never override them. */
const reserved: ReadonlySet<string> = new Set([
  "response_type",
  "response_mode",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
  "client_secret",
  "request",
  "request_uri",
  "dpop_jkt"
])

const configuration = (description: string) => new LoginFailed({ reason: "Configuration", description })
const invalidCallback = (description: string) => new LoginFailed({ reason: "InvalidCallback", description })

/** An absolute URL without a fragment (RFC 6749 §3.1.2), or why not. */
const redirectUriProblem = (uri: string): string | undefined => {
  if (!URL.canParse(uri)) return "the redirect URI is not an absolute URL"
  const url = new URL(uri)
  if (url.hash !== "" || uri.includes("#")) return "the redirect URI must not have a fragment"
  if (url.username !== "" || url.password !== "") return "the redirect URI must not carry credentials"
  return undefined
}

/** @internal */
export const authorize = (
  client: Client,
  options: Options
): Effect.Effect<{ readonly url: URL; readonly pending: Pending }, LoginFailed> =>
  Effect.gen(function*() {
    const endpoint = client.metadata.authorizationEndpoint
    if (endpoint === undefined || !URL.canParse(endpoint)) {
      return yield* configuration("the provider has no usable authorization endpoint")
    }
    const methods = client.metadata.codeChallengeMethodsSupported
    if (methods !== undefined && !methods.includes("S256")) {
      return yield* configuration("the provider does not support PKCE with S256")
    }
    const problem = redirectUriProblem(options.redirectUri)
    if (problem !== undefined) return yield* configuration(problem)
    const maxAgeParameter = options.parameters?.["max_age"]
    if (maxAgeParameter !== undefined && !/^\d{1,10}$/.test(maxAgeParameter)) {
      return yield* configuration("max_age must be a whole number of seconds")
    }
    const maxAge = maxAgeParameter === undefined ? undefined : Number(maxAgeParameter)

    const scope = Scope.normalize(options.scope) ?? defaultScope
    if (asksIdToken(scope) && client.metadata.jwksUri === undefined) {
      return yield* configuration("the provider publishes no jwks_uri: an id_token (scope openid) cannot be checked")
    }
    const state = Redacted.make(Pkce.randomValue())
    const nonce = Redacted.make(Pkce.randomValue())
    const codeVerifier = Pkce.verifier()
    const challenge = yield* Pkce.challenge(codeVerifier)
    const createdAt = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
    const dpop = options.dpop === true ? yield* Dpop.generateKey : undefined

    const url = new URL(endpoint)
    for (const [name, value] of Object.entries(options.parameters ?? {})) {
      if (typeof value === "string" && !reserved.has(name)) url.searchParams.set(name, value)
    }
    const own: Record<string, string | undefined> = {
      response_type: "code",
      client_id: client.clientId,
      redirect_uri: options.redirectUri,
      scope,
      state: Redacted.value(state),
      nonce: Redacted.value(nonce),
      code_challenge: challenge,
      code_challenge_method: "S256",
      audience: options.audience,
      prompt: options.prompt,
      login_hint: options.loginHint,
      // RFC 9449 §10: the code is bound to the key, useless to whoever intercepts it
      dpop_jkt: dpop?.jkt
    }
    for (const [name, value] of Object.entries(own)) if (value !== undefined) url.searchParams.set(name, value)

    return {
      url,
      pending: {
        state,
        nonce,
        codeVerifier,
        redirectUri: options.redirectUri,
        scope,
        createdAt,
        ...(options.audience === undefined ? {} : { audience: options.audience }),
        ...(maxAge === undefined ? {} : { maxAge }),
        ...(dpop === undefined ? {} : { dpop })
      }
    }
  })

/** The parameters the checks read; each may appear once. */
const checked = ["state", "iss", "code", "error"] as const

/** An OAuth error code (RFC 6749 §4.1.2.1's characters), or a neutral word: never an arbitrary string. */
const errorCode = (value: string): string =>
  /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(value) ? value : "invalid_error_code"

/** @internal */
export const complete = (
  client: Client,
  verifier: Verifier,
  pending: Pending,
  callbackUrl: string | URL,
  pendingLifetime: Duration.Duration
): Effect.Effect<Credentials, LoginFailed> =>
  Effect.gen(function*() {
    const href = callbackUrl instanceof URL ? callbackUrl.href : callbackUrl
    // a path alone (what a server's request says) is read against the redirect URI
    if (!URL.canParse(href, pending.redirectUri)) return yield* invalidCallback("the callback is not a URL")
    const params = new URL(href, pending.redirectUri).searchParams
    for (const name of checked) {
      if (params.getAll(name).length > 1) return yield* invalidCallback(`the callback has more than one ${name}`)
    }

    const state = params.get("state")
    if (state === null || !Pkce.equalSecrets(state, Redacted.value(pending.state))) {
      return yield* invalidCallback("the callback's state is not this login's")
    }
    const iss = params.get("iss")
    if (iss === null) {
      if (client.metadata.authorizationResponseIssParameterSupported) {
        return yield* invalidCallback("the callback has no iss, which the provider says it sends (RFC 9207)")
      }
    } else if (iss !== client.metadata.issuer) {
      return yield* invalidCallback("the callback's iss is not the provider's issuer (RFC 9207)")
    }
    const error = params.get("error")
    if (error !== null) {
      const code = errorCode(error)
      return yield* new LoginFailed({
        reason: code === "access_denied" ? "AccessDenied" : "Rejected",
        description: `the provider answered the authorization request with ${code}`,
        code
      })
    }
    const now = yield* Clock.currentTimeMillis
    if (now - DateTime.toEpochMillis(pending.createdAt) > Duration.toMillis(pendingLifetime)) {
      return yield* new LoginFailed({
        reason: "Expired",
        description: `the authorization was started more than ${Duration.format(pendingLifetime)} ago`
      })
    }
    const code = params.get("code")
    if (code === null || code.length === 0) return yield* invalidCallback("the callback has no code")
    // the code is single-use: the keys that check the id_token are read before it is spent
    if (asksIdToken(pending.scope)) yield* verifier.prepare

    const secret = Redacted.make(code)
    const credentials = yield* client.tokenRequest("authorization_code", {
      code,
      redirect_uri: pending.redirectUri,
      code_verifier: Redacted.value(pending.codeVerifier)
    }, { presented: "authorization_code", secrets: [secret, pending.codeVerifier], dpop: pending.dpop }).pipe(
      Effect.mapError(toLoginFailed)
    )
    return yield* accept(verifier, credentials, {
      scope: pending.scope,
      nonce: pending.nonce,
      maxAge: pending.maxAge
    })
  })
