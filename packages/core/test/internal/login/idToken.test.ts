import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as IdToken from "../../../src/internal/login/idToken.js"

const issuer = "https://issuer.example/"
const clientId = "client-1"
const jwksUri = "https://keys.example/jwks.json"
const start = 1_800_000_000_000

const keyPair = async (kid: string, alg: "RS256" | "ES256" = "RS256") => {
  const pair = await jose.generateKeyPair(alg, { extractable: true })
  const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid, alg, use: "sig" }
  return { ...pair, jwk, kid, alg }
}
type Key = Awaited<ReturnType<typeof keyPair>>

/** A JWKS endpoint whose answers the test scripts, counting the requests. */
const jwksServer = (initial: { status: number; body: unknown }) => {
  const state = { answer: initial, fetches: 0 }
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      state.fetches++
      expect(request.url).toBe(jwksUri)
      return HttpClientResponse.fromWeb(
        request,
        new Response(typeof state.answer.body === "string" ? state.answer.body : JSON.stringify(state.answer.body), {
          status: state.answer.status,
          headers: { "content-type": "application/json" }
        })
      )
    })
  )
  return { state, client }
}

const sign = (key: Key, claims: jose.JWTPayload, header: Partial<jose.JWTHeaderParameters> = {}) =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey)
  ).pipe(Effect.map(Redacted.make))

const claims = (overrides: Record<string, unknown> = {}): jose.JWTPayload => ({
  iss: issuer,
  aud: clientId,
  sub: "alice",
  iat: start / 1000,
  exp: start / 1000 + 600,
  nonce: "the-nonce",
  ...overrides
})

const setup = (options: { algorithms?: ReadonlyArray<string> } = {}) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(start)
    const key = yield* Effect.promise(() => keyPair("k1"))
    const server = jwksServer({ status: 200, body: { keys: [key.jwk] } })
    const verifier = yield* IdToken.make(server.client, {
      issuer,
      clientId,
      jwksUri,
      algorithms: options.algorithms,
      clockTolerance: IdToken.defaultClockTolerance
    })
    return { key, server, verifier }
  })

const nonce = Redacted.make("the-nonce")

