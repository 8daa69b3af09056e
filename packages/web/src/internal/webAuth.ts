/**
 * The `WebAuth` service: the session behind the cookie (who, since when,
 * last used when), its lifetimes on the `Clock`, its end, and the routes.
 *
 * @internal
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as CurrentUser from "../CurrentUser.js"
import { SessionRecord, SessionStore } from "../SessionStore.js"
import type * as WebAuth from "../WebAuth.js"
import * as Consumed from "./consumed.js"
import * as Cookies from "./cookies.js"
import * as Keys from "./keys.js"
import * as Routes from "./routes.js"
import * as Settings from "./settings.js"
import * as VerifiedCookies from "./verifiedCookies.js"

/** How long a record may live: until the first of its idle and absolute ends. @internal */
export const timeToLive = (settings: Settings.Settings, record: SessionRecord, now: number): number =>
  Math.max(1, Math.min(now + settings.idleMillis, record.createdAt + settings.absoluteMillis) - now)

/** @internal */
export const make = (options: WebAuth.Options) =>
  Effect.gen(function*() {
    const settings = yield* Settings.decode(options)
    const keys = yield* Keys.make(settings.secrets)
    const login = yield* Login.Login
    const sessions = yield* Sessions.Sessions
    const store = yield* SessionStore
    const client = yield* AuthenticationClient.AuthenticationClient
    const tokens = yield* TokenStore.TokenStore
    const consumed = Consumed.make()
    const verified = VerifiedCookies.make()

    // the session key of a cookie value that verifies
    const sessionKeyOf = (value: string): Effect.Effect<Option.Option<string>> => {
      const known = verified.get(value)
      if (known !== undefined) return Effect.succeed(Option.some(known))
      return Effect.flatMap(Cookies.verifySessionId(keys, value), (id) =>
        Option.isNone(id)
          ? Effect.succeed(Option.none())
          : Effect.map(Cookies.sessionKeyOf(id.value), (sessionKey) => {
            verified.set(value, sessionKey)
            return Option.some(sessionKey)
          }))
    }

    const endSession = (sessionKey: string, endOptions?: { readonly revoke?: boolean | undefined }) =>
      Effect.all([
        sessions.clear(sessionKey, { revoke: endOptions?.revoke === true }).pipe(
          Effect.catchAll((error) => Effect.logWarning("web session ended, its credentials not cleanly", error.message))
        ),
        store.remove(sessionKey).pipe(
          Effect.catchAll((error) => Effect.logWarning("web session record not removed", error.message))
        )
      ], { discard: true, concurrency: 2 }).pipe(
        Effect.annotateLogs("session", TokenStore.sessionHash(sessionKey)),
        Effect.uninterruptible
      )

    const currentUser = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const value = request.cookies[settings.cookies.sessionName]
      if (value === undefined) return Option.none<CurrentUser.User>()
      const verifiedKey = yield* sessionKeyOf(value)
      if (Option.isNone(verifiedKey)) return Option.none<CurrentUser.User>()
      const sessionKey = verifiedKey.value
      const found = yield* store.get(sessionKey)
      if (Option.isNone(found)) return Option.none<CurrentUser.User>()
      const record = found.value
      const now = yield* Clock.currentTimeMillis
      if (now - record.createdAt >= settings.absoluteMillis || now - record.lastSeenAt >= settings.idleMillis) {
        yield* endSession(sessionKey, { revoke: true })
        return Option.none<CurrentUser.User>()
      }
      if (now - record.lastSeenAt >= settings.touchMillis) {
        const touched = new SessionRecord({ ...record, lastSeenAt: now }, true)
        yield* store.set(sessionKey, touched, timeToLive(settings, touched, now))
      }
      return Option.some<CurrentUser.User>({ subject: record.subject, claims: record.claims, sessionKey })
    })

    const loginUrl = (returnTo: string) => `${settings.paths.login}?returnTo=${encodeURIComponent(returnTo)}`

    const router = Routes.make({
      settings,
      keys,
      login,
      sessions,
      store,
      metadata: client.metadata,
      clientId: client.clientId,
      tokens,
      consumed,
      endSession
    })

    return {
      router,
      cookieName: settings.cookies.sessionName,
      paths: settings.paths,
      currentUser,
      endSession,
      loginUrl,
      expireCookie: Cookies.expireSession(settings.cookies)
    } satisfies WebAuth.WebAuth.Service
  })
