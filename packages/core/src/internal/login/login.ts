/**
 * The `Login` service: the flows over one client, one id_token verifier (one
 * JWKS cache) and the settings.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidConfiguration, type LoginFailed, NetworkError } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import { named } from "../endpoints.js"
import * as Authorize from "./authorize.js"
import type { Client } from "./client.js"
import * as Device from "./device.js"
import * as IdToken from "./idToken.js"

/** @internal */
export interface Settings {
  readonly pendingLifetime?: Duration.DurationInput | undefined
  readonly clockTolerance?: Duration.DurationInput | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/**
 * How long one request of a login may wait for its answer, unless
 * configured: the `AuthenticationClient` has no timeout by default (the
 * `Renewer` bounds its renewals), and a login does not go through the Renewer.
 *
 * @internal
 */
export const defaultRequestTimeout = Duration.seconds(30)

/**
 * The client with every request bounded by `timeout`: no answer within it is
 * a `NetworkError` `Timeout` (transient), as the client's own timeout gives;
 * a shorter `timeout` of the client applies first.
 *
 * @internal
 */
export const bounded = (client: Client, timeout: Duration.Duration): Client => {
  const within = <A, E>(effect: Effect.Effect<A, E>, endpoint: string): Effect.Effect<A, E | NetworkError> =>
    Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () =>
        new NetworkError({
          reason: "Timeout",
          description: `no answer to POST ${endpointName(endpoint)} within ${Duration.format(timeout)}`
        })
    })
  return {
    clientId: client.clientId,
    metadata: client.metadata,
    tokenRequest: (grantType, fields, options) =>
      within(client.tokenRequest(grantType, fields, options), client.metadata.tokenEndpoint),
    formRequest: (endpoint, fields, options) => within(client.formRequest(endpoint, fields, options), endpoint)
  }
}

/** An endpoint as an error names it: origin and path, never the query. */
const endpointName = (endpoint: string): string => URL.canParse(endpoint) ? named(new URL(endpoint)) : "the endpoint"

/** @internal */
export interface Service {
  readonly device: (options?: Device.Options) => Effect.Effect<Device.Authorization, LoginFailed>
  readonly authorize: (
    options: Authorize.Options
  ) => Effect.Effect<{ readonly url: string; readonly pending: Authorize.Pending }, LoginFailed>
  readonly complete: (pending: Authorize.Pending, callbackUrl: string | URL) => Effect.Effect<Credentials, LoginFailed>
}

const setting = (
  name: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration,
  minimum: "zero" | "positive" = "zero"
): Effect.Effect<Duration.Duration, InvalidConfiguration> => {
  if (input === undefined) return Effect.succeed(fallback)
  const negative = (typeof input === "number" && !(input >= 0)) ||
    (typeof input === "string" && input.trim().startsWith("-"))
  return Option.match(
    Option.filter(
      negative ? Option.none() : Duration.decodeUnknown(input),
      (d) => Duration.isFinite(d) && (minimum === "zero" || Duration.greaterThan(d, Duration.zero))
    ),
    {
      onSome: Effect.succeed,
      onNone: () =>
        Effect.fail(
          new InvalidConfiguration({
            description: `${name} must be a ${minimum === "positive" ? "positive, " : ""}finite duration`
          })
        )
    }
  )
}

/** @internal */
export const make = (
  unbounded: Client,
  http: HttpClient.HttpClient,
  settings: Settings | undefined
): Effect.Effect<Service, InvalidConfiguration> =>
  Effect.gen(function*() {
    const pendingLifetime = yield* setting(
      "pendingLifetime",
      settings?.pendingLifetime,
      Authorize.defaultPendingLifetime
    )
    const clockTolerance = yield* setting(
      "clockTolerance",
      settings?.clockTolerance,
      Duration.seconds(IdToken.defaultClockTolerance)
    )
    const requestTimeout = yield* setting(
      "requestTimeout",
      settings?.requestTimeout,
      defaultRequestTimeout,
      "positive"
    )
    const client = bounded(unbounded, requestTimeout)
    const metadata = client.metadata
    const verifier = yield* IdToken.make(http, {
      issuer: metadata.issuer,
      clientId: client.clientId,
      jwksUri: metadata.jwksUri,
      algorithms: metadata.idTokenSigningAlgValuesSupported,
      clockTolerance: Duration.toSeconds(clockTolerance)
    })
    return {
      device: (options) => Device.start(client, verifier, options),
      authorize: (options) =>
        Effect.map(Authorize.authorize(client, options), ({ pending, url }) => ({ url: url.href, pending })),
      complete: (pending, callbackUrl) => Authorize.complete(client, verifier, pending, callbackUrl, pendingLifetime)
    }
  })
