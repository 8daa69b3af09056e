/**
 * Log people in to an `@effect/platform` HTTP server, and keep their tokens
 * on the server: the `GET /login`, `GET /callback` and `POST /logout`
 * routes, a session cookie that holds only a signed, opaque id, and the
 * server-side session behind it (`SessionStore` for who, `Sessions` for the
 * credentials).
 *
 * @example
 * ```ts
 * import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
 * import * as Login from "@effect-renewal/core/Login"
 * import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
 * import * as Sessions from "@effect-renewal/core/Sessions"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as CurrentUser from "@effect-renewal/web/CurrentUser"
 * import * as SessionStore from "@effect-renewal/web/SessionStore"
 * import * as WebAuth from "@effect-renewal/web/WebAuth"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as HttpRouter from "@effect/platform/HttpRouter"
 * import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const WebAuthLive = WebAuth.layer({
 *   baseUrl: "https://app.example.com",
 *   secrets: [Redacted.make("a long random secret of at least 32 bytes!!")]
 * }).pipe(
 *   Layer.provide([SessionStore.layerMemory, Login.layer(), Sessions.layer()]),
 *   Layer.provide(RenewalStrategy.refreshToken),
 *   Layer.provideMerge(TokenStore.layerMemory),
 *   Layer.provideMerge(AuthenticationClient.layerDiscovery({ issuer: "https://tenant.eu.auth0.com/", clientId: "id" })),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 *
 * const hello = CurrentUser.requirePage(
 *   Effect.map(CurrentUser.CurrentUser, (user) => HttpServerResponse.text(`Hello, ${user.subject}`))
 * )
 *
 * // the app's routes and the login routes, in one router
 * export const app = Effect.map(WebAuth.WebAuth, (auth) =>
 *   HttpRouter.empty.pipe(HttpRouter.get("/hello", hello), HttpRouter.concat(auth.router))
 * ).pipe(Effect.provide(WebAuthLive))
 * ```
 *
 * @since 0.5.0
 */
