/**
 * What the web tests share: the whole stack over the in-memory emulator (a
 * client found by discovery, Login, Sessions over a memory TokenStore, a
 * memory SessionStore, WebAuth), a resource server that checks the bearer
 * token with the emulator (at https://api.test), a small app with a
 * protected page and APIs, and a "browser": a cookie jar that sends requests
 * to the app in the test's fiber (TestClock applies).
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as CurrentUser from "@effect-renewal/web/CurrentUser"
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as UserClient from "@effect-renewal/web/UserClient"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as Cookies from "@effect/platform/Cookies"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

export const BASE = "http://127.0.0.1:3000"
export const API = "https://api.test"
export const SECRET = Redacted.make("a-test-cookie-secret-of-at-least-32-bytes")

/** The emulator's client, with requests to https://api.test answered by a resource server. */
const withResourceServer = Layer.effect(
  HttpClient.HttpClient,
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const toEmulator = Emulator.toHttpClient(emulator)
    return HttpClient.make((request, url) => {
      if (url.origin !== API) return toEmulator.execute(request)
      return Effect.map(
        emulator.verifyResourceRequest({
          method: request.method,
          url: url.href,
          authorization: request.headers["authorization"],
          dpop: request.headers["dpop"]
        }),
        (access) =>
          HttpClientResponse.fromWeb(
            request,
            access._tag === "Refused"
              ? new Response(JSON.stringify({ error: access.error }), {
                status: access.status,
                headers: { "www-authenticate": access.wwwAuthenticate }
              })
              : new Response(JSON.stringify({ sub: access.claims.sub, items: ["a", "b"] }), {
                status: 200,
                headers: { "content-type": "application/json" }
              })
          )
      )
    })
  })
)

const discovered = Layer.unwrapEffect(
  Effect.map(
    Emulator.Emulator,
    (emulator) => AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId })
  )
)

/** A client whose metadata names an end_session_endpoint (the emulator publishes none). */
export const END_SESSION = "https://emulator.effect-renewal.test/oidc/logout"
const withEndSession = Layer.effect(
  AuthenticationClient.AuthenticationClient,
  Effect.map(
    AuthenticationClient.AuthenticationClient,
    (client) => ({ ...client, metadata: { ...client.metadata, endSessionEndpoint: END_SESSION } })
  )
).pipe(Layer.provide(discovered))

export interface StackOptions {
  readonly web?: Partial<WebAuth.Options> | undefined
  readonly emulator?: Emulator.Emulator.Options | undefined
  readonly endSession?: boolean | undefined
}

export const stack = (options: StackOptions = {}) =>
  WebAuth.layer({ baseUrl: BASE, secrets: [SECRET], ...options.web }).pipe(
    Layer.provideMerge(Layer.mergeAll(SessionStore.layerMemory, Login.layer(), Sessions.layer())),
    Layer.provideMerge(RenewalStrategy.refreshToken),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(options.endSession === true ? withEndSession : discovered),
    Layer.provideMerge(withResourceServer),
    Layer.provideMerge(Emulator.layerMemory(options.emulator)),
    Layer.orDie
  )

/** The app: a protected page, a protected API, an API that calls the resource server, the login routes. */
export const app = Effect.gen(function*() {
  const auth = yield* WebAuth.WebAuth
  const router = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/page",
      CurrentUser.requirePage(
        Effect.map(CurrentUser.CurrentUser, (user) => HttpServerResponse.text(`hello ${user.subject}`))
      )
    ),
    HttpRouter.get(
      "/public",
      Effect.map(
        CurrentUser.optional,
        Option.match({
          onNone: () => HttpServerResponse.text("anonymous"),
          onSome: (user) => HttpServerResponse.text(`hello ${user.subject}`)
        })
      )
    ),
    HttpRouter.get(
      "/api/me",
      CurrentUser.requireApi(
        Effect.flatMap(
          CurrentUser.CurrentUser,
          (user) => HttpServerResponse.json({ subject: user.subject, email: user.claims.email ?? null })
        )
      )
    ),
    HttpRouter.get(
      "/api/data",
      CurrentUser.requireApi(Effect.gen(function*() {
        const client = yield* UserClient.make()
        const response = yield* client.execute(HttpClientRequest.get(`${API}/data`))
        return yield* HttpServerResponse.json(yield* response.json, { status: response.status })
      }))
    ),
    HttpRouter.concat(auth.router)
  )
  return yield* HttpRouter.toHttpApp(router)
})

