import { Login, Renewer } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import * as Stack from "./support/loginStack.js"

/** The emulator on loopback HTTP, found by discovery, reached with fetch; a Renewer beside the login. */
const Live = Stack.layer(Layer.merge(Emulator.layerServer(), FetchHttpClient.layer))

/** A browser: follows the authorization URL (the emulator's 302) to the callback, and reads the page. */
const browse = (url: string) =>
  Effect.promise(async () => {
    const authorize = await fetch(url, { redirect: "manual" })
    const location = authorize.headers.get("location")!
    const callback = await fetch(location, { redirect: "manual" })
    return { location, status: callback.status, page: await callback.text() }
  })

describe("Login.loopback with a real NodeHttpServer and the emulator on loopback", () => {
  it.live("the browser follows the URL, the login completes, the page says so, renewals follow", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.approveNext({ username: "carol" })
      const opened = yield* Deferred.make<string>()
      const fiber = yield* Effect.fork(
        Login.loopback({ scope: "openid offline_access", open: (url) => Deferred.succeed(opened, url) }).pipe(
          Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
        )
      )
      const url = yield* Deferred.await(opened)
      expect(url.startsWith(`${emulator.issuer}authorize?`)).toBe(true)
      // a stray request first: the wait goes on
      const redirectUri = new URL(url).searchParams.get("redirect_uri")!
      expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/)
      const favicon = yield* Effect.promise(() => fetch(new URL("/favicon.ico", redirectUri)))
      expect(favicon.status).toBe(404)

      const { location, page, status } = yield* browse(url)
      expect(location.startsWith(`${redirectUri}?`)).toBe(true)
      expect(status).toBe(200)
      expect(page).toContain("You are logged in")
      const code = new URL(location).searchParams.get("code")!
      expect(page).not.toContain(code)
      const credentials = yield* Fiber.join(fiber)
      for (const token of [credentials.accessToken, credentials.refreshToken!, credentials.idToken!]) {
        expect(page).not.toContain(Redacted.value(token))
      }

      const renewer = yield* Renewer.Renewer
      yield* renewer.save(credentials)
      const renewed = yield* renewer.get({ forceRefresh: true })
      expect(Redacted.value(renewed.accessToken)).not.toBe(Redacted.value(credentials.accessToken))
    }).pipe(Effect.provide(Live)))

  it.live("a denial ends the login with AccessDenied and a page that says it failed", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.denyNext()
      const opened = yield* Deferred.make<string>()
      const fiber = yield* Effect.fork(
        Effect.flip(Login.loopback({ open: (url) => Deferred.succeed(opened, url) })).pipe(
          Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
        )
      )
      const { page } = yield* browse(yield* Deferred.await(opened))
      expect(page).toContain("The login failed (AccessDenied)")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "LoginFailed" && error.reason).toBe("AccessDenied")
    }).pipe(Effect.provide(Live)))
})
