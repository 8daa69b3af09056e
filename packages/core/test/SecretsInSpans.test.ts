/**
 * No secret a request carries is reachable from an error, a span (its
 * attributes, events and exit), or a log line: every call failing in every
 * way, against a raw loopback server (over `fetch`) and an `HttpClient`
 * double, under a tracer and a logger that record everything. "Reachable"
 * is checked twice: the renderings (`JSON.stringify`, `inspect`, `String`,
 * `Cause.pretty`) and a walk of the object graph that decodes every byte
 * array it meets (a request keeps its body as bytes).
 */
import {
  AuthenticationClient,
  AuthError,
  AuthorizedClient,
  Credentials,
  Dpop,
  RenewalStrategy,
  Renewer,
  TokenStore
} from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import type * as Http from "node:http"
import { inspect } from "node:util"
import { type Behaviour, rawServer, type Received } from "./support/rawServer.js"
import { recordingTracer } from "./support/recordingTracer.js"
import { forms } from "./support/secrets.js"

const REFRESH_TOKEN = "rt-Zk8Q2mN7vX4pL9wRt5Yh"
const ID_TOKEN = "idt-Hq3Vb6Nc1Mx8Lz2Kp7Jw"
const CLIENT_SECRET = "cs+Wm4/Tg9=Rf2&Qe7?Yd"
const ISSUED_REFRESH_TOKEN = "rt-issued-Bn5Cv8Xz1Lk4Jh"
const CLIENT_ID = "client-1"

const basicPair = `${CLIENT_ID}:${encodeURIComponent(CLIENT_SECRET)}`
const allSecrets = [REFRESH_TOKEN, ID_TOKEN, CLIENT_SECRET, ISSUED_REFRESH_TOKEN, basicPair]

// -----------------------------------------------------------------------------
// What is reachable from a value
// -----------------------------------------------------------------------------

/** Every string reachable from `root` through own properties, maps, sets and arrays; byte arrays decoded. */
const reachableStrings = (root: unknown): ReadonlyArray<string> => {
  const found: Array<string> = []
  const seen = new Set<object>()
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === "string") {
      found.push(value)
      return
    }
    if (typeof value !== "object" || value === null || depth > 40 || seen.has(value)) return
    seen.add(value)
    if (ArrayBuffer.isView(value)) {
      found.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"))
      return
    }
    if (value instanceof ArrayBuffer) {
      found.push(Buffer.from(value).toString("utf8"))
      return
    }
    if (value instanceof Map) {
      for (const [k, v] of value) {
        visit(k, depth + 1)
        visit(v, depth + 1)
      }
    }
    if (value instanceof Set) { for (const v of value) visit(v, depth + 1) }
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)
      if (descriptor !== undefined && "value" in descriptor) visit(descriptor.value, depth + 1)
    }
  }
  visit(root, 0)
  return found
}

const renderings = (value: unknown): ReadonlyArray<string> => {
  const texts: Array<string> = [inspect(value, { depth: 20, showHidden: true }), String(value)]
  try {
    texts.push(JSON.stringify(value) ?? "")
  } catch {
    // a cycle: inspect covers it
  }
  if (Cause.isCause(value)) texts.push(Cause.pretty(value))
  if (value instanceof Error) texts.push(value.message, value.stack ?? "")
  return texts
}

/** The texts `value` can show, by any rendering or by walking it. */
const everything = (value: unknown): ReadonlyArray<string> => [...renderings(value), ...reachableStrings(value)]

/** Fails with the place of the first form of a secret found in `texts`; `slice` also looks for its slices. */
const expectNoSecret = (where: string, texts: ReadonlyArray<string>, secrets: ReadonlyArray<string> = allSecrets) => {
  for (const text of texts) {
    for (const secret of secrets) {
      for (const form of forms(secret)) {
        if (text.includes(form)) expect.fail(`${where}: "${form.slice(0, 5)}…" in ${text.slice(0, 300)}`)
      }
    }
  }
}

// -----------------------------------------------------------------------------
// A tracer and a logger that keep everything
// -----------------------------------------------------------------------------

const recorder = () => {
  const { spans, tracer } = recordingTracer()
  const lines: Array<string> = []
  const logged: Array<unknown> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options), Logger.jsonLogger.log(options))
    logged.push(options.message, options.cause, options.annotations)
  })
  const observe = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
  const expectClean = () => {
    for (const span of spans) {
      const where = `span "${span.name}"`
      expectNoSecret(`${where} attributes`, everything([...span.attributes]))
      expectNoSecret(`${where} events`, everything(span.events))
      if (span.exit !== undefined) {
        expectNoSecret(`${where} exit`, everything(span.exit))
        if (Exit.isFailure(span.exit)) expectNoSecret(`${where} cause`, everything(span.exit.cause))
      }
    }
    expectNoSecret("log lines", lines)
    expectNoSecret("logged values", everything(logged))
  }
  return { spans, lines, observe, expectClean }
}

