/**
 * A client of an OAuth 2.0 / OpenID Connect provider's token endpoints, over
 * `@effect/platform`'s `HttpClient`, named after Auth0's Android
 * `AuthenticationAPIClient`. Any provider is found from its issuer URL
 * ({@link layerDiscovery}: the discovery document says where its endpoints
 * are); Auth0's `domain` form ({@link layer}) derives Auth0's endpoints and
 * alone reaches its legacy `/delegation`. The client authenticates with
 * nothing, a secret (`client_secret_post` / `_basic`) or a private key
 * (`private_key_jwt`).
 *
 * One call is one attempt: retrying belongs to the `Renewer`, through its
 * `RenewalPolicy`. Every failure is typed: {@link AuthError.AuthApiError}
 * when the server answered with an error (or an answer that could not be
 * understood), {@link AuthError.NetworkError} when it did not answer. An
 * `AuthApiError` says which grant the request presented (`presented`), so
 * that `AuthError.classify` knows what an `invalid_grant` rejects.
 *
 * The `HttpClient` in context is decorated once, when the client is built:
 * `Accept: application/json` is set, redirects are not followed (the
 * discovery document's included), failures no longer hold the request
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
 * has already replaced the one sent. Every `AuthApiError` names the method
 * and URL that answered it (`endpoint`, never the query).
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import type * as Redacted from "effect/Redacted"
 *
 * // Any provider, from its issuer URL (here Auth0's, with its trailing "/")
 * const ClientLive = AuthenticationClient.layerDiscovery({
 *   issuer: "https://tenant.eu.auth0.com/",
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
import type { JWK } from "jose"
import type { AuthenticationError, InvalidConfiguration, Presented } from "./AuthError.js"
import type * as Credentials from "./Credentials.js"
import type * as Delegation from "./Delegation.js"
import type { DpopKey } from "./Dpop.js"
import * as internal from "./internal/authenticationClient.js"

/**
 * The tag of the client service; {@link layerDiscovery},
 * {@link layerDiscoveryConfig}, {@link layer} and {@link layerConfig}
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
    /**
     * The tenant's base URL, e.g. `https://tenant.auth0.com`; for a
     * discovered provider, the issuer without its trailing `/`.
     */
    readonly baseUrl: string
    /** The application's client id, sent with every request. */
    readonly clientId: string
    /**
     * The provider's metadata: discovered ({@link makeDiscovery}), or derived
     * from Auth0's `domain` form ({@link make}).
     *
     * @since 0.4.0
     */
    readonly metadata: Metadata
    /**
     * `POST` to `metadata.tokenEndpoint`: `grant_type` and `fields` (an
     * `undefined` field is not sent), the client's authentication added, a
     * 2xx decoded into `Credentials` exactly as `renewAuth` does (expiry from
     * the `Clock`, the id_token in `idToken`). An error answer is an
     * `AuthApiError` with `presented` set when given. `secrets` (a code, a
     * verifier, a device code) are kept out of every error like the refresh
     * token is; `parameters` are extra fields that never override the
     * client's own.
     *
     * @since 0.4.0
     */
    readonly tokenRequest: (
      grantType: string,
      fields: Readonly<Record<string, string | undefined>>,
      options?: {
        readonly parameters?: Readonly<Record<string, string>> | undefined
        readonly presented?: Presented | undefined
        readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
        /**
         * A DPoP key: the request carries a proof signed with it, and the
         * credentials are bound to it (`dpop`). See {@link RenewAuthOptions}.
         *
         * @since 0.5.0
         */
        readonly dpop?: DpopKey | undefined
      }
    ) => Effect.Effect<Credentials.Credentials, AuthenticationError>
    /**
     * `POST` a form with the client's authentication to `endpoint`, which
     * must be one of the metadata's `tokenEndpoint`,
     * `deviceAuthorizationEndpoint` or `revocationEndpoint`, exactly as the
     * metadata spells it: any other URL fails with an `AuthApiError`
     * `unauthorized_client` (a `Configuration` fault) before anything is
     * signed or sent, so that the client's credentials never go elsewhere.
     * A 2xx answers its parsed JSON body (`unknown`, for the caller's
     * Schema); an error answer is an `AuthApiError` (both error body
     * formats), no answer a `NetworkError`. Same scrubbing, size cap, no
     * redirects and span as every request.
     *
     * @since 0.4.0
     */
    readonly formRequest: (
      endpoint: string,
      fields: Readonly<Record<string, string | undefined>>,
      options?: {
        readonly parameters?: Readonly<Record<string, string>> | undefined
        readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
        /** A DPoP key: the request carries a proof signed with it (`@since 0.5.0`). */
        readonly dpop?: DpopKey | undefined
      }
    ) => Effect.Effect<unknown, AuthenticationError>
    /**
     * `POST` to `metadata.tokenEndpoint` (Auth0's `/oauth/token`) with
     * `grant_type=refresh_token`. The returned
     * credentials have a `refreshToken` only if the server rotated it, and a
     * `scope` only if the response has one.
     */
    readonly renewAuth: (
      refreshToken: Redacted.Redacted<string>,
      options?: RenewAuthOptions
    ) => Effect.Effect<Credentials.Credentials, AuthenticationError>
    /**
     * `POST /delegation` with a (still valid) id_token. Auth0's `domain` form
     * only: a discovered client fails with an `AuthApiError`
     * `unsupported_grant_type` (a `Configuration` fault), sending nothing.
     */
    readonly delegationWithIdToken: (
      idToken: Redacted.Redacted<string>,
      options?: DelegationOptions
    ) => Effect.Effect<Delegation.Delegation, AuthenticationError>
    /** `POST /delegation` with a refresh token. */
    readonly delegationWithRefreshToken: (
      refreshToken: Redacted.Redacted<string>,
      options?: DelegationOptions
    ) => Effect.Effect<Delegation.Delegation, AuthenticationError>
    /**
     * `POST` to the revocation endpoint (`/oauth/revoke` for Auth0): revokes
     * a refresh token (and its family). A provider whose metadata has no
     * revocation endpoint fails with an `AuthApiError`
     * `unsupported_token_type`, sending nothing.
     */
    readonly revoke: (
      refreshToken: Redacted.Redacted<string>,
      options?: { readonly dpop?: DpopKey | undefined }
    ) => Effect.Effect<void, AuthenticationError>
  }
}

