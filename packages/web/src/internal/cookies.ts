/**
 * The two cookies: the session cookie (an opaque random id of 256 bits,
 * HMAC-signed: nothing else) and the pending-login cookies (the
 * `PendingAuthorization`, the `returnTo` and a random id, sealed with
 * AES-256-GCM), with their attributes: `HttpOnly`, `SameSite=Lax`, `Path=/`,
 * and `Secure` with the `__Host-` prefix unless the application is served
 * over http on a loopback address.
 *
 * A pending login's cookie is named after its `state` (a hash of it): two
 * logins started at once (two tabs sent to the login) each find their own
 * at the callback, and a callback with a state this browser was not given
 * finds none.
 *
 * @internal
 */
import * as Login from "@effect-renewal/core/Login"
import type * as Cookies from "@effect/platform/Cookies"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Keys from "./keys.js"

/** @internal */
export interface Settings {
  readonly secure: boolean
  readonly sessionName: string
  readonly pendingName: string
  readonly sessionMaxAge: Duration.Duration
  readonly pendingMaxAge: Duration.Duration
}

/** The cookie names for a base name: `__Host-` prefixed when secure. @internal */
export const names = (name: string, secure: boolean) => {
  const sessionName = secure ? `__Host-${name}` : name
  return { sessionName, pendingName: `${sessionName}-login` }
}

const attributes = (secure: boolean, maxAge: Duration.Duration): Cookies.Cookie["options"] => ({
  httpOnly: true,
  sameSite: "lax",
  path: "/",
  secure,
  maxAge
})

const SESSION = "session"
const PENDING = "pending-login"

/** 256 bits of `crypto.getRandomValues`, base64url. @internal */
export const newSessionId = (): string => Keys.randomId(32)

const sessionIdPattern = /^[A-Za-z0-9_-]{43}$/

/**
 * The session key of a session id: what `Sessions` and the `SessionStore`
 * know it by. A hash: neither store holds a cookie's id.
 *
 * @internal
 */
export const sessionKeyOf = (sessionId: string): Effect.Effect<string> =>
  Effect.map(Keys.sha256(sessionId), (hash) => `web:${hash}`)

/** The session cookie's value for an id. @internal */
export const signSessionId = (keys: Keys.Keys, sessionId: string) => keys.sign(SESSION, sessionId)

/** The session id of a cookie value that verifies. @internal */
export const verifySessionId = (keys: Keys.Keys, value: string): Effect.Effect<Option.Option<string>> =>
  Effect.map(keys.verify(SESSION, value), Option.filter((id) => sessionIdPattern.test(id)))

/** Sets the session cookie. @internal */
export const setSession = (settings: Settings, value: string) => (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.unsafeSetCookie(
    response,
    settings.sessionName,
    value,
    attributes(settings.secure, settings.sessionMaxAge)
  )

const expire = (settings: Settings, name: string) => (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.unsafeSetCookie(response, name, "", {
    ...attributes(settings.secure, Duration.zero),
    expires: new Date(0)
  })

/** Removes the session cookie from the browser. @internal */
export const expireSession = (settings: Settings) => expire(settings, settings.sessionName)

/** The name of the pending-login cookie of a `state`: the prefix, and 16 characters of its SHA-256. @internal */
export const pendingNameOf = (settings: Settings, state: string): Effect.Effect<string> =>
  Effect.map(Keys.sha256(state), (hash) => `${settings.pendingName}-${hash.slice(0, 16)}`)

/** How many pending logins a browser keeps: a new one beyond expires the oldest. @internal */
export const maxPendingLogins = 4

/** Removes a pending-login cookie from the browser. @internal */
export const expirePending = (settings: Settings, name: string) => expire(settings, name)

// ---------------------------------------------------------------------------
// the pending login
// ---------------------------------------------------------------------------

/** What the pending-login cookie holds. @internal */
export interface Pending {
  /** Random: the cookie is single use, its id is recorded when consumed. */
  readonly id: string
  readonly returnTo: string
  readonly pending: Login.PendingAuthorization
}

const PendingJson = Schema.parseJson(Schema.Struct({
  id: Schema.String,
  returnTo: Schema.String,
  pending: Login.PendingAuthorization
}))

/** Sets the pending-login cookie. @internal */
export const setPending = (keys: Keys.Keys, settings: Settings, pending: Pending) =>
  Effect.gen(function*() {
    const json = yield* Schema.encode(PendingJson)(pending)
    const sealed = yield* keys.seal(PENDING, json)
    const name = yield* pendingNameOf(settings, Redacted.value(pending.pending.state))
    return (response: HttpServerResponse.HttpServerResponse) =>
      HttpServerResponse.unsafeSetCookie(
        response,
        name,
        sealed,
        attributes(settings.secure, settings.pendingMaxAge)
      )
  })

/** The pending login of a cookie value that opens and decodes. @internal */
export const openPending = (keys: Keys.Keys, value: string): Effect.Effect<Option.Option<Pending>> =>
  Effect.map(keys.open(PENDING, value), Option.flatMap(Schema.decodeOption(PendingJson)))
