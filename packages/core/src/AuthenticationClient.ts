/**
 * A client of an Auth0 tenant's authentication API, over `@effect/platform`'s
 * `HttpClient`, named after Auth0's Android `AuthenticationAPIClient`.
 *
 * One call is one attempt: retrying belongs to the `Renewer`, through its
 * `RenewalPolicy`. Every failure is typed: {@link AuthError.AuthApiError}
 * when the server answered with an error (or an answer that could not be
 * understood), {@link AuthError.NetworkError} when it did not answer. An
 * `AuthApiError` says which grant the request presented (`presented`), so
 * that `AuthError.classify` knows what an `invalid_grant` rejects.
 *
 * The `HttpClient` in context is decorated once, when the client is built:
 * the base URL is prepended to each endpoint path, `Accept: application/json`
 * is set, redirects are not followed, failures no longer hold the request
 * (whose body and headers carry secrets), then `transformClient` (if given)
 * applies.
 *
 * No secret the client sends, in any encoding, appears in an error, a span
 * or a log: each exchange has its own `http.client` span (the platform's
 * name, attributes and trace propagation, headers redacted), which ends with
 * the response status or the `NetworkError`, never with the request. The
 * platform's own span is turned off for these requests, since its exit keeps
 * the request, body included.
 *
 * What a 2xx answer must hold: `access_token` (or `id_token` for
 * `/delegation`) and a `token_type` the library can use (`Bearer`,
 * in any case); `expires_in` is optional (see `defaultExpiresIn`). When an
 * answer to `renewAuth` is unusable but carries a `refresh_token`, the
 * `AuthApiError` keeps it in `issuedRefreshToken`: with rotation the server
 * has already replaced the one sent.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import type * as Redacted from "effect/Redacted"
 *
 * const ClientLive = AuthenticationClient.layer({
 *   domain: "tenant.eu.auth0.com",
 *   clientId: "my-client-id"
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 *
 * // One attempt of the refresh_token grant; the Renewer normally does this for you.
 * const renew = (refreshToken: Redacted.Redacted<string>) =>
 *   Effect.gen(function*() {
 *     const client = yield* AuthenticationClient.AuthenticationClient
 *     const credentials = yield* client.renewAuth(refreshToken, { scope: "openid profile offline_access" })
 *     return credentials
 *   }).pipe(Effect.provide(ClientLive))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { AuthenticationError, InvalidConfiguration } from "./AuthError.js"
import type * as Credentials from "./Credentials.js"
import type * as Delegation from "./Delegation.js"
import * as internal from "./internal/authenticationClient.js"

/**
 * The tag of the client service; {@link layer} and {@link layerConfig}
 * provide it.
 *
 * @since 0.1.0
 * @category tags
 */
export class AuthenticationClient extends Context.Tag("@effect-renewal/core/AuthenticationClient")<
  AuthenticationClient,
  AuthenticationClient.Service
>() {}

/**
 * The types of the {@link AuthenticationClient} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace AuthenticationClient {
  /**
   * The client's operations, one request each.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The tenant's base URL, e.g. `https://tenant.auth0.com`. */
    readonly baseUrl: string
    /** The application's client id, sent with every request. */
    readonly clientId: string
    /**
     * `POST /oauth/token` with `grant_type=refresh_token`. The returned
     * credentials have a `refreshToken` only if the server rotated it, and a
     * `scope` only if the response has one.
     */
    readonly renewAuth: (
      refreshToken: Redacted.Redacted<string>,
      options?: RenewAuthOptions
    ) => Effect.Effect<Credentials.Credentials, AuthenticationError>
    /** `POST /delegation` with a (still valid) id_token. */
    readonly delegationWithIdToken: (
      idToken: Redacted.Redacted<string>,
      options?: DelegationOptions
    ) => Effect.Effect<Delegation.Delegation, AuthenticationError>
    /** `POST /delegation` with a refresh token. */
    readonly delegationWithRefreshToken: (
      refreshToken: Redacted.Redacted<string>,
      options?: DelegationOptions
    ) => Effect.Effect<Delegation.Delegation, AuthenticationError>
    /** `POST /oauth/revoke`: revokes a refresh token (and its family). */
    readonly revoke: (refreshToken: Redacted.Redacted<string>) => Effect.Effect<void, AuthenticationError>
  }
}

