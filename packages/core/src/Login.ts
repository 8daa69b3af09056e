/**
 * The first login, with any OpenID Connect provider: the device flow (RFC
 * 8628) for a CLI or a device without a browser, the authorization code with
 * PKCE (RFC 7636) for a web server or a native app, and the loopback redirect
 * (RFC 8252) for a desktop app or a CLI that can open a browser.
 *
 * Each flow checks everything before it returns credentials (the `state`,
 * the `iss` of the redirect, the id_token's signature against the provider's
 * JWKS, its `iss`, `aud`, `exp` and `nonce`) and saves nothing: the
 * application saves the `Credentials` (`renewer.save`, `sessions.save`), and
 * from then on the `Renewer` keeps them valid. Every failure is a
 * `LoginFailed` with a `reason`; no code, verifier, state, nonce or token is
 * in any error.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as Login from "@effect-renewal/core/Login"
 * import * as Renewer from "@effect-renewal/core/Renewer"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Console from "effect/Console"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const LoginLive = Login.layer().pipe(
 *   Layer.provide(AuthenticationClient.layer({ domain: "tenant.eu.auth0.com", clientId: "my-client-id" })),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 *
 * // A CLI: show the code, wait for the person, save what the login gave.
 * const login = Effect.gen(function*() {
 *   const flows = yield* Login.Login
 *   const authorization = yield* flows.device({ scope: "openid profile offline_access" })
 *   yield* Console.error(`Open ${authorization.verificationUri} and enter ${authorization.userCode}`)
 *   const credentials = yield* authorization.credentials
 *   const renewer = yield* Renewer.Renewer
 *   yield* renewer.save(credentials)
 * }).pipe(Effect.provide(LoginLive))
 * ```
 *
 * @since 0.4.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as AuthenticationClient from "./AuthenticationClient.js"
import type { InvalidConfiguration, LoginFailed } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import { DpopKey } from "./Dpop.js"
import * as internal from "./internal/login/login.js"
import * as internalLoopback from "./internal/login/loopback.js"

/**
 * The tag of the login service; {@link layer} provides it.
 *
 * @since 0.4.0
 * @category tags
 */
export class Login extends Context.Tag("@effect-renewal/core/Login")<Login, Login.Service>() {}

/**
 * The types of the {@link Login} service.
 *
 * @since 0.4.0
 * @category models
 */
export declare namespace Login {
  /**
   * The flows. None saves anything: save the credentials they give.
   *
   * @since 0.4.0
   * @category models
   */
  export interface Service {
    /**
     * Starts a device authorization (RFC 8628): the user code and where to
     * enter it, and `credentials`, which polls until the person approves.
     * Fails with `Configuration` when the provider has no device endpoint,
     * refuses the client, or publishes no `jwks_uri` while the scope asks
     * for `openid`.
     */
    readonly device: (options?: DeviceOptions) => Effect.Effect<DeviceAuthorization, LoginFailed>
    /**
     * The URL to send the person to, and the {@link PendingAuthorization} to
     * keep until the redirect comes back (in memory, or encoded into an
     * encrypted cookie). Fails with `Configuration` when the provider has no
     * authorization endpoint, does not support PKCE S256, publishes no
     * `jwks_uri` while the scope asks for `openid`, or the redirect URI is
     * not an absolute URL without a fragment.
     */
    readonly authorize: (options: AuthorizeOptions) => Effect.Effect<Authorization, LoginFailed>
    /**
     * Completes an authorization with the URL the provider redirected to (an
     * absolute URL, or a path with its query, read against the redirect
     * URI): checks it, reads the provider's JWKS when `openid` was asked and
     * it is not held yet (before the single-use code is spent: a JWKS that
     * cannot be read is `Transient` and the same callback can be completed
     * again), exchanges the code with the verifier and checks the id_token.
     */
    readonly complete: (
      pending: PendingAuthorization,
      callbackUrl: string | URL
    ) => Effect.Effect<Credentials, LoginFailed>
  }
}

/**
 * The options of `device`. `scope` is `"openid offline_access"` unless
 * given (an id_token, checked, and a refresh token for the renewals);
 * `parameters` are extra form fields that never override the flow's own.
 *
 * @since 0.4.0
 * @category models
 */
export interface DeviceOptions {
  readonly scope?: string | undefined
  readonly audience?: string | undefined
  readonly parameters?: Readonly<Record<string, string>> | undefined
  /**
   * Binds the tokens to a new DPoP key (RFC 9449): an ES256 key pair is made,
   * every token request of the flow carries a proof signed with it, and the
   * credentials returned carry the key (`Credentials.dpop`, kept by the
   * store with them), so that renewals and the `AuthorizedClient` use it.
   * `false` unless given.
   *
   * @since 0.5.0
   */
  readonly dpop?: boolean | undefined
}

