/**
 * What only a request to the provider needs, loaded on first use (a chunk of
 * its own in the bundle): the client found by discovery, and the strategy
 * over it. A valid token is handed out without loading it.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import type { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import type { Profile } from "../Profiles.js"

/** The client of the profile's provider, from its discovery document. */
export const client = (
  profile: Profile
): Effect.Effect<AuthenticationClient.AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> =>
  AuthenticationClient.makeDiscovery({ issuer: profile.issuer, clientId: profile.clientId })

/** The refresh_token strategy over the profile's client. */
export const strategy = (
  profile: Profile
): Effect.Effect<RenewalStrategy.RenewalStrategy.Service, InvalidConfiguration, HttpClient.HttpClient> =>
  Effect.flatMap(
    client(profile),
    (service) =>
      Effect.provideService(RenewalStrategy.makeRefreshToken, AuthenticationClient.AuthenticationClient, service)
  )