/**
 * How to reach the tenant and present the application: the options of
 * {@link make}, {@link layer} and {@link layerConfig}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `tenant.auth0.com` or a full URL; plain `http://` only for loopback hosts. */
  readonly domain: string
  /** The application's client id. */
  readonly clientId: string
  /** The application's client secret, for a confidential client. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** How the secret is sent, `client_secret_post` by default. */
  readonly clientAuthentication?: "client_secret_post" | "client_secret_basic" | undefined
  /** The path of the token endpoint, starting with a single `/`: `/oauth/token` unless given. */
  readonly tokenPath?: string | undefined
  /** The path of the delegation endpoint: `/delegation` unless given. */
  readonly delegationPath?: string | undefined
  /** The path of the revocation endpoint: `/oauth/revoke` unless given. */
  readonly revokePath?: string | undefined
  /**
   * How long one call may take before it fails with a `NetworkError` of
   * reason `"Timeout"`. None by default: the `Renewer` bounds each attempt
   * with its `RenewalPolicy`; set it when calling the client directly.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The most bytes of an answer the client reads: 1 MiB unless given. A
   * larger answer is an `AuthApiError` (`invalid_response`), read no further.
   */
  readonly maxResponseBytes?: number | undefined
  /**
   * The lifetime of a token whose answer states none: `expires_in` is only
   * RECOMMENDED (RFC 6749, 5.1), and when it is missing the expiry comes from
   * the token itself (the access token's `exp`, for `/delegation` the
   * id_token's) if it is a JWT. Only a token that says nothing either way
   * gets this lifetime: `Credentials.defaultExpiresIn` (5 minutes) unless
   * given. Keep it short: credentials are handed out until they expire, and a
   * lifetime longer than the server's would hand out a token it already
   * refuses; one too short only renews early. Positive, at most a century.
   *
   * @since 0.2.0
   */
  readonly defaultExpiresIn?: Duration.DurationInput | undefined
  /**
   * Applied once to the decorated `HttpClient` (whose requests already carry
   * the full URL and `Accept`), e.g. to add a header or a span attribute.
   * Retrying here would bypass the `RenewalPolicy`.
   *
   * @since 0.2.0
   */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * The options of {@link AuthenticationClient.Service.renewAuth}: `scope` and
 * `audience` are sent as the form fields of those names, and each entry of
 * `parameters` as an extra form field. An extra field never overrides one the
 * client sets (`scope`, `audience` when given, and the grant and client
 * fields, which are never taken from `parameters`).
 *
 * @since 0.2.0
 * @category models
 */
export interface RenewAuthOptions {
  readonly scope?: string | undefined
  readonly audience?: string | undefined
  readonly parameters?: Readonly<Record<string, string>> | undefined
}

/**
 * The options of `delegationWithIdToken` and `delegationWithRefreshToken`,
 * sent as `scope`, `api_type` and `target`; `parameters` are extra body
 * fields that never override the client's own.
 *
 * @since 0.2.0
 * @category models
 */
export interface DelegationOptions {
  readonly scope?: string | undefined
  readonly apiType?: string | undefined
  readonly target?: string | undefined
  readonly parameters?: Readonly<Record<string, string>> | undefined
}

/**
 * The grant type of `/delegation`.
 *
 * @since 0.1.0
 * @category constants
 */
export const JwtBearerGrantType: "urn:ietf:params:oauth:grant-type:jwt-bearer" = internal.JwtBearerGrantType

