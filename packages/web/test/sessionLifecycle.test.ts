/**
 * How sessions end (lifetimes, a logout racing a request, a logout while the
 * store fails) and what a browser can pile up (pending logins, returnTo), over the stack and a real NodeHttpServer.
 */
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { browser, stack } from "./support/stack.js"

const sessionKeyOfJar = (jar: Map<string, string>) =>
  Effect.promise(async () => {
    const id = jar.get("session")!.split(".")[0]!
    const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id))
    return `web:${Encoding.encodeBase64Url(new Uint8Array(hash))}`
  })

describe("session lifetimes: a lapsed session is ended with its refresh token revoked", () => {
  it.effect("a session past idleLifetime is ended with its refresh token revoked and its credentials removed", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("alice")
      const key = yield* sessionKeyOfJar(b.jar)
      const tokens = yield* TokenStore.TokenStore
      const emulator = yield* Emulator.Emulator
      expect(Option.isSome(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
      const before = (yield* emulator.counters).revokedFamilies
      yield* TestClock.adjust("61 minutes")
      expect((yield* b.get("/page")).status).toBe(302) // anonymous: the session ended
      // docs/web.md: "A session past either is ended (its refresh token revoked)"
      expect((yield* emulator.counters).revokedFamilies).toBe(before + 1)
      expect(Option.isNone(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", absoluteLifetime: "6 hours" } }))))

  it.effect("a session past absoluteLifetime is ended with its refresh token revoked", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("bob")
      const key = yield* sessionKeyOfJar(b.jar)
      const tokens = yield* TokenStore.TokenStore
      const emulator = yield* Emulator.Emulator
      const before = (yield* emulator.counters).revokedFamilies
      for (let i = 0; i < 7; i++) {
        yield* TestClock.adjust("50 minutes")
        expect((yield* b.get("/page")).status).toBe(200)
      }
      yield* TestClock.adjust("20 minutes")
      expect((yield* b.get("/page")).status).toBe(302)
      expect((yield* emulator.counters).revokedFamilies).toBe(before + 1)
      expect(Option.isNone(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", absoluteLifetime: "6 hours" } }))))

  it.effect("a lapsed session with no later request is ended by the sweep: revoked, credentials and record gone", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("carol")
      const key = yield* sessionKeyOfJar(b.jar)
      const tokens = yield* TokenStore.TokenStore
      const store = yield* SessionStore.SessionStore
      const emulator = yield* Emulator.Emulator
      const before = (yield* emulator.counters).revokedFamilies
      yield* TestClock.adjust("59 minutes")
      expect((yield* emulator.counters).revokedFamilies).toBe(before) // still live: not swept
      yield* TestClock.adjust("2 minutes") // the sweep runs once a minute
      expect((yield* emulator.counters).revokedFamilies).toBe(before + 1)
      expect(Option.isNone(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
      expect(Option.isNone(yield* store.get(key))).toBe(true)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", sweepInterval: "1 minute" } }))))

  it.effect("a lapsed session is still found a while after its end (the grace): its request ends it", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("dave")
      const key = yield* sessionKeyOfJar(b.jar)
      const tokens = yield* TokenStore.TokenStore
      const emulator = yield* Emulator.Emulator
      const before = (yield* emulator.counters).revokedFamilies
      // a sweep too rare to run first: the request sees the record and ends it
      yield* TestClock.adjust("3 hours")
      expect((yield* b.get("/page")).status).toBe(302)
      expect((yield* emulator.counters).revokedFamilies).toBe(before + 1)
      expect(Option.isNone(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
    }).pipe(Effect.provide(stack({ web: { idleLifetime: "1 hour", sweepInterval: "1 day" } }))))
})

// ---------------------------------------------------------------------------
// over a real NodeHttpServer (the Location header goes through node:http)
// ---------------------------------------------------------------------------
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as Scope from "effect/Scope"
import { createServer } from "node:http"
import { app, type Env, providerRedirect } from "./support/stack.js"

const serve = Effect.gen(function*() {
  const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
  const handler = yield* app
  const context = yield* Effect.context<any>()
  yield* server.serve(
    Effect.provide(handler, context).pipe(
      Effect.tapErrorCause((c) => Effect.sync(() => console.log("SERVER", String(c))))
    ) as any
  )
  return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
}) as Effect.Effect<string, never, Env | Scope.Scope>

const fetchClient = (origin: string) => {
  const jar = new Map<string, string>()
  const request = (path: string, init: RequestInit = {}) =>
    Effect.tryPromise(async () => {
      const headers = new Headers(init.headers)
      if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "))
      const response = await fetch(origin + path, { ...init, headers, redirect: "manual" })
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(";")
        const name = pair!.slice(0, pair!.indexOf("="))
        const value = pair!.slice(pair!.indexOf("=") + 1)
        if (/Max-Age=0/i.test(cookie) || value === "") jar.delete(name)
        else jar.set(name, value)
      }
      return { status: response.status, location: response.headers.get("location"), text: await response.text() }
    }).pipe(Effect.timeout("5 seconds"), Effect.either)
  return { jar, request }
}

describe("returnTo over a real NodeHttpServer", () => {
  it.live(
    "a returnTo with a character outside Latin-1 (/login?returnTo=/%E2%82%AC): the callback still answers",
    () =>
      Effect.gen(function*() {
        const origin = yield* serve
        const c = fetchClient(origin)
        const started = yield* c.request(`/login?returnTo=${encodeURIComponent("/€")}`)
        expect(started._tag).toBe("Right")
        const location = (started as any).right.location as string
        yield* (yield* Emulator.Emulator).approveNext({ username: "alice" })
        const callback = yield* providerRedirect(location)
        const done = yield* c.request(callback.pathname + callback.search)
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
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { BASE, SECRET } from "./support/stack.js"

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

const raceStack = WebAuth.layer({ baseUrl: BASE, secrets: [SECRET] }).pipe(
  Layer.provideMerge(Layer.mergeAll(slowStore, Login.layer(), Sessions.layer())),
  Layer.provideMerge(RenewalStrategy.refreshToken),
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provideMerge(
    Layer.unwrapEffect(
      Effect.map(
        Emulator.Emulator,
        (emulator) => AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId })
      )
    )
  ),
  Layer.provideMerge(Layer.effect(HttpClient.HttpClient, Effect.map(Emulator.Emulator, Emulator.toHttpClient))),
  Layer.provideMerge(Emulator.layerMemory()),
  Layer.orDie
)

describe("logout vs a concurrent request: the last-use write cannot revive a session", () => {
  it.effect("a request whose last-use write lands after a logout does not bring the session back", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("alice")
      const stolen = b.jar.get("session")!
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
      b.jar.set("session", stolen)
      expect((yield* b.get("/page")).status).toBe(302) // the session must stay ended
    }).pipe(Effect.provide(raceStack)))
})

describe("pending-login cookies are capped per browser", () => {
  it.live(
    "30 logins started and not finished (tabs, retries): 4 pending cookies kept, the browser is still served",
    () =>
      Effect.gen(function*() {
        const origin = yield* serve
        const c = fetchClient(origin)
        const one = yield* c.request(`/login?returnTo=%2F`)
        expect(one._tag).toBe("Right")
        const size = [...c.jar].reduce((n, [k, v]) => n + k.length + v.length + 3, 0)
        console.log("one pending cookie:", size, "bytes")
        const long = fetchClient(origin)
        yield* long.request(`/login?returnTo=${encodeURIComponent("/" + "a".repeat(2000))}`)
        console.log(
          "with a 2000-character returnTo:",
          [...long.jar].reduce((n, [k, v]) => n + k.length + v.length + 3, 0)
        )
        let last = ""
        for (let i = 1; i < 30; i++) {
          const started = yield* c.request(`/login?returnTo=%2F`)
          if (started._tag === "Right") last = started.right.location!
        }
        console.log(
          "30 logins:",
          [...c.jar].reduce((n, [k, v]) => n + k.length + v.length + 3, 0),
          "bytes,",
          c.jar.size,
          "cookies"
        )
        const page = yield* c.request(`/public`)
        // the application must stay usable for this browser
        expect(page._tag === "Right" ? page.right.status : String(page.left)).toBe(200)
        // the newest four pending logins kept, the older expired; a long returnTo not kept
        expect(c.jar.size).toBe(4)
        expect([...long.jar.values()][0]!.length).toBeLessThan(700)
        // the newest login completes
        yield* (yield* Emulator.Emulator).approveNext({ username: "alice" })
        const callback = yield* providerRedirect(last)
        const done = yield* c.request(callback.pathname + callback.search)
        expect(done._tag === "Right" ? done.right.status : String(done.left)).toBe(302)
        expect(c.jar.has("session")).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(stack())),
    20_000
  )
})

describe("logout while the session store fails: 503, never a false 303", () => {
  it.effect("a logout whose record cannot be removed answers 503 and keeps the cookie; the retry ends it", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("alice")
      const stolen = b.jar.get("session")!
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
      b.jar.set("session", stolen)
      expect((yield* b.get("/page")).status).toBe(302)
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

const flakyTokensStack = WebAuth.layer({ baseUrl: BASE, secrets: [SECRET], idleLifetime: "1 hour" }).pipe(
  Layer.provideMerge(Layer.mergeAll(SessionStore.layerMemory, Login.layer(), Sessions.layer())),
  Layer.provideMerge(RenewalStrategy.refreshToken),
  Layer.provideMerge(flakyTokens),
  Layer.provideMerge(
    Layer.unwrapEffect(
      Effect.map(
        Emulator.Emulator,
        (emulator) => AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId })
      )
    )
  ),
  Layer.provideMerge(Layer.effect(HttpClient.HttpClient, Effect.map(Emulator.Emulator, Emulator.toHttpClient))),
  Layer.provideMerge(Emulator.layerMemory()),
  Layer.orDie
)

describe("the sweep while the credentials cannot be removed", () => {
  it.effect("the record is kept and the next sweep ends the session: credentials never orphaned", () =>
    Effect.gen(function*() {
      const b = browser()
      yield* b.login("alice")
      const key = yield* sessionKeyOfJar(b.jar)
      const tokens = yield* TokenStore.TokenStore
      const store = yield* SessionStore.SessionStore
      failTokenRemove = true
      yield* TestClock.adjust("61 minutes")
      // not removed: the record stays, so that the end is tried again
      expect(Option.isSome(yield* store.get(key))).toBe(true)
      failTokenRemove = false
      yield* TestClock.adjust("1 minute")
      expect(Option.isNone(yield* store.get(key))).toBe(true)
      expect(Option.isNone(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
    }).pipe(Effect.provide(flakyTokensStack)))
})
