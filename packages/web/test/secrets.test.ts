import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Cookies from "../src/internal/cookies.js"
import { BASE, browser, providerRedirect, stack } from "./support/stack.js"

const Fault = Emulator.Fault

describe("no secret in logs or pages", () => {
  it.effect("a login, a refused callback, a renewal's failures and a logout log no token, code, state or cookie", () => {
    const lines: Array<string> = []
    const collect = Logger.make(({ annotations, message, spans }) => {
      lines.push(
        JSON.stringify({ message, annotations: [...HashMap.toEntries(annotations)], spans: List.toArray(spans) })
      )
    })
    return Effect.gen(function*() {
      const b = browser()
      const started = yield* b.get("/login")
      const state = new URL(started.location!).searchParams.get("state")!
      yield* (yield* Emulator.Emulator).approveNext({ username: "alice" })
      const callback = yield* providerRedirect(started.location!)
      const code = callback.searchParams.get("code")!
      const pages = [yield* b.get(callback.pathname + callback.search)]
      const cookie = b.jar.get("session")!
      const sessionKey = yield* Cookies.sessionKeyOf(cookie.split(".")[0]!)
      const store = yield* TokenStore.TokenStore
      const stored = Option.getOrThrow(yield* store.get(TokenStore.entryKey(sessionKey)))
      pages.push(yield* b.get(callback.pathname + callback.search)) // replay
      yield* TestClock.adjust("2 hours")
      yield* (yield* Emulator.Emulator).faultOn("token", Fault.status(400, { error: "invalid_grant" }))
      pages.push(yield* b.get("/api/data"))
      const again = browser()
      yield* again.login("bob")
      pages.push(yield* again.post("/logout", { origin: BASE }))
      const secrets = [
        state,
        code,
        cookie,
        cookie.split(".")[0]!,
        Redacted.value(stored.accessToken),
        Redacted.value(stored.refreshToken!),
        Redacted.value(stored.idToken!)
      ]
      // the pages and their headers, but the Set-Cookie that gives the browser its own cookie
      const seen = [
        ...lines,
        ...pages.map((p) => p.text + JSON.stringify([...p.headers].filter(([name]) => name !== "set-cookie")))
      ].join("\n")
      expect(lines.length).toBeGreaterThan(0)
      for (const secret of secrets) expect(seen).not.toContain(secret)
    }).pipe(
      Effect.provide(stack()),
      Effect.provide(Logger.replace(Logger.defaultLogger, collect)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  })
})
