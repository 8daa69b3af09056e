/**
 * The device authorization grant (RFC 8628): ask for a user code, then poll
 * the token endpoint on the `Clock` until the person approves.
 *
 * The first poll waits one interval (5 s when the server names none);
 * `authorization_pending` goes on, `slow_down` adds 5 s to the interval for
 * good; `access_denied` and `expired_token` end it, and so does the code's
 * lifetime (the server's `expires_in`, at most {@link maxLifetime}): a poll
 * still in flight when it runs out ends as `Expired`. Transport faults,
 * timeouts, 408, 429 and 5xx are retried with exponential backoff (never
 * faster than the interval) while the code lives, and end as `Transient`
 * when it runs out. Interrupting the polling stops it (the sleep and the
 * request in flight are both interruptible).
 *
 * The answer is checked before anything is shown: `verification_uri` and
 * `verification_uri_complete` are `https:` URLs (`http:` on a loopback host),
 * `user_code` is at most 64 printable characters.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { AuthenticationError } from "../../AuthError.js"
import { AuthApiError, classify, InvalidResponseCode, LoginFailed, toLoginFailed } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import { ExpiresIn } from "../../Credentials.js"
import * as Dpop from "../../Dpop.js"
import type * as Login from "../../Login.js"
import { secureUrl } from "../endpoints.js"
import * as Scope from "../scope.js"
import { accept, asksIdToken, defaultScope } from "./accept.js"
import type { Client } from "./client.js"
import type { Verifier } from "./idToken.js"

/** @internal */
export const GrantType = "urn:ietf:params:oauth:grant-type:device_code"

/** The interval when the server names none (RFC 8628 §3.2). @internal */
export const defaultInterval = Duration.seconds(5)

/** What `slow_down` adds to the interval (RFC 8628 §3.5). @internal */
export const slowDownStep = Duration.seconds(5)

/**
 * The longest lifetime of a device code the polling honours, whatever the
 * server's `expires_in` says (a person approves within minutes).
 *
 * @internal
 */
export const maxLifetime = Duration.hours(1)

/** A user code shown to the person: printable characters (no control, format or line separator), 64 at most. */
const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]{1,64}$/u

/** The longest wait between two polls after transient failures. */
const maxBackoff = Duration.minutes(1)

/** @internal */
export type Options = Login.DeviceOptions

/** @internal */
export type Authorization = Login.DeviceAuthorization

const DeviceAuthorizationResponse = Schema.Struct({
  device_code: Schema.NonEmptyString,
  user_code: Schema.NonEmptyString,
  verification_uri: Schema.optional(Schema.NonEmptyString),
  // Google's spelling
  verification_url: Schema.optional(Schema.NonEmptyString),
  verification_uri_complete: Schema.optional(Schema.NonEmptyString),
  expires_in: ExpiresIn.pipe(Schema.positive()),
  interval: Schema.optional(ExpiresIn)
})
const decodeResponse = Schema.decodeUnknownEither(DeviceAuthorizationResponse)

const unreadable = (endpoint: string, what: string) =>
  toLoginFailed(
    new AuthApiError({
      status: 200,
      code: InvalidResponseCode,
      description: `the device authorization answer of ${endpoint} ${what}`
    })
  )

