/**
 * What the AuthenticationClient sends and what its errors say about it,
 * against `HttpClient` doubles that record every request: the decorated
 * client (base URL, `Accept`, `transformClient`, no redirects), the fields of
 * each request, `presented` on every `AuthApiError`, the body size cap, the
 * secrets kept out of errors in every encoding, and `layerConfig`.
 */
import { AuthenticationClient, AuthError } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const REFRESH_TOKEN = "rt-9f2c41d7e0"
const ID_TOKEN = "idt-3b8e5a0c91"
const CLIENT_SECRET = "cs+Zm9v/YmFy=="

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** The body as text (a form or JSON). */
  readonly body: string
  /** The `fetch` options in context when the request ran. */
  readonly requestInit: RequestInit | undefined
}

type Answer = (seen: Seen) => Response

const tokenAnswer = (fields: Record<string, unknown> = {}): Response =>
  Response.json({
    access_token: "at-new",
    refresh_token: "rt-new",
    token_type: "Bearer",
    expires_in: 3600,
    ...fields
  })

/** An `HttpClient` that records each request and answers with `answer`. */
const recording = (answer: Answer = () => tokenAnswer()) => {
  const seen: Array<Seen> = []
  const client = HttpClient.make((request, url, _signal, fiber) =>
    Effect.sync(() => {
      const context = fiber.getFiberRef(FiberRef.currentContext)
      const entry: Seen = {
        method: request.method,
        url: url.toString(),
        headers: request.headers,
        body: request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : "",
        requestInit: Option.getOrUndefined(Context.getOption(context, FetchHttpClient.RequestInit))
      }
      seen.push(entry)
      return HttpClientResponse.fromWeb(request, answer(entry))
    })
  )
  return { seen, client }
}

const makeClient = (
  client: HttpClient.HttpClient,
  options: Partial<AuthenticationClient.Options> = {}
) =>
  AuthenticationClient.make({ domain: "tenant.example.com", clientId: "client-1", ...options }).pipe(
    Effect.provideService(HttpClient.HttpClient, client)
  )

const form = (seen: Seen) => Object.fromEntries(new URLSearchParams(seen.body))

const calls = (client: AuthenticationClient.AuthenticationClient.Service) => ({
  renewAuth: client.renewAuth(Redacted.make(REFRESH_TOKEN)),
  delegationWithIdToken: client.delegationWithIdToken(Redacted.make(ID_TOKEN)),
  delegationWithRefreshToken: client.delegationWithRefreshToken(Redacted.make(REFRESH_TOKEN)),
  revoke: client.revoke(Redacted.make(REFRESH_TOKEN))
})

const expectedPresented = {
  renewAuth: "refresh_token",
  delegationWithIdToken: "id_token",
  delegationWithRefreshToken: "refresh_token",
  revoke: "refresh_token"
} as const

const apiError = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(AuthError.AuthApiError)
    return error as AuthError.AuthApiError
  })

