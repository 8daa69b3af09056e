/**
 * Two instances of the demo app behind one cookie (as behind a load
 * balancer: cookies of 127.0.0.1 go to every port), sharing one SQLite
 * database: the credentials in the SQL TokenStore (tables `web_tokens_*`),
 * the sessions in `SqlSessionStore.layer` (table `web_sessions`). Concurrent
 * requests of one user at expiry, on both instances: one renewal. A logout
 * on one instance ends the session on the other.
 */
import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as SqlSessionStore from "@effect-renewal/web/SqlSessionStore"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Api from "../../demo/src/web/api.js"
import * as Server from "../../demo/src/web/server.js"

/** A cookie jar for one host, across ports, as a browser keeps it; fetch without following redirects. */
const client = () => {
  const jar = new Map<string, string>()
  const request = (url: string, init: RequestInit = {}) =>
    Effect.promise(async () => {
      const headers = new Headers(init.headers)
      if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "))
      const response = await fetch(url, { ...init, headers, redirect: "manual" })
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(";")
        const [name, value] = [pair!.slice(0, pair!.indexOf("=")), pair!.slice(pair!.indexOf("=") + 1)]
        if (/Max-Age=0/i.test(cookie) || value === "") jar.delete(name)
        else jar.set(name, value)
      }
      return { status: response.status, location: response.headers.get("location"), text: await response.text() }
    })
  return { jar, request }
}

const renewals = (emulator: Emulator.Emulator.Service) =>
  Effect.map(
    emulator.requests,
    (entries) => entries.filter((entry) => entry.endpoint === "token" && entry.grantType === "refresh_token").length
  )

describe("many instances sharing a SQL store", () => {
  it.live(
    "one renewal for concurrent requests on two instances; a logout on one ends the session on both",
    () =>
      Effect.gen(function*() {
        const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-renewal-web-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })))
        const filename = Path.join(directory, "app.db")
        const emulatorContext = yield* Layer.build(
          Emulator.layerServer({ loginPage: true, accessTokenLifetime: "3 seconds" })
        )
        const emulator = Context.get(emulatorContext, Emulator.Emulator)
        const emulatorUrl = Context.get(emulatorContext, Emulator.EmulatorServer).url
        const apiUrl = yield* Api.serve(emulator)
        const secret = Redacted.make("a-secret-shared-by-every-instance-of-the-app")
        // each instance opens the database itself, as another process would
        const instance = () =>
          Server.app({
            emulator,
            apiUrl,
            secret,
            minTtl: "1 second",
            tokenStore: SqlTokenStore.layerSqlite({ filename, tablePrefix: "web_tokens" }).pipe(Layer.orDie),
            sessionStore: SqlSessionStore.layer({ table: "web_sessions" }).pipe(
              Layer.provide(SqliteClient.layer({ filename })),
              Layer.orDie
            )
          })
        const a = yield* instance()
        const b = yield* instance()

        // log in on instance A, through the emulator's pages
        const browser = client()
        const started = yield* browser.request(`${a}/login?returnTo=%2F`)
        const loginPage = yield* browser.request(started.location!)
        const query = /name="query" value="([^"]*)"/.exec(loginPage.text)![1]!.replace(/&amp;/g, "&")
        const decided = yield* browser.request(`${emulatorUrl}/authorize/consent`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ query, username: "carol", decision: "allow" }).toString()
        })
        const callback = yield* browser.request(decided.location!)
        expect(callback.status).toBe(302)
        expect(browser.jar.has("session")).toBe(true)

        // the session is known to both instances
        expect((yield* browser.request(`${a}/`)).text).toContain("Hello, carol")
        expect((yield* browser.request(`${b}/`)).text).toContain("Hello, carol")

        // past the expiry, six requests at once on the two instances: one renewal
        const before = yield* renewals(emulator)
        yield* Effect.sleep("3200 millis")
        const pages = yield* Effect.all(
          [a, b, a, b, a, b].map((origin) => browser.request(`${origin}/account`)),
          { concurrency: "unbounded" }
        )
        for (const page of pages) expect(page.text).toContain("A-1001")
        expect((yield* renewals(emulator)) - before).toBe(1)

        // a logout on B ends the session on A too, even for a copy of the cookie
        const cookie = browser.jar.get("session")!
        const logout = yield* browser.request(`${b}/logout`, { method: "POST", headers: { origin: b } })
        expect(logout.status).toBe(303)
        expect((yield* emulator.counters).revokedFamilies).toBe(1)
        expect(browser.jar.has("session")).toBe(false)
        browser.jar.set("session", cookie)
        expect((yield* browser.request(`${a}/`)).text).toContain("Welcome")
        // node's fetch sends Sec-Fetch-Mode: cors: not a navigation, a 401 (a navigation would be a 302)
        expect((yield* browser.request(`${a}/account`)).status).toBe(401)
      }).pipe(Effect.scoped),
    60_000
  )
})
