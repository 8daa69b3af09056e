/**
 * The `WebAuth` service: the session behind the cookie (who, since when,
 * last used when), its lifetimes on the `Clock`, its end, and the routes.
 *
 * @internal
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import { StoreError } from "@effect-renewal/core/AuthError"
import * as Login from "@effect-renewal/core/Login"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as CurrentUser from "../CurrentUser.js"
import { SessionRecord, SessionStore } from "../SessionStore.js"
import type * as WebAuth from "../WebAuth.js"
import * as Consumed from "./consumed.js"
import * as Cookies from "./cookies.js"
import * as Keys from "./keys.js"
import * as Routes from "./routes.js"
import * as SessionStoreInternal from "./sessionStore.js"
import * as Settings from "./settings.js"
import * as VerifiedCookies from "./verifiedCookies.js"

/**
 * How long a record is kept: until the first of its idle and absolute ends,
 * and the grace period after, so that the lifetime check (a request, the
 * sweep) still finds it and ends the session with its refresh token revoked.
 *
 * @internal
 */
export const timeToLive = (settings: Settings.Settings, record: SessionRecord, now: number): number =>
  Math.max(1, Math.min(now + settings.idleMillis, record.createdAt + settings.absoluteMillis) - now) +
  settings.graceMillis

/** Whether a session is past its idle or absolute lifetime. @internal */
export const lapsed = (settings: Settings.Settings, record: SessionRecord, now: number): boolean =>
  now - record.createdAt >= settings.absoluteMillis || now - record.lastSeenAt >= settings.idleMillis

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

    // the credentials first (the refresh token revoked with `revoke`), then the record: when the
    // credentials cannot be removed (their store failing), the record stays, so that the session's
    // end is tried again (a logout retried, the next request, the sweep) rather than its
    // credentials forgotten in their store. A refused or unreachable revocation is no such failure:
    // the credentials are removed all the same. Fails (after logging) when either is still stored.
    const endSessionOrFail = (sessionKey: string, endOptions?: { readonly revoke?: boolean | undefined }) =>
      sessions.clear(sessionKey, { revoke: endOptions?.revoke === true }).pipe(
        Effect.tapError((error) => Effect.logWarning("web session ended, its credentials not cleanly", error.message)),
        Effect.catchIf((error) => !(error instanceof StoreError), () => Effect.void),
        Effect.zipRight(
          store.remove(sessionKey).pipe(
            Effect.tapError((error) => Effect.logWarning("web session record not removed", error.message))
          )
        ),
        Effect.mapError(() => "SessionNotEnded" as const),
        Effect.annotateLogs("session", TokenStore.sessionHash(sessionKey)),
        Effect.uninterruptible
      )

    const endSession = (sessionKey: string, endOptions?: { readonly revoke?: boolean | undefined }) =>
      Effect.ignore(endSessionOrFail(sessionKey, endOptions))

    // the sessions that lapsed without a request since: ended here
    if (store.entries !== undefined) {
      const entries = store.entries
      const sweep = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const all = yield* entries
        const ended = all.filter(([, record]) => lapsed(settings, record, now))
        yield* Effect.forEach(ended, ([key]) => endSession(key, { revoke: true }), { concurrency: 4, discard: true })
        if (ended.length > 0) {
          yield* Effect.logDebug("web sessions swept").pipe(Effect.annotateLogs("ended", ended.length))
        }
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning("web session sweep failed", error.message)),
        Effect.catchAllDefect(() => Effect.logWarning("web session sweep failed"))
      )
      yield* sweep.pipe(
        Effect.delay(Duration.millis(settings.sweepMillis)),
        Effect.forever,
        Effect.forkScoped
      )
    }

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
      if (lapsed(settings, record, now)) {
        yield* endSession(sessionKey, { revoke: true })
        return Option.none<CurrentUser.User>()
      }
      if (now - record.lastSeenAt >= settings.touchMillis) {
        // only over the record read: a logout in between (removed) stays a logout
        const touched = new SessionRecord({ ...record, lastSeenAt: now }, true)
        const written = store.replace !== undefined
          ? yield* store.replace(sessionKey, record, touched, timeToLive(settings, touched, now))
          : yield* Effect.flatMap(
            store.get(sessionKey),
            (again) =>
              Option.isSome(again) && SessionStoreInternal.sameRecord(again.value, record)
                ? Effect.as(store.set(sessionKey, touched, timeToLive(settings, touched, now)), true)
                : Effect.succeed(false)
          )
        // not written: ended (or touched) meanwhile; this request, begun before, is answered
        if (!written) yield* Effect.logDebug("web session's last use not written: changed meanwhile")
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
      endSession,
      endSessionOrFail
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