describe("AuthenticationClient: the decorated HttpClient", () => {
  it.effect("requests carry the endpoint path under the base URL, Accept: application/json", () =>
    Effect.gen(function*() {
      const { client, seen } = recording((s) => s.url.endsWith("/delegation") ? delegationAnswer() : tokenAnswer())
      const c = yield* makeClient(client, { domain: "https://login.example.com/tenant/", tokenPath: "/custom/token" })
      const all = calls(c)
      yield* all.renewAuth
      yield* all.delegationWithIdToken
      yield* all.revoke
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
        "POST https://login.example.com/tenant/custom/token",
        "POST https://login.example.com/tenant/delegation",
        "POST https://login.example.com/tenant/oauth/revoke"
      ])
      for (const s of seen) expect(s.headers["accept"]).toBe("application/json")
    }))

  it.effect("transformClient is applied once, to the decorated client, and its changes reach the server", () =>
    Effect.gen(function*() {
      const { client, seen } = recording((s) => s.url.endsWith("/delegation") ? delegationAnswer() : tokenAnswer())
      let applied = 0
      const urlsSeenByTransform: Array<string> = []
      const c = yield* makeClient(client, {
        transformClient: (inner) => {
          applied++
          return inner.pipe(
            HttpClient.mapRequest((request) => {
              urlsSeenByTransform.push(request.url)
              return HttpClientRequest.setHeader(request, "x-tenant-hint", "blue")
            })
          )
        }
      })
      const all = calls(c)
      yield* all.renewAuth
      yield* all.delegationWithRefreshToken
      yield* all.revoke
      expect(applied).toBe(1)
      expect(seen.map((s) => s.headers["x-tenant-hint"])).toEqual(["blue", "blue", "blue"])
      // it sees full requests: the base URL is already there
      expect(urlsSeenByTransform).toEqual([
        "https://tenant.example.com/oauth/token",
        "https://tenant.example.com/delegation",
        "https://tenant.example.com/oauth/revoke"
      ])
    }))

  it.effect("fetch is told not to follow redirects, keeping the caller's other fetch options", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const c = yield* makeClient(client)
      yield* calls(c).renewAuth
      yield* calls(c).renewAuth.pipe(Effect.provideService(FetchHttpClient.RequestInit, { keepalive: true }))
      expect(seen.map((s) => s.requestInit)).toEqual([
        { redirect: "manual" },
        { keepalive: true, redirect: "manual" }
      ])
    }))

  it.effect("a redirect is an error, never followed", () =>
    Effect.gen(function*() {
      const { client, seen } = recording(() =>
        new Response(null, { status: 307, headers: { location: "https://elsewhere.example/collect" } })
      )
      const c = yield* makeClient(client)
      const error = yield* apiError(calls(c).renewAuth)
      expect(error.status).toBe(307)
      expect(error.code).toBe(AuthError.InvalidResponseCode)
      expect(error.description).toMatch(/redirect, not followed/)
      expect(seen).toHaveLength(1)
    }))
})

const delegationAnswer = () => Response.json({ id_token: "idt-new", token_type: "Bearer", expires_in: 600 })

describe("AuthenticationClient: request fields", () => {
  it.effect("renewAuth sends scope, audience and extra parameters, which never override the client's fields", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const c = yield* makeClient(client, { clientSecret: Redacted.make(CLIENT_SECRET) })
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN), {
        scope: "openid offline_access",
        audience: "https://orders.example",
        parameters: {
          device: "kitchen-tablet",
          grant_type: "password",
          refresh_token: "forged-refresh-token",
          client_id: "intruder",
          client_secret: "forged-secret",
          id_token: "forged-id-token",
          scope: "admin",
          audience: "https://evil.example"
        }
      })
      expect(form(seen[0])).toEqual({
        grant_type: "refresh_token",
        refresh_token: REFRESH_TOKEN,
        client_id: "client-1",
        client_secret: CLIENT_SECRET,
        scope: "openid offline_access",
        audience: "https://orders.example",
        device: "kitchen-tablet"
      })
      expect(seen[0].headers["content-type"]).toBe("application/x-www-form-urlencoded")
    }))

  it.effect("renewAuth: an extra scope or audience is sent when the options do not set one", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const c = yield* makeClient(client)
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN), {
        parameters: { audience: "https://billing.example", scope: "openid" }
      })
      expect(form(seen[0])).toEqual({
        grant_type: "refresh_token",
        refresh_token: REFRESH_TOKEN,
        client_id: "client-1",
        audience: "https://billing.example",
        scope: "openid"
      })
    }))

  it.effect("client_secret_basic: the secret is in the header only, never in the body, even from parameters", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const c = yield* makeClient(client, {
        clientSecret: Redacted.make(CLIENT_SECRET),
        clientAuthentication: "client_secret_basic"
      })
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN), { parameters: { client_secret: "forged-secret" } })
      yield* c.revoke(Redacted.make(REFRESH_TOKEN))
      expect(form(seen[0])).toEqual({
        grant_type: "refresh_token",
        refresh_token: REFRESH_TOKEN,
        client_id: "client-1"
      })
      expect(form(seen[1])).toEqual({ token: REFRESH_TOKEN, client_id: "client-1" })
      const basic = `Basic ${btoa(`client-1:${encodeURIComponent(CLIENT_SECRET)}`)}`
      expect(seen.map((s) => s.headers["authorization"])).toEqual([basic, basic])
    }))

  it.effect("delegation sends its options as JSON; extra parameters never override nor add a grant", () =>
    Effect.gen(function*() {
      const { client, seen } = recording(() => delegationAnswer())
      const c = yield* makeClient(client)
      const parameters = { refresh_token: "forged", id_token: "forged", grant_type: "password", device: "d-1" }
      yield* c.delegationWithIdToken(Redacted.make(ID_TOKEN), {
        scope: "openid",
        apiType: "app",
        target: "target-client",
        parameters: { ...parameters, target: "evil-client" }
      })
      yield* c.delegationWithRefreshToken(Redacted.make(REFRESH_TOKEN), { parameters })
      expect(seen.map((s) => JSON.parse(s.body))).toEqual([
        {
          grant_type: AuthenticationClient.JwtBearerGrantType,
          id_token: ID_TOKEN,
          client_id: "client-1",
          scope: "openid",
          api_type: "app",
          target: "target-client",
          device: "d-1"
        },
        {
          grant_type: AuthenticationClient.JwtBearerGrantType,
          refresh_token: REFRESH_TOKEN,
          client_id: "client-1",
          device: "d-1"
        }
      ])
    }))

  it.effect("the credentials' scope is the response's: none asked for is filled in", () =>
    Effect.gen(function*() {
      const { client } = recording()
      const c = yield* makeClient(client)
      const renewed = yield* c.renewAuth(Redacted.make(REFRESH_TOKEN), { scope: "openid offline_access" })
      expect(renewed.scope).toBeUndefined()
      const { client: scoped } = recording(() => tokenAnswer({ scope: "openid" }))
      const other = yield* makeClient(scoped)
      expect((yield* other.renewAuth(Redacted.make(REFRESH_TOKEN), { scope: "openid email" })).scope).toBe("openid")
    }))
})

