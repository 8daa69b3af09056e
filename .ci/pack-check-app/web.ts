/**
 * The web program of `.ci/pack-check`, against the packed packages: the
 * `WebAuth` routes, a page protected by `CurrentUser.requireApi` and one that
 * calls an API with the `UserClient`, on a `NodeHttpServer` on loopback, with
 * the packed emulator on loopback (its HTML login page); a login through
 * fetch (the login, the emulator's consent form, the callback), the API
 * called with the user's token, then the logout.
 */
import { AuthenticationClient, Login, RenewalStrategy, Sessions, TokenStore } from "@effect-renewal/core"
import { Emulator } from "@effect-renewal/testing"
import { CurrentUser, SessionStore, UserClient, WebAuth } from "@effect-renewal/web"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import { check, run } from "./support.js"

/** fetch without following redirects, with one cookie jar */
const jar = new Map<string, string>()
const send = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const headers = new Headers(init.headers)
    if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "))
    const response = await fetch(url, { ...init, headers, redirect: "manual" })
    for (const cookie of response.headers.getSetCookie()) {
      const pair = cookie.split(";")[0]!
      const name = pair.slice(0, pair.indexOf("="))
      const value = pair.slice(pair.indexOf("=") + 1)
      if (/Max-Age=0/i.test(cookie) || value === "") jar.delete(name)
      else jar.set(name, value)
    }
    return { status: response.status, location: response.headers.get("location"), text: await response.text() }
  })

const program = Effect.gen(function*() {
  const tenant = yield* Layer.build(Emulator.layerServer({ loginPage: true }))
  const emulator = Context.get(tenant, Emulator.Emulator)
  const emulatorUrl = Context.get(tenant, Emulator.EmulatorServer).url

  const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
  const appUrl = `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
  const live = WebAuth.layer({ baseUrl: appUrl, secrets: Redacted.make("a pack-check secret of 32 bytes or more") })
    .pipe(
      Layer.provideMerge(Layer.mergeAll(SessionStore.layerMemory, Login.layer(), Sessions.layer())),
      Layer.provideMerge(RenewalStrategy.refreshToken),
      Layer.provideMerge(TokenStore.layerMemory),
      Layer.provideMerge(AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId })),
      Layer.provideMerge(FetchHttpClient.layer)
    )
  const context = yield* Layer.build(live)
  const auth = Context.get(context, WebAuth.WebAuth)
  const router = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/me",
      CurrentUser.requireApi(
        Effect.flatMap(CurrentUser.CurrentUser, (user) => HttpServerResponse.json({ subject: user.subject }))
      )
    ),
    // the "API": accepts the emulator's access tokens only
    HttpRouter.get(
      "/resource",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const access = yield* emulator.verifyResourceRequest({
          method: request.method,
          url: `${appUrl}/resource`,
          authorization: request.headers["authorization"]
        })
        return access._tag === "Authorized"
          ? yield* HttpServerResponse.json({ sub: access.claims["sub"] })
          : HttpServerResponse.empty({ status: 401 })
      })
    ),
    HttpRouter.get(
      "/data",
      CurrentUser.requireApi(Effect.gen(function*() {
        const client = yield* UserClient.make()
        const response = yield* client.execute(HttpClientRequest.get(`${appUrl}/resource`))
        return yield* HttpServerResponse.json(yield* response.json)
      }))
    ),
    HttpRouter.concat(auth.router)
  )
  yield* server.serve(Effect.provide(Effect.flatten(HttpRouter.toHttpApp(router)), context))

  yield* check((yield* send(`${appUrl}/me`)).status === 401, "an anonymous API request is a 401")
  const started = yield* send(`${appUrl}/login?returnTo=%2Fme`)
  yield* check(
    started.status === 302 && started.location!.startsWith(`${emulatorUrl}/authorize`),
    "login: to the provider"
  )
  const page = yield* send(started.location!)
  const query = /name="query" value="([^"]*)"/.exec(page.text)?.[1]?.replace(/&amp;/g, "&")
  yield* check(query !== undefined, "the emulator's login page")
  const decided = yield* send(`${emulatorUrl}/authorize/consent`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query: query!, username: "pat", decision: "allow" }).toString()
  })
  const callback = yield* send(decided.location!)
  yield* check(callback.status === 302 && callback.location === "/me", "the callback: a session, then returnTo")
  yield* check(jar.has("session") && !jar.get("session")!.includes("eyJ"), "the cookie holds no token")
  yield* check(JSON.parse((yield* send(`${appUrl}/me`)).text).subject === "pat", "the CurrentUser")
  yield* check(JSON.parse((yield* send(`${appUrl}/data`)).text).sub === "pat", "the API called with the user's token")
  const logout = yield* send(`${appUrl}/logout`, { method: "POST", headers: { origin: appUrl } })
  yield* check(logout.status === 303 && !jar.has("session"), "logout")
  yield* check((yield* send(`${appUrl}/me`)).status === 401, "logged out")
  return "logged in through the emulator's pages, called an API with the user's token, logged out"
}).pipe(Effect.scoped)

run("web", program)
