/**
 * Discovery and client authentication, against `HttpClient` doubles: the
 * metadata of both forms (Auth0's `domain`, a discovered provider), every
 * way a metadata document can be unusable (each an `InvalidConfiguration`
 * naming its URL), the endpoints a discovered client uses, `tokenRequest`
 * and `formRequest`, the four client authentications on the wire (the
 * `private_key_jwt` assertion verified with `jose` for RSA, EC and Ed25519
 * keys), contradictory options, the HTTP error naming its request, and
 * `layerDiscoveryConfig`.
 */
import { AuthenticationClient, AuthError, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Jose from "jose"
import { inspect } from "node:util"
import { recordingTracer } from "./support/recordingTracer.js"

const ISSUER = "https://idp.example.com/tenant-a"
const CLIENT_SECRET = "cs-0d9f8e7c6b"
const REFRESH_TOKEN = "rt-5c4b3a2910"

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

type Route = (seen: Seen) => Response | "fail"

const document = (fields: Record<string, unknown> = {}) => ({
  issuer: ISSUER,
  token_endpoint: "https://tokens.example.net/oauth2/token",
  authorization_endpoint: `${ISSUER}/authorize`,
  device_authorization_endpoint: `${ISSUER}/device`,
  revocation_endpoint: `${ISSUER}/revoke`,
  jwks_uri: `${ISSUER}/jwks`,
  end_session_endpoint: `${ISSUER}/logout`,
  userinfo_endpoint: `${ISSUER}/me`,
  code_challenge_methods_supported: ["S256"],
  id_token_signing_alg_values_supported: ["RS256"],
  authorization_response_iss_parameter_supported: true,
  ...fields
})

const tokenAnswer = () =>
  Response.json({ access_token: "at-new", token_type: "Bearer", expires_in: 3600, id_token: "idt-new" })

/**
 * An `HttpClient` that records each request and answers from `routes` (by
 * URL without query); anything else is a 404, `"fail"` a transport error.
 */
const server = (routes: Record<string, Route>) => {
  const seen: Array<Seen> = []
  const client = HttpClient.make((request, url) =>
    Effect.suspend(() => {
      const entry: Seen = {
        method: request.method,
        url: url.toString(),
        headers: request.headers,
        body: request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      }
      seen.push(entry)
      const route = routes[`${url.origin}${url.pathname}`]
      const answer = route === undefined ? new Response("not here", { status: 404 }) : route(entry)
      return answer === "fail"
        ? Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("reset") }))
        : Effect.succeed(HttpClientResponse.fromWeb(request, answer))
    })
  )
  return { seen, client }
}

const openid = `${ISSUER}/.well-known/openid-configuration`
const rfc8414 = "https://idp.example.com/.well-known/oauth-authorization-server/tenant-a"

const discovered = (routes: Record<string, Route>, options: Partial<AuthenticationClient.DiscoveryOptions> = {}) => {
  const { client, seen } = server(routes)
  return {
    seen,
    make: AuthenticationClient.makeDiscovery({ issuer: ISSUER, clientId: "client-1", ...options }).pipe(
      Effect.provideService(HttpClient.HttpClient, client)
    )
  }
}

const withDocument = (doc: unknown = document(), extra: Record<string, Route> = {}) => ({
  [openid]: () => Response.json(doc),
  "https://tokens.example.net/oauth2/token": () => tokenAnswer(),
  ...extra
})

const form = (seen: Seen) => Object.fromEntries(new URLSearchParams(seen.body))

const invalidConfiguration = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(AuthError.InvalidConfiguration)
    return error as AuthError.InvalidConfiguration
  })

