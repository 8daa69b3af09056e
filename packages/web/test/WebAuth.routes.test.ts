import * as Emulator from "@effect-renewal/testing/Emulator"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { loggedIn, loggedInThenOut, pageStatusesEvery, pageStatusWithCookie } from "./support/sessions.js"
import { BASE, browser, END_SESSION, providerRedirect, SECRET, stack, tokenRequests } from "./support/stack.js"

const cookieNamed = (setCookies: ReadonlyArray<string>, name: string) =>
  setCookies.find((cookie) => cookie.startsWith(`${name}=`))

// a pending login's cookie: `session-login-<16 characters of the state's hash>`
const pendingCookie = (setCookies: ReadonlyArray<string>, prefix = "session-login-") =>
  setCookies.find((cookie) => cookie.startsWith(prefix))
const pendingName = (jar: Map<string, string>) => [...jar.keys()].find((name) => name.startsWith("session-login-"))

describe("GET /login", () => {
  it.effect("redirects to the provider with PKCE, and keeps the pending login in a sealed, HttpOnly cookie", () =>
    Effect.gen(function*() {
      const b = browser()
      const reply = yield* b.get("/login?returnTo=/page")
      expect(reply.status).toBe(302)
      const url = new URL(reply.location!)
      expect(url.pathname).toBe("/authorize")
      expect(url.searchParams.get("redirect_uri")).toBe(`${BASE}/callback`)
      expect(url.searchParams.get("code_challenge_method")).toBe("S256")
      const pending = pendingCookie(reply.setCookies)!
      expect(pending).toMatch(/^session-login-[A-Za-z0-9_-]{16}=/)
      expect(pending).toMatch(/HttpOnly/i)
      expect(pending).toMatch(/SameSite=Lax/i)
      expect(pending).toMatch(/Path=\//)
      expect(pending).toMatch(/Max-Age=600/)
      // the state and the verifier are not readable in the cookie
      const value = b.jar.get(pendingName(b.jar)!)!
      expect(value).not.toContain(url.searchParams.get("state")!)
      expect(Buffer.from(value.split(".")[1]!, "base64url").toString("latin1")).not.toContain("codeVerifier")
      expect(reply.headers.get("cache-control")).toBe("no-store")
    }).pipe(Effect.provide(stack())))

  it.effect("the whole login: a new session whose cookie holds only a signed random id, then the returnTo", () =>
    Effect.gen(function*() {
      const b = browser()
      const { done } = yield* b.login("alice")
      expect(done.status).toBe(302)
      expect(done.location).toBe("/page")
      const session = cookieNamed(done.setCookies, "session")!
      expect(session).toMatch(/HttpOnly/i)
      expect(session).toMatch(/SameSite=Lax/i)
      expect(session).toMatch(/Path=\//)
      expect(session).not.toMatch(/Secure/i) // loopback http
      // the pending cookie is removed
      expect(pendingName(b.jar)).toBeUndefined()
      const [id, signature] = b.jar.get("session")!.split(".")
      expect(Buffer.from(id!, "base64url").byteLength).toBe(32)
      expect(Buffer.from(signature!, "base64url").byteLength).toBe(32)
      expect((yield* b.get("/page")).text).toBe("hello alice")
      const me = yield* b.get("/api/me")
      expect(JSON.parse(me.text)).toEqual({ subject: "alice", email: "alice@example.test" })
      expect((yield* b.get("/public")).text).toBe("hello alice")
    }).pipe(Effect.provide(stack())))

  it.effect("on https: Secure cookies with the __Host- prefix", () =>
    Effect.gen(function*() {
      const b = browser()
      const started = yield* b.get("/login")
      expect(pendingCookie(started.setCookies, "__Host-session-login-")).toMatch(/Secure/)
      yield* (yield* Emulator.Emulator).approveNext({ username: "carol" })
      const callback = yield* providerRedirect(started.location!)
      expect(callback.origin).toBe("https://app.example")
      const done = yield* b.get(callback.pathname + callback.search)
      const session = cookieNamed(done.setCookies, "__Host-session")!
      expect(session).toMatch(/Secure/)
      expect(session).toMatch(/Path=\//)
      expect(session).not.toMatch(/Domain=/i)
    }).pipe(Effect.provide(stack({ web: { baseUrl: "https://app.example" } }))))

  it.effect("returnTo: only a same-origin path; anything else ends at /", () =>
    Effect.gen(function*() {
      for (
        const evil of [
          "//evil.example/x",
          "/\\evil.example",
          "https://evil.example/",
          "javascript:alert(1)",
          "/\t/evil.example"
        ]
      ) {
        const b = browser()
        const { done } = yield* b.login("alice", evil)
        expect(done.location, evil).toBe("/")
      }
      const b = browser()
      const { done } = yield* b.login("alice", "/page?tab=2#x")
      expect(done.location).toBe("/page?tab=2#x")
    }).pipe(Effect.provide(stack())))
})

describe("GET /callback", () => {
  it.effect("refuses a forged callback (another state); the real one still completes", () =>
    Effect.gen(function*() {
      const b = browser()
      const started = yield* b.get("/login")
      const emulator = yield* Emulator.Emulator
      const forged = yield* b.get("/callback?code=attackers-code&state=attackers-state")
      expect(forged.status).toBe(400)
      expect(forged.text).toContain("not the callback of the login in progress")
      expect(yield* tokenRequests("authorization_code")).toBe(0)
      yield* emulator.approveNext({ username: "alice" })
      const callback = yield* providerRedirect(started.location!)
      const done = yield* b.get(callback.pathname + callback.search)
      expect(done.location).toBe("/")
    }).pipe(Effect.provide(stack())))

  it.effect("the pending-login cookie is single use: a replay is refused before the code reaches the provider", () =>
    Effect.gen(function*() {
      const b = browser()
      const started = yield* b.get("/login")
      const name = pendingName(b.jar)!
      const pending = b.jar.get(name)!
      yield* (yield* Emulator.Emulator).approveNext({ username: "alice" })
      const callback = yield* providerRedirect(started.location!)
      expect((yield* b.get(callback.pathname + callback.search)).status).toBe(302)
      // the same browser again, the old pending cookie put back (a replay)
      b.jar.set(name, pending)
      const replay = yield* b.get(callback.pathname + callback.search)
      expect(replay.status).toBe(400)
      expect(yield* tokenRequests("authorization_code")).toBe(1)
      // and without any pending cookie
      const other = browser()
      expect((yield* other.get(callback.pathname + callback.search)).status).toBe(400)
    }).pipe(Effect.provide(stack())))

  it.effect("a tampered pending cookie, a denied login, an expired one: pages, never a session", () =>
    Effect.gen(function*() {
      const b = browser()
      const started = yield* b.get("/login")
      const state = new URL(started.location!).searchParams.get("state")!
      const name = pendingName(b.jar)!
      const value = b.jar.get(name)!
      b.jar.set(name, value.slice(0, -2) + (value.endsWith("A") ? "BB" : "AA"))
      const tampered = yield* b.get(`/callback?code=x&state=${state}`)
      expect(tampered.status).toBe(400)
      expect(b.jar.has("session")).toBe(false)

      const denied = browser()
      const deniedStart = yield* denied.get("/login")
      yield* (yield* Emulator.Emulator).denyNext()
      const deniedCallback = yield* providerRedirect(deniedStart.location!)
      const refused = yield* denied.get(deniedCallback.pathname + deniedCallback.search)
      expect(refused.status).toBe(403)
      expect(refused.text).toContain("Login cancelled")
      expect(denied.jar.has("session")).toBe(false)

      const slow = browser()
      const slowStart = yield* slow.get("/login")
      yield* (yield* Emulator.Emulator).approveNext()
      const slowCallback = yield* providerRedirect(slowStart.location!)
      yield* TestClock.adjust("11 minutes")
      const expired = yield* slow.get(slowCallback.pathname + slowCallback.search)
      expect(expired.status).toBe(400)
      expect(expired.text).toContain("Login expired")
      for (const reply of [tampered, refused, expired]) {
        expect(reply.text).not.toMatch(/eyJ|stack|at Object/)
      }
    }).pipe(Effect.provide(stack())))

  it.effect("two logins started at once in one browser (two tabs) both complete; each cookie only for its state", () =>
    Effect.gen(function*() {
      const b = browser()
      const emulator = yield* Emulator.Emulator
      const first = yield* b.get("/login?returnTo=/first")
      const second = yield* b.get("/login?returnTo=/second")
      expect([...b.jar.keys()].filter((name) => name.startsWith("session-login-"))).toHaveLength(2)
      yield* emulator.approveNext({ username: "alice" })
      const firstCallback = yield* providerRedirect(first.location!)
      yield* emulator.approveNext({ username: "alice" })
      const secondCallback = yield* providerRedirect(second.location!)
      expect((yield* b.get(firstCallback.pathname + firstCallback.search)).location).toBe("/first")
      expect((yield* b.get(secondCallback.pathname + secondCallback.search)).location).toBe("/second")
      expect(pendingName(b.jar)).toBeUndefined()
      expect((yield* b.get("/page")).text).toBe("hello alice")
    }).pipe(Effect.provide(stack())))

  it.effect("a new session id at every login; the previous session of the browser ends", () =>
    Effect.gen(function*() {
      const { b, cookie: first } = yield* loggedIn("alice")
      yield* b.login("bob")
      const second = b.jar.get("session")!
      expect(second).not.toBe(first)
      expect((yield* b.get("/page")).text).toBe("hello bob")
      expect(yield* pageStatusWithCookie(b, first)).toBe(302)
    }).pipe(Effect.provide(stack())))
})

describe("the session cookie", () => {
  it.effect("tampered, signed with another secret, or for no session: anonymous", () =>
    Effect.gen(function*() {
      const { b, cookie: value } = yield* loggedIn("alice")
      const [id, signature] = value.split(".")
      const flipped = id!.slice(0, 5) + (id![5] === "A" ? "B" : "A") + id!.slice(6)
      // another last character that changes the signature's bytes (the last base64url character of
      // 32 bytes holds 4 bits: "A" and "Q" differ in one of them); the same one would not be a forgery
      const otherSignature = signature!.slice(0, -1) + (signature!.endsWith("A") ? "Q" : "A")
      expect(otherSignature).not.toBe(signature)
      for (const forged of [`${flipped}.${signature}`, `${id}.${otherSignature}`, id!, `${id}.`, "x.y"]) {
        b.jar.set("session", forged)
        const reply = yield* b.get("/page")
        expect(reply.status, forged).toBe(302)
        expect(reply.location).toBe("/login?returnTo=%2Fpage")
        expect(cookieNamed(reply.setCookies, "session")).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/i)
      }
      expect(yield* pageStatusWithCookie(b, value)).toBe(200)
    }).pipe(Effect.provide(stack())))

  it.scoped("secret rotation: a cookie signed with an older secret still listed is accepted", () =>
    Effect.gen(function*() {
      const { b } = yield* loggedIn("alice")
      const rotated = yield* WebAuth.make({
        baseUrl: BASE,
        secrets: [Redacted.make("the-new-cookie-secret-of-32-bytes-or-more"), SECRET]
      })
      const dropped = yield* WebAuth.make({
        baseUrl: BASE,
        secrets: [Redacted.make("the-new-cookie-secret-of-32-bytes-or-more")]
      })
      const ask = (auth: WebAuth.WebAuth.Service) =>
        Effect.map(
          Effect.provideService(browserRequest(b.jar.get("session")!), WebAuth.WebAuth, auth),
          (user) => user._tag
        )
      expect(yield* ask(rotated)).toBe("Some")
      expect(yield* ask(dropped)).toBe("None")
    }).pipe(Effect.provide(stack())))

  it.effect("idle and absolute lifetimes, on the Clock", () =>
    Effect.gen(function*() {
      const { b: idle } = yield* loggedIn("alice")
      expect(yield* pageStatusesEvery(idle, "59 minutes", 2)).toEqual([200, 200])
      yield* TestClock.adjust("61 minutes")
      expect((yield* idle.get("/page")).status).toBe(302)

      const { b: busy } = yield* loggedIn("bob")
      expect(yield* pageStatusesEvery(busy, "50 minutes", 7)).toEqual(Array(7).fill(200))
      yield* TestClock.adjust("20 minutes") // 6h10 since the login
      expect((yield* busy.get("/page")).status).toBe(302)
    }).pipe(
      Effect.provide(stack({ web: { idleLifetime: "1 hour", absoluteLifetime: "6 hours" } }))
    ))
})

describe("POST /logout", () => {
  it.effect("refused without this site's Origin; with it: refresh token revoked, session gone, cookie expired", () =>
    Effect.gen(function*() {
      const { b, cookie: value } = yield* loggedIn("alice")
      expect((yield* b.post("/logout")).status).toBe(403)
      expect((yield* b.post("/logout", { origin: "https://evil.example" })).status).toBe(403)
      expect((yield* b.post("/logout", { "sec-fetch-site": "cross-site" })).status).toBe(403)
      expect((yield* b.get("/page")).status).toBe(200)
      const emulator = yield* Emulator.Emulator
      const before = (yield* emulator.counters).revokedFamilies
      const reply = yield* b.post("/logout", { origin: BASE })
      expect(reply.status).toBe(303)
      expect(reply.location).toBe("/")
      expect(b.jar.has("session")).toBe(false)
      expect((yield* emulator.counters).revokedFamilies).toBe(before + 1)
      expect(yield* pageStatusWithCookie(b, value)).toBe(302)
      expect((yield* b.get("/public")).text).toBe("anonymous")
      // Sec-Fetch-Site alone is enough when a browser sends no Origin
      const { b: other } = yield* loggedIn("bob")
      expect((yield* other.post("/logout", { "sec-fetch-site": "same-origin" })).status).toBe(303)
      // Origin: null (a no-referrer page, a sandboxed frame) counts as no Origin: only same-origin passes
      const { b: third } = yield* loggedIn("carol")
      expect((yield* third.post("/logout", { origin: "null" })).status).toBe(403)
      expect((yield* third.post("/logout", { origin: "null", "sec-fetch-site": "cross-site" })).status).toBe(403)
      expect((yield* third.post("/logout", { origin: "null", "sec-fetch-site": "same-site" })).status).toBe(403)
      expect((yield* third.post("/logout", { origin: "null", "sec-fetch-site": "same-origin" })).status).toBe(303)
    }).pipe(Effect.provide(stack())))

  it.effect("a logout whose revocation fails at the provider still ends the session: 303, credentials gone", () =>
    Effect.gen(function*() {
      const { b, cookie: value } = yield* loggedIn("alice")
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("revoke", Emulator.Fault.status(400, { error: "invalid_request" }))
      const reply = yield* b.post("/logout", { origin: BASE })
      expect(reply.status).toBe(303)
      expect(b.jar.has("session")).toBe(false)
      expect(yield* pageStatusWithCookie(b, value)).toBe(302)
    }).pipe(Effect.provide(stack())))

  it.effect("RP-initiated logout: client_id and post_logout_redirect_uri, no id_token in the browser", () =>
    Effect.gen(function*() {
      const { reply, url } = yield* loggedInThenOut("alice")
      expect(url.origin + url.pathname).toBe(END_SESSION)
      expect(url.searchParams.get("client_id")).toBe("test-client-id")
      expect(url.searchParams.get("post_logout_redirect_uri")).toBe(`${BASE}/`)
      // no token reaches the browser (its history, its extensions) unless asked for
      expect(url.searchParams.has("id_token_hint")).toBe(false)
      expect(reply.location).not.toMatch(/eyJ/)
    }).pipe(Effect.provide(stack({ endSession: true }))))

  it.effect("RP-initiated logout with idTokenHint: true sends the id_token as id_token_hint", () =>
    Effect.gen(function*() {
      const { url } = yield* loggedInThenOut("alice")
      expect(url.origin + url.pathname).toBe(END_SESSION)
      expect(url.searchParams.get("client_id")).toBe("test-client-id")
      expect(url.searchParams.get("id_token_hint")?.split(".")).toHaveLength(3)
    }).pipe(Effect.provide(stack({ endSession: true, web: { idTokenHint: true } }))))
})

describe("configuration", () => {
  it.scoped("refuses http off loopback, a short secret, a scope without openid, a bad path", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<Partial<WebAuth.Options>> = [
        { baseUrl: "http://app.example" },
        { secrets: [Redacted.make("short")] },
        { secrets: [] },
        { scope: "profile offline_access" },
        { paths: { login: "//login" } },
        { idleLifetime: "-1 minutes" }
      ]
      for (const options of bad) {
        const error = yield* Effect.flip(WebAuth.make({ baseUrl: BASE, secrets: [SECRET], ...options }))
        expect(error._tag).toBe("InvalidConfiguration")
        expect(error.message).not.toContain("short")
      }
    }).pipe(Effect.provide(stack())))
})

// the person of a request whose cookie is `session=<value>`
const browserRequest = (value: string) =>
  Effect.flatMap(WebAuth.WebAuth, (auth) => auth.currentUser).pipe(
    Effect.provideService(
      HttpServerRequest.HttpServerRequest,
      HttpServerRequest.fromWeb(new Request(`${BASE}/`, { headers: { cookie: `session=${value}` } }))
    ),
    Effect.orDie
  )