/** What the app needs from the test's context. */
export type Env = WebAuth.WebAuth | Sessions.Sessions | HttpClient.HttpClient

export interface Reply {
  readonly status: number
  readonly location: string | undefined
  readonly text: string
  readonly headers: Headers
  readonly setCookies: ReadonlyArray<string>
}

/**
 * A browser: a cookie jar, requests sent to the app in the test's fiber
 * (through `HttpApp.toHandled`, as a server does: errors become responses,
 * pre-response handlers run).
 */
export const browser = () => {
  const jar = new Map<string, string>()
  const send = (
    method: string,
    path: string,
    options: {
      readonly headers?: Record<string, string>
      readonly body?: string

      readonly app?: Effect.Effect<HttpApp.Default<any, any>, any, any>
    } = {}
  ): Effect.Effect<Reply, never, Env> =>
    Effect.gen(function*() {
      const handler: HttpApp.Default<any, any> = options.app === undefined ? yield* app : yield* options.app
      // a browser's navigation unless the test says otherwise
      const headers = new Headers({ accept: "text/html,*/*;q=0.8", ...options.headers })
      if (jar.size > 0) headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "))
      const web = new Request(new URL(path, BASE), {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: options.body })
      })
      let response = HttpServerResponse.empty({ status: 599 })
      yield* HttpApp.toHandled(handler, (_, res) =>
        Effect.sync(() => {
          response = res
        })).pipe(
          Effect.provideService(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(web)),
          Effect.scoped
        )
      const reply = HttpServerResponse.toWeb(response)
      const setCookies = reply.headers.getSetCookie()
      for (const cookie of Object.values(Cookies.fromSetCookie(setCookies).cookies)) {
        const maxAge = cookie.options?.maxAge
        const expired = (maxAge !== undefined && Duration.toMillis(Duration.decode(maxAge)) <= 0) ||
          (cookie.options?.expires !== undefined && cookie.options.expires.getTime() <= Date.now())
        if (expired) jar.delete(cookie.name)
        else jar.set(cookie.name, cookie.valueEncoded)
      }
      const text = yield* Effect.promise(() => reply.text())
      return {
        status: reply.status,
        location: reply.headers.get("location") ?? undefined,
        text,
        headers: reply.headers,
        setCookies
      } satisfies Reply
    }) as unknown as Effect.Effect<Reply, never, Env>
  return {
    jar,
    send,
    get: (path: string, headers?: Record<string, string>) => send("GET", path, headers ? { headers } : {}),
    post: (path: string, headers?: Record<string, string>) => send("POST", path, headers ? { headers } : {}),
    /** The whole login: /login, the provider's approval of `username`, the callback. */
    login: (username: string, returnTo = "/page") =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const started = yield* send("GET", `/login?returnTo=${encodeURIComponent(returnTo)}`)
        yield* emulator.approveNext({ username, email: `${username}@example.test` })
        const callback = yield* providerRedirect(started.location!)
        const done = yield* send("GET", callback.pathname + callback.search)
        return { started, callback, done }
      })
  }
}

/** What the provider's /authorize redirects to. */
export const providerRedirect = (authorizeUrl: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.get(authorizeUrl))
    return new URL(response.headers["location"]!)
  }).pipe(Effect.orDie)

export const tokenRequests = (grantType: string) =>
  Effect.map(
    Effect.flatMap(Emulator.Emulator, (emulator) => emulator.requests),
    (entries) => entries.filter((entry) => entry.endpoint === "token" && entry.grantType === grantType).length
  )