describe("AuthenticationClient: the metadata of Auth0's domain form", () => {
  it.effect("is derived from the domain and its paths", () =>
    Effect.gen(function*() {
      const { client } = server({})
      const c = yield* AuthenticationClient.make({
        domain: "https://login.example.com/tenant/",
        clientId: "client-1",
        tokenPath: "/custom/token"
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
      expect(c.metadata).toEqual({
        issuer: "https://login.example.com/tenant/",
        tokenEndpoint: "https://login.example.com/tenant/custom/token",
        authorizationEndpoint: "https://login.example.com/tenant/authorize",
        deviceAuthorizationEndpoint: "https://login.example.com/tenant/oauth/device/code",
        revocationEndpoint: "https://login.example.com/tenant/oauth/revoke",
        jwksUri: "https://login.example.com/tenant/.well-known/jwks.json",
        endSessionEndpoint: "https://login.example.com/tenant/oidc/logout",
        userinfoEndpoint: "https://login.example.com/tenant/userinfo",
        codeChallengeMethodsSupported: ["S256"],
        idTokenSigningAlgValuesSupported: undefined,
        authorizationResponseIssParameterSupported: false
      })
      const bare = yield* AuthenticationClient.make({ domain: "tenant.eu.auth0.com", clientId: "client-1" }).pipe(
        Effect.provideService(HttpClient.HttpClient, client)
      )
      expect(bare.metadata.issuer).toBe("https://tenant.eu.auth0.com/")
      expect(bare.metadata.tokenEndpoint).toBe("https://tenant.eu.auth0.com/oauth/token")
    }))
})

describe("AuthenticationClient: errors name the request they were for", () => {
  it.effect("a 404 on Auth0's token endpoint: POST and the URL, in the message and in endpoint", () =>
    Effect.gen(function*() {
      const { client } = server({})
      const c = yield* AuthenticationClient.make({ domain: "tenant.example.com", clientId: "client-1" }).pipe(
        Effect.provideService(HttpClient.HttpClient, client)
      )
      const error = yield* Effect.flip(c.renewAuth(Redacted.make(REFRESH_TOKEN)))
      expect(error._tag === "AuthApiError" && error.endpoint).toBe("POST https://tenant.example.com/oauth/token")
      expect(error.message).toMatch(/^POST https:\/\/tenant\.example\.com\/oauth\/token answered 404 /)
      const delegation = yield* Effect.flip(c.delegationWithIdToken(Redacted.make("idt-1")))
      expect(delegation.message).toMatch(/^POST https:\/\/tenant\.example\.com\/delegation answered 404 /)
    }))

  it.effect("no answer within the timeout: the method and URL, without the query", () =>
    Effect.gen(function*() {
      const { make } = discovered(
        withDocument(
          document({
            token_endpoint: "https://tokens.example.net/oauth2/token?tenant=a"
          }),
          { "https://tokens.example.net/oauth2/token": () => "fail" }
        ),
        { timeout: "5 seconds" }
      )
      const c = yield* make
      const transport = yield* Effect.flip(c.renewAuth(Redacted.make(REFRESH_TOKEN)))
      expect(transport.message).toBe("Network error: Transport failure on POST https://tokens.example.net/oauth2/token")
      const hung = discovered({
        [openid]: () => Response.json(document()),
        "https://tokens.example.net/oauth2/token": () => new Response(new ReadableStream({ start: () => {} }))
      }, { timeout: "5 seconds" })
      const slow = yield* hung.make
      const fiber = yield* Effect.fork(Effect.flip(slow.renewAuth(Redacted.make(REFRESH_TOKEN))))
      yield* TestClock.adjust("5 seconds")
      const timeout = yield* fiber.await.pipe(Effect.flatten)
      expect(timeout.message).toBe(
        "Request timed out: no answer to POST https://tokens.example.net/oauth2/token within 5s"
      )
    }))
})

describe("AuthenticationClient: discovery", () => {
  it.effect("reads OpenID's document and uses its endpoints, on other hosts too", () =>
    Effect.gen(function*() {
      const { make, seen } = discovered(withDocument(document(), {
        [`${ISSUER}/revoke`]: () => new Response(null, { status: 200 })
      }))
      const c = yield* make
      expect(c.metadata).toEqual({
        issuer: ISSUER,
        tokenEndpoint: "https://tokens.example.net/oauth2/token",
        authorizationEndpoint: `${ISSUER}/authorize`,
        deviceAuthorizationEndpoint: `${ISSUER}/device`,
        revocationEndpoint: `${ISSUER}/revoke`,
        jwksUri: `${ISSUER}/jwks`,
        endSessionEndpoint: `${ISSUER}/logout`,
        userinfoEndpoint: `${ISSUER}/me`,
        codeChallengeMethodsSupported: ["S256"],
        idTokenSigningAlgValuesSupported: ["RS256"],
        authorizationResponseIssParameterSupported: true
      })
      expect(c.baseUrl).toBe(ISSUER)
      const credentials = yield* c.renewAuth(Redacted.make(REFRESH_TOKEN), { scope: "openid" })
      expect(Redacted.value(credentials.accessToken)).toBe("at-new")
      yield* c.revoke(Redacted.make(REFRESH_TOKEN))
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
        `GET ${openid}`,
        "POST https://tokens.example.net/oauth2/token",
        `POST ${ISSUER}/revoke`
      ])
      expect(seen[0].headers["accept"]).toBe("application/json")
      expect(form(seen[1])).toEqual({
        grant_type: "refresh_token",
        refresh_token: REFRESH_TOKEN,
        scope: "openid",
        client_id: "client-1"
      })
    }))

  it.effect("a document only at RFC 8414's location (the well-known segment before the path) is used", () =>
    Effect.gen(function*() {
      const { make, seen } = discovered({ [rfc8414]: () => Response.json(document()) })
      const c = yield* make
      expect(c.metadata.tokenEndpoint).toBe("https://tokens.example.net/oauth2/token")
      expect(seen.map((s) => s.url)).toEqual([openid, rfc8414])
    }))

  it.effect("an issuer without a path: both locations at the root; the issuer's trailing / is kept as given", () =>
    Effect.gen(function*() {
      const issuer = "https://idp.example.com/"
      const { make, seen } = discovered({
        "https://idp.example.com/.well-known/oauth-authorization-server": () => Response.json(document({ issuer }))
      }, { issuer })
      const c = yield* make
      expect(c.metadata.issuer).toBe(issuer)
      expect(seen.map((s) => s.url)).toEqual([
        "https://idp.example.com/.well-known/openid-configuration",
        "https://idp.example.com/.well-known/oauth-authorization-server"
      ])
    }))

  it.effect("404 at both locations: InvalidConfiguration naming both URLs", () =>
    Effect.gen(function*() {
      const error = yield* invalidConfiguration(discovered({}).make)
      expect(error.message).toContain(openid)
      expect(error.message).toContain(rfc8414)
      expect(error.message).toContain("404")
    }))

  const unusable: ReadonlyArray<[string, Route, ReadonlyArray<string>]> = [
    ["a 500", () => new Response("oops", { status: 500 }), ["500"]],
    ["HTML", () => new Response("<html>login</html>", { status: 200, headers: { "content-type": "text/html" } }), [
      "not JSON"
    ]],
    ["a JSON array", () => Response.json([document()]), ["not a JSON object"]],
    ["no token_endpoint", () => Response.json(document({ token_endpoint: undefined })), ["token_endpoint"]],
    ["a token_endpoint of the wrong type", () => Response.json(document({ token_endpoint: 42 })), ["token_endpoint"]],
    ["another issuer (a trailing /)", () => Response.json(document({ issuer: `${ISSUER}/` })), [
      "is not the configured",
      `"${ISSUER}/"`
    ]],
    ["another issuer (another host)", () => Response.json(document({ issuer: "https://evil.example.org/tenant-a" })), [
      "is not the configured"
    ]],
    [
      "an http endpoint on a public host",
      () => Response.json(document({ token_endpoint: "http://tokens.example.net/token" })),
      [
        "token_endpoint",
        "plain http"
      ]
    ],
    ["a relative endpoint", () => Response.json(document({ jwks_uri: "/jwks" })), ["jwks_uri", "not an absolute URL"]],
    ["an endpoint with a fragment", () => Response.json(document({ revocation_endpoint: `${ISSUER}/revoke#x` })), [
      "revocation_endpoint",
      "fragment"
    ]],
    ["a redirect", () => new Response(null, { status: 302, headers: { location: "https://elsewhere.example/" } }), [
      "302",
      "redirect"
    ]],
    ["a body too large", () => Response.json(document({ padding: "x".repeat(2048) })), ["exceeds 1024 bytes"]],
    ["no answer", () => "fail", ["Transport failure", "GET"]]
  ]
  for (const [name, route, says] of unusable) {
    it.effect(`${name}: InvalidConfiguration naming the URL`, () =>
      Effect.gen(function*() {
        const error = yield* invalidConfiguration(discovered({ [openid]: route }, { maxResponseBytes: 1024 }).make)
        expect(error.message).toContain(openid)
        for (const text of says) expect(error.message).toContain(text)
      }))
  }

  it.effect("a server that never answers: InvalidConfiguration after 30 seconds, or the timeout given", () =>
    Effect.gen(function*() {
      const never = HttpClient.make(() => Effect.never)
      const fiber = yield* Effect.fork(Effect.flip(
        AuthenticationClient.makeDiscovery({ issuer: ISSUER, clientId: "client-1" }).pipe(
          Effect.provideService(HttpClient.HttpClient, never)
        )
      ))
      yield* TestClock.adjust("30 seconds")
      const error = yield* fiber.await.pipe(Effect.flatten)
      expect(error._tag).toBe("InvalidConfiguration")
      expect(error.message).toContain(openid)
    }))

  it.effect("http is accepted for an issuer and endpoints on loopback hosts", () =>
    Effect.gen(function*() {
      const issuer = "http://127.0.0.1:4000/"
      const { make } = discovered({
        "http://127.0.0.1:4000/.well-known/openid-configuration": () =>
          Response.json({ issuer, token_endpoint: "http://localhost:4000/token" })
      }, { issuer })
      const c = yield* make
      expect(c.metadata.tokenEndpoint).toBe("http://localhost:4000/token")
      expect(c.metadata.authorizationResponseIssParameterSupported).toBe(false)
    }))

  it.effect("an unusable issuer is refused before any request", () =>
    Effect.gen(function*() {
      for (
        const [issuer, says] of [
          ["", "empty"],
          ["http://idp.example.com", "plain http"],
          ["https://idp.example.com/?tenant=a", "query"],
          ["https://user:pw@idp.example.com", "credentials"],
          ["idp.example.com", "not an absolute URL"]
        ] as const
      ) {
        const { make, seen } = discovered({}, { issuer })
        const error = yield* invalidConfiguration(make)
        expect(error.message).toContain(says)
        expect(error.message).not.toContain("pw")
        expect(seen).toEqual([])
      }
    }))

  it.effect("delegation fails typed (a Configuration fault) without sending; no revocation endpoint likewise", () =>
    Effect.gen(function*() {
      const { make, seen } = discovered(withDocument(document({ revocation_endpoint: undefined })))
      const c = yield* make
      const error = yield* Effect.flip(c.delegationWithIdToken(Redacted.make("idt-1")))
      expect(error._tag).toBe("AuthApiError")
      expect(AuthError.classify(error)).toBe("Configuration")
      expect(error.message).toContain("delegation")
      const revoke = yield* Effect.flip(c.revoke(Redacted.make(REFRESH_TOKEN)))
      expect(revoke.message).toContain("no revocation endpoint")
      expect(seen.map((s) => s.method)).toEqual(["GET"])
    }))
})

