/**
 * An `HttpClient` that calls APIs for the person of the request: an
 * `AuthorizedClient` over their session in `Sessions` (their access token
 * as `Authorization: Bearer`, renewed when it expires, one renewal for
 * concurrent requests of the session across every instance sharing the
 * `TokenStore`, and one renewal and retry on a 401). Its `Renewer` is the
 * session's, reached through `Sessions` at each call: nothing is held for
 * the request.
 *
 * Its failures beside the `HttpClientError`s are the `Renewer`'s:
 * `requirePage` / `requireApi` turn them into a new login or a 503; in an
 * `HttpApi` handler, {@link handleErrors} does.
 *
 * @example
 * ```ts
 * import * as CurrentUser from "@effect-renewal/web/CurrentUser"
 * import * as UserClient from "@effect-renewal/web/UserClient"
 * import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
 * import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
 * import * as Effect from "effect/Effect"
 *
 * export const orders = CurrentUser.requireApi(Effect.gen(function*() {
 *   const client = yield* UserClient.make()
 *   const response = yield* client.execute(HttpClientRequest.get("https://api.example.com/orders"))
 *   return yield* HttpServerResponse.json(yield* response.json)
 * }))
 * ```
 *
 * @since 0.5.0
 */
import type { RenewerError } from "@effect-renewal/core/AuthError"
import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as Sessions from "@effect-renewal/core/Sessions"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Effect from "effect/Effect"
import { CurrentUser } from "./CurrentUser.js"
import type { SessionUnavailable, Unauthorized } from "./CurrentUser.js"
import * as internal from "./internal/middleware.js"
import type { WebAuth } from "./WebAuth.js"

/**
 * The client of the current person, over the `HttpClient` in context and the
 * session's credentials in `Sessions` (each call through `sessions.get`, so
 * nothing is held beyond it). `options` choose the token (`minTtl`,
 * `scope`), as `AuthorizedClient.make`'s do.
 *
 * @since 0.5.0
 * @category constructors
 */
export const make = (
  options?: AuthorizedClient.Options
): Effect.Effect<
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | RenewerError>,
  never,
  CurrentUser | Sessions.Sessions | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const user = yield* CurrentUser
    const sessions = yield* Sessions.Sessions
    return yield* Effect.provideService(
      AuthorizedClient.make(options),
      Renewer.Renewer,
      internal.renewerOf(sessions, user.sessionKey)
    )
  })

/**
 * For an `HttpApi` handler: `LoginRequired` ends the session and fails with
 * `Unauthorized` (401, the cookie expired); `RenewalFailed` and `StoreError`
 * fail with `SessionUnavailable` (503, `Retry-After`). Add both errors to the
 * endpoint (the `Authentication` middleware declares them).
 *
 * @since 0.5.0
 * @category error handling
 */
export const handleErrors: <A, E, R>(
  effect: Effect.Effect<A, E, R>
) => Effect.Effect<A, Exclude<E, RenewerError> | Unauthorized | SessionUnavailable, R | CurrentUser | WebAuth> =
  internal.handleErrors