/**
 * Turns a `domain` option into a base URL: a bare host gets `https://`; a
 * full URL must be `https:`, or `http:` on a loopback host, without
 * credentials, query or fragment.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   console.log(yield* AuthenticationClient.baseUrl("tenant.eu.auth0.com")) // "https://tenant.eu.auth0.com"
 *   console.log(yield* AuthenticationClient.baseUrl("http://127.0.0.1:8080")) // "http://127.0.0.1:8080"
 *   // fails with InvalidConfiguration: plain http is for loopback hosts only
 *   const error = yield* Effect.flip(AuthenticationClient.baseUrl("http://tenant.eu.auth0.com"))
 *   console.log(error._tag) // "InvalidConfiguration"
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const baseUrl: (domain: string) => Effect.Effect<string, InvalidConfiguration> = internal.baseUrl

/**
 * Builds the client over the `HttpClient` in context. Fails with
 * `InvalidConfiguration` for an unusable `domain`, an empty `clientId`, an
 * endpoint path that does not start with a single `/`, or a `timeout` or
 * `defaultExpiresIn` that is not a duration in range; its message never
 * repeats the user-info (`user:password@`) of a domain or a path.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Effect from "effect/Effect"
 * import type * as Redacted from "effect/Redacted"
 *
 * // A client built where it is needed, with a timeout since no Renewer bounds the call.
 * const revoke = (refreshToken: Redacted.Redacted<string>) =>
 *   Effect.gen(function*() {
 *     const client = yield* AuthenticationClient.make({
 *       domain: "tenant.eu.auth0.com",
 *       clientId: "my-client-id",
 *       timeout: "5 seconds"
 *     })
 *     yield* client.revoke(refreshToken)
 *   }).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> = internal.make

/**
 * Provides the client built by {@link make} from the given options, over the
 * `HttpClient` in context.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Layer from "effect/Layer"
 * import type * as Redacted from "effect/Redacted"
 *
 * // A confidential client, its secret from your secret manager.
 * const ClientLive = (clientSecret: Redacted.Redacted<string>) =>
 *   AuthenticationClient.layer({
 *     domain: "tenant.eu.auth0.com", // or a full https:// URL; http:// only for loopback hosts
 *     clientId: "my-client-id",
 *     clientSecret,
 *     clientAuthentication: "client_secret_basic" // default: client_secret_post
 *   }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<AuthenticationClient, InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(AuthenticationClient, make(options))

/**
 * Provides the client with options read from `Config`, each field a `Config`
 * of its own (or the whole a `Config<Options>`); {@link defaultConfig} when
 * none is given. A missing variable fails the layer, not a later call.
 *
 * @example
 * ```ts
 * import { AuthenticationClient } from "@effect-renewal/core"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // AUTH0_DOMAIN, AUTH0_CLIENT_ID and (optional) AUTH0_CLIENT_SECRET
 * const ClientLive = AuthenticationClient.layerConfig().pipe(Layer.provide(FetchHttpClient.layer))
 *
 * // the same, with a timeout per call from AUTH0_TIMEOUT
 * const ClientWithTimeout = AuthenticationClient.layerConfig({
 *   ...AuthenticationClient.defaultConfig,
 *   timeout: Config.duration("AUTH0_TIMEOUT")
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = defaultConfig
): Layer.Layer<AuthenticationClient, ConfigError.ConfigError | InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(AuthenticationClient, Effect.flatMap(Config.unwrap(config), make))

/**
 * `AUTH0_DOMAIN`, `AUTH0_CLIENT_ID` and an optional, redacted
 * `AUTH0_CLIENT_SECRET`.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultConfig: {
  readonly domain: Config.Config<string>
  readonly clientId: Config.Config<string>
  readonly clientSecret: Config.Config<Redacted.Redacted<string> | undefined>
} = {
  domain: Config.string("AUTH0_DOMAIN"),
  clientId: Config.string("AUTH0_CLIENT_ID"),
  clientSecret: Config.map(Config.option(Config.redacted("AUTH0_CLIENT_SECRET")), Option.getOrUndefined)
}
