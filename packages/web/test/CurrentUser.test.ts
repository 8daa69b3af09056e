import * as Emulator from "@effect-renewal/testing/Emulator"
import * as CurrentUser from "@effect-renewal/web/CurrentUser"
import * as UserClient from "@effect-renewal/web/UserClient"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { duringTokenOutage, loggedIn } from "./support/sessions.js"
import { API, browser, stack, tokenRequests } from "./support/stack.js"

const Fault = Emulator.Fault

describe("requirePage / requireApi", () => {
  it.effect("anonymous: a page redirects to the login with its path as returnTo; an API answers 401 JSON", () =>
    Effect.gen(function*() {
      const b = browser()
      const page = yield* b.get("/page?tab=2")
      expect(page.status).toBe(302)
      expect(page.location).toBe("/login?returnTo=%2Fpage%3Ftab%3D2")
      const api = yield* b.get("/api/me")
      expect(api.status).toBe(401)
      expect(JSON.parse(api.text)).toEqual({ error: "unauthorized", message: "Log in first." })
      expect((yield* b.get("/public")).text).toBe("anonymous")
    }).pipe(Effect.provide(stack())))
})

describe("requirePage: only a navigation is sent to the login", () => {
  it.effect("a fetch, an image, a request without Accept get a 401 and start no login; a navigation a redirect", () =>
    Effect.gen(function*() {
      const b = browser()
      for (const headers of [{ "sec-fetch-mode": "cors" }, { "sec-fetch-mode": "no-cors" }, { accept: "*/*" }]) {
        const reply = yield* b.get("/page", headers)
        expect(reply.status, JSON.stringify(headers)).toBe(401)
        expect(reply.location).toBeUndefined()
      }
      const navigate = yield* b.get("/page", { "sec-fetch-mode": "navigate", accept: "*/*" })
      expect(navigate.status).toBe(302)
      expect(navigate.location).toBe("/login?returnTo=%2Fpage")
      // a navigation of a browser that sends no Sec-Fetch-Mode: its Accept says HTML
      expect((yield* b.get("/page", { accept: "text/html,application/xhtml+xml" })).status).toBe(302)
    }).pipe(Effect.provide(stack())))
})

describe("UserClient", () => {
  it.effect("calls the API with the user's token; past its expiry, one renewal for concurrent requests", () =>
    Effect.gen(function*() {
      const { b } = yield* loggedIn("alice")
      const first = yield* b.get("/api/data")
      expect(first.status).toBe(200)
      expect(JSON.parse(first.text)).toEqual({ sub: "alice", items: ["a", "b"] })
      expect(yield* tokenRequests("refresh_token")).toBe(0)
      yield* TestClock.adjust("6 minutes")
      const replies = yield* Effect.all(Array.from({ length: 8 }, () => b.get("/api/data")), {
        concurrency: "unbounded"
      })
      expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200))
      expect(yield* tokenRequests("refresh_token")).toBe(1)
      // another user's session is their own
      const { b: other } = yield* loggedIn("bob")
      expect(JSON.parse((yield* other.get("/api/data")).text).sub).toBe("bob")
    }).pipe(Effect.provide(stack({ emulator: { accessTokenLifetime: "5 minutes" } }))))

  it.effect("LoginRequired (the refresh token refused by the provider) ends that session: 401, cookie expired", () =>
    Effect.gen(function*() {
      const { b } = yield* loggedIn("alice")
      const { b: other } = yield* loggedIn("bob")
      const emulator = yield* Emulator.Emulator
      yield* TestClock.adjust("6 minutes")
      // alice's renewal is refused for good
      yield* emulator.faultOn("token", Fault.status(400, { error: "invalid_grant", description: "revoked" }))
      const reply = yield* b.get("/api/data")
      expect(reply.status).toBe(401)
      expect(reply.setCookies.some((c) => c.startsWith("session=;") || /^session=.*Max-Age=0/.test(c))).toBe(true)
      expect(b.jar.has("session")).toBe(false)
      // the session is gone on the server: the old cookie does not bring it back
      expect((yield* b.get("/page")).status).toBe(302)
      // bob's session is untouched
      expect((yield* other.get("/api/data")).status).toBe(200)
    }).pipe(Effect.provide(stack({ emulator: { accessTokenLifetime: "5 minutes" } }))))

  it.effect("a transient failure of the renewal is a 503 with Retry-After, and the session stays", () =>
    Effect.gen(function*() {
      const { b } = yield* loggedIn("alice")
      const emulator = yield* Emulator.Emulator
      yield* TestClock.adjust("6 minutes")
      const reply = yield* duringTokenOutage(b.get("/api/data"))
      expect(reply.status).toBe(503)
      expect(reply.headers.get("retry-after")).toBe("5")
      expect(b.jar.has("session")).toBe(true)
      yield* emulator.clearFaults
      expect((yield* b.get("/api/data")).status).toBe(200)
      expect((yield* b.get("/page")).text).toBe("hello alice")
    }).pipe(Effect.provide(stack({ emulator: { accessTokenLifetime: "5 minutes" } }))))
})