describe("AuthenticationClient: presented", () => {
  const answers: ReadonlyArray<readonly [string, () => Response]> = [
    ["a 400 invalid_grant", () => Response.json({ error: "invalid_grant", error_description: "no" }, { status: 400 })],
    ["a 401 in the Auth0 format", () => Response.json({ code: "invalid_token", description: "no" }, { status: 401 })],
    ["a 200 with an error body", () => Response.json({ error: "invalid_grant" })],
    ["a 200 that does not decode", () => Response.json({ token_type: "Bearer" })],
    ["an HTML 503", () => new Response("<html>down</html>", { status: 503, headers: { "content-type": "text/html" } })],
    [
      "an error echoing the token",
      () =>
        Response.json({ error: "invalid_grant", error_description: `${REFRESH_TOKEN} ${ID_TOKEN}` }, { status: 403 })
    ]
  ]

  for (const [name, answer] of answers) {
    it.effect(`every call sets the grant it presented: ${name}`, () =>
      Effect.gen(function*() {
        const { client } = recording(answer)
        const c = yield* makeClient(client)
        const all = calls(c)
        for (const call of Object.keys(all) as Array<keyof typeof all>) {
          // a revocation's 2xx body is not read
          if (name === "a 200 that does not decode" && call === "revoke") continue
          const error = yield* apiError<unknown, AuthError.AuthenticationError>(all[call])
          expect({ call, presented: error.presented }).toEqual({ call, presented: expectedPresented[call] })
        }
      }))
  }

  it.effect("an invalid_grant is a rejected refresh token, or a rejected id_token for delegationWithIdToken", () =>
    Effect.gen(function*() {
      const { client } = recording(() => Response.json({ error: "invalid_grant" }, { status: 403 }))
      const all = calls(yield* makeClient(client))
      expect(AuthError.classify(yield* apiError(all.renewAuth))).toBe("RefreshTokenRejected")
      expect(AuthError.classify(yield* apiError(all.delegationWithRefreshToken))).toBe("RefreshTokenRejected")
      expect(AuthError.classify(yield* apiError(all.delegationWithIdToken))).toBe("IdTokenRejected")
      expect(AuthError.toRenewerError(yield* apiError(all.delegationWithIdToken))).toMatchObject({
        _tag: "LoginRequired",
        reason: "IdTokenRejected"
      })
    }))
})

