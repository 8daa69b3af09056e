/**
 * Discovery: the provider's metadata read from its issuer URL (OpenID
 * Connect Discovery 1.0 §4, RFC 8414 §3), validated with Schema, and the
 * metadata Auth0's `domain` form implies. Every way a document can be
 * unusable is an `InvalidConfiguration` that names the URL it came from.
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as AuthenticationClient from "../AuthenticationClient.js"
import { InvalidConfiguration } from "../AuthError.js"
import * as Endpoints from "./endpoints.js"
import type * as Http from "./http.js"
import * as Wire from "./wire.js"

const Strings = Schema.Array(Schema.String)

/**
 * The fields of a metadata document the client reads (others are ignored).
 *
 * @internal
 */
export const Document = Schema.Struct({
  issuer: Schema.String,
  token_endpoint: Schema.String,
  authorization_endpoint: Schema.optional(Schema.String),
  device_authorization_endpoint: Schema.optional(Schema.String),
  revocation_endpoint: Schema.optional(Schema.String),
  jwks_uri: Schema.optional(Schema.String),
  end_session_endpoint: Schema.optional(Schema.String),
  userinfo_endpoint: Schema.optional(Schema.String),
  code_challenge_methods_supported: Schema.optional(Strings),
  id_token_signing_alg_values_supported: Schema.optional(Strings),
  authorization_response_iss_parameter_supported: Schema.optional(Schema.Boolean)
})

/**
 * How long reading the document may take when the client has no `timeout`:
 * a layer that waits for a server that never answers would never build.
 *
 * @internal
 */
export const defaultTimeout = Duration.seconds(30)

/**
 * Where the document is: OpenID's location (the issuer, then
 * `/.well-known/openid-configuration`), and RFC 8414's (the well-known
 * segment between the host and the issuer's path).
 *
 * @internal
 */
export const locations = (issuer: URL): { readonly openid: string; readonly oauth: string } => {
  const path = issuer.pathname.replace(/\/+$/, "")
  return {
    openid: `${issuer.origin}${path}/.well-known/openid-configuration`,
    oauth: `${issuer.origin}/.well-known/oauth-authorization-server${path}`
  }
}

/**
 * The issuer option as a URL: `https:` (or `http:` on a loopback host),
 * without query, fragment or credentials.
 *
 * @internal
 */
export const issuerUrl = (issuer: string): Effect.Effect<URL, InvalidConfiguration> =>
  issuer.trim().length === 0
    ? Effect.fail(new InvalidConfiguration({ description: "issuer is empty" }))
    : Either.match(Endpoints.secureUrl("issuer", issuer, { query: false }), {
      onLeft: (description) => Effect.fail(new InvalidConfiguration({ description })),
      onRight: Effect.succeed
    })

type Fetched =
  | { readonly _tag: "Found"; readonly url: string; readonly document: typeof Document.Type }
  | { readonly _tag: "NotFound"; readonly url: string }

/**
 * Reads the provider's metadata: OpenID's location first, RFC 8414's when
 * that one answers 404. The document's `issuer` must be the configured one,
 * character for character (OpenID Discovery §4.3, RFC 8414 §3.3), and every
 * endpoint an absolute `https:` URL (`http:` on a loopback host); endpoints
 * may be on other hosts than the issuer.
 *
 * @internal
 */
