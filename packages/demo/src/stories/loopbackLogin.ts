/**
 * 2. A loopback login (RFC 8252), as a desktop app or a CLI with a browser
 * does it: `Login.loopback` serves one callback on 127.0.0.1 through the
 * platform's `HttpServer`, `open` sends the browser to the authorization
 * URL, the provider redirects it back with a code, the login exchanges it
 * (PKCE) and the browser gets a page that says it worked.
 */
import * as Login from "@effect-renewal/core/Login"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { createServer } from "node:http"
import { Narrator, say } from "../Narrator.js"
import { counters, describeTokens, provideLogin, type Story } from "../Stage.js"
import { TokenLedger } from "../TokenLedger.js"
import { afterLogin, type Person } from "./afterLogin.js"

const key = "heidi-loopback"
const person: Person = { name: "Heidi", username: "heidi", email: "heidi@example.org" }

class BrowserError extends Data.TaggedError("BrowserError")<{ readonly message: string }> {}

/** Where the browser landed, after every redirect: the URL, the status, the page. */
interface Landing {
  readonly url: URL
  readonly status: number
  readonly page: string
}

/**
 * A browser, as far as a login needs one: `fetch` loads the URL and follows
 * the redirects (from the authorization endpoint to the loopback callback).
 */
const browse = (url: string): Effect.Effect<Landing, BrowserError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { signal })
      return { url: new URL(response.url), status: response.status, page: await response.text() }
    },
    // the error's name only: a message could quote the URL, and its query holds the code
    catch: (error) => new BrowserError({ message: `the browser could not load the page (${(error as Error).name})` })
  })

/** The text of an HTML page, tags dropped. */
const text = (html: string): string =>
  html.replace(/<title>.*?<\/title>/s, "").replace(/<\/h1>/g, ":").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ")
    .replace(/ :/g, ":").trim()

/** `http://host:port/path?…`: where a URL goes, without its query (a state, a code). */
const withoutQuery = (url: URL): string => `${url.origin}${url.pathname}${url.search === "" ? "" : "?…"}`

export const loopbackLogin: Story = {
  title: "Loopback login, as a desktop app does it",
  name: "loopback login",
  expected: "id_token verified, renewed with rotation",
  run: (check) =>
    provideLogin(Effect.scoped(Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const ledger = yield* TokenLedger
      // Who approves at the authorization endpoint (the emulator approves as "demo-user" unless told).
      yield* emulator.approveNext(person)

      // `open` starts the browser and returns: the login then waits for the redirect.
      const landed = yield* Deferred.make<Landing, BrowserError>()
      const scope = yield* Effect.scope
      const narrator = yield* Narrator
      const open = (url: string) =>
        Effect.zipRight(
          narrator.say(
            `   Login.loopback serves the callback on 127.0.0.1 and calls open(url); the "browser" (fetch) goes to`,
            `     ${withoutQuery(new URL(url))} (its query holds the state, nonce and PKCE challenge: not printed).`
          ),
          browse(url).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Deferred.done(landed, exit)),
            Effect.forkIn(scope),
            Effect.asVoid
          )
        )

      const before = yield* counters
      const credentials = yield* Login.loopback({
        scope: "openid profile email offline_access",
        open,
        timeout: "30 seconds"
      }).pipe(
        // the server lives as long as the login
        Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
      )
      const after = yield* counters
      const landing = yield* Deferred.await(landed).pipe(Effect.timeout("10 seconds"))
      // The redirect's code and state are secrets too: the self-check looks for them in the output.
      const code = landing.url.searchParams.get("code") ?? undefined
      yield* ledger.add(code, landing.url.searchParams.get("state") ?? undefined)
      yield* say(
        `   The emulator approved (as ${person.username}) and redirected the browser to ${withoutQuery(landing.url)};`,
        `   the login exchanged the code with its verifier: ${describeTokens(credentials)}.`,
        `   The browser's page (HTTP ${landing.status}): "${text(landing.page)}"`
      )
      const exchanges = after.codeExchanges - before.codeExchanges
      yield* check(
        landing.url.pathname === "/callback" && code !== undefined && exchanges === 1,
        `the browser came back to the loopback callback with a code, exchanged once (counted ${exchanges})`
      )
      yield* check(
        landing.status === 200 && text(landing.page).includes("You are logged in") &&
          (code === undefined || !landing.page.includes(code)),
        "the page says the login worked, and holds no code or token"
      )
      // The server stopped listening when the login ended: nobody answers at the callback now.
      const again = yield* Effect.either(browse(`${landing.url.origin}/callback`))
      yield* check(Either.isLeft(again), `the loopback server stopped with the login (${landing.url.origin} refuses)`)
      return yield* afterLogin(check, { key, person, credentials, before, after })
    })))
}
