/**
 * The person a request is for, on a protected route: a `CurrentUser`
 * service given to the handler by {@link requirePage} or {@link requireApi}
 * (`HttpRouter`), or by the {@link Authentication} middleware (`HttpApi`). A
 * request without a live session is redirected to the login (pages) or
 * answered 401 (APIs).
 *
 * Around the handler, the credentials' failures mean one thing each:
 * `LoginRequired` (the refresh token is gone or refused) ends that session
 * and asks for a new login (redirect or 401); `RenewalFailed` and
 * `StoreError` (the provider or a store cannot be reached now) are a 503
 * with `Retry-After`: the session stays.
 *
 * @since 0.5.0
 */
import type { RenewerError } from "@effect-renewal/core/AuthError"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as internal from "./internal/middleware.js"
import type { SessionStoreError } from "./SessionStore.js"
import { WebAuth } from "./WebAuth.js"

/**
 * The person of a request: the `subject` (the id_token's `sub`), the
 * id_token's `claims` as checked at login, and the key of their session in
 * `Sessions` (a hash of the cookie's id, not the cookie).
 *
 * @since 0.5.0
 * @category models
 */
export interface User {
  readonly subject: string
  readonly claims: Readonly<Record<string, unknown>>
  readonly sessionKey: string
}

/**
 * The tag of the person of the request, on a protected route.
 *
 * @since 0.5.0
 * @category tags
 */
export class CurrentUser extends Context.Tag("@effect-renewal/web/CurrentUser")<CurrentUser, User>() {}

/**
 * No live session: log in first (HTTP 401).
 *
 * @since 0.5.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/**
 * The session or its credentials cannot be used right now (the provider or
 * a store is unreachable): try again (HTTP 503, with `Retry-After`).
 *
 * @since 0.5.0
 * @category errors
 */
export class SessionUnavailable extends Schema.TaggedError<SessionUnavailable>()(
  "SessionUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * Protects a page: a browser's navigation (`Sec-Fetch-Mode: navigate`, or
 * no `Sec-Fetch-Mode` and an `Accept` with `text/html`) without a live
 * session is redirected to the login, with its own path as `returnTo`; any
 * other request (a `fetch`, an image) gets a 401 page with a login link, so
 * that background requests do not start logins.
 *
 * @example
 * ```ts
 * import * as CurrentUser from "@effect-renewal/web/CurrentUser"
 * import * as HttpRouter from "@effect/platform/HttpRouter"
 * import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
 * import * as Effect from "effect/Effect"
 *
 * const dashboard = Effect.map(CurrentUser.CurrentUser, (user) => HttpServerResponse.text(`Hello, ${user.subject}`))
 *
 * export const router = HttpRouter.empty.pipe(HttpRouter.get("/dashboard", CurrentUser.requirePage(dashboard)))
 * ```
 *
 * @since 0.5.0
 * @category middleware
 */
export const requirePage: <E, R>(
  app: HttpApp.Default<E, R>
) => HttpApp.Default<Exclude<E, RenewerError>, Exclude<R, CurrentUser> | WebAuth> = internal.require("page")

/**
 * Protects an API route: a request without a live session is answered 401
 * with `{ "error": "unauthorized" }`.
 *
 * @since 0.5.0
 * @category middleware
 */
export const requireApi: <E, R>(
  app: HttpApp.Default<E, R>
) => HttpApp.Default<Exclude<E, RenewerError>, Exclude<R, CurrentUser> | WebAuth> = internal.require("api")

/**
 * The person of the request, if any, for a page that anyone may see (one
 * that shows a login button to the anonymous).
 *
 * @since 0.5.0
 * @category accessors
 */
export const optional: Effect.Effect<
  Option.Option<User>,
  SessionStoreError,
  WebAuth | HttpServerRequest.HttpServerRequest
> = Effect.flatMap(WebAuth, (auth) => auth.currentUser)

/**
 * The `HttpApi` middleware that provides {@link CurrentUser}, with a cookie
 * security (the session cookie, named `__Host-session` here, as in
 * production; {@link layerAuthentication} reads the cookie `WebAuth` is
 * configured with). Fails with {@link Unauthorized} or
 * {@link SessionUnavailable}.
 *
 * @example
 * ```ts
 * import * as CurrentUser from "@effect-renewal/web/CurrentUser"
 * import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
 * import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
 * import * as Schema from "effect/Schema"
 *
 * export class Me extends HttpApiGroup.make("me")
 *   .add(HttpApiEndpoint.get("me", "/me").addSuccess(Schema.Struct({ subject: Schema.String })))
 *   .middleware(CurrentUser.Authentication)
 * {}
 * ```
 *
 * @since 0.5.0
 * @category middleware
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()(
  "@effect-renewal/web/CurrentUser/Authentication",
  {
    provides: CurrentUser,
    failure: Schema.Union(Unauthorized, SessionUnavailable),
    security: { session: HttpApiSecurity.apiKey({ in: "cookie", key: "__Host-session" }) }
  }
) {}

/**
 * Implements {@link Authentication} with the `WebAuth` in context.
 *
 * @since 0.5.0
 * @category layers
 */
export const layerAuthentication: Layer.Layer<Authentication, never, WebAuth> = Layer.effect(
  Authentication,
  Effect.map(WebAuth, (auth) =>
    Authentication.of({
      session: () => Effect.provideService(internal.authenticate, WebAuth, auth)
    }))
)