// -----------------------------------------------------------------------------
// Servers
// -----------------------------------------------------------------------------

const json = (response: Http.ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
}

/** Everything the request said, raw, form-decoded, upper-cased and base64-encoded. */
const echoOf = (received: Received) => {
  const whole = `${received.body} ${JSON.stringify(received.headers)}`
  return `${whole} ${decodeURIComponent(received.body.replace(/\+/g, " "))} ${Buffer.from(whole).toString("base64")}`
}

const behaviours: ReadonlyArray<readonly [string, Behaviour]> = [
  ["a connection reset", (_, response) => response.socket?.destroy()],
  [
    "an HTML 500",
    (_, response) => response.writeHead(500, { "content-type": "text/html" }).end("<html>oops</html>")
  ],
  [
    "a 400 invalid_grant echoing the request",
    (received, response) =>
      json(response, 400, { error: "invalid_grant", error_description: `rejected: ${echoOf(received)}` })
  ],
  [
    "a 200 that does not decode, with a refresh token and an echo",
    (received, response) =>
      json(response, 200, {
        access_token: "",
        refresh_token: ISSUED_REFRESH_TOKEN,
        token_type: "Bearer",
        expires_in: 60,
        id_token: ID_TOKEN,
        note: echoOf(received)
      })
  ],
  [
    "a 200 with an error body echoing the request",
    (received, response) => json(response, 200, { error: "server_error", error_description: echoOf(received) })
  ],
  [
    "a 200 that decodes",
    (received, response) =>
      received.url.startsWith("/delegation")
        ? json(response, 200, { id_token: "idt-fresh", token_type: "Bearer", expires_in: 60 })
        : json(response, 200, { access_token: "at-fresh", token_type: "Bearer", expires_in: 60 })
  ]
]

type Client = AuthenticationClient.AuthenticationClient.Service

const calls = (
  client: Client
): ReadonlyArray<readonly [string, Effect.Effect<unknown, AuthError.AuthenticationError>]> => [
  ["renewAuth", client.renewAuth(Redacted.make(REFRESH_TOKEN), { scope: "openid" })],
  ["delegationWithIdToken", client.delegationWithIdToken(Redacted.make(ID_TOKEN))],
  ["delegationWithRefreshToken", client.delegationWithRefreshToken(Redacted.make(REFRESH_TOKEN))],
  ["revoke", client.revoke(Redacted.make(REFRESH_TOKEN))]
]

/** A transformClient of the kind an application writes: it logs the client's failures. */
const loggingTransport = (client: HttpClient.HttpClient) =>
  client.pipe(HttpClient.tapError((error) => Effect.logError("token endpoint unreachable", error)))

const expectErrorClean = (where: string, error: unknown) => {
  expectNoSecret(where, everything(error))
}

