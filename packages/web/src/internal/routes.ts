/**
 * The three routes: `GET login` (to the provider, with the pending login in
 * a sealed cookie), `GET callback` (the login completed, a new session),
 * `POST logout` (the session ended, the refresh token revoked, and the
 * provider's logout when it has one).
 *
 * @internal
 */
import type * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import type { LoginFailed } from "@effect-renewal/core/AuthError"
import * as Jwt from "@effect-renewal/core/Jwt"
import type * as Login from "@effect-renewal/core/Login"
import type * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { SessionRecord, type SessionStore } from "../SessionStore.js"
import type * as Consumed from "./consumed.js"
import * as Cookies from "./cookies.js"
import * as Keys from "./keys.js"
import * as Origin from "./origin.js"
import * as Pages from "./pages.js"
import * as ReturnTo from "./returnTo.js"
import type * as Settings from "./settings.js"

/** What the routes use. @internal */
export interface Context {
  readonly settings: Settings.Settings
  readonly keys: Keys.Keys
  readonly login: Login.Login.Service
  readonly sessions: Sessions.Sessions.Service
  readonly store: SessionStore.Service
  readonly metadata: AuthenticationClient.Metadata
  readonly clientId: string
  readonly tokens: TokenStore.TokenStore.Service
  readonly consumed: Consumed.Consumed
  readonly endSession: (sessionKey: string, options?: { readonly revoke?: boolean | undefined }) => Effect.Effect<void>
  /** `endSession`, failing when the record or the credentials could not be removed. */
  readonly endSessionOrFail: (
    sessionKey: string,
    options?: { readonly revoke?: boolean | undefined }
  ) => Effect.Effect<void, "SessionNotEnded">
}

