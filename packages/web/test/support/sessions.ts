/**
 * Steps the session tests repeat: a browser logged in (and the value of its
 * session cookie), a copy of an old cookie put back, the session key of a
 * jar, a stretch of regular use on the TestClock, a request made while the
 * provider's token endpoint is down, and the stack over store layers a test
 * wraps (slow, failing).
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { BASE, browser, SECRET } from "./stack.js"

export type Browser = ReturnType<typeof browser>

/** The session key (as WebAuth stores it: `web:<SHA-256 of the cookie's id>`) of the jar's session cookie. */
export const sessionKeyOfJar = (jar: Map<string, string>) =>
  Effect.promise(async () => {
    const id = jar.get("session")!.split(".")[0]!
    const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id))
    return `web:${Encoding.encodeBase64Url(new Uint8Array(hash))}`
  })

/**
 * A new browser logged in as `username`, the value of its session cookie
 * right after the login, and the key its session is stored under.
 */
export const loggedIn = (username: string) =>
  Effect.gen(function*() {
    const b = browser()
    yield* b.login(username)
    return { b, cookie: b.jar.get("session")!, key: yield* sessionKeyOfJar(b.jar) }
  })

/** A browser logged in as `username` then logged out (POST /logout from this site): the reply and its Location. */
export const loggedInThenOut = (username: string) =>
  Effect.gen(function*() {
    const { b } = yield* loggedIn(username)
    const reply = yield* b.post("/logout", { origin: BASE })
    return { reply, url: new URL(reply.location!) }
  })

/** The status of /page once `cookie` (a copy kept from before) is put back in the browser's jar. */
export const pageStatusWithCookie = (b: Browser, cookie: string) =>
  Effect.gen(function*() {
    b.jar.set("session", cookie)
    return (yield* b.get("/page")).status
  })

/** The statuses of /page asked for `times` times, the TestClock moved by `every` before each request. */
export const pageStatusesEvery = (b: Browser, every: Duration.DurationInput, times: number) =>
  Effect.gen(function*() {
    const statuses: Array<number> = []
    for (let i = 0; i < times; i++) {
      yield* TestClock.adjust(every)
      statuses.push((yield* b.get("/page")).status)
    }
    return statuses
  })

/** How many refresh-token families the emulator has revoked so far. */
export const revokedFamilies = Effect.flatMap(
  Emulator.Emulator,
  (emulator) => Effect.map(emulator.counters, (counters) => counters.revokedFamilies)
)

/** Whether the TokenStore still holds the credentials of the session `key`. */
export const hasCredentials = (key: string) =>
  Effect.flatMap(TokenStore.TokenStore, (tokens) => Effect.map(tokens.get(TokenStore.entryKey(key)), Option.isSome))

/**
 * `request` made while the provider's token endpoint answers 503 (20 times),
 * the TestClock moved 10 × 10 seconds meanwhile: the request's answer.
 */
export const duringTokenOutage = <A, E, R>(request: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    yield* emulator.faultOn("token", ...Array.from({ length: 20 }, () => Emulator.Fault.status(503)))
    const fiber = yield* Effect.fork(request)
    for (let i = 0; i < 10; i++) yield* TestClock.adjust("10 seconds")
    return yield* Fiber.join(fiber)
  })

/**
 * The stack over the emulator (no resource server) with the SessionStore and
 * TokenStore layers a test gives (a slow one, a failing one).
 */
export const stackOverStores = (options: {
  readonly sessionStore?: Layer.Layer<SessionStore.SessionStore> | undefined
  readonly tokenStore?: Layer.Layer<TokenStore.TokenStore> | undefined
  readonly web?: Partial<WebAuth.Options> | undefined
}) =>
  WebAuth.layer({ baseUrl: BASE, secrets: [SECRET], ...options.web }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(options.sessionStore ?? SessionStore.layerMemory, Login.layer(), Sessions.layer())
    ),
    Layer.provideMerge(RenewalStrategy.refreshToken),
    Layer.provideMerge(options.tokenStore ?? TokenStore.layerMemory),
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
