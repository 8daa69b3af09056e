/**
 * What the login needs of the `AuthenticationClient`: its metadata, a token
 * request for any grant and a form request to any endpoint of the metadata,
 * each carrying the client's authentication.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { AuthenticationError, Presented } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"

/** @internal */
export interface Metadata {
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly authorizationEndpoint?: string | undefined
  readonly deviceAuthorizationEndpoint?: string | undefined
  readonly jwksUri?: string | undefined
  readonly codeChallengeMethodsSupported?: ReadonlyArray<string> | undefined
  readonly idTokenSigningAlgValuesSupported?: ReadonlyArray<string> | undefined
  readonly authorizationResponseIssParameterSupported: boolean
}

/** @internal */
export interface Client {
  readonly clientId: string
  readonly metadata: Metadata
  readonly tokenRequest: (
    grantType: string,
    fields: Readonly<Record<string, string | undefined>>,
    options?: {
      readonly parameters?: Readonly<Record<string, string>> | undefined
      readonly presented?: Presented | undefined
      readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
    }
  ) => Effect.Effect<Credentials, AuthenticationError>
  readonly formRequest: (
    endpoint: string,
    fields: Readonly<Record<string, string | undefined>>,
    options?: {
      readonly parameters?: Readonly<Record<string, string>> | undefined
      readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
    }
  ) => Effect.Effect<unknown, AuthenticationError>
}