describe("no secret reaches a span, a log or an error", () => {
  for (const method of ["client_secret_post", "client_secret_basic"] as const) {
    for (const [name, behaviour] of behaviours) {
      it.live(`over fetch, ${method}: ${name}`, () => {
        const { expectClean, observe, spans } = recorder()
        return Effect.gen(function*() {
          const url = yield* rawServer(() => behaviour)
          const client = yield* AuthenticationClient.make({
            domain: url,
            clientId: CLIENT_ID,
            clientSecret: Redacted.make(CLIENT_SECRET),
            clientAuthentication: method,
            transformClient: loggingTransport
          }).pipe(Effect.provide(FetchHttpClient.layer))
          for (const [call, effect] of calls(client)) {
            const exit = yield* observe(
              effect.pipe(
                Effect.tapErrorCause((cause) => Effect.logWarning("renewal failed", cause)),
                Effect.withSpan(`caller.${call}`)
              )
            ).pipe(Effect.exit)
            if (Exit.isFailure(exit)) expectErrorClean(`${call} error`, exit.cause)
          }
          // the exchanges were traced, each in an http.client span
          expect(spans.filter((span) => span.name === "http.client POST")).toHaveLength(4)
          expectClean()
        }).pipe(Effect.scoped)
      })
    }
  }

  it.effect("with an HttpClient whose transport fails: the request it keeps never reaches a span or a log", () => {
    const { expectClean, lines, observe, spans } = recorder()
    return Effect.gen(function*() {
      const failing = HttpClient.make((request) =>
        Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
          })
        )
      )
      const client = yield* AuthenticationClient.make({
        domain: "tenant.example.com",
        clientId: CLIENT_ID,
        clientSecret: Redacted.make(CLIENT_SECRET),
        transformClient: loggingTransport
      }).pipe(Effect.provideService(HttpClient.HttpClient, failing))
      const errors: Array<AuthError.AuthenticationError> = []
      for (const [call, effect] of calls(client)) {
        const error = yield* observe(Effect.flip(effect))
        expectErrorClean(`${call} error`, error)
        errors.push(error)
      }
      expect(lines.length).toBeGreaterThanOrEqual(4)
      expectClean()
      const httpSpans = spans.filter((span) => span.name === "http.client POST")
      expect(httpSpans).toHaveLength(4)
      for (const span of httpSpans) {
        expect(span.kind).toBe("client")
        expect(span.exit !== undefined && Exit.isFailure(span.exit)).toBe(true)
      }
      // what the transport said, by its code only
      for (const error of errors) {
        expect(error.description).toMatch(
          /^Transport failure on POST https:\/\/tenant\.example\.com\/.* \(ECONNRESET\)$/
        )
      }
    })
  })

  it.effect("the http.client span says what the platform's said, harmless headers only, and propagates the trace", () => {
    const { observe, spans } = recorder()
    return Effect.gen(function*() {
      const seen: Array<Record<string, string>> = []
      const answering = HttpClient.make((request) =>
        Effect.sync(() => {
          seen.push(request.headers)
          return HttpClientResponse.fromWeb(
            request,
            Response.json({ access_token: "at", token_type: "Bearer", expires_in: 60 }, {
              headers: { "set-cookie": "session=abc" }
            })
          )
        })
      )
      const client = yield* AuthenticationClient.make({
        domain: "tenant.example.com",
        clientId: CLIENT_ID,
        clientSecret: Redacted.make(CLIENT_SECRET),
        clientAuthentication: "client_secret_basic"
      }).pipe(Effect.provideService(HttpClient.HttpClient, answering))
      yield* observe(client.renewAuth(Redacted.make(REFRESH_TOKEN)))
      const [span] = spans.filter((s) => s.name === "http.client POST")
      expect(Object.fromEntries(span.attributes)).toMatchObject({
        "http.request.method": "POST",
        "server.address": "https://tenant.example.com",
        "url.full": "https://tenant.example.com/oauth/token",
        "url.path": "/oauth/token",
        "url.scheme": "https",
        "http.request.header.accept": "application/json",
        "http.response.status_code": 200,
        "http.response.header.content-type": "application/json"
      })
      // only harmless headers: neither the authorization nor the cookie, not even redacted
      expect(span.attributes.has("http.request.header.authorization")).toBe(false)
      expect(span.attributes.has("http.response.header.set-cookie")).toBe(false)
      expect(span.exit).toEqual(Exit.void)
      expect(seen[0].traceparent).toMatch(/^00-trace-1-span-\d+-01$/)
      // no other span of the exchange
      expect(spans.map((s) => s.name)).toEqual(["http.client POST"])
    })
  })

  it.effect("a caller who disables tracing for a request gets no span from the client either", () => {
    const { observe, spans } = recorder()
    return Effect.gen(function*() {
      const answering = HttpClient.make((request) =>
        Effect.succeed(
          HttpClientResponse.fromWeb(
            request,
            Response.json({ access_token: "at", token_type: "Bearer", expires_in: 60 })
          )
        )
      )
      const client = yield* AuthenticationClient.make({ domain: "tenant.example.com", clientId: CLIENT_ID }).pipe(
        Effect.provideService(HttpClient.HttpClient, answering)
      )
      yield* observe(
        Effect.locally(client.renewAuth(Redacted.make(REFRESH_TOKEN)), HttpClient.currentTracerDisabledWhen, () => true)
      )
      expect(spans).toHaveLength(0)
    })
  })
})

// -----------------------------------------------------------------------------
// A hostile server: arbitrary error text around an echoed secret
// -----------------------------------------------------------------------------

/**
 * What shows of `secret` when it is base64-encoded inside a longer text, for
 * each of the three places it may start within a 3-byte group.
 */
const embeddedBase64 = (secret: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(secret)
  return [0, 1, 2].map((skip) =>
    bytes.subarray(skip, skip + Math.floor((bytes.length - skip) / 3) * 3).toString("base64")
  )
}