/**
 * The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2),
 * every endpoint an absolute URL. A discovered client has the document's
 * (the `issuer` exactly as it says); Auth0's `domain` form derives it:
 * issuer `https://<domain>/`, token `/oauth/token` (or `tokenPath`),
 * authorization `/authorize`, device `/oauth/device/code`, revocation
 * `/oauth/revoke` (or `revokePath`), JWKS `/.well-known/jwks.json`, userinfo
 * `/userinfo`, end session `/oidc/logout`, PKCE `S256`.
 *
 * @since 0.4.0
 * @category models
 */
export interface Metadata {
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly authorizationEndpoint?: string | undefined
  readonly deviceAuthorizationEndpoint?: string | undefined
  readonly revocationEndpoint?: string | undefined
  readonly jwksUri?: string | undefined
  readonly endSessionEndpoint?: string | undefined
  readonly userinfoEndpoint?: string | undefined
  readonly codeChallengeMethodsSupported?: ReadonlyArray<string> | undefined
  readonly idTokenSigningAlgValuesSupported?: ReadonlyArray<string> | undefined
  /** RFC 9207: the authorization response carries `iss`. */
  readonly authorizationResponseIssParameterSupported: boolean
}

/**
 * How the client authenticates to the token endpoint (RFC 6749 §2.3,
 * OpenID Core §9): `none` (a public client: `client_id` alone),
 * `client_secret_post` (the secret in the form), `client_secret_basic` (in
 * a Basic `Authorization` header) or `private_key_jwt` (RFC 7523 §3: an
 * assertion signed with the `privateKey`, fresh for every request, with
 * `iss` = `sub` = the client id, `aud` the issuer, a unique `jti` and a
 * 60-second `exp` from the `Clock`).
 *
 * @since 0.4.0
 * @category models
 */
export type ClientAuthentication = "none" | "client_secret_post" | "client_secret_basic" | "private_key_jwt"

/**
 * A private key for `private_key_jwt`: a PKCS#8 PEM
 * (`-----BEGIN PRIVATE KEY-----`), or a private JWK, as an object or its
 * JSON text.
 *
 * @since 0.4.0
 * @category models
 */
export type PrivateKey = Redacted.Redacted<string> | Redacted.Redacted<JWK>