/**
 * A device authorization in progress: show `userCode` and `verificationUri`
 * (or `verificationUriComplete`, which holds the code, e.g. as a QR code) to
 * the person, then run `credentials`. Both URIs are `https:` (or `http:` on a
 * loopback host) and `userCode` is at most 64 printable characters: an answer
 * otherwise is refused (`Rejected`). `expiresAt` is the provider's
 * `expires_in`, at most one hour from the start.
 *
 * `credentials` polls the token endpoint on the `Clock`: first after one
 * `interval` (5 s when the provider names none), `slow_down` adds 5 s for
 * good, transient failures are retried with backoff while the code lives. It
 * fails with `AccessDenied` (the person refused), `Expired` (the code
 * outlived `expiresAt`, a poll in flight then included), `Transient` (the provider could not be reached until
 * then) or `InvalidIdToken`. Interrupting it stops the polling; each run
 * polls anew.
 *
 * @since 0.4.0
 * @category models
 */
export interface DeviceAuthorization {
  readonly userCode: string
  readonly verificationUri: string
  readonly verificationUriComplete?: string | undefined
  readonly expiresAt: DateTime.Utc
  /** The interval the polling starts with. */
  readonly interval: Duration.Duration
  readonly credentials: Effect.Effect<Credentials, LoginFailed>
}

/**
 * The options of `authorize`. `redirectUri` is where the provider sends the
 * person back (registered with the provider); `scope` is
 * `"openid offline_access"` unless given; `prompt` and `loginHint` are sent
 * as `prompt` and `login_hint`; `parameters` are extra query parameters that
 * never override the flow's own (`response_type`, `client_id`,
 * `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge`, ...), e.g.
 * `{ access_type: "offline" }` for Google. A `max_age` there (whole seconds)
 * is kept in the pending authorization: the id_token must then have an
 * `auth_time` no older than it (plus `clockTolerance`).
 *
 * @since 0.4.0
 * @category models
 */
export interface AuthorizeOptions {
  readonly redirectUri: string
  readonly scope?: string | undefined
  readonly audience?: string | undefined
  readonly parameters?: Readonly<Record<string, string>> | undefined
  readonly prompt?: string | undefined
  readonly loginHint?: string | undefined
  /**
   * Binds the tokens to a new DPoP key (RFC 9449): an ES256 key pair is made,
   * the authorization request names its thumbprint (`dpop_jkt`, RFC 9449
   * §10), the key waits in the `PendingAuthorization`, the code exchange
   * carries a proof signed with it, and the
   * credentials returned carry the key (`Credentials.dpop`, kept by the
   * store with them), so that renewals and the `AuthorizedClient` use it.
   * `false` unless given.
   *
   * @since 0.5.0
   */
  readonly dpop?: boolean | undefined
}

/**
 * What `authorize` gives: the URL to send the person to, and what
 * `complete` needs when they come back.
 *
 * @since 0.4.0
 * @category models
 */
export interface Authorization {
  readonly url: string
  readonly pending: PendingAuthorization
}

/**
 * An authorization waiting for its redirect: the `state`, `nonce` and PKCE
 * code verifier (secrets, `Redacted`), the redirect URI, the scope and
 * audience asked, and when it was made (`complete` refuses it as `Expired`
 * after the layer's `pendingLifetime`, 10 minutes by default).
 *
 * Its Schema encodes it to plain JSON-able values, secrets in plain text:
 * keep the encoded form only where nobody else can read it (server memory, an
 * encrypted and signed cookie), and use it once.
 *
 * @example
 * ```ts
 * import * as Login from "@effect-renewal/core/Login"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * const Json = Schema.parseJson(Login.PendingAuthorization)
 *
 * // to the cookie (encrypt it with your session cookie's key), and back
 * const toCookie = (pending: Login.PendingAuthorization) => Schema.encode(Json)(pending)
 * const fromCookie = (value: string) => Schema.decode(Json)(value)
 *
 * const roundTrip = (pending: Login.PendingAuthorization) => Effect.flatMap(toCookie(pending), fromCookie)
 * ```
 *
 * @since 0.4.0
 * @category models
 */
export class PendingAuthorization
  extends Schema.Class<PendingAuthorization>("@effect-renewal/core/Login/PendingAuthorization")({
    state: Schema.Redacted(Schema.NonEmptyString),
    nonce: Schema.Redacted(Schema.NonEmptyString),
    codeVerifier: Schema.Redacted(Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9\-._~]{43,128}$/))),
    redirectUri: Schema.String,
    scope: Schema.String,
    audience: Schema.optionalWith(Schema.String, { exact: true }),
    /** The `max_age` sent (`parameters.max_age`), in seconds, absent when none was: `auth_time` is checked against it. */
    maxAge: Schema.optionalWith(Schema.NonNegativeInt, { exact: true }),
    createdAt: Schema.DateTimeUtc,
    /**
     * The DPoP key of a login with `dpop: true` (its private JWK `Redacted`,
     * about 200 bytes in the encoded form: keep an encoded pending
     * authorization encrypted).
     */
    dpop: Schema.optionalWith(DpopKey, { exact: true })
  })
{}