/** @internal */
export const start = (
  client: Client,
  verifier: Verifier,
  options: Options | undefined
): Effect.Effect<Authorization, LoginFailed> =>
  Effect.gen(function*() {
    const endpoint = client.metadata.deviceAuthorizationEndpoint
    if (endpoint === undefined) {
      return yield* new LoginFailed({
        reason: "Configuration",
        description: "the provider has no device authorization endpoint"
      })
    }
    const scope = Scope.normalize(options?.scope) ?? defaultScope
    if (asksIdToken(scope) && client.metadata.jwksUri === undefined) {
      return yield* new LoginFailed({
        reason: "Configuration",
        description: "the provider publishes no jwks_uri: an id_token (scope openid) cannot be checked"
      })
    }
    const body = yield* client.formRequest(
      endpoint,
      { scope, audience: options?.audience },
      { parameters: options?.parameters }
    ).pipe(Effect.mapError(toLoginFailed))
    const decoded = decodeResponse(body)
    // the parse error quotes values (the device code among them): only the verdict is kept
    if (Either.isLeft(decoded)) return yield* unreadable(endpoint, "is not one (RFC 8628 §3.2)")
    const answer = decoded.right
    const verificationUri = answer.verification_uri ?? answer.verification_url
    if (verificationUri === undefined) return yield* unreadable(endpoint, "has no verification_uri")
    // shown to the person (or opened): https, or http on a loopback host; never javascript: or data:
    for (
      const [name, uri] of [
        ["verification_uri", verificationUri],
        ["verification_uri_complete", answer.verification_uri_complete]
      ] as const
    ) {
      if (uri !== undefined && Either.isLeft(secureUrl(name, uri, { query: true }))) {
        return yield* unreadable(endpoint, `has a ${name} that is not an https URL`)
      }
    }
    // printed on a terminal: an escape sequence there would act on it
    if (!printable.test(answer.user_code)) {
      return yield* unreadable(endpoint, "has a user_code that is not up to 64 printable characters")
    }

    const now = yield* Clock.currentTimeMillis
    const expiresAt = now + Math.min(answer.expires_in * 1000, Duration.toMillis(maxLifetime))
    const interval = answer.interval === undefined
      ? defaultInterval
      : Duration.max(Duration.seconds(answer.interval), Duration.seconds(1))
    const deviceCode = Redacted.make(answer.device_code)
    // made before the first poll: each poll proves it, the tokens are bound to it
    const dpop = options?.dpop === true ? yield* Dpop.generateKey : undefined
    return {
      userCode: answer.user_code,
      verificationUri,
      ...(answer.verification_uri_complete === undefined
        ? {}
        : { verificationUriComplete: answer.verification_uri_complete }),
      expiresAt: DateTime.unsafeMake(expiresAt),
      interval,
      credentials: poll(client, verifier, { deviceCode, expiresAt, interval, scope, dpop })
    }
  })

const poll = (
  client: Client,
  verifier: Verifier,
  grant: {
    readonly deviceCode: Redacted.Redacted<string>
    readonly expiresAt: number
    readonly interval: Duration.Duration
    readonly scope: string
    readonly dpop: Dpop.DpopKey | undefined
  }
): Effect.Effect<Credentials, LoginFailed> => {
  const request = client.tokenRequest(GrantType, { device_code: Redacted.value(grant.deviceCode) }, {
    presented: "device_code",
    secrets: [grant.deviceCode],
    dpop: grant.dpop
  })

  const expired = () =>
    new LoginFailed({ reason: "Expired", description: "the device code expired before the person approved" })

  const bounded: Effect.Effect<Credentials, AuthenticationError | LoginFailed> = Effect.flatMap(
    Clock.currentTimeMillis,
    (now) =>
      Effect.timeoutFail(request, {
        duration: Duration.millis(Math.max(grant.expiresAt - now, 0)),
        onTimeout: expired
      })
  )

  const loop = (
    interval: Duration.Duration,
    wait: Duration.Duration,
    failures: number,
    lastTransient: LoginFailed | undefined
  ): Effect.Effect<Credentials, LoginFailed> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (now + Duration.toMillis(wait) >= grant.expiresAt) {
        return Effect.fail(lastTransient ?? expired())
      }
      return Effect.zipRight(
        Effect.sleep(wait),
        // a poll in flight when the code expires is not waited for
        Effect.matchEffect(bounded, {
          onSuccess: (credentials) => accept(verifier, credentials, { scope: grant.scope, nonce: undefined }),
          onFailure: (error) => error._tag === "LoginFailed" ? Effect.fail(error) : next(error, interval, failures)
        })
      )
    })

  const next = (
    error: AuthenticationError,
    interval: Duration.Duration,
    failures: number
  ): Effect.Effect<Credentials, LoginFailed> => {
    const code = error._tag === "AuthApiError" ? error.code : undefined
    if (code === "authorization_pending") return loop(interval, interval, 0, undefined)
    if (code === "slow_down") {
      const slower = Duration.sum(interval, slowDownStep)
      return loop(slower, slower, 0, undefined)
    }
    if (classify(error) === "Transient") {
      const backoff = Duration.min(Duration.times(interval, 2 ** (failures + 1)), maxBackoff)
      const retryAfter = error._tag === "AuthApiError" ? error.retryAfter : undefined
      const wait = retryAfter === undefined ? backoff : Duration.max(backoff, retryAfter)
      return loop(interval, Duration.max(wait, interval), failures + 1, toLoginFailed(error))
    }
    return Effect.fail(toLoginFailed(error))
  }

  // the approval is single-use: the keys that check the id_token are read before the first poll
  return Effect.zipRight(
    asksIdToken(grant.scope) ? verifier.prepare : Effect.void,
    loop(grant.interval, grant.interval, 0, undefined)
  )
}