/**
 * How the application presents itself, and how the client behaves: the
 * options {@link Options} (Auth0's `domain` form) and
 * {@link DiscoveryOptions} share.
 *
 * The authentication is `clientAuthentication` when given, else
 * `client_secret_post` with a `clientSecret`, `private_key_jwt` with a
 * `privateKey`, `none` without either. Options that contradict each other (a
 * secret and a key; a method without what it needs, or with what another one
 * needs) are an `InvalidConfiguration`, as is a key that cannot be imported
 * (its message never repeats the key).
 *
 * @since 0.4.0
 * @category models
 */
export interface ClientOptions {
  /** The application's client id. */
  readonly clientId: string
  /** The application's client secret, for a confidential client. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** How the client authenticates: see {@link ClientAuthentication}. */
  readonly clientAuthentication?: ClientAuthentication | undefined
  /**
   * The key of `private_key_jwt`.
   *
   * @since 0.4.0
   */
  readonly privateKey?: PrivateKey | undefined
  /**
   * The JWS algorithm of the assertion; from the key's type unless given:
   * RSA → `RS256`, EC P-256 → `ES256`, P-384 → `ES384`, P-521 → `ES512`,
   * Ed25519 → `EdDSA` (a JWK's own `alg` first).
   *
   * @since 0.4.0
   */
  readonly privateKeyAlgorithm?: string | undefined
  /**
   * The `kid` of the assertion's header (a JWK's own `kid` unless given).
   *
   * @since 0.4.0
   */
  readonly privateKeyId?: string | undefined
  /**
   * How long one call may take before it fails with a `NetworkError` of
   * reason `"Timeout"`. None by default: the `Renewer` bounds each attempt
   * with its `RenewalPolicy`; set it when calling the client directly. It
   * also bounds the reading of the metadata (30 seconds unless given).
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
 * Auth0's form: how to reach the tenant and present the application; the
 * options of {@link make}, {@link layer} and {@link layerConfig}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ClientOptions {
  /** `tenant.auth0.com` or a full URL; plain `http://` only for loopback hosts. */
  readonly domain: string
  /** The path of the token endpoint, starting with a single `/`: `/oauth/token` unless given. */
  readonly tokenPath?: string | undefined
  /** The path of the delegation endpoint: `/delegation` unless given. */
  readonly delegationPath?: string | undefined
  /** The path of the revocation endpoint: `/oauth/revoke` unless given. */
  readonly revokePath?: string | undefined
}

/**
 * Any OpenID Connect or OAuth 2.0 provider, found from its issuer URL; the
 * options of {@link makeDiscovery}, {@link layerDiscovery} and
 * {@link layerDiscoveryConfig}.
 *
 * @since 0.4.0
 * @category models
 */