class Me extends HttpApiGroup.make("me")
  .add(HttpApiEndpoint.get("me", "/me").addSuccess(Schema.Struct({ subject: Schema.String })))
  .add(HttpApiEndpoint.get("data", "/data").addSuccess(Schema.Struct({ sub: Schema.String })))
  .middleware(CurrentUser.Authentication)
{}
class Api extends HttpApi.make("test").add(Me).prefix("/v1") {}

const MeLive = HttpApiBuilder.group(Api, "me", (handlers) =>
  handlers
    .handle("me", () => Effect.map(CurrentUser.CurrentUser, (user) => ({ subject: user.subject })))
    .handle("data", () =>
      UserClient.handleErrors(Effect.gen(function*() {
        const client = yield* UserClient.make()
        const response = yield* client.execute(HttpClientRequest.get(`${API}/data`))
        return (yield* response.json) as { sub: string }
      })).pipe(Effect.orDie, Effect.scoped)))

const apiApp = HttpApiBuilder.httpApp.pipe(
  Effect.provide(
    HttpApiBuilder.api(Api).pipe(
      Layer.provide(MeLive),
      Layer.provide(CurrentUser.layerAuthentication),
      Layer.merge(HttpApiBuilder.Router.Live),
      Layer.merge(HttpApiBuilder.Middleware.layer)
    )
  )
)

describe("HttpApi: the Authentication middleware", () => {
  it.effect("401 for the anonymous and a forged cookie; the CurrentUser and the UserClient once logged in", () =>
    Effect.gen(function*() {
      const b = browser()
      const anonymous = yield* b.send("GET", "/v1/me", { app: apiApp })
      expect(anonymous.status).toBe(401)
      expect(JSON.parse(anonymous.text)._tag).toBe("Unauthorized")
      yield* b.login("alice")
      const me = yield* b.send("GET", "/v1/me", { app: apiApp })
      expect(me.status).toBe(200)
      expect(JSON.parse(me.text)).toEqual({ subject: "alice" })
      expect(JSON.parse((yield* b.send("GET", "/v1/data", { app: apiApp })).text)).toEqual({ sub: "alice" })
      b.jar.set("session", b.jar.get("session")!.replace(/.$/, (c) => c === "A" ? "B" : "A"))
      expect((yield* b.send("GET", "/v1/me", { app: apiApp })).status).toBe(401)
    }).pipe(Effect.provide(stack())))

  it.effect("a renewal's LoginRequired is Unauthorized (session ended); a transient failure SessionUnavailable", () =>
    Effect.gen(function*() {
      const { b } = yield* loggedIn("alice")
      const emulator = yield* Emulator.Emulator
      yield* TestClock.adjust("6 minutes")
      const unavailable = yield* duringTokenOutage(b.send("GET", "/v1/data", { app: apiApp }))
      expect(unavailable.status).toBe(503)
      expect(unavailable.headers.get("retry-after")).toBe("5")
      yield* emulator.clearFaults
      yield* emulator.faultOn("token", Fault.status(400, { error: "invalid_grant" }))
      const ended = yield* b.send("GET", "/v1/data", { app: apiApp })
      expect(ended.status).toBe(401)
      expect(b.jar.has("session")).toBe(false)
    }).pipe(Effect.provide(stack({ emulator: { accessTokenLifetime: "5 minutes" } }))))
})