describe("AuthenticationClient: tokenRequest and formRequest", () => {
  it.effect("tokenRequest: grant_type, fields (undefined not sent), the client's authentication, Credentials", () =>
    Effect.gen(function*() {
      const { make, seen } = discovered(withDocument(), { clientSecret: Redacted.make(CLIENT_SECRET) })
      const c = yield* make
      const credentials = yield* c.tokenRequest("authorization_code", {
        code: "code-123",
        redirect_uri: "http://127.0.0.1:5000/cb",
        code_verifier: undefined
      }, { parameters: { resource: "https://api.example", code: "overridden?" } })
      expect(Redacted.value(credentials.accessToken)).toBe("at-new")
      expect(credentials.idToken && Redacted.value(credentials.idToken)).toBe("idt-new")
      expect(form(seen[1])).toEqual({
        grant_type: "authorization_code",
        code: "code-123",
        redirect_uri: "http://127.0.0.1:5000/cb",
        resource: "https://api.example",
        client_id: "client-1",
        client_secret: CLIENT_SECRET
      })
    }))

  it.effect("tokenRequest: an error answer has presented, names the endpoint, and holds no secret", () =>
    Effect.gen(function*() {
      const code = "code-a1b2c3d4e5"
      const { make } = discovered(
        withDocument(document(), {
          "https://tokens.example.net/oauth2/token": (seen) =>
            Response.json({ error: "invalid_grant", error_description: `bad ${seen.body}` }, { status: 400 })
        }),
        { clientSecret: Redacted.make(CLIENT_SECRET) }
      )
      const c = yield* make
      const error = yield* Effect.flip(
        c.tokenRequest("authorization_code", { code }, {
          presented: "authorization_code",
          secrets: [Redacted.make(code)]
        })
      )
      expect(error._tag).toBe("AuthApiError")
      if (error._tag !== "AuthApiError") return
      expect(error.presented).toBe("authorization_code")
      expect(error.endpoint).toBe("POST https://tokens.example.net/oauth2/token")
      expect(error.message).toMatch(/^POST https:\/\/tokens\.example\.net\/oauth2\/token answered 400 invalid_grant/)
      expect(error.message).not.toContain(code)
      expect(error.message).not.toContain(CLIENT_SECRET)
    }))

  it.effect("formRequest: the client's authentication, the JSON answered; errors typed", () =>
    Effect.gen(function*() {
      const device = `${ISSUER}/device`
      let status = 200
      const { make, seen } = discovered(
        withDocument(document(), {
          [device]: () =>
            status === 200
              ? Response.json({ device_code: "dc-1", user_code: "ABCD-EFGH" })
              : status === 201
              ? new Response("<html/>", { status: 200 })
              : Response.json({ error: "invalid_scope" }, { status })
        }),
        { clientSecret: Redacted.make(CLIENT_SECRET), clientAuthentication: "client_secret_basic" }
      )
      const c = yield* make
      const json = yield* c.formRequest(c.metadata.deviceAuthorizationEndpoint!, {
        scope: "openid",
        audience: undefined
      })
      expect(json).toEqual({ device_code: "dc-1", user_code: "ABCD-EFGH" })
      expect(form(seen[1])).toEqual({ scope: "openid", client_id: "client-1" })
      expect(seen[1].headers["authorization"]).toBe(`Basic ${btoa(`client-1:${CLIENT_SECRET}`)}`)
      status = 400
      const error = yield* Effect.flip(c.formRequest(device, {}))
      expect(error.message).toBe(`POST ${device} answered 400 invalid_scope: `)
      status = 201
      const html = yield* Effect.flip(c.formRequest(device, {}))
      expect(html._tag === "AuthApiError" && html.code).toBe(AuthError.InvalidResponseCode)
    }))

  it.effect("formRequest sends nothing to an endpoint its metadata does not list: a Configuration fault", () =>
    Effect.gen(function*() {
      const { make, seen } = discovered(withDocument(), {
        clientSecret: Redacted.make(CLIENT_SECRET),
        clientAuthentication: "client_secret_post"
      })
      const c = yield* make
      for (
        const endpoint of [
          "http://evil.example/collect",
          "https://evil.example/collect",
          `${ISSUER}/device/../collect`,
          c.metadata.jwksUri!,
          c.metadata.authorizationEndpoint!,
          "not a url"
        ]
      ) {
        const error = yield* Effect.flip(c.formRequest(endpoint, { scope: "openid" }))
        expect(error._tag).toBe("AuthApiError")
        expect(AuthError.classify(error)).toBe("Configuration")
        expect(error.message).toContain("not an endpoint of the provider's metadata")
        expect(error.message).not.toContain(CLIENT_SECRET)
      }
      expect(seen.map((s) => s.url)).toEqual([openid])
    }))

  it.effect("an endpoint's query is sent but never named in an error", () =>
    Effect.gen(function*() {
      const { make, seen } = discovered(withDocument(
        document({
          token_endpoint: "https://tokens.example.net/oauth2/token?tenant=secret-ish"
        }),
        { "https://tokens.example.net/oauth2/token": () => new Response("", { status: 404 }) }
      ))
      const c = yield* make
      const error = yield* Effect.flip(c.renewAuth(Redacted.make(REFRESH_TOKEN)))
      expect(seen[1].url).toBe("https://tokens.example.net/oauth2/token?tenant=secret-ish")
      expect(error.message).toContain("POST https://tokens.example.net/oauth2/token answered 404")
      expect(error.message).not.toContain("secret-ish")
    }))
})

