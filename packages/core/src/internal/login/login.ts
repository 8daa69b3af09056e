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
import { InvalidConfiguration, type LoginFailed } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import * as Authorize from "./authorize.js"
import type { Client } from "./client.js"
import * as Device from "./device.js"
import * as IdToken from "./idToken.js"

/** @internal */
export interface Settings {
  readonly pendingLifetime?: Duration.DurationInput | undefined
  readonly clockTolerance?: Duration.DurationInput | undefined
}

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
  fallback: Duration.Duration
): Effect.Effect<Duration.Duration, InvalidConfiguration> => {
  if (input === undefined) return Effect.succeed(fallback)
  const negative = (typeof input === "number" && !(input >= 0)) ||
    (typeof input === "string" && input.trim().startsWith("-"))
  return Option.match(
    Option.filter(negative ? Option.none() : Duration.decodeUnknown(input), Duration.isFinite),
    {
      onSome: Effect.succeed,
      onNone: () => Effect.fail(new InvalidConfiguration({ description: `${name} must be a finite duration` }))
    }
  )
}

/** @internal */
export const make = (
  client: Client,
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