export interface DiscoveryOptions extends ClientOptions {
  /**
   * The issuer URL, exactly as the provider's metadata states it (e.g.
   * `https://accounts.google.com`, `https://tenant.auth0.com/`): `https:`,
   * or plain `http:` on a loopback host; no query or fragment.
   */
  readonly issuer: string
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
  /**
   * The DPoP key (RFC 9449) the refresh token is bound to: the request
   * carries a proof signed with it (the token endpoint's last nonce
   * included; a `use_dpop_nonce` answer is retried once with the new one),
   * and the credentials returned carry it in `dpop`. Without it, a `DPoP`
   * token type in the answer is an `invalid_response`. The `Renewer` passes
   * the stored credentials' own.
   *
   * @since 0.5.0
   */
  readonly dpop?: DpopKey | undefined
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
  /**
   * A DPoP key: the request carries a proof signed with it.
   *
   * @since 0.5.0
   */
  readonly dpop?: DpopKey | undefined
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

/**
 * Builds a client for any OpenID Connect or OAuth 2.0 provider from its
 * issuer URL, over the `HttpClient` in context: reads
 * `<issuer>/.well-known/openid-configuration` (then, on a 404, RFC 8414's
 * `/.well-known/oauth-authorization-server` with the issuer's path after
 * it), validated with Schema. The document's `issuer` must be identical to
 * the one configured (OpenID Discovery §4.3), and every endpoint `https:`
 * (plain `http:` on a loopback host), on any host. The client then sends its
 * requests to the document's endpoints; `delegationWith*` (Auth0's legacy
 * `/delegation`) fail without sending anything.
 *
 * Fails with `InvalidConfiguration` for any option {@link make} refuses, an
 * unusable `issuer`, and a missing or unusable document (404 at both
 * locations, not JSON, the wrong shape, another issuer, an `http:`
 * endpoint on a public host, a redirect, too large, no answer): its message
 * names the URL.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Effect from "effect/Effect"
 *
 * // Where does this provider issue tokens?
 * const tokenEndpoint = Effect.gen(function*() {
 *   const client = yield* AuthenticationClient.makeDiscovery({
 *     issuer: "https://accounts.google.com",
 *     clientId: "my-client-id.apps.googleusercontent.com"
 *   })
 *   return client.metadata.tokenEndpoint // "https://oauth2.googleapis.com/token"
 * }).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.4.0
 * @category constructors
 */
export const makeDiscovery: (
  options: DiscoveryOptions
) => Effect.Effect<AuthenticationClient.Service, InvalidConfiguration, HttpClient.HttpClient> = internal.makeDiscovery

/**
 * Provides the client built by {@link makeDiscovery}: the provider's
 * metadata is read once, when the layer is built.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * // A public client of Keycloak's realm "demo"
 * const Keycloak = AuthenticationClient.layerDiscovery({
 *   issuer: "https://sso.example.com/realms/demo",
 *   clientId: "my-cli"
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 *
 * // A confidential client that signs its requests with its key (private_key_jwt)
 * const Okta = (pem: string) =>
 *   AuthenticationClient.layerDiscovery({
 *     issuer: "https://example.okta.com/oauth2/default",
 *     clientId: "0oa1b2c3d4",
 *     privateKey: Redacted.make(pem), // PKCS#8; RS256 for an RSA key
 *     privateKeyId: "key-2026-12"
 *   }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.4.0
 * @category layers
 */
export const layerDiscovery = (
  options: DiscoveryOptions
): Layer.Layer<AuthenticationClient, InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(AuthenticationClient, makeDiscovery(options))

/**
 * Provides the discovered client with options read from `Config`, each
 * field a `Config` of its own (or the whole a `Config<DiscoveryOptions>`);
 * {@link defaultDiscoveryConfig} when none is given.
 *
 * @example
 * ```ts
 * import { AuthenticationClient } from "@effect-renewal/core"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // OIDC_ISSUER, OIDC_CLIENT_ID, and an optional OIDC_CLIENT_SECRET or OIDC_PRIVATE_KEY
 * const ClientLive = AuthenticationClient.layerDiscoveryConfig().pipe(Layer.provide(FetchHttpClient.layer))
 *
 * // the same, the secret sent in a Basic header
 * const BasicClient = AuthenticationClient.layerDiscoveryConfig({
 *   ...AuthenticationClient.defaultDiscoveryConfig,
 *   clientAuthentication: Config.succeed("client_secret_basic" as const)
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.4.0
 * @category layers
 */
export const layerDiscoveryConfig = (
  config: Config.Config.Wrap<DiscoveryOptions> = defaultDiscoveryConfig
): Layer.Layer<AuthenticationClient, ConfigError.ConfigError | InvalidConfiguration, HttpClient.HttpClient> =>
  Layer.effect(AuthenticationClient, Effect.flatMap(Config.unwrap(config), makeDiscovery))

/**
 * `OIDC_ISSUER`, `OIDC_CLIENT_ID`, and an optional, redacted
 * `OIDC_CLIENT_SECRET` or `OIDC_PRIVATE_KEY` (a PKCS#8 PEM or a JWK's JSON):
 * no provider's name in any of them.
 *
 * @since 0.4.0
 * @category config
 */
export const defaultDiscoveryConfig: {
  readonly issuer: Config.Config<string>
  readonly clientId: Config.Config<string>
  readonly clientSecret: Config.Config<Redacted.Redacted<string> | undefined>
  readonly privateKey: Config.Config<Redacted.Redacted<string> | undefined>
} = {
  issuer: Config.string("OIDC_ISSUER"),
  clientId: Config.string("OIDC_CLIENT_ID"),
  clientSecret: Config.map(Config.option(Config.redacted("OIDC_CLIENT_SECRET")), Option.getOrUndefined),
  privateKey: Config.map(Config.option(Config.redacted("OIDC_PRIVATE_KEY")), Option.getOrUndefined)
}