describe("AuthenticationClient: client authentication on the wire", () => {
  const wire = (options: Partial<AuthenticationClient.DiscoveryOptions>) =>
    Effect.gen(function*() {
      const { make, seen } = discovered(withDocument(), options)
      const c = yield* make
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
      return { body: form(seen[1]), authorization: seen[1].headers["authorization"] }
    })

  it.effect("none: client_id alone", () =>
    Effect.gen(function*() {
      const { authorization, body } = yield* wire({})
      expect(body.client_id).toBe("client-1")
      expect(body.client_secret).toBeUndefined()
      expect(body.client_assertion).toBeUndefined()
      expect(authorization).toBeUndefined()
    }))

  it.effect("client_secret_post (the default with a secret): the secret in the form", () =>
    Effect.gen(function*() {
      const { authorization, body } = yield* wire({ clientSecret: Redacted.make(CLIENT_SECRET) })
      expect(body.client_secret).toBe(CLIENT_SECRET)
      expect(authorization).toBeUndefined()
    }))

  it.effect("client_secret_basic: both parts form-encoded in a Basic header, not in the form", () =>
    Effect.gen(function*() {
      const { authorization, body } = yield* wire({
        clientId: "client:1",
        clientSecret: Redacted.make("s p+c"),
        clientAuthentication: "client_secret_basic"
      })
      expect(body.client_secret).toBeUndefined()
      expect(authorization).toBe(`Basic ${btoa("client%3A1:s%20p%2Bc")}`)
    }))

  it.effect("contradictory options are InvalidConfiguration, before any request", () =>
    Effect.gen(function*() {
      const pem = yield* Effect.promise(() =>
        Jose.generateKeyPair("ES256", { extractable: true }).then((pair) => Jose.exportPKCS8(pair.privateKey))
      )
      const cases: ReadonlyArray<[Partial<AuthenticationClient.DiscoveryOptions>, string]> = [
        [{ clientSecret: Redacted.make(CLIENT_SECRET), privateKey: Redacted.make(pem) }, "both given"],
        [{ clientAuthentication: "none", clientSecret: Redacted.make(CLIENT_SECRET) }, "none sends no clientSecret"],
        [{ clientAuthentication: "client_secret_basic" }, "needs a clientSecret"],
        [{ clientAuthentication: "client_secret_post", privateKey: Redacted.make(pem) }, "not a privateKey"],
        [{ clientAuthentication: "private_key_jwt" }, "needs a privateKey"],
        [{ clientAuthentication: "private_key_jwt", clientSecret: Redacted.make(CLIENT_SECRET) }, "not a clientSecret"],
        [{ privateKeyId: "k1" }, "need a privateKey"],
        [{ clientAuthentication: "tls_client_auth" as never }, "must be one of"],
        [{ clientId: " " }, "clientId is empty"]
      ]
      for (const [options, says] of cases) {
        const { make, seen } = discovered(withDocument(), options)
        const error = yield* invalidConfiguration(make)
        expect(error.message).toContain(says)
        expect(error.message).not.toContain(CLIENT_SECRET)
        expect(seen).toEqual([])
      }
    }))

  it.effect("a key that cannot be imported is InvalidConfiguration that never repeats it", () =>
    Effect.gen(function*() {
      const rsa = yield* Effect.promise(() => Jose.generateKeyPair("RS256", { extractable: true }))
      const pem = yield* Effect.promise(() => Jose.exportPKCS8(rsa.privateKey))
      const jwk = yield* Effect.promise(() => Jose.exportJWK(rsa.privateKey))
      const publicJwk = yield* Effect.promise(() => Jose.exportJWK(rsa.publicKey))
      // cut short: no longer a key
      const broken = `${pem.split("\n").slice(0, 5).join("\n")}\n-----END PRIVATE KEY-----`
      const cases: ReadonlyArray<[AuthenticationClient.PrivateKey, string | undefined, string]> = [
        [Redacted.make(broken), undefined, "not a PKCS#8 PEM private key"],
        [Redacted.make("not a key at all"), undefined, "neither a PKCS#8 PEM"],
        [Redacted.make(publicJwk), undefined, "not a private key"],
        [Redacted.make(JSON.stringify({ ...jwk, kty: "oct" })), undefined, "give privateKeyAlgorithm"],
        [Redacted.make(pem), "ES256", "usable with ES256"],
        [Redacted.make(jwk), "ES256", "usable with ES256"]
      ]
      for (const [privateKey, privateKeyAlgorithm, says] of cases) {
        const error = yield* invalidConfiguration(discovered(withDocument(), { privateKey, privateKeyAlgorithm }).make)
        expect(error.message).toContain(says)
        expect(error.message).not.toContain(String(jwk.d).slice(0, 12))
        expect(error.message).not.toContain(pem.split("\n")[1].slice(0, 12))
      }
    }))

  const keys: ReadonlyArray<[string, string, "pem" | "jwk"]> = [
    ["RS256", "RSA", "pem"],
    ["ES256", "EC P-256", "pem"],
    ["ES384", "EC P-384", "jwk"],
    ["EdDSA", "Ed25519", "pem"],
    ["EdDSA", "Ed25519", "jwk"]
  ]
  for (const [alg, kind, format] of keys) {
    it.effect(`private_key_jwt with an ${kind} key (${format}): ${alg}, a fresh assertion per request`, () =>
      Effect.gen(function*() {
        const pair = yield* Effect.promise(() =>
          Jose.generateKeyPair(alg === "EdDSA" ? "Ed25519" : alg, { extractable: true })
        )
        const privateKey: AuthenticationClient.PrivateKey = format === "pem"
          ? Redacted.make(yield* Effect.promise(() => Jose.exportPKCS8(pair.privateKey)))
          : Redacted.make(yield* Effect.promise(() => Jose.exportJWK(pair.privateKey)))
        const { make, seen } = discovered(withDocument(), { privateKey, privateKeyId: "key-7" })
        const c = yield* make
        yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
        yield* TestClock.adjust("10 seconds")
        yield* c.tokenRequest("client_credentials", {})
        const assertions = seen.slice(1).map(form)
        const verified = []
        for (const body of assertions) {
          expect(body.client_assertion_type).toBe("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
          expect(body.client_id).toBe("client-1")
          expect(body.client_secret).toBeUndefined()
          const { payload, protectedHeader } = yield* Effect.promise(() =>
            Jose.jwtVerify(body.client_assertion, pair.publicKey, {
              issuer: "client-1",
              subject: "client-1",
              audience: ISSUER,
              currentDate: new Date(20_000)
            })
          )
          expect(protectedHeader.alg).toBe(alg)
          expect(protectedHeader.kid).toBe("key-7")
          expect(payload.exp! - payload.iat!).toBe(60)
          verified.push(payload)
        }
        // the times come from the Clock (TestClock: from 0)
        expect(verified.map((p) => p.iat)).toEqual([0, 10])
        expect(typeof verified[0].jti).toBe("string")
        expect(verified[0].jti).not.toBe(verified[1].jti)
      }))
  }

  it.effect("private_key_jwt in Auth0's domain form: aud is the tenant's issuer, https://<domain>/", () =>
    Effect.gen(function*() {
      const pair = yield* Effect.promise(() => Jose.generateKeyPair("RS256", { extractable: true }))
      const pem = yield* Effect.promise(() => Jose.exportPKCS8(pair.privateKey))
      const { client, seen } = server({ "https://tenant.example.com/oauth/token": () => tokenAnswer() })
      const c = yield* AuthenticationClient.make({
        domain: "tenant.example.com",
        clientId: "client-1",
        privateKey: Redacted.make(pem)
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
      const { payload, protectedHeader } = yield* Effect.promise(() =>
        Jose.jwtVerify(form(seen[0]).client_assertion, pair.publicKey, { currentDate: new Date(0) })
      )
      expect(protectedHeader.alg).toBe("RS256")
      expect(protectedHeader.kid).toBeUndefined()
      expect(payload.aud).toBe("https://tenant.example.com/")
    }))

  it.effect("no span and no error holds the assertion, a code or a verifier of tokenRequest", () =>
    Effect.gen(function*() {
      const pair = yield* Effect.promise(() => Jose.generateKeyPair("ES256", { extractable: true }))
      const pem = yield* Effect.promise(() => Jose.exportPKCS8(pair.privateKey))
      const code = "code-Xq7Lm2Np9Rt4"
      const verifier = "verifier-Hb5Kc8Wd1Zf6Gj3Ys0Tv"
      const assertions: Array<string> = []
      const { make } = discovered(
        withDocument(document(), {
          "https://tokens.example.net/oauth2/token": (seen) => {
            const { client_assertion, code, code_verifier } = form(seen)
            assertions.push(client_assertion)
            // echoed whole: unredacted, the first 300 characters would be kept
            return Response.json({
              error: "invalid_grant",
              error_description: `echo ${code} ${code_verifier} ${client_assertion}`
            }, { status: 400 })
          }
        }),
        { privateKey: Redacted.make(pem) }
      )
      const c = yield* make
      const { spans, tracer } = recordingTracer()
      const error = yield* Effect.flip(
        c.tokenRequest("authorization_code", { code, code_verifier: verifier }, {
          presented: "authorization_code",
          secrets: [Redacted.make(code), Redacted.make(verifier)]
        })
      ).pipe(Effect.withTracer(tracer))
      expect(spans.length).toBeGreaterThan(0)
      expect(assertions).toHaveLength(1)
      const rendered = [
        inspect(spans, { depth: 20 }),
        inspect(error, { depth: 20 }),
        error.message,
        JSON.stringify(error)
      ]
      for (const text of rendered) {
        for (const secret of [assertions[0].slice(0, 120), code, verifier]) expect(text).not.toContain(secret)
      }
      expect(error.message).toContain("<redacted>")
    }))

  it.effect("the assertion is kept out of errors, as the secret is", () =>
    Effect.gen(function*() {
      const pair = yield* Effect.promise(() => Jose.generateKeyPair("ES256", { extractable: true }))
      const pem = yield* Effect.promise(() => Jose.exportPKCS8(pair.privateKey))
      const { make } = discovered(
        withDocument(document(), {
          "https://tokens.example.net/oauth2/token": (seen) =>
            Response.json({
              error: "invalid_client",
              error_description: `rejected ${form(seen).client_assertion}`
            }, { status: 401 })
        }),
        { privateKey: Redacted.make(pem) }
      )
      const c = yield* make
      const error = yield* Effect.flip(c.renewAuth(Redacted.make(REFRESH_TOKEN)))
      expect(error.message).toContain("rejected <redacted>")
      expect(error.message).not.toMatch(/eyJ/)
    }))
})

describe("AuthenticationClient: layerDiscoveryConfig", () => {
  it.effect("reads OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET", () =>
    Effect.gen(function*() {
      const { client, seen } = server(withDocument())
      const c = yield* AuthenticationClient.AuthenticationClient.pipe(
        Effect.provide(
          AuthenticationClient.layerDiscoveryConfig().pipe(
            Layer.provide(Layer.succeed(HttpClient.HttpClient, client)),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
              new Map([["OIDC_ISSUER", ISSUER], ["OIDC_CLIENT_ID", "client-9"], ["OIDC_CLIENT_SECRET", CLIENT_SECRET]])
            )))
          )
        )
      )
      expect(c.clientId).toBe("client-9")
      yield* c.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(form(seen[1]).client_secret).toBe(CLIENT_SECRET)
    }))

  it.effect("a missing OIDC_ISSUER fails the layer with a ConfigError", () =>
    Effect.gen(function*() {
      const { client } = server({})
      const error = yield* Effect.flip(
        Layer.build(
          AuthenticationClient.layerDiscoveryConfig().pipe(
            Layer.provide(Layer.succeed(HttpClient.HttpClient, client)),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["OIDC_CLIENT_ID", "c"]]))))
          )
        ).pipe(Effect.scoped)
      )
      expect(error._tag).not.toBe("InvalidConfiguration")
      expect(String(error)).toContain("OIDC_ISSUER")
    }))
})

