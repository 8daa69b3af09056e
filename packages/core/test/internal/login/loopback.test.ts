import { Credentials } from "@effect-renewal/core"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { createServer } from "node:http"
import * as Authorize from "../../../src/internal/login/authorize.js"
import type { Client } from "../../../src/internal/login/client.js"
import type { Verifier } from "../../../src/internal/login/idToken.js"
import * as Loopback from "../../../src/internal/login/loopback.js"

const issuer = "https://issuer.example/"

/** The flows over a client double whose token endpoint hands out credentials for any code. */
const flows = () => {
  const codes: Array<string | undefined> = []
  const client: Client = {
    clientId: "client-1",
    metadata: {
      issuer,
      tokenEndpoint: `${issuer}token`,
      authorizationEndpoint: `${issuer}authorize`,
      authorizationResponseIssParameterSupported: true
    },
    formRequest: () => Effect.die("not used"),
    tokenRequest: (_, fields) =>
      Effect.flatMap(DateTime.now, (now) => {
        codes.push(fields["code"])
        return Effect.succeed(
          new Credentials.Credentials({
            accessToken: Redacted.make("the-access-token"),
            idToken: Redacted.make("the-id-token"),
            refreshToken: Redacted.make("the-refresh-token"),
            tokenType: "Bearer",
            expiresAt: DateTime.add(now, { hours: 1 })
          })
        )
      })
  }
  const verifier: Verifier = { verify: () => Effect.void }
  const service: Loopback.Flows<Authorize.Pending> = {
    authorize: (options) =>
      Effect.map(Authorize.authorize(client, options), ({ pending, url }) => ({ url: url.href, pending })),
    complete: (pending, callbackUrl) =>
      Authorize.complete(client, verifier, pending, callbackUrl, Authorize.defaultPendingLifetime)
  }
  return { service, codes }
}

const ServerLive = (host = "127.0.0.1") => Layer.orDie(NodeHttpServer.layer(createServer, { port: 0, host }))

/** Starts a loopback login; the URL it opened, and its fiber. */
const start = (options: Partial<Loopback.Options> = {}) =>
  Effect.gen(function*() {
    const { codes, service } = flows()
    const opened = yield* Deferred.make<string>()
    const fiber = yield* Effect.fork(
      Loopback.loopback(service, { open: (url) => Deferred.succeed(opened, url), ...options }).pipe(
        Effect.provide(ServerLive())
      )
    )
    const url = new URL(yield* Deferred.await(opened))
    const redirectUri = url.searchParams.get("redirect_uri")!
    const state = url.searchParams.get("state")!
    return { fiber, url, redirectUri, state, codes }
  })

const get = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, { redirect: "manual", ...init })
    return { status: response.status, text: await response.text(), headers: response.headers }
  })

describe("internal/login/loopback", () => {
  it.effect("serves one callback on 127.0.0.1; strays get a 4xx and do not end the wait", () =>
    Effect.gen(function*() {
      const { codes, fiber, redirectUri, state, url } = yield* start({ scope: "openid offline_access" })
      expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/)
      expect(url.searchParams.get("scope")).toBe("openid offline_access")
      const origin = new URL(redirectUri).origin

      expect((yield* get(`${origin}/favicon.ico`)).status).toBe(404)
      expect((yield* get(`${redirectUri}?code=forged&state=guess&iss=${issuer}`)).status).toBe(400)
      expect((yield* get(`${redirectUri}?code=forged&iss=${issuer}`)).status).toBe(400)
      expect((yield* get(`${redirectUri}?code=c&state=${state}`, { method: "POST" })).status).toBe(404)
      expect((yield* get(`${origin}/other?code=c&state=${state}`)).status).toBe(404)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)

      const page = yield* get(`${redirectUri}?code=the-code&state=${state}&iss=${encodeURIComponent(issuer)}`)
      expect(page.status).toBe(200)
      expect(page.headers.get("content-type")).toContain("text/html")
      expect(page.headers.get("cache-control")).toBe("no-store")
      expect(page.text).toContain("You are logged in")
      for (const secret of ["the-code", state, "the-access-token", "the-refresh-token", "the-id-token"]) {
        expect(page.text).not.toContain(secret)
      }
      const credentials = yield* Fiber.join(fiber)
      expect(Redacted.value(credentials.accessToken)).toBe("the-access-token")
      expect(codes).toEqual(["the-code"])
      // the server stopped with the login
      const after = yield* Effect.promise(() => fetch(`${origin}/favicon.ico`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    }))

  it.effect("a second callback while the first is being completed is told the login is taken (409)", () =>
    Effect.gen(function*() {
      const { service } = flows()
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const slow: Loopback.Flows<Authorize.Pending> = {
        ...service,
        complete: (pending, url) =>
          Deferred.succeed(entered, undefined).pipe(
            Effect.zipRight(Deferred.await(gate)),
            Effect.zipRight(service.complete(pending, url))
          )
      }
      const opened = yield* Deferred.make<string>()
      const fiber = yield* Effect.fork(
        Loopback.loopback(slow, { open: (url) => Deferred.succeed(opened, url) }).pipe(Effect.provide(ServerLive()))
      )
      const url = new URL(yield* Deferred.await(opened))
      const callback = `${url.searchParams.get("redirect_uri")}?code=c&state=${url.searchParams.get("state")}&iss=${
        encodeURIComponent(issuer)
      }`
      const first = yield* Effect.fork(get(callback))
      yield* Deferred.await(entered)
      expect((yield* get(callback)).status).toBe(409)
      yield* Deferred.succeed(gate, undefined)
      expect((yield* Fiber.join(first)).status).toBe(200)
      yield* Fiber.join(fiber)
    }))

  it.effect("a failed login says so on the page, with the reason and nothing else", () =>
    Effect.gen(function*() {
      const { fiber, redirectUri, state } = yield* start()
      const page = yield* get(`${redirectUri}?error=access_denied&state=${state}&iss=${encodeURIComponent(issuer)}`)
      expect(page.status).toBe(200)
      expect(page.text).toContain("The login failed (AccessDenied)")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error.reason).toBe("AccessDenied")
    }))

  it.effect("no callback within the timeout is Timeout (on the Clock)", () =>
    Effect.gen(function*() {
      const { fiber, redirectUri } = yield* start({ timeout: "2 minutes" })
      expect((yield* get(`${redirectUri}?code=x&state=y`)).status).toBe(400)
      yield* TestClock.adjust("119 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 second")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error.reason).toBe("Timeout")
    }))

  it.effect("the default timeout is 5 minutes", () =>
    Effect.gen(function*() {
      const { fiber } = yield* start()
      yield* TestClock.adjust("299 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.flip(Fiber.join(fiber))).reason).toBe("Timeout")
    }))

  it.effect("a server on another interface than loopback is refused before anything is opened", () =>
    Effect.gen(function*() {
      const { service } = flows()
      let opened = false
      const error = yield* Effect.flip(
        Loopback.loopback(service, { open: () => Effect.sync(() => (opened = true)) }).pipe(
          Effect.provide(ServerLive("0.0.0.0"))
        )
      )
      expect(error.reason).toBe("Configuration")
      expect(opened).toBe(false)
      const badTimeout = yield* Effect.flip(
        Loopback.loopback(service, { open: () => Effect.void, timeout: -1 }).pipe(Effect.provide(ServerLive()))
      )
      expect(badTimeout.reason).toBe("Configuration")
    }))
})