/** Equal strings, compared without an early exit. */
const equalSecret = (a: string, b: string): boolean => {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

// claims that served the login once and mean nothing after
const loginOnlyClaims = new Set(["nonce", "at_hash", "c_hash", "s_hash"])

const unavailable = (title: string, text: string) =>
  Pages.page(503, title, text).pipe(HttpServerResponse.setHeader("retry-after", String(Pages.retryAfterSeconds)))

/** @internal */
export const make = (ctx: Context): HttpRouter.HttpRouter => {
  const { settings } = ctx
  const cookies = settings.cookies
  const again = { href: settings.paths.login, label: "Log in again" }

  const urlOf = (request: HttpServerRequest.HttpServerRequest) =>
    URL.canParse(request.url, settings.origin) ? new URL(request.url, settings.origin) : undefined

  const sessionKeyOfRequest = (request: HttpServerRequest.HttpServerRequest) => {
    const value = request.cookies[cookies.sessionName]
    return value === undefined
      ? Effect.succeed(Option.none<string>())
      : Effect.flatMap(
        Cookies.verifySessionId(ctx.keys, value),
        Option.match({
          onNone: () => Effect.succeed(Option.none<string>()),
          onSome: (id) => Effect.map(Cookies.sessionKeyOf(id), Option.some)
        })
      )
  }

  const loginFailed = (error: LoginFailed) => {
    switch (error.reason) {
      case "AccessDenied":
        return Pages.page(403, "Login cancelled", "The login was refused at the provider.", again)
      case "Expired":
        return Pages.page(400, "Login expired", "The login took too long.", again)
      case "Transient":
      case "Timeout":
        return unavailable("Login unavailable", "The login provider could not be reached. Try again in a moment.")
      case "Configuration":
        return Pages.page(500, "Login misconfigured", "This application's login is not set up correctly.")
      case "InvalidCallback":
      case "InvalidIdToken":
      case "Rejected":
        return Pages.page(400, "Login refused", "The answer of the login provider could not be accepted.", again)
    }
  }

  const login = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const returnTo = ReturnTo.orElse(urlOf(request)?.searchParams.get("returnTo"), "/")
    const authorization = yield* ctx.login.authorize({
      redirectUri: settings.redirectUri,
      scope: settings.scope,
      audience: settings.audience,
      parameters: settings.parameters
    })
    const setCookie = yield* Cookies.setPending(ctx.keys, cookies, {
      id: Keys.randomId(16),
      returnTo,
      pending: authorization.pending
    })
    // at most `maxPendingLogins` per browser: the oldest (and those that do not open) expire now,
    // or unfinished logins (tabs, retries) would grow the Cookie header past the server's limit
    const pendingNames = Object.keys(request.cookies).filter((name) => name.startsWith(`${cookies.pendingName}-`))
    const opened = yield* Effect.forEach(pendingNames, (name) =>
      Effect.map(
        Cookies.openPending(ctx.keys, request.cookies[name]!),
        (pending) => ({
          name,
          createdAt: Option.match(pending, {
            onNone: () => -1,
            onSome: (p) => DateTime.toEpochMillis(p.pending.createdAt)
          })
        })
      ))
    const dropped = opened
      .sort((a, b) => b.createdAt - a.createdAt)
      .filter((cookie, index) => cookie.createdAt < 0 || index >= Cookies.maxPendingLogins - 1)
    let response = setCookie(Pages.redirect(authorization.url))
    for (const cookie of dropped) response = Cookies.expirePending(cookies, cookie.name)(response)
    return response
  }).pipe(
    Effect.catchTags({
      LoginFailed: (error) => Effect.succeed(loginFailed(error)),
      ParseError: () => Effect.succeed(Pages.page(500, "Login failed", "The login could not be started."))
    })
  )

  const callback = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    // the pending login this callback is for: the cookie named after its
    // state. A callback this browser's logins did not ask for (a forged one)
    // finds none and is refused; the logins in progress go on.
    const states = urlOf(request)?.searchParams.getAll("state") ?? []
    if (states.length !== 1 || states[0]!.length === 0 || states[0]!.length > 512) {
      return Pages.page(400, "Login refused", "This is not the callback of the login in progress.", again)
    }
    const pendingName = yield* Cookies.pendingNameOf(cookies, states[0]!)
    const expirePending = Cookies.expirePending(cookies, pendingName)
    const sealed = request.cookies[pendingName]
    if (sealed === undefined) {
      return Pages.page(
        400,
        "Login refused",
        "This is not the callback of the login in progress: it was already completed, has expired, " +
          "was started in another browser, or was not started here.",
        again
      )
    }
    const opened = yield* Cookies.openPending(ctx.keys, sealed)
    if (Option.isNone(opened)) {
      return expirePending(Pages.page(400, "Login refused", "The login could not be verified.", again))
    }
    const { id, pending, returnTo } = opened.value
    if (!equalSecret(states[0]!, Redacted.value(pending.state))) {
      return expirePending(
        Pages.page(400, "Login refused", "This is not the callback of the login in progress.", again)
      )
    }
    const now = yield* Clock.currentTimeMillis
    // single use: the code is sent to the provider once, whatever the browser repeats
    if (!ctx.consumed.take(id, DateTime.toEpochMillis(pending.createdAt) + settings.pendingMillis, now)) {
      return expirePending(
        Pages.page(400, "Login already completed", "This login was already completed.", { href: "/", label: "Go on" })
      )
    }
    const completed = yield* Effect.either(ctx.login.complete(pending, request.url))
    if (completed._tag === "Left") {
      yield* Effect.logInfo("web login failed").pipe(Effect.annotateLogs("reason", completed.left.reason))
      return expirePending(loginFailed(completed.left))
    }
    const credentials = completed.right
    const idToken = credentials.idToken
    const claims = idToken === undefined ? undefined : yield* Effect.option(Jwt.decode(idToken))
    const subject = claims === undefined ? undefined : Option.getOrUndefined(claims)?.sub
    if (claims === undefined || Option.isNone(claims) || typeof subject !== "string") {
      return expirePending(Pages.page(502, "Login refused", "The login provider did not say who logged in.", again))
    }
    const kept: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(claims.value)) if (!loginOnlyClaims.has(name)) kept[name] = value

    // a new session with a new id (no session fixation); the browser's previous one ends
    const previous = yield* sessionKeyOfRequest(request)
    if (Option.isSome(previous)) yield* ctx.endSession(previous.value, { revoke: true })
    const sessionId = Cookies.newSessionId()
    const sessionKey = yield* Cookies.sessionKeyOf(sessionId)
    const record = new SessionRecord({ subject, claims: kept, createdAt: now, lastSeenAt: now }, true)
    const saved = yield* Effect.either(
      Effect.zipRight(
        ctx.sessions.save(sessionKey, credentials),
        ctx.store.set(
          sessionKey,
          record,
          Math.min(settings.idleMillis, settings.absoluteMillis) + settings.graceMillis
        )
      )
    )
    if (saved._tag === "Left") {
      yield* ctx.endSession(sessionKey, { revoke: true })
      return expirePending(unavailable("Login not saved", "The session could not be saved. Try again in a moment."))
    }
    yield* Effect.logDebug("web session started").pipe(
      Effect.annotateLogs("session", TokenStore.sessionHash(sessionKey))
    )
    const value = yield* Cookies.signSessionId(ctx.keys, sessionId)
    // checked again: a Location node:http refuses would be a 500 after the session was saved
    return Pages.redirect(ReturnTo.orElse(returnTo, "/")).pipe(Cookies.setSession(cookies, value), expirePending)
  })

  const endSessionUrl = (idToken: string | undefined): string => {
    const after = new URL(settings.afterLogout, settings.origin).href
    const endpoint = ctx.metadata.endSessionEndpoint
    if (endpoint === undefined || !URL.canParse(endpoint)) return settings.afterLogout
    const url = new URL(endpoint)
    if (
      url.protocol !== "https:" &&
      !(url.protocol === "http:" && /^(127\.0\.0\.1|\[::1\]|localhost)$/.test(url.hostname))
    ) {
      return settings.afterLogout
    }
    if (idToken !== undefined) url.searchParams.set("id_token_hint", idToken)
    url.searchParams.set("client_id", ctx.clientId)
    url.searchParams.set("post_logout_redirect_uri", after)
    return url.href
  }

  const logout = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!Origin.isSameOrigin(request.headers, settings.origin)) {
      return Pages.page(403, "Logout refused", "A logout must come from this site's own page.")
    }
    const sessionKey = yield* sessionKeyOfRequest(request)
    let idToken: string | undefined
    if (Option.isSome(sessionKey) && settings.idTokenHint) {
      const stored = yield* Effect.option(ctx.tokens.get(TokenStore.entryKey(sessionKey.value)))
      const token = Option.flatten(stored).pipe(Option.flatMapNullable((credentials) => credentials.idToken))
      idToken = Option.isSome(token) ? Redacted.value(token.value) : undefined
    }
    if (Option.isSome(sessionKey)) {
      // not done (the store or the credentials could not be removed): said, and the cookie kept to retry
      const ended = yield* Effect.either(ctx.endSessionOrFail(sessionKey.value, { revoke: true }))
      if (ended._tag === "Left") {
        return unavailable("Logout not completed", "Your session could not be ended. Try again in a moment.")
      }
    }
    return Pages.redirect(endSessionUrl(idToken), 303).pipe(Cookies.expireSession(cookies))
  })

  return HttpRouter.empty.pipe(
    HttpRouter.get(settings.paths.login as HttpRouter.PathInput, login),
    HttpRouter.get(settings.paths.callback as HttpRouter.PathInput, callback),
    HttpRouter.post(settings.paths.logout as HttpRouter.PathInput, logout)
  )
}