describe("Renewer: a wrong client id", () => {
  it.effect("surfaces as RenewalFailed of reason Configuration, the stored credentials kept", () =>
    Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.login())
      const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
      expect(error._tag).toBe("RenewalFailed")
      expect(error._tag === "RenewalFailed" && error.reason).toBe("Configuration")
      expect(yield* renewer.hasValid()).toBe(true)
    }).pipe(
      Effect.provide(
        Renewer.layer().pipe(
          Layer.provideMerge(RenewalStrategy.refreshToken),
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provideMerge(Fixtures.layerClient({ clientId: "not-the-client" })),
          Layer.provideMerge(Emulator.layerMemory())
        )
      )
    ))
})

describe("AuthenticationClient: discovery against the emulator", () => {
  it.effect("in memory: the emulator's issuer is discovered, and a renewal and a revocation use its endpoints", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const client = yield* AuthenticationClient.makeDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId })
      expect(client.metadata).toMatchObject({
        issuer: emulator.issuer,
        tokenEndpoint: `${emulator.issuer}oauth/token`,
        deviceAuthorizationEndpoint: `${emulator.issuer}oauth/device/code`,
        jwksUri: `${emulator.issuer}.well-known/jwks.json`,
        authorizationResponseIssParameterSupported: true
      })
      const login = yield* Fixtures.login()
      const renewed = yield* client.renewAuth(login.refreshToken!)
      expect(Redacted.value(renewed.accessToken)).not.toBe(Redacted.value(login.accessToken))
      yield* client.revoke(renewed.refreshToken ?? login.refreshToken!)
      const log = yield* emulator.requests
      expect(log.map((entry) => entry.path)).toEqual([
        "/.well-known/openid-configuration",
        "/oauth/token",
        "/oauth/revoke"
      ])
    }).pipe(Effect.provide(Emulator.layerMemory())))

  it.scopedLive("on loopback over fetch: the server's own http://127.0.0.1 issuer is discovered and renews", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      expect(emulator.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      const client = yield* AuthenticationClient.makeDiscovery({
        issuer: emulator.issuer,
        clientId: emulator.clientId,
        timeout: "10 seconds"
      }).pipe(Effect.provide(FetchHttpClient.layer))
      expect(client.metadata.tokenEndpoint).toBe(`${emulator.issuer}oauth/token`)
      const login = yield* Fixtures.login()
      const renewed = yield* client.renewAuth(login.refreshToken!)
      expect(renewed.tokenType).toBe("Bearer")
    }).pipe(Effect.provide(Emulator.layerServer())))
})