/** Every 12-character slice of every form of `secret`. */
const slices = (secret: string): ReadonlyArray<string> =>
  [...forms(secret), ...embeddedBase64(secret)].flatMap((form) =>
    form.length < 12 ? [] : Array.from({ length: form.length - 11 }, (_, i) => form.slice(i, i + 12))
  )

describe("a server that echoes secrets inside arbitrary text", () => {
  const refreshToken = "rt-Pm6Nb3Vc9Xz2Lq5Kw8Jd"
  const clientSecret = "cs/Ty7+Ur4=Ie1&Oa9?Sx"
  const secretSlices = [...slices(refreshToken), ...slices(clientSecret)]
  const echoed = fc.oneof(
    fc.constantFrom(...forms(refreshToken), ...forms(clientSecret)),
    // base64 of a text around a secret, as a whole request or a Basic header would be echoed
    fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom(refreshToken, clientSecret, encodeURIComponent(clientSecret)))
      .map(([before, secret]) => Buffer.from(`${before}${secret}`).toString("base64"))
  )
  // a text of 0 to 600 characters with an echoed secret at an arbitrary place (around the 300-character cut too)
  const text = fc.tuple(fc.string({ maxLength: 600 }), fc.nat({ max: 600 }), echoed, fc.string({ maxLength: 40 })).map(
    ([filler, at, secret, tail]) => {
      const cut = Math.min(at, filler.length)
      return `${filler.slice(0, cut)}${secret}${tail}${filler.slice(cut)}`
    }
  )
  const bodies = fc.oneof(
    text.map((t) => ({ status: 400, body: JSON.stringify({ error: "invalid_grant", error_description: t }) })),
    text.map((t) => ({ status: 403, body: JSON.stringify({ code: t, description: t }) })),
    text.map((t) => ({ status: 200, body: JSON.stringify({ error: t, error_description: t }) })),
    text.map((t) => ({ status: 500, body: JSON.stringify({ error: "server_error", message: t }) }))
  )

  it.effect.prop(
    "no 12-character slice of a secret shows in the error, a span or a log",
    [bodies, fc.constantFrom("client_secret_post" as const, "client_secret_basic" as const)],
    ([{ body, status }, method]) => {
      const { lines, observe, spans } = recorder()
      return Effect.gen(function*() {
        const answering = HttpClient.make((request) =>
          Effect.succeed(
            HttpClientResponse.fromWeb(
              request,
              new Response(body, { status, headers: { "content-type": "application/json" } })
            )
          )
        )
        const client = yield* AuthenticationClient.make({
          domain: "tenant.example.com",
          clientId: CLIENT_ID,
          clientSecret: Redacted.make(clientSecret),
          clientAuthentication: method
        }).pipe(Effect.provideService(HttpClient.HttpClient, answering))
        const error = yield* observe(
          Effect.flip(client.renewAuth(Redacted.make(refreshToken))).pipe(
            Effect.tap((error) => Effect.logError("renewal failed", error)),
            Effect.withSpan("caller")
          )
        )
        expect(error).toBeInstanceOf(AuthError.AuthApiError)
        if (error._tag !== "AuthApiError") return
        const texts = [
          error.message,
          error.description,
          error.code,
          String(error),
          JSON.stringify(error),
          ...lines,
          ...spans.flatMap((span) => [
            ...everything([...span.attributes]),
            ...everything(span.events),
            ...(span.exit === undefined ? [] : everything(span.exit))
          ])
        ]
        for (const t of texts) {
          for (const slice of secretSlices) {
            if (t.includes(slice)) expect.fail(`"${slice}" shows in ${t.slice(0, 400)}`)
          }
        }
      })
    },
    { fastCheck: { numRuns: 150 } }
  )
})

// -----------------------------------------------------------------------------
// DPoP: the key, the proofs and the nonces are secrets too
// -----------------------------------------------------------------------------

const NONCE = "nonce-Fq7Ws2Lp9Xc4Vb"