/**
 * The options of {@link make} and {@link layer}.
 *
 * @since 0.4.0
 * @category models
 */
export interface Options {
  /** How long a {@link PendingAuthorization} may wait for its redirect: 10 minutes unless given. */
  readonly pendingLifetime?: Duration.DurationInput | undefined
  /** How far an id_token's `exp` and `iat` may be off: 30 seconds unless given. */
  readonly clockTolerance?: Duration.DurationInput | undefined
  /**
   * How long one request of a login (the device authorization, each poll,
   * the code exchange) may wait for its answer: 30 seconds unless given. No
   * answer within it is a transient failure: `Transient` for `device` and
   * `complete`, retried while the code lives for a device poll. The
   * `AuthenticationClient`'s own `timeout` applies too, when shorter.
   */
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/**
 * Builds the login over the `AuthenticationClient` (its metadata and token
 * requests) and the `HttpClient` (which reads the provider's JWKS, kept
 * for the service's life and read again when a token names a key it does not
 * hold). Fails with `InvalidConfiguration` for an option that is not a finite
 * duration (a `requestTimeout` of zero included).
 *
 * @since 0.4.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<
  Login.Service,
  InvalidConfiguration,
  AuthenticationClient.AuthenticationClient | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const client = yield* AuthenticationClient.AuthenticationClient
    const http = yield* HttpClient.HttpClient
    const service = yield* internal.make(client, http, options)
    return Login.of({
      device: service.device,
      authorize: (authorize) =>
        Effect.map(service.authorize(authorize), ({ pending, url }) => ({
          url,
          // made here, valid by construction
          pending: new PendingAuthorization(pending, true)
        })),
      complete: service.complete
    })
  })

/**
 * Provides the {@link Login} service built by {@link make}.
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as Login from "@effect-renewal/core/Login"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as Layer from "effect/Layer"
 *
 * const LoginLive = Login.layer({ pendingLifetime: "15 minutes" }).pipe(
 *   Layer.provide(AuthenticationClient.layer({ domain: "tenant.eu.auth0.com", clientId: "my-client-id" })),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.4.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Login, InvalidConfiguration, AuthenticationClient.AuthenticationClient | HttpClient.HttpClient> =>
  Layer.effect(Login, make(options))

/**
 * The options of {@link loopback}: those of `authorize` but the redirect
 * URI, `open` (shows the URL to the person: prints it, or opens a browser),
 * and how long to wait for the redirect (5 minutes unless given).
 *
 * @since 0.4.0
 * @category models
 */
export interface LoopbackOptions {
  readonly scope?: string | undefined
  readonly audience?: string | undefined
  readonly parameters?: Readonly<Record<string, string>> | undefined
  readonly prompt?: string | undefined
  readonly loginHint?: string | undefined
  /**
   * Binds the tokens to a new DPoP key: see `AuthorizeOptions.dpop`.
   *
   * @since 0.5.0
   */
  readonly dpop?: boolean | undefined
  readonly open: (url: string) => Effect.Effect<void>
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * A login through the browser for a native app or a CLI (RFC 8252 §7.3):
 * serves one callback at `http://127.0.0.1:<port>/callback` on the
 * platform's `HttpServer` in context (which must listen on 127.0.0.1 or ::1;
 * give it port 0 for an ephemeral one), calls `open` with the authorization
 * URL, waits for the redirect, completes the login and answers the browser
 * with a short page that says whether it worked (no token, no code on it).
 *
 * Only a `GET /callback` with this login's `state` ends the wait; anything
 * else (a favicon, a stray or forged request) gets a 4xx. `open` runs beside
 * the wait, within `timeout` (one that waits for the browser to exit holds
 * nothing; it is interrupted when the login ends); one that dies ends the
 * login as `Configuration`, since it is the only way the URL is shown. No
 * redirect within `timeout` (counted from before `open`) is `LoginFailed` of
 * reason `Timeout`; a server that is not on a
 * loopback address is `Configuration`. Provide the server's layer to this
 * effect alone, so that it stops listening when the login ends.
 *
 * @example
 * ```ts
 * import * as Login from "@effect-renewal/core/Login"
 * import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
 * import * as Console from "effect/Console"
 * import * as Effect from "effect/Effect"
 * import { createServer } from "node:http"
 *
 * const login = Login.loopback({
 *   scope: "openid profile offline_access",
 *   open: (url) => Console.error(`Open this URL in your browser: ${url}`)
 * }).pipe(
 *   // the server lives as long as the login
 *   Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
 * )
 * // login: Effect<Credentials, LoginFailed | ServeError, Login.Login>
 * ```
 *
 * @since 0.4.0
 * @category flows
 */
export const loopback = (
  options: LoopbackOptions
): Effect.Effect<Credentials, LoginFailed, Login | HttpServer.HttpServer> =>
  Effect.flatMap(Login, (login) => internalLoopback.loopback(login, options))