describe("AuthenticationClient: bodies", () => {
  const big = "x".repeat(1024 * 1024 + 1)

  it.effect("a body over the cap is not read: an invalid_response of that status", () =>
    Effect.gen(function*() {
      const answers = [
        () => new Response(big, { status: 200 }),
        () => new Response(big, { status: 200, headers: { "content-length": String(big.length) } }),
        () => new Response(big, { status: 503, headers: { "retry-after": "5", "content-type": "text/html" } })
      ]
      const errors: Array<AuthError.AuthApiError> = []
      for (const answer of answers) {
        const { client } = recording(answer)
        errors.push(yield* apiError(calls(yield* makeClient(client)).renewAuth))
      }
      expect(errors.map((e) => [e.status, e.code, e.description])).toEqual([
        [200, "invalid_response", "HTTP 200: the body exceeds 1048576 bytes"],
        [200, "invalid_response", "HTTP 200: the body exceeds 1048576 bytes"],
        [503, "invalid_response", "HTTP 503: the body exceeds 1048576 bytes (text/html)"]
      ])
      // still transient, with its Retry-After
      expect(AuthError.isTransient(errors[2])).toBe(true)
      expect(errors[2].retryAfter).toEqual(Duration.seconds(5))
    }))

  it.effect("the cap is an option: maxResponseBytes", () =>
    Effect.gen(function*() {
      const body = JSON.stringify({ access_token: "a", token_type: "Bearer", expires_in: 60, padding: "x".repeat(200) })
      const { client } = recording(() => new Response(body, { status: 200 }))
      const small = yield* apiError(calls(yield* makeClient(client, { maxResponseBytes: 100 })).renewAuth)
      expect(small.description).toBe("HTTP 200: the body exceeds 100 bytes")
      yield* calls(yield* makeClient(client, { maxResponseBytes: 1000 })).renewAuth
      for (const maxResponseBytes of [0, -1, 1.5, Number.NaN, Infinity]) {
        const invalid = yield* Effect.flip(makeClient(client, { maxResponseBytes }))
        expect(invalid._tag).toBe("InvalidConfiguration")
      }
    }))

  it.effect("an empty 204 to revoke is a success", () =>
    Effect.gen(function*() {
      const { client } = recording(() => new Response(null, { status: 204 }))
      yield* calls(yield* makeClient(client)).revoke
    }))
})

describe("AuthenticationClient: secrets a server echoes", () => {
  /** Every form a secret may travel in. */
  const forms = (secret: string) => [
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).toLowerCase(),
    new URLSearchParams({ s: secret }).toString().slice(2),
    btoa(secret),
    btoa(secret).replace(/=+$/, "")
  ]

  const expectNone = (error: AuthError.AuthApiError, secrets: ReadonlyArray<string>) => {
    const texts = [error.message, String(error), JSON.stringify(error)]
    for (const text of texts) {
      for (const secret of secrets) {
        for (const form of forms(secret)) {
          if (text.includes(form)) expect.fail(`"${form.slice(0, 4)}…" appears in ${text.slice(0, 200)}`)
        }
      }
    }
  }

  for (const method of ["client_secret_post", "client_secret_basic"] as const) {
    it.effect(`${method}: the request echoed whole (body and headers) reaches no error`, () =>
      Effect.gen(function*() {
        const token = "rt+with/reserved=chars&more"
        const { client } = recording((s) =>
          Response.json({
            error: "invalid_request",
            error_description: `got ${s.body} with ${
              JSON.stringify(s.headers)
            }, ${s.body.toUpperCase()} ${s.body.toLowerCase()}`
          }, { status: 400 })
        )
        const c = yield* makeClient(client, {
          clientSecret: Redacted.make(CLIENT_SECRET),
          clientAuthentication: method
        })
        const errors = [
          yield* apiError(c.renewAuth(Redacted.make(token))),
          yield* apiError(c.revoke(Redacted.make(token))),
          yield* apiError(c.delegationWithRefreshToken(Redacted.make(token)))
        ]
        const pair = `client-1:${encodeURIComponent(CLIENT_SECRET)}`
        for (const error of errors) {
          expectNone(error, [token, CLIENT_SECRET, pair])
          expect(error.description).toContain("<redacted>")
        }
      }))
  }

  it.effect("a secret at the edge of the kept length does not leak its first characters", () =>
    Effect.gen(function*() {
      for (let padding = 280; padding < 300; padding++) {
        const { client } = recording(() =>
          Response.json({ error: "invalid_grant", error_description: `${"x".repeat(padding)}${REFRESH_TOKEN}` }, {
            status: 400
          })
        )
        const error = yield* apiError(calls(yield* makeClient(client)).renewAuth)
        expect(error.description).not.toContain(REFRESH_TOKEN.slice(0, 300 - padding))
        expect(error.description.length).toBeLessThanOrEqual(301)
      }
    }))
})