describe("with DPoP, no key, proof or nonce reaches a span, a log or an error", () => {
  for (const [name, behaviour] of behaviours) {
    it.live(`over fetch, every request with a proof: ${name}`, () => {
      const { expectClean, observe, spans } = recorder()
      const proofs: Array<string> = []
      return Effect.gen(function*() {
        const key = yield* Dpop.generateKey
        const url = yield* rawServer(() => (received, response) => {
          if (typeof received.headers["dpop"] === "string") proofs.push(received.headers["dpop"])
          response.setHeader("dpop-nonce", NONCE)
          behaviour(received, response)
        })
        const client = yield* AuthenticationClient.make({
          domain: url,
          clientId: CLIENT_ID,
          clientSecret: Redacted.make(CLIENT_SECRET),
          transformClient: loggingTransport
        }).pipe(Effect.provide(FetchHttpClient.layer))
        const dpop = { dpop: key }
        const errors: Array<unknown> = []
        for (
          const [call, effect] of [
            ["renewAuth", client.renewAuth(Redacted.make(REFRESH_TOKEN), { scope: "openid", ...dpop })],
            ["delegationWithIdToken", client.delegationWithIdToken(Redacted.make(ID_TOKEN), dpop)],
            ["delegationWithRefreshToken", client.delegationWithRefreshToken(Redacted.make(REFRESH_TOKEN), dpop)],
            ["revoke", client.revoke(Redacted.make(REFRESH_TOKEN), dpop)]
          ] as const
        ) {
          const exit = yield* observe(
            (effect as Effect.Effect<unknown, AuthError.AuthenticationError>).pipe(
              Effect.tapErrorCause((cause) => Effect.logWarning("renewal failed", cause)),
              Effect.withSpan(`caller.${call}`)
            )
          ).pipe(Effect.exit)
          if (Exit.isFailure(exit)) errors.push(exit.cause)
        }
        expect(proofs.length).toBeGreaterThanOrEqual(4)
        const secrets = [...allSecrets, ...proofs, NONCE, Redacted.value(key.jwk).d]
        for (const error of errors) expectNoSecret("error", everything(error), secrets)
        for (const span of spans) {
          for (const [attribute] of span.attributes) expect(attribute).not.toMatch(/dpop/i)
        }
        expectClean()
        // the same scan, with the DPoP secrets
        for (const span of spans) {
          expectNoSecret(`span "${span.name}"`, everything([...span.attributes, span.events, span.exit]), secrets)
        }
      }).pipe(Effect.provide(Dpop.layerNonces()), Effect.scoped)
    })
  }

  it.live("the AuthorizedClient's requests: the platform's span redacts the proof and the nonce; errors name neither", () => {
    const { lines, observe, spans } = recorder()
    const proofs: Array<string> = []
    let calls = 0
    return Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const url = yield* rawServer(() => (received, response) => {
        if (typeof received.headers["dpop"] === "string") proofs.push(received.headers["dpop"])
        calls++
        if (calls === 1) {
          response.writeHead(401, {
            "www-authenticate": `DPoP error="use_dpop_nonce"`,
            "dpop-nonce": NONCE
          }).end()
        } else if (calls === 2) {
          response.writeHead(200, { "dpop-nonce": NONCE, "content-type": "text/plain" }).end("ok")
        } else {
          response.socket?.destroy()
        }
      })
      const ACCESS_TOKEN = "at-dpop-Kd8Ls3Mq"
      const credentials = new Credentials.Credentials({
        accessToken: Redacted.make(ACCESS_TOKEN),
        refreshToken: Redacted.make(REFRESH_TOKEN),
        tokenType: "DPoP",
        expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000),
        dpop: key
      })
      const client = yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(credentials)
        return yield* AuthorizedClient.make()
      })
      const ok = yield* observe(client.execute(HttpClientRequest.get(`${url}/orders`)))
      expect(ok.status).toBe(200)
      const failed = yield* observe(
        client.execute(HttpClientRequest.get(`${url}/orders`)).pipe(
          Effect.tapErrorCause((cause) => Effect.logError("api call failed", cause)),
          Effect.flip
        )
      )
      expect(proofs.length).toBe(3)
      const secrets = [...proofs, NONCE, ACCESS_TOKEN, Redacted.value(key.jwk).d]
      expectNoSecret("error", everything(failed), secrets)
      expectNoSecret("log lines", lines, secrets)
      const httpSpans = spans.filter((span) => span.name.startsWith("http.client"))
      expect(httpSpans.length).toBe(3)
      for (const span of httpSpans) {
        // the span is the client's own: its exit is the status or the sanitized failure, never the request sent
        expectNoSecret(`span "${span.name}"`, everything([...span.attributes, span.events, span.exit]), secrets)
        expect([...span.attributes.keys()].filter((name) => /dpop|authorization/i.test(name))).toEqual([])
      }
    }).pipe(
      Effect.provide(
        Renewer.layer().pipe(
          Layer.provide(TokenStore.layerMemory),
          Layer.provide(Layer.succeed(RenewalStrategy.RenewalStrategy, {
            renew: () => Effect.die("no renewal"),
            revoke: () => Effect.void
          }))
        )
      ),
      Effect.provide([FetchHttpClient.layer, Dpop.layerNonces()]),
      Effect.scoped
    )
  })
})