import type * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import type { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import type * as Login from "@effect-renewal/core/Login"
import type * as Sessions from "@effect-renewal/core/Sessions"
import type * as TokenStore from "@effect-renewal/core/TokenStore"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as CurrentUser from "./CurrentUser.js"
import * as internal from "./internal/webAuth.js"
import type * as SessionStore from "./SessionStore.js"

/**
 * The tag of the web login; {@link layer} provides it.
 *
 * @since 0.5.0
 * @category tags
 */
export class WebAuth extends Context.Tag("@effect-renewal/web/WebAuth")<WebAuth, WebAuth.Service>() {}

/**
 * The types of the {@link WebAuth} service.
 *
 * @since 0.5.0
 * @category models
 */
export declare namespace WebAuth {
  /**
   * The routes to mount, and what the `CurrentUser` middleware and the
   * `UserClient` use.
   *
   * @since 0.5.0
   * @category models
   */
  export interface Service {
    /**
     * `GET login`, `GET callback`, `POST logout` at the configured paths:
     * concat it with the application's router. Their failures are pages
     * with a short message (never a token, a code or a stack trace).
     */
    readonly router: HttpRouter.HttpRouter
    /** The session cookie's name in force (`__Host-session`, or `session` on loopback http, by default). */
    readonly cookieName: string
    /** The paths in force. */
    readonly paths: { readonly login: string; readonly callback: string; readonly logout: string }
    /**
     * The person of the request, from its session cookie: none for a request
     * without one, with one that does not verify, or whose session ended
     * (logged out, idle or absolute lifetime over: then ended here). Records
     * the request as the session's latest use (at most once a minute).
     */
    readonly currentUser: Effect.Effect<
      Option.Option<CurrentUser.User>,
      SessionStore.SessionStoreError,
      HttpServerRequest.HttpServerRequest
    >
    /**
     * Ends a session on the server: its credentials removed from `Sessions`
     * (the refresh token revoked first with `revoke`), its record removed.
     * Failures are logged (without the session key), never raised: a
     * session that cannot be revoked is still ended here. (`POST /logout`
     * does not swallow them: it answers 503 so the person can retry.)
     */
    readonly endSession: (
      sessionKey: string,
      options?: { readonly revoke?: boolean | undefined }
    ) => Effect.Effect<void>
    /** The login path with `returnTo` (a path of this application). */
    readonly loginUrl: (returnTo: string) => string
    /** Removes the session cookie from the browser. */
    readonly expireCookie: (response: HttpServerResponse.HttpServerResponse) => HttpServerResponse.HttpServerResponse
  }
}

/**
 * Where the routes are: `/login`, `/callback` and `/logout` unless given.
 * Each a path starting with `/`.
 *
 * @since 0.5.0
 * @category models
 */
export interface Paths {
  readonly login?: string | undefined
  readonly callback?: string | undefined
  readonly logout?: string | undefined
}

/**
 * The options of {@link make} and {@link layer}.
 *
 * @since 0.5.0
 * @category models
 */
export interface Options {
  /**
   * The application's origin as browsers reach it, e.g.
   * `"https://app.example.com"`: the redirect URI is its `paths.callback`,
   * and `POST /logout` must come from it. `https:`, or `http:` on a loopback
   * host (`127.0.0.1`, `[::1]`, `localhost`) for development and tests; the
   * cookies are `Secure` with the `__Host-` prefix unless it is `http:`.
   */
  readonly baseUrl: string
  /**
   * The cookie secrets, each at least 32 bytes: the first signs the session
   * cookie and encrypts the pending-login cookie; all of them verify and
   * decrypt. Rotation, with several instances: add the new one second
   * everywhere, then (every instance having it) move it first; remove the old
   * one after `absoluteLifetime`.
   */
  readonly secrets: Redacted.Redacted<string> | ReadonlyArray<Redacted.Redacted<string>>
  /** The scope asked at login: `"openid profile offline_access"` unless given; it must have `openid`. */
  readonly scope?: string | undefined
  /** The audience of the access token (Auth0's `audience`), if any. */
  readonly audience?: string | undefined
  /** Extra query parameters of the authorization request (e.g. `{ access_type: "offline" }` for Google). */
  readonly parameters?: Readonly<Record<string, string>> | undefined
  readonly paths?: Paths | undefined
  /**
   * Whether the provider's logout (RP-initiated, when its metadata has an
   * `end_session_endpoint`) is sent the `id_token_hint`: `false` unless
   * given, it is sent `client_id` and `post_logout_redirect_uri` only. Set it
   * for a provider that requires the hint; the id_token then travels in the
   * browser's redirect, and stays in its history (the only token a browser
   * ever sees).
   */
  readonly idTokenHint?: boolean | undefined
  /** Where `POST /logout` ends (a path of this application): `"/"` unless given. */
  readonly afterLogout?: string | undefined
  /** The session cookie's name (before the `__Host-` prefix): `"session"` unless given. */
  readonly cookieName?: string | undefined
  /** A session unused for this long ends: 1 day unless given. */
  readonly idleLifetime?: Duration.DurationInput | undefined
  /** A session ends this long after its login, however used: 7 days unless given. */
  readonly absoluteLifetime?: Duration.DurationInput | undefined
  /**
   * How long the pending-login cookie lives: 10 minutes unless given (keep
   * it at most `Login`'s `pendingLifetime`).
   */
  readonly pendingLifetime?: Duration.DurationInput | undefined
  /**
   * How often the sessions past `idleLifetime` or `absoluteLifetime` are
   * ended (refresh token revoked, credentials removed) without waiting for
   * their next request: 1 minute unless given. A background fiber of the
   * layer's scope, on the `Clock`; only with a `SessionStore` that has
   * `entries` (`layerMemory` has, `layerKeyValueStore` has not).
   */
  readonly sweepInterval?: Duration.DurationInput | undefined
}

/**
 * Builds the service. Fails with `InvalidConfiguration` for a `baseUrl` that
 * is not `https:` (or `http:` on loopback), a path that does not start with
 * `/`, a scope without `openid`, a secret shorter than 32 bytes, or a
 * lifetime that is not a positive, finite duration. Starts the sweep of
 * lapsed sessions (see `sweepInterval`) in the scope.
 *
 * @since 0.5.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<
  WebAuth.Service,
  InvalidConfiguration,
  | Login.Login
  | Sessions.Sessions
  | SessionStore.SessionStore
  | AuthenticationClient.AuthenticationClient
  | TokenStore.TokenStore
  | Scope.Scope
> = internal.make

/**
 * Provides {@link make}'s service.
 *
 * @since 0.5.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  WebAuth,
  InvalidConfiguration,
  | Login.Login
  | Sessions.Sessions
  | SessionStore.SessionStore
  | AuthenticationClient.AuthenticationClient
  | TokenStore.TokenStore
> => Layer.scoped(WebAuth, make(options))

/**
 * Provides {@link make}'s service with options read from `Config`, e.g.
 * `{ baseUrl: Config.string("APP_URL"), secrets: Config.redacted("SESSION_SECRET") }`.
 *
 * @since 0.5.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  WebAuth,
  InvalidConfiguration | ConfigError.ConfigError,
  | Login.Login
  | Sessions.Sessions
  | SessionStore.SessionStore
  | AuthenticationClient.AuthenticationClient
  | TokenStore.TokenStore
> => Layer.scoped(WebAuth, Effect.flatMap(Config.unwrap(config), make))
