/**
 * What a protected route does around its handler: the person of the request
 * or a redirect to the login (pages) or a 401 (APIs); and what a failed
 * renewal of their credentials means: `LoginRequired` ends that session and
 * asks for a new login, a transient failure (`RenewalFailed`, `StoreError`,
 * an unreachable session store) is a 503 with `Retry-After`, never a logout.
 *
 * @internal
 */
import { LoginRequired, RenewalFailed, type RenewerError, StoreError } from "@effect-renewal/core/AuthError"
import type * as Renewer from "@effect-renewal/core/Renewer"
import type * as Sessions from "@effect-renewal/core/Sessions"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { CurrentUser, SessionUnavailable, Unauthorized, type User } from "../CurrentUser.js"
import { SessionStoreError } from "../SessionStore.js"
import { WebAuth } from "../WebAuth.js"
import * as Pages from "./pages.js"

/** @internal */
export type Kind = "page" | "api"

const isRenewerError = (u: unknown): u is RenewerError =>
  u instanceof LoginRequired || u instanceof RenewalFailed || u instanceof StoreError

const unavailable = (kind: Kind) =>
  (kind === "page"
    ? Pages.page(503, "Try again in a moment", "Your session cannot be used right now.")
    : Pages.json(503, "session_unavailable", "The session cannot be used right now; try again."))
    .pipe(HttpServerResponse.setHeader("retry-after", String(Pages.retryAfterSeconds)))

/**
 * Whether a request is a browser's navigation (a page to show): `Sec-Fetch-Mode: navigate`, or,
 * from a client that does not send it, an `Accept` with `text/html`. A `fetch`, an image, a
 * script is not: sent to the login it would only pile up pending-login cookies.
 */
const isNavigation = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const mode = request.headers["sec-fetch-mode"]
  if (mode !== undefined) return mode === "navigate"
  return (request.headers["accept"] ?? "").toLowerCase().includes("text/html")
}

const anonymous = (kind: Kind, auth: WebAuth["Type"], request: HttpServerRequest.HttpServerRequest) =>
  kind === "page" && isNavigation(request)
    ? Pages.redirect(auth.loginUrl(request.url))
    : kind === "page"
    ? Pages.page(401, "Log in first", "This page needs a login.", { href: auth.loginUrl(request.url), label: "Log in" })
    : Pages.json(401, "unauthorized", "Log in first.")

/** @internal */
export const require = (kind: Kind) =>
<E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<Exclude<E, RenewerError>, Exclude<R, CurrentUser> | WebAuth> =>
  Effect.gen(function*() {
    const auth = yield* WebAuth
    const request = yield* HttpServerRequest.HttpServerRequest
    const found = yield* Effect.either(auth.currentUser)
    if (found._tag === "Left") return unavailable(kind)
    if (Option.isNone(found.right)) {
      const answer = anonymous(kind, auth, request)
      return request.cookies[auth.cookieName] === undefined ? answer : auth.expireCookie(answer)
    }
    const user = found.right.value
    return yield* app.pipe(
      Effect.provideService(CurrentUser, user),
      Effect.catchIf(isRenewerError, (error) =>
        error instanceof LoginRequired
          ? Effect.as(
            auth.endSession(user.sessionKey),
            auth.expireCookie(anonymous(kind, auth, request))
          )
          : Effect.succeed(unavailable(kind)))
    ) as Effect.Effect<HttpServerResponse.HttpServerResponse, Exclude<E, RenewerError>, Exclude<R, CurrentUser>>
  })

// the answer of an HttpApi error, given by the framework: the header is added on its way out
const retryAfter = HttpApp.appendPreResponseHandler((_, response) =>
  Effect.succeed(HttpServerResponse.setHeader(response, "retry-after", String(Pages.retryAfterSeconds)))
)

/** The HttpApi form: the renewal's errors as the API's errors. @internal */
export const handleErrors = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, RenewerError> | Unauthorized | SessionUnavailable, R | CurrentUser | WebAuth> =>
  Effect.catchIf(
    effect,
    isRenewerError,
    (error): Effect.Effect<never, Unauthorized | SessionUnavailable, CurrentUser | WebAuth> =>
      error instanceof LoginRequired
        ? Effect.gen(function*() {
          const auth = yield* WebAuth
          const user = yield* CurrentUser
          yield* auth.endSession(user.sessionKey)
          yield* HttpApp.appendPreResponseHandler((_, response) => Effect.succeed(auth.expireCookie(response)))
          return yield* new Unauthorized({ message: "The session has ended: log in again." })
        })
        : Effect.zipRight(
          retryAfter,
          Effect.fail(new SessionUnavailable({ message: "The session cannot be used right now; try again." }))
        )
  ) as Effect.Effect<A, Exclude<E, RenewerError> | Unauthorized | SessionUnavailable, R | CurrentUser | WebAuth>

/**
 * A session's credentials as a `Renewer`, each method a call of `Sessions`
 * for the key: what `AuthorizedClient` needs, without holding the session's
 * renewer for the request (`sessions.renewer` takes a scope and a
 * reference; `sessions.get` finds a live renewer without either).
 *
 * @internal
 */
export const renewerOf = (sessions: Sessions.Sessions.Service, key: string): Renewer.Renewer.Service => ({
  key,
  get: (options) => sessions.get(key, options),
  save: (credentials) => sessions.save(key, credentials),
  hasValid: (minTtl) => sessions.hasValid(key, minTtl),
  clear: (options) => sessions.clear(key, options),
  changes: Stream.unwrapScoped(Effect.map(sessions.renewer(key), (renewer) => renewer.changes))
})

/** The HttpApi security handler: the person of the request, or a typed failure. @internal */
export const authenticate: Effect.Effect<
  User,
  Unauthorized | SessionUnavailable,
  WebAuth | HttpServerRequest.HttpServerRequest
> = Effect.flatMap(WebAuth, (auth) =>
  auth.currentUser.pipe(
    Effect.catchIf(
      (e): e is SessionStoreError => e instanceof SessionStoreError,
      () =>
        Effect.zipRight(
          retryAfter,
          Effect.fail(new SessionUnavailable({ message: "The session cannot be used right now; try again." }))
        )
    ),
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new Unauthorized({ message: "Log in first." })),
      onSome: Effect.succeed
    }))
  ))