describe("AuthenticationClient.layerConfig", () => {
  const withConfig = (entries: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))

  const built = <E>(
    layer: Layer.Layer<AuthenticationClient.AuthenticationClient, E, HttpClient.HttpClient>,
    client: HttpClient.HttpClient,
    entries: Record<string, string>
  ) =>
    Effect.provide(
      AuthenticationClient.AuthenticationClient,
      layer.pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, client)), Layer.provide(withConfig(entries)))
    )

  it.effect("takes a Config.Wrap of the options", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const c = yield* built(
        AuthenticationClient.layerConfig({
          domain: Config.succeed("wrapped.example.com"),
          clientId: Config.string("X"),
          clientSecret: Config.redacted("SECRET"),
          timeout: Config.succeed("5 seconds"),
          transformClient: Config.succeed(HttpClient.mapRequest(HttpClientRequest.setHeader("x-from-config", "yes")))
        }),
        client,
        { X: "client-from-x", SECRET: CLIENT_SECRET }
      )
      expect([c.baseUrl, c.clientId]).toEqual(["https://wrapped.example.com", "client-from-x"])
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(seen[0].headers["x-from-config"]).toBe("yes")
      expect(form(seen[0])).toMatchObject({ client_id: "client-from-x", client_secret: CLIENT_SECRET })
    }))

  it.effect("takes a whole Config of the options", () =>
    Effect.gen(function*() {
      const { client } = recording()
      const c = yield* built(
        AuthenticationClient.layerConfig(Config.map(Config.string("D"), (domain) => ({ domain, clientId: "c-1" }))),
        client,
        { D: "whole.example.com" }
      )
      expect([c.baseUrl, c.clientId]).toEqual(["https://whole.example.com", "c-1"])
    }))

  it.effect("without an argument reads AUTH0_DOMAIN, AUTH0_CLIENT_ID and an optional AUTH0_CLIENT_SECRET", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const entries = { AUTH0_DOMAIN: "env.example.com", AUTH0_CLIENT_ID: "env-client" }
      const c = yield* built(AuthenticationClient.layerConfig(), client, entries)
      expect([c.baseUrl, c.clientId]).toEqual(["https://env.example.com", "env-client"])
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
      const withSecret = yield* built(AuthenticationClient.layerConfig(), client, {
        ...entries,
        AUTH0_CLIENT_SECRET: CLIENT_SECRET
      })
      yield* withSecret.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(seen.map((s) => form(s).client_secret)).toEqual([undefined, CLIENT_SECRET])

      const missing = yield* Effect.flip(built(AuthenticationClient.layerConfig(), client, { AUTH0_DOMAIN: "x.com" }))
      expect(ConfigError.isConfigError(missing)).toBe(true)
      const invalid = yield* Effect.flip(
        built(AuthenticationClient.layerConfig(), client, { ...entries, AUTH0_DOMAIN: "http://plain.example.com" })
      )
      expect(invalid).toBeInstanceOf(AuthError.InvalidConfiguration)
    }))

  it.effect("defaultConfig can be extended", () =>
    Effect.gen(function*() {
      const { client, seen } = recording()
      const c = yield* built(
        AuthenticationClient.layerConfig({ ...AuthenticationClient.defaultConfig, tokenPath: Config.string("PATH") }),
        client,
        { AUTH0_DOMAIN: "env.example.com", AUTH0_CLIENT_ID: "env-client", PATH: "/v2/token" }
      )
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(seen[0].url).toBe("https://env.example.com/v2/token")
    }))
})

describe("AuthenticationClient over fetch", () => {
  it.live("a 307 from the token endpoint is not followed: the token never reaches the Location", () =>
    Effect.gen(function*() {
      const paths: Array<string> = []
      const server = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((request, response) => {
            paths.push(request.url ?? "")
            request.resume()
            if (request.url === "/oauth/token") {
              response.writeHead(307, { location: "/collect" }).end()
            } else {
              response.writeHead(200, { "content-type": "application/json" }).end(
                JSON.stringify({ access_token: "at", token_type: "Bearer", expires_in: 60 })
              )
            }
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      )
      const { port } = server.address() as AddressInfo
      const c = yield* AuthenticationClient.make({ domain: `http://127.0.0.1:${port}`, clientId: "client-1" }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      const error = yield* apiError(c.renewAuth(Redacted.make(REFRESH_TOKEN)))
      expect(error.status).toBe(307)
      expect(paths).toEqual(["/oauth/token"])
    }).pipe(Effect.scoped))
})