describe("internal/login/idToken", () => {
  it.effect("accepts a token signed by a published key, reading the JWKS once", () =>
    Effect.gen(function*() {
      const { key, server, verifier } = yield* setup()
      yield* verifier.verify(yield* sign(key, claims()), { nonce })
      yield* verifier.verify(yield* sign(key, claims({ nonce: undefined })), { nonce: undefined })
      expect(server.state.fetches).toBe(1)
    }))

  it.effect("reads the JWKS again once for a key it does not hold (rotation), not for every token", () =>
    Effect.gen(function*() {
      const { key, server, verifier } = yield* setup()
      yield* verifier.verify(yield* sign(key, claims()), { nonce })
      const rotated = yield* Effect.promise(() => keyPair("k2"))
      server.state.answer = { status: 200, body: { keys: [key.jwk, rotated.jwk] } }
      yield* verifier.verify(yield* sign(rotated, claims()), { nonce })
      expect(server.state.fetches).toBe(2)
      // a token naming a key nobody publishes: one more read, then refused
      const stray = yield* Effect.promise(() => keyPair("k3"))
      const error = yield* Effect.flip(verifier.verify(yield* sign(stray, claims()), { nonce }))
      expect(error.reason).toBe("InvalidIdToken")
      expect(server.state.fetches).toBe(3)
    }))

  it.effect("refuses a forged signature, another issuer, another audience, a wrong azp", () =>
    Effect.gen(function*() {
      const { key, verifier } = yield* setup()
      const forger = yield* Effect.promise(() => keyPair("k1"))
      const cases = [
        [yield* sign(forger, claims()), "signature"],
        [yield* sign(key, claims({ iss: "https://evil.example/" })), "iss"],
        [yield* sign(key, claims({ aud: "another-client" })), "aud"],
        [yield* sign(key, claims({ aud: [clientId, "another-client"] })), "azp"],
        [yield* sign(key, claims({ aud: [clientId, "another-client"], azp: "another-client" })), "azp"],
        [yield* sign(key, claims({ azp: "another-client" })), "azp"],
        [yield* sign(key, claims({ sub: undefined })), "sub"]
      ] as const
      for (const [token, word] of cases) {
        const error = yield* Effect.flip(verifier.verify(token, { nonce }))
        expect(error.reason).toBe("InvalidIdToken")
        expect(error.description).toContain(word)
      }
      // several audiences, this client the authorized party: accepted
      yield* verifier.verify(yield* sign(key, claims({ aud: [clientId, "api"], azp: clientId })), { nonce })
    }))

  it.effect("exp and iat are read on the Clock, with a small leeway", () =>
    Effect.gen(function*() {
      const { key, verifier } = yield* setup()
      const token = yield* sign(key, claims())
      yield* TestClock.adjust("610 seconds") // 10 s past exp: within the leeway
      yield* verifier.verify(token, { nonce })
      yield* TestClock.adjust("1 minute")
      const expired = yield* Effect.flip(verifier.verify(token, { nonce }))
      expect(expired.description).toContain("expired")
      const future = yield* sign(key, claims({ iat: start / 1000 + 3600, exp: start / 1000 + 7200 }))
      const error = yield* Effect.flip(verifier.verify(future, { nonce }))
      expect(error.description).toContain("iat")
    }))

  it.effect("the nonce must be the one sent, when one was sent", () =>
    Effect.gen(function*() {
      const { key, verifier } = yield* setup()
      for (
        const token of [yield* sign(key, claims({ nonce: "other" })), yield* sign(key, claims({ nonce: undefined }))]
      ) {
        const error = yield* Effect.flip(verifier.verify(token, { nonce }))
        expect(error.reason).toBe("InvalidIdToken")
        expect(error.description).toContain("nonce")
        expect(error.message).not.toContain("the-nonce")
      }
    }))

  it.effect("refuses unsigned and HMAC tokens, whatever the metadata allows", () =>
    Effect.gen(function*() {
      const { verifier } = yield* setup({ algorithms: ["none", "HS256", "RS256"] })
      const unsecured = Redacted.make(new jose.UnsecuredJWT(claims()).encode())
      expect((yield* Effect.flip(verifier.verify(unsecured, { nonce }))).reason).toBe("InvalidIdToken")
      const secret = new TextEncoder().encode("a-shared-secret-of-at-least-32-bytes!!")
      const hmac = Redacted.make(
        yield* Effect.promise(() =>
          new jose.SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: "k1" }).sign(secret)
        )
      )
      expect((yield* Effect.flip(verifier.verify(hmac, { nonce }))).description).toContain("algorithm")
      expect(IdToken.allowedAlgorithms(["none", "HS256", "HS512", "RS256", "ES256", "EdDSA"])).toEqual([
        "RS256",
        "ES256",
        "EdDSA"
      ])
    }))

  it.effect("an unreachable JWKS is Transient, a missing one InvalidIdToken", () =>
    Effect.gen(function*() {
      const { key, server, verifier } = yield* setup()
      const token = yield* sign(key, claims())
      server.state.answer = { status: 503, body: {} }
      expect((yield* Effect.flip(verifier.verify(token, { nonce }))).reason).toBe("Transient")
      server.state.answer = { status: 404, body: {} }
      expect((yield* Effect.flip(verifier.verify(token, { nonce }))).reason).toBe("InvalidIdToken")
      server.state.answer = { status: 200, body: { keys: "none" } }
      expect((yield* Effect.flip(verifier.verify(token, { nonce }))).reason).toBe("InvalidIdToken")
      server.state.answer = { status: 200, body: "<html>not json" }
      expect((yield* Effect.flip(verifier.verify(token, { nonce }))).reason).toBe("InvalidIdToken")
      server.state.answer = { status: 200, body: { keys: [key.jwk] } }
      yield* verifier.verify(token, { nonce })
    }))

  it.effect("a JWKS answer that redirects, or weighs more than 1 MiB, is not followed nor read: the keys are refused", () =>
    Effect.gen(function*() {
      const { key, server, verifier } = yield* setup()
      const token = yield* sign(key, claims())
      server.state.answer = { status: 302, body: { keys: [key.jwk] } }
      const redirected = yield* Effect.flip(verifier.verify(token, { nonce }))
      expect([redirected.reason, redirected.description]).toEqual([
        "InvalidIdToken",
        expect.stringContaining(`GET ${jwksUri}`)
      ])
      // a published key padded past the cap
      server.state.answer = { status: 200, body: { keys: [key.jwk], padding: "x".repeat(1024 * 1024) } }
      const huge = yield* Effect.flip(verifier.verify(token, { nonce }))
      expect(huge.reason).toBe("InvalidIdToken")
      expect(server.state.fetches).toBe(2)
    }))

  it.effect("a token that is not a JWT is InvalidIdToken, not a defect", () =>
    Effect.gen(function*() {
      const { verifier } = yield* setup()
      for (const token of ["", "a.b.c", "not a token", "eyJhbGciOiJSUzI1NiJ9.e30"]) {
        const error = yield* Effect.flip(verifier.verify(Redacted.make(token), { nonce }))
        expect(error.reason).toBe("InvalidIdToken")
      }
    }))
})