export const discover = (
  issuer: string,
  exchange: Http.Exchange,
  timeout: Duration.Duration | undefined
): Effect.Effect<AuthenticationClient.Metadata, InvalidConfiguration> =>
  Effect.gen(function*() {
    const url = yield* issuerUrl(issuer)
    const { oauth, openid } = locations(url)
    const fetch = (location: string): Effect.Effect<Fetched, InvalidConfiguration> =>
      exchange.send(
        HttpClientRequest.get(location),
        { secrets: [] },
        (status, body) => Wire.decodeBody(Document, status, body)
      ).pipe(
        Effect.map((document): Fetched => ({ _tag: "Found", url: location, document })),
        Effect.timeoutFail({
          duration: timeout ?? defaultTimeout,
          onTimeout: () =>
            new InvalidConfiguration({
              description: `no metadata: GET ${location} did not answer within ${
                Duration.format(timeout ?? defaultTimeout)
              }`
            })
        }),
        Effect.catchAll((error) =>
          error._tag === "AuthApiError" && error.status === 404
            ? Effect.succeed<Fetched>({ _tag: "NotFound", url: location })
            : Effect.fail(
              error._tag === "InvalidConfiguration" ? error : new InvalidConfiguration({
                // the message names the request: GET and the location
                description: `no usable metadata: ${error.message}`
              })
            )
        )
      )
    let fetched = yield* fetch(openid)
    if (fetched._tag === "NotFound") fetched = yield* fetch(oauth)
    if (fetched._tag === "NotFound") {
      return yield* new InvalidConfiguration({
        description: `no metadata for the issuer ${issuer}: GET ${openid} and GET ${oauth} answered 404`
      })
    }
    return yield* fromDocument(issuer, fetched.url, fetched.document)
  })

/**
 * The metadata of a document read from `location`, checked.
 *
 * @internal
 */
export const fromDocument = (
  issuer: string,
  location: string,
  document: typeof Document.Type
): Effect.Effect<AuthenticationClient.Metadata, InvalidConfiguration> =>
  Effect.gen(function*() {
    const unusable = (why: string) =>
      new InvalidConfiguration({ description: `the metadata at ${location} is unusable: ${why}` })
    if (document.issuer !== issuer) {
      return yield* unusable(
        `its issuer ${Endpoints.quoted(document.issuer)} is not the configured ${
          Endpoints.quoted(issuer)
        } (they must be identical)`
      )
    }
    const endpoint = (name: string, value: string) =>
      Either.match(Endpoints.secureUrl(name, value, { query: true }), {
        onLeft: (why) => Effect.fail(unusable(why)),
        onRight: () => Effect.succeed(value)
      })
    const optional = (name: string, value: string | undefined) =>
      value === undefined ? Effect.succeed(undefined) : endpoint(name, value)
    return {
      issuer: document.issuer,
      tokenEndpoint: yield* endpoint("token_endpoint", document.token_endpoint),
      authorizationEndpoint: yield* optional("authorization_endpoint", document.authorization_endpoint),
      deviceAuthorizationEndpoint: yield* optional(
        "device_authorization_endpoint",
        document.device_authorization_endpoint
      ),
      revocationEndpoint: yield* optional("revocation_endpoint", document.revocation_endpoint),
      jwksUri: yield* optional("jwks_uri", document.jwks_uri),
      endSessionEndpoint: yield* optional("end_session_endpoint", document.end_session_endpoint),
      userinfoEndpoint: yield* optional("userinfo_endpoint", document.userinfo_endpoint),
      codeChallengeMethodsSupported: document.code_challenge_methods_supported,
      idTokenSigningAlgValuesSupported: document.id_token_signing_alg_values_supported,
      authorizationResponseIssParameterSupported: document.authorization_response_iss_parameter_supported ?? false
    }
  })

/**
 * The metadata of Auth0's `domain` form: the tenant's base URL (already
 * checked) and its paths.
 *
 * @internal
 */
export const auth0 = (
  base: string,
  paths: { readonly token: string; readonly revoke: string }
): AuthenticationClient.Metadata => ({
  issuer: `${base}/`,
  tokenEndpoint: `${base}${paths.token}`,
  authorizationEndpoint: `${base}/authorize`,
  deviceAuthorizationEndpoint: `${base}/oauth/device/code`,
  revocationEndpoint: `${base}${paths.revoke}`,
  jwksUri: `${base}/.well-known/jwks.json`,
  endSessionEndpoint: `${base}/oidc/logout`,
  userinfoEndpoint: `${base}/userinfo`,
  codeChallengeMethodsSupported: ["S256"],
  idTokenSigningAlgValuesSupported: undefined,
  authorizationResponseIssParameterSupported: false
})
