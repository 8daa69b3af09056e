/**
 * How sessions end (lifetimes, a logout racing a request, a logout while the
 * store fails) and what a browser can pile up (pending logins, returnTo), over the stack and a real NodeHttpServer.
 */
import * as TokenStore from "@effect-renewal/core/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import {
  hasCredentials,
  loggedIn,
  pageStatusesEvery,
  pageStatusWithCookie,
  revokedFamilies,
  stackOverStores
} from "./support/sessions.js"
import { stack } from "./support/stack.js"

describe("session lifetimes: a lapsed session is ended with its refresh token revoked", () => {
  it.effect("a session past idleLifetime is ended with its refresh token revoked and its credentials removed", () =>
    Effect.gen(function*() {
      const { b, key } = yield* loggedIn("alice")
      expect(yield* hasCredentials(key)).toBe(true)
      const before = yield* revokedFamilies
      yield* TestClock.adjust("61 minutes")
      expect((yield* b.get("/page")).status).toBe(302) // anonymous: the session ended
      // docs/web.md: "A session past either is ended (its refresh token revoked)"
      expect(yield* revokedFamilies).toBe(before + 1)
      expect(yield* hasCredentials(key)).toBe(false)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", absoluteLifetime: "6 hours" } }))))

  it.effect("a session past absoluteLifetime is ended with its refresh token revoked", () =>
    Effect.gen(function*() {
      const { b, key } = yield* loggedIn("bob")
      const before = yield* revokedFamilies
      expect(yield* pageStatusesEvery(b, "50 minutes", 7)).toEqual(Array(7).fill(200))
      yield* TestClock.adjust("20 minutes")
      expect((yield* b.get("/page")).status).toBe(302)
      expect(yield* revokedFamilies).toBe(before + 1)
      expect(yield* hasCredentials(key)).toBe(false)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", absoluteLifetime: "6 hours" } }))))

  it.effect("a lapsed session with no later request is ended by the sweep: revoked, credentials and record gone", () =>
    Effect.gen(function*() {
      const { key } = yield* loggedIn("carol")
      const store = yield* SessionStore.SessionStore
      const before = yield* revokedFamilies
      yield* TestClock.adjust("59 minutes")
      expect(yield* revokedFamilies).toBe(before) // still live: not swept
      yield* TestClock.adjust("2 minutes") // the sweep runs once a minute
      expect(yield* revokedFamilies).toBe(before + 1)
      expect(yield* hasCredentials(key)).toBe(false)
      expect(Option.isNone(yield* store.get(key))).toBe(true)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", sweepInterval: "1 minute" } }))))

  it.effect("a lapsed session is still found a while after its end (the grace): its request ends it", () =>
    Effect.gen(function*() {
      const { b, key } = yield* loggedIn("dave")
      const before = yield* revokedFamilies
      // a sweep too rare to run first: the request sees the record and ends it
      yield* TestClock.adjust("3 hours")
      expect((yield* b.get("/page")).status).toBe(302)
      expect(yield* revokedFamilies).toBe(before + 1)
      expect(yield* hasCredentials(key)).toBe(false)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", sweepInterval: "1 day" } }))))
})

// ---------------------------------------------------------------------------
// over a real NodeHttpServer (the Location header goes through node:http)
// ---------------------------------------------------------------------------
import { fetchClient, servedClient } from "./support/nodeServer.js"

describe("returnTo over a real NodeHttpServer", () => {
  it.live(
    "a returnTo with a character outside Latin-1 (/login?returnTo=/%E2%82%AC): the callback still answers",
    () =>
      Effect.gen(function*() {
        const c = yield* servedClient
        const started = yield* c.request(`/login?returnTo=${encodeURIComponent("/€")}`)
        expect(started._tag).toBe("Right")
        const location = (started as any).right.location as string
        const done = yield* c.completeLogin(location, "alice")
        // expected: a redirect (to the path, encoded, or to "/"), and the session cookie set
        const status = done._tag === "Right" ? done.right.status : String(done.left)
        // the session was saved before this answer (routes.ts:181-186): its credentials are kept, no cookie names them
        expect(status).toBe(302)
        expect(c.jar.has("session")).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(stack())),
    20_000
  )
})

// ---------------------------------------------------------------------------
// a logout racing a request's "last use" write
// ---------------------------------------------------------------------------
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { BASE } from "./support/stack.js"

let slowSet = false
let failRemove = false
const slowStore = Layer.effect(
  SessionStore.SessionStore,
  Effect.map(SessionStore.SessionStore, (inner) => ({
    ...inner,
    // a store write that takes a moment (a network round trip to Redis / SQL)
    set: (key: string, record: SessionStore.SessionRecord, ttl: any) =>
      slowSet ? Effect.zipRight(Effect.sleep("1 second"), inner.set(key, record, ttl)) : inner.set(key, record, ttl),
    replace: (key: string, expected: SessionStore.SessionRecord, record: SessionStore.SessionRecord, ttl: any) =>
      slowSet
        ? Effect.zipRight(Effect.sleep("1 second"), inner.replace!(key, expected, record, ttl))
        : inner.replace!(key, expected, record, ttl),
    // a store that cannot be reached for a moment (Redis failover, a SQL connection reset)
    remove: (key: string) =>
      failRemove
        ? Effect.fail(new SessionStore.SessionStoreError({ operation: "remove", description: "unreachable" }))
        : inner.remove(key)
  }))
).pipe(Layer.provide(SessionStore.layerMemory))

const raceStack = stackOverStores({ sessionStore: slowStore })

describe("logout vs a concurrent request: the last-use write cannot revive a session", () => {
  it.effect("a request whose last-use write lands after a logout does not bring the session back", () =>
    Effect.gen(function*() {
      const { b, cookie: stolen } = yield* loggedIn("alice")
      yield* TestClock.adjust("2 minutes") // the next request writes the last use
      slowSet = true
      const sleepsBefore = (yield* TestClock.sleeps()).length
      const inFlight = yield* Effect.fork(b.get("/page")) // e.g. the attacker's request with the stolen cookie
      while ((yield* TestClock.sleeps()).length === sleepsBefore) yield* Effect.yieldNow()
      slowSet = false
      const logout = yield* b.post("/logout", { origin: BASE }) // the person logs out to kill the stolen cookie
      expect(logout.status).toBe(303)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(inFlight)).status).toBe(200)
      expect(yield* pageStatusWithCookie(b, stolen)).toBe(302) // the session must stay ended
    }).pipe(Effect.provide(raceStack)))
})

describe("pending-login cookies are capped per browser", () => {
  it.live(
    "30 logins started and not finished (tabs, retries): 4 pending cookies kept, the browser is still served",
    () =>
      Effect.gen(function*() {
        const c = yield* servedClient
        const one = yield* c.request(`/login?returnTo=%2F`)
        expect(one._tag).toBe("Right")
        console.log("one pending cookie:", c.jarBytes(), "bytes")
        const long = fetchClient(c.origin)
        yield* long.request(`/login?returnTo=${encodeURIComponent("/" + "a".repeat(2000))}`)
        console.log("with a 2000-character returnTo:", long.jarBytes())
        let last = ""
        for (let i = 1; i < 30; i++) {
          const started = yield* c.request(`/login?returnTo=%2F`)
          if (started._tag === "Right") last = started.right.location!
        }
        console.log("30 logins:", c.jarBytes(), "bytes,", c.jar.size, "cookies")
        const page = yield* c.request(`/public`)
        // the application must stay usable for this browser
        expect(page._tag === "Right" ? page.right.status : String(page.left)).toBe(200)
        // the newest four pending logins kept, the older expired; a long returnTo not kept
        expect(c.jar.size).toBe(4)
        expect([...long.jar.values()][0]!.length).toBeLessThan(700)
        // the newest login completes
        const done = yield* c.completeLogin(last, "alice")
        expect(done._tag === "Right" ? done.right.status : String(done.left)).toBe(302)
        expect(c.jar.has("session")).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(stack())),
    20_000
  )
})

describe("logout while the session store fails: 503, never a false 303", () => {
  it.effect("a logout whose record cannot be removed answers 503 and keeps the cookie; the retry ends it", () =>
    Effect.gen(function*() {
      const { b, cookie: stolen } = yield* loggedIn("alice")
      failRemove = true
      const failed = yield* b.post("/logout", { origin: BASE })
      failRemove = false
      // never a 303 "done" while a copy of the cookie still works
      expect(failed.status).toBe(503)
      expect(failed.headers.get("retry-after")).not.toBeNull()
      expect(b.jar.get("session")).toBe(stolen)
      const logout = yield* b.post("/logout", { origin: BASE })
      expect(logout.status).toBe(303)
      expect(b.jar.has("session")).toBe(false)
      expect(yield* pageStatusWithCookie(b, stolen)).toBe(302)
    }).pipe(Effect.provide(raceStack)))
})

// ---------------------------------------------------------------------------
// the sweep while the TokenStore cannot remove
// ---------------------------------------------------------------------------
import { StoreError } from "@effect-renewal/core/AuthError"

let failTokenRemove = false
const flakyTokens = Layer.effect(
  TokenStore.TokenStore,
  Effect.map(TokenStore.TokenStore, (inner) => ({
    ...inner,
    remove: (key: string) =>
      failTokenRemove
        ? Effect.fail(new StoreError({ operation: "remove", key, description: "unreachable" }))
        : inner.remove(key)
  }))
).pipe(Layer.provide(TokenStore.layerMemory))

const flakyTokensStack = stackOverStores({ tokenStore: flakyTokens, web: { idleLifetime: "1 hour" } })

describe("the sweep while the credentials cannot be removed", () => {
  it.effect("the record is kept and the next sweep ends the session: credentials never orphaned", () =>
    Effect.gen(function*() {
      const { key } = yield* loggedIn("alice")
      const store = yield* SessionStore.SessionStore
      failTokenRemove = true
      yield* TestClock.adjust("61 minutes")
      // not removed: the record stays, so that the end is tried again
      expect(Option.isSome(yield* store.get(key))).toBe(true)
      failTokenRemove = false
      yield* TestClock.adjust("1 minute")
      expect(Option.isNone(yield* store.get(key))).toBe(true)
      expect(yield* hasCredentials(key)).toBe(false)
    }).pipe(Effect.provide(flakyTokensStack)))
})
