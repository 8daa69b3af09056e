import * as Emulator from "@effect-renewal/testing/Emulator"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Jose from "jose"
import { ISSUER, memory, send } from "./support/wire.js"

const get = (url: string) => send(HttpClientRequest.get(url))

const headerOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[0]!, "base64url").toString("utf8"))

// verifies as a relying party does, at the emulator's (test) time
const verify = (jwt: string, jwks: Jose.JSONWebKeySet, options?: { readonly issuer?: string }) =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (now) =>
      Effect.tryPromise(() =>
        Jose.jwtVerify(jwt, Jose.createLocalJWKSet(jwks), {
          issuer: options?.issuer ?? ISSUER,
          audience: "test-client-id",
          algorithms: ["RS256"],
          currentDate: new Date(now)
        })
      )
  )

describe("discovery document", () => {
  it.effect("names the issuer and the endpoints on its origin, as OpenID Discovery and RFC 8414 say", () =>
    Effect.gen(function*() {
      const reply = yield* get(`${ISSUER}.well-known/openid-configuration`)
      expect(reply.status).toBe(200)
      expect(reply.json).toMatchObject({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}authorize`,
        token_endpoint: `${ISSUER}oauth/token`,
        device_authorization_endpoint: `${ISSUER}oauth/device/code`,
        revocation_endpoint: `${ISSUER}oauth/revoke`,
        jwks_uri: `${ISSUER}.well-known/jwks.json`,
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none", "client_secret_post", "client_secret_basic"],
        id_token_signing_alg_values_supported: ["RS256"],
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        subject_types_supported: ["public"],
        authorization_response_iss_parameter_supported: true
      })
      // RFC 8414's path, and the double slash of `<issuer>/.well-known/...`
      expect((yield* get(`${ISSUER}.well-known/oauth-authorization-server`)).json).toEqual(reply.json)
      expect((yield* get(`${ISSUER}/.well-known/openid-configuration`)).json).toEqual(reply.json)
      const emulator = yield* Emulator.Emulator
      expect(emulator.issuer).toBe(ISSUER)
      expect((yield* emulator.counters).requests.discovery).toBe(3)
    }).pipe(memory()))

  it.effect("the issuer option moves every endpoint; a client secret drops `none`", () =>
    Effect.gen(function*() {
      const reply = yield* get("https://any-host.test/.well-known/openid-configuration")
      expect(reply.json.issuer).toBe("https://login.example.org/")
      expect(reply.json.token_endpoint).toBe("https://login.example.org/oauth/token")
      expect(reply.json.token_endpoint_auth_methods_supported).toEqual(["client_secret_post", "client_secret_basic"])
      expect((yield* Emulator.Emulator).issuer).toBe("https://login.example.org/")
    }).pipe(memory({ issuer: "https://login.example.org/", clientSecret: "s3cret" })))

  it.effect("takes GET only; scripted faults reach it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const posted = yield* send(HttpClientRequest.post(`${ISSUER}.well-known/openid-configuration`))
      expect(posted.status).toBe(405)
      expect(posted.headers["allow"]).toBe("GET")
      yield* emulator.faultOn("discovery", Emulator.Fault.status(503))
      yield* emulator.faultOn("jwks", Emulator.Fault.html(502))
      expect((yield* get(`${ISSUER}.well-known/openid-configuration`)).status).toBe(503)
      expect((yield* send(HttpClientRequest.get(`${ISSUER}.well-known/jwks.json`))).status).toBe(502)
      expect((yield* get(`${ISSUER}.well-known/openid-configuration`)).status).toBe(200)
      const log = yield* emulator.requests
      expect(log.map((entry) => [entry.endpoint, entry.method, entry.status, entry.fault])).toEqual([
        ["discovery", "POST", 405, undefined],
        ["discovery", "GET", 503, "Status"],
        ["jwks", "GET", 502, "Html"],
        ["discovery", "GET", 200, undefined]
      ])
    }).pipe(memory()))
})

describe("JWKS and id_tokens", () => {
  it.effect("id_tokens are RS256 with a kid, and verify against the JWKS with jose", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const jwks = (yield* get(`${ISSUER}.well-known/jwks.json`)).json as Jose.JSONWebKeySet
      expect(jwks.keys).toHaveLength(1)
      const [key] = jwks.keys
      expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" })
      expect(key).not.toHaveProperty("d") // no private part
      const body = yield* emulator.login({ username: "alice" })
      expect(headerOf(body.id_token!)).toEqual({ alg: "RS256", typ: "JWT", kid: key!.kid })
      const verified = yield* verify(body.id_token!, jwks)
      expect(verified.payload).toMatchObject({ iss: ISSUER, sub: "alice", aud: "test-client-id" })
      expect((yield* emulator.counters).requests.jwks).toBe(1)
    }).pipe(memory()))

  it.effect("a tampered id_token or one of another emulator does not verify", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const jwks = (yield* get(`${ISSUER}.well-known/jwks.json`)).json as Jose.JSONWebKeySet
      const body = yield* emulator.login()
      const [header, payload, signature] = body.id_token!.split(".")
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8"))
      const tampered = `${header}.${
        Buffer.from(JSON.stringify({ ...claims, sub: "mallory" })).toString("base64url")
      }.${signature}`
      const error = yield* Effect.flip(verify(tampered, jwks))
      expect(String(error.cause)).toContain("signature verification failed")
      const other = yield* Emulator.make()
      const foreign = yield* other.login()
      expect(yield* Effect.flip(verify(foreign.id_token!, jwks))).toBeDefined()
    }).pipe(memory()))

  it.effect("rotateSigningKey: new id_tokens carry the new kid; a JWKS fetched before lacks it, a fresh one has both", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const before = (yield* get(`${ISSUER}.well-known/jwks.json`)).json as Jose.JSONWebKeySet
      const old = yield* emulator.login()
      const kid = yield* emulator.rotateSigningKey()
      const fresh = yield* emulator.login()
      expect(headerOf(fresh.id_token!).kid).toBe(kid)
      expect(kid).not.toBe(before.keys[0]!.kid)
      const error = yield* Effect.flip(verify(fresh.id_token!, before))
      expect(String(error.cause)).toContain("no applicable key found in the JSON Web Key Set")
      const after = (yield* get(`${ISSUER}.well-known/jwks.json`)).json as Jose.JSONWebKeySet
      expect(after.keys.map((key) => key.kid)).toEqual([kid, before.keys[0]!.kid])
      yield* verify(fresh.id_token!, after)
      yield* verify(old.id_token!, after)
      // and the tenant itself takes both at /delegation
      for (const idToken of [old.id_token!, fresh.id_token!]) {
        const reply = yield* send(
          HttpClientRequest.post(`${ISSUER}delegation`).pipe(HttpClientRequest.bodyUrlParams({
            client_id: "test-client-id",
            grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
            id_token: idToken
          }))
        )
        expect(reply.status).toBe(200)
      }
    }).pipe(memory()))

  it.effect("signing is synchronous: a delayed answer with an id_token has its sleep registered before the test adjusts the clock", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login()
      yield* emulator.faultOn("token", Emulator.Fault.latency("5 seconds"))
      const fiber = yield* Effect.fork(
        send(
          HttpClientRequest.post(`${ISSUER}oauth/token`).pipe(HttpClientRequest.bodyUrlParams({
            grant_type: "refresh_token",
            client_id: "test-client-id",
            refresh_token: login.refresh_token!
          }))
        )
      )
      // one adjust, no yields before it: a signature awaited on a Promise
      // would register the sleep after the clock moved, and the join would hang
      yield* TestClock.adjust("5 seconds")
      const reply = yield* Fiber.join(fiber)
      expect(reply.status).toBe(200)
      expect(headerOf(reply.json.id_token).alg).toBe("RS256")
    }).pipe(memory()))

  it.effect("access tokens stay HS256 with the signing secret", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const body = yield* emulator.login()
      expect(headerOf(body.access_token)).toEqual({ alg: "HS256", typ: "JWT" })
      const now = yield* Clock.currentTimeMillis
      const verified = yield* Effect.promise(() =>
        Jose.jwtVerify(body.access_token, new TextEncoder().encode("a-secret"), { currentDate: new Date(now) })
      )
      expect(verified.payload.sub).toBe("demo-user")
    }).pipe(memory({ signingSecret: "a-secret" })))
})

describe("idTokenAlgorithm HS256", () => {
  it.effect("id_tokens signed with the signing secret, as the discovery document says; /delegation takes them", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const document = (yield* get(`${ISSUER}.well-known/openid-configuration`)).json
      expect(document.id_token_signing_alg_values_supported).toEqual(["HS256"])
      const body = yield* emulator.login({ username: "dave" })
      expect(headerOf(body.id_token!)).toEqual({ alg: "HS256", typ: "JWT" })
      const now = yield* Clock.currentTimeMillis
      const verified = yield* Effect.promise(() =>
        Jose.jwtVerify(body.id_token!, new TextEncoder().encode("a-secret"), { currentDate: new Date(now) })
      )
      expect(verified.payload).toMatchObject({ sub: "dave", aud: "test-client-id", iss: ISSUER })
      const delegation = (idToken: string) =>
        send(
          HttpClientRequest.post(`${ISSUER}delegation`).pipe(HttpClientRequest.bodyUrlParams({
            client_id: "test-client-id",
            grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
            id_token: idToken
          }))
        )
      expect((yield* delegation(body.id_token!)).status).toBe(200)
      // an RS256 id_token of another emulator is not this tenant's
      const other = yield* (yield* Emulator.make()).login()
      expect((yield* delegation(other.id_token!)).status).toBe(401)
    }).pipe(memory({ idTokenAlgorithm: "HS256", signingSecret: "a-secret" })))
})

describe("discovery over loopback", () => {
  it.live("layerServer's issuer is the server's URL: discovery, JWKS and id_tokens agree over real HTTP", () =>
    Effect.gen(function*() {
      const server = yield* Emulator.EmulatorServer
      const emulator = yield* Emulator.Emulator
      const issuer = `${server.url}/`
      expect(emulator.issuer).toBe(issuer)
      const document = (yield* get(`${issuer}.well-known/openid-configuration`)).json
      expect(document.issuer).toBe(issuer)
      expect(document.token_endpoint).toBe(`${server.url}/oauth/token`)
      const jwks = (yield* get(document.jwks_uri)).json as Jose.JSONWebKeySet
      const body = yield* emulator.login()
      const verified = yield* verify(body.id_token!, jwks, { issuer })
      expect(verified.payload.iss).toBe(issuer)
    }).pipe(Effect.provide(Layer.merge(Emulator.layerServer(), FetchHttpClient.layer))))

  it.live("an issuer option wins over the server's URL", () =>
    Effect.gen(function*() {
      const server = yield* Emulator.EmulatorServer
      const document = (yield* get(`${server.url}/.well-known/openid-configuration`)).json
      expect(document.issuer).toBe("https://proxy.example.org/")
    }).pipe(
      Effect.provide(Layer.merge(Emulator.layerServer({ issuer: "https://proxy.example.org/" }), FetchHttpClient.layer))
    ))
})
