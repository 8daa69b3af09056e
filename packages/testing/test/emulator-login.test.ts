import * as Emulator from "@effect-renewal/testing/Emulator"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Jose from "jose"
import { createHash, randomBytes } from "node:crypto"
import { claimsOf, CLIENT_ID, ISSUER, memory, send } from "./support/wire.js"

const REDIRECT_URI = "http://127.0.0.1:8765/callback"

const pkce = () => {
  const verifier = randomBytes(32).toString("base64url")
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") }
}

const authorizeUrl = (params: Record<string, string | undefined>, issuer = ISSUER) => {
  const url = new URL("authorize", issuer)
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value)
  return url.href
}

const standard = (challenge: string, extra: Record<string, string | undefined> = {}) => ({
  response_type: "code",
  client_id: CLIENT_ID,
  redirect_uri: REDIRECT_URI,
  scope: "openid profile email offline_access",
  state: "state-1",
  nonce: "nonce-1",
  code_challenge: challenge,
  code_challenge_method: "S256",
  ...extra
})

/** GET /authorize; the parameters of the redirect it answers. */
const authorize = (params: Record<string, string | undefined>, issuer = ISSUER) =>
  Effect.gen(function*() {
    const reply = yield* send(HttpClientRequest.get(authorizeUrl(params, issuer)))
    expect(reply.status).toBe(302)
    const location = new URL(reply.headers["location"]!)
    return { location, params: Object.fromEntries(location.searchParams) }
  })

const exchange = (params: Record<string, string | undefined>, issuer = ISSUER) =>
  send(
    HttpClientRequest.post(new URL("oauth/token", issuer).href).pipe(
      HttpClientRequest.bodyUrlParams(
        Object.fromEntries(
          Object.entries({ grant_type: "authorization_code", client_id: CLIENT_ID, ...params }).filter((
            [, value]
          ) => value !== undefined)
        ) as Record<string, string>
      )
    )
  )

/** A whole login: authorize, then exchange the code. */
const logIn = (extra: Record<string, string | undefined> = {}) =>
  Effect.gen(function*() {
    const { challenge, verifier } = pkce()
    const redirect = yield* authorize(standard(challenge, extra))
    const reply = yield* exchange({ code: redirect.params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
    return { redirect, reply }
  })

describe("/authorize", () => {
  it.effect("approves as demo-user by default: a 302 to the redirect_uri with code, state and iss", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { challenge } = pkce()
      const redirect = yield* authorize(standard(challenge, { redirect_uri: `${REDIRECT_URI}?keep=1` }))
      expect(redirect.location.origin + redirect.location.pathname).toBe(REDIRECT_URI)
      expect(Object.keys(redirect.params).sort()).toEqual(["code", "iss", "keep", "state"])
      expect(redirect.params).toMatchObject({ state: "state-1", iss: ISSUER, keep: "1" })
      expect(redirect.params.code!.length).toBeGreaterThanOrEqual(32)
      const counters = yield* emulator.counters
      expect(counters).toMatchObject({ authorizations: 1, denials: 0, codeExchanges: 0, logins: 0 })
      expect(counters.requests.authorize).toBe(1)
    }).pipe(memory()))

  it.effect("denyNext: a redirect with error=access_denied, state and iss, no code; then the default again", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.denyNext()
      const { challenge } = pkce()
      const denied = yield* authorize(standard(challenge))
      expect(denied.params).toMatchObject({ error: "access_denied", state: "state-1", iss: ISSUER })
      expect(denied.params.code).toBeUndefined()
      const approved = yield* authorize(standard(challenge))
      expect(approved.params.code).toBeTypeOf("string")
      expect(yield* emulator.counters).toMatchObject({ authorizations: 1, denials: 1 })
    }).pipe(memory()))

  it.effect("scripted answers are used first in first out", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.approveNext({ username: "alice", email: "alice@example.org" })
      yield* emulator.denyNext()
      yield* emulator.approveNext({ username: "bob" })
      const first = yield* logIn()
      expect(claimsOf(first.reply.json.id_token)).toMatchObject({ sub: "alice", email: "alice@example.org" })
      const second = yield* logIn()
      expect(second.redirect.params.error).toBe("access_denied")
      const third = yield* logIn()
      expect(claimsOf(third.reply.json.id_token).sub).toBe("bob")
      expect(claimsOf(third.reply.json.id_token)).not.toHaveProperty("email")
      const fourth = yield* logIn()
      expect(claimsOf(fourth.reply.json.id_token).sub).toBe("demo-user")
    }).pipe(memory()))

  it.effect("PKCE S256 is required: a missing challenge, `plain` or no method is refused by a redirect", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { challenge } = pkce()
      for (
        const extra of [
          { code_challenge: undefined },
          { code_challenge_method: "plain" },
          { code_challenge_method: undefined },
          { code_challenge: "short" }
        ]
      ) {
        const refused = yield* authorize(standard(challenge, extra))
        expect(refused.params).toMatchObject({ error: "invalid_request", state: "state-1", iss: ISSUER })
        expect(refused.params.code).toBeUndefined()
      }
      const other = yield* authorize(standard(challenge, { response_type: "token" }))
      expect(other.params.error).toBe("unsupported_response_type")
      expect((yield* emulator.counters).authorizations).toBe(0)
    }).pipe(memory()))

  it.effect("an unknown or missing client_id, or a missing or bad redirect_uri: a 400 page, never a redirect", () =>
    Effect.gen(function*() {
      const { challenge } = pkce()
      for (
        const extra of [
          { client_id: "someone-else" },
          { client_id: undefined },
          { redirect_uri: undefined },
          { redirect_uri: "not a url" },
          { redirect_uri: "javascript:alert(1)" }
        ]
      ) {
        const reply = yield* send(HttpClientRequest.get(authorizeUrl(standard(challenge, extra))))
        expect(reply.status).toBe(400)
        expect(reply.headers["location"]).toBeUndefined()
        expect(reply.headers["content-type"]).toContain("text/html")
      }
      const posted = yield* send(HttpClientRequest.post(authorizeUrl(standard(challenge))))
      expect(posted.status).toBe(405)
    }).pipe(memory()))

  it.effect("a scripted fault answers instead of the model: no code issued", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("authorize", Emulator.Fault.html(503))
      const { challenge } = pkce()
      const reply = yield* send(HttpClientRequest.get(authorizeUrl(standard(challenge))))
      expect(reply.status).toBe(503)
      expect((yield* emulator.counters).authorizations).toBe(0)
    }).pipe(memory()))
})

describe("authorization_code grant", () => {
  it.effect("the code and its verifier give tokens: an id_token with nonce, aud, iss, sub, exp, iat, verified by the JWKS", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      yield* TestClock.adjust("1000 seconds")
      yield* emulator.approveNext({ username: "alice", email: "alice@example.org" })
      const { reply } = yield* logIn({ audience: "https://api.example.org" })
      expect(reply.status).toBe(200)
      expect(Object.keys(reply.json).sort()).toEqual([
        "access_token",
        "expires_in",
        "id_token",
        "refresh_token",
        "scope",
        "token_type"
      ])
      expect(reply.json).toMatchObject({
        token_type: "Bearer",
        expires_in: 3600,
        scope: "openid profile email offline_access"
      })
      const jwks = (yield* send(HttpClientRequest.get(`${ISSUER}.well-known/jwks.json`))).json
      const now = yield* Clock.currentTimeMillis
      const { payload } = yield* Effect.promise(() =>
        Jose.jwtVerify(reply.json.id_token, Jose.createLocalJWKSet(jwks), {
          issuer: ISSUER,
          audience: CLIENT_ID,
          algorithms: ["RS256"],
          currentDate: new Date(now)
        })
      )
      expect(payload).toMatchObject({
        iss: ISSUER,
        aud: CLIENT_ID,
        sub: "alice",
        email: "alice@example.org",
        nonce: "nonce-1",
        iat: 1000,
        exp: 1000 + 36000
      })
      expect(claimsOf(reply.json.access_token)).toMatchObject({ sub: "alice", aud: "https://api.example.org" })
      expect(yield* emulator.counters).toMatchObject({ authorizations: 1, codeExchanges: 1, logins: 1 })
    }).pipe(memory()))

  it.effect("the refresh token starts a family that rotates like any other; no offline_access, no refresh token", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { reply } = yield* logIn()
      const renewed = yield* send(
        HttpClientRequest.post(`${ISSUER}oauth/token`).pipe(HttpClientRequest.bodyUrlParams({
          grant_type: "refresh_token",
          client_id: CLIENT_ID,
          refresh_token: reply.json.refresh_token
        }))
      )
      expect(renewed.status).toBe(200)
      expect(renewed.json.refresh_token).not.toBe(reply.json.refresh_token)
      expect((yield* emulator.counters).rotations).toBe(1)
      const online = yield* logIn({ scope: "openid" })
      expect(online.reply.json.refresh_token).toBeUndefined()
      expect(online.reply.json.id_token).toBeTypeOf("string")
      const noOpenId = yield* logIn({ scope: "offline_access", nonce: undefined })
      expect(noOpenId.reply.json.id_token).toBeUndefined()
    }).pipe(memory()))

  it.effect("a verifier that does not match the challenge: invalid_grant, and the code is spent", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { challenge, verifier } = pkce()
      const { params } = yield* authorize(standard(challenge))
      for (const wrong of [pkce().verifier, undefined, "short"]) {
        const { params: again } = yield* authorize(standard(challenge))
        const reply = yield* exchange({ code: again.code, redirect_uri: REDIRECT_URI, code_verifier: wrong })
        expect(reply.status).toBe(403)
        expect(reply.json).toEqual({ error: "invalid_grant", error_description: "Failed to verify code verifier." })
      }
      const mismatch = yield* exchange({
        code: params.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: pkce().verifier
      })
      expect(mismatch.json.error).toBe("invalid_grant")
      const retried = yield* exchange({ code: params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(retried.json.error).toBe("invalid_grant")
      expect((yield* emulator.counters).codeExchanges).toBe(0)
    }).pipe(memory()))

  it.effect("a redirect_uri other than the authorization request's, or none: invalid_grant", () =>
    Effect.gen(function*() {
      const { challenge, verifier } = pkce()
      for (const redirectUri of ["http://127.0.0.1:8765/other", `${REDIRECT_URI}?x=1`, undefined]) {
        const { params } = yield* authorize(standard(challenge))
        const reply = yield* exchange({ code: params.code, redirect_uri: redirectUri, code_verifier: verifier })
        expect(reply.status).toBe(403)
        expect(reply.json).toEqual({
          error: "invalid_grant",
          error_description: "The redirect_uri does not match the authorization request."
        })
      }
    }).pipe(memory()))

  it.effect("a code replayed: invalid_grant, and the refresh token family it issued is revoked", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { challenge, verifier } = pkce()
      const { params } = yield* authorize(standard(challenge))
      const first = yield* exchange({ code: params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(first.status).toBe(200)
      expect(yield* emulator.isRevoked(first.json.refresh_token)).toBe(false)
      const replay = yield* exchange({ code: params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(replay.status).toBe(403)
      expect(replay.json).toEqual({ error: "invalid_grant", error_description: "Invalid authorization code." })
      expect(yield* emulator.isRevoked(first.json.refresh_token)).toBe(true)
      expect(yield* emulator.counters).toMatchObject({ codeExchanges: 1, revokedFamilies: 1 })
      const unknown = yield* exchange({ code: "made-up", redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(unknown.json.error).toBe("invalid_grant")
      const missing = yield* exchange({ redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(missing.status).toBe(400)
      expect(missing.json.error).toBe("invalid_request")
    }).pipe(memory()))

  it.effect("a code expires 60 seconds after it was issued, on the Clock", () =>
    Effect.gen(function*() {
      const { challenge, verifier } = pkce()
      const { params: early } = yield* authorize(standard(challenge))
      const { params: late } = yield* authorize(standard(challenge))
      yield* TestClock.adjust("59 seconds")
      const inTime = yield* exchange({ code: early.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(inTime.status).toBe(200)
      yield* TestClock.adjust("1 second")
      const expired = yield* exchange({ code: late.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(expired.status).toBe(403)
      expect(expired.json).toEqual({ error: "invalid_grant", error_description: "The authorization code has expired." })
    }).pipe(memory()))

  it.effect("the lifetime of a code is an option", () =>
    Effect.gen(function*() {
      const { challenge, verifier } = pkce()
      const { params } = yield* authorize(standard(challenge))
      yield* TestClock.adjust("10 seconds")
      const expired = yield* exchange({ code: params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      expect(expired.json.error).toBe("invalid_grant")
    }).pipe(memory({ authorizationCodeLifetime: "10 seconds" })))

  it.effect("with a client secret, the exchange requires it", () =>
    Effect.gen(function*() {
      const { challenge, verifier } = pkce()
      const { params } = yield* authorize(standard(challenge))
      const unauthenticated = yield* exchange({
        code: params.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier
      })
      expect(unauthenticated.status).toBe(401)
      expect(unauthenticated.json.error).toBe("invalid_client")
      // refused before the code was looked at: it still works
      const authenticated = yield* exchange({
        code: params.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        client_secret: "s3cret"
      })
      expect(authenticated.status).toBe(200)
    }).pipe(memory({ clientSecret: "s3cret" })))

  it.effect("the request log holds neither the code nor the verifier", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { challenge, verifier } = pkce()
      const { params } = yield* authorize(standard(challenge))
      yield* exchange({ code: params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier })
      const log = yield* emulator.requests
      expect(log.map((entry) => [entry.endpoint, entry.method, entry.path, entry.status])).toEqual([
        ["authorize", "GET", "/authorize", 302],
        ["token", "POST", "/oauth/token", 200]
      ])
      expect(log[0]!.params).toMatchObject({ state: "state-1", code_challenge: challenge, redirect_uri: REDIRECT_URI })
      expect(log[1]!.params).toMatchObject({ code: "<redacted>", code_verifier: "<redacted>" })
      const serialized = JSON.stringify(log)
      expect(serialized).not.toContain(params.code)
      expect(serialized).not.toContain(verifier)
    }).pipe(memory()))
})

describe("authorization code over loopback", () => {
  it.live("a browser follows /authorize on the server's issuer; the code is exchanged over HTTP", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const issuer = emulator.issuer
      const { challenge, verifier } = pkce()
      yield* emulator.approveNext({ username: "carol" })
      // a browser that does not follow the redirect to the (absent) callback server
      const response = yield* Effect.promise(() =>
        fetch(authorizeUrl(standard(challenge), issuer), { redirect: "manual" })
      )
      expect(response.status).toBe(302)
      const location = new URL(response.headers.get("location")!)
      expect(location.searchParams.get("iss")).toBe(issuer)
      const reply = yield* exchange({
        code: location.searchParams.get("code")!,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier
      }, issuer)
      expect(reply.status).toBe(200)
      expect(claimsOf(reply.json.id_token)).toMatchObject({ iss: issuer, sub: "carol", nonce: "nonce-1" })
    }).pipe(Effect.provide(Layer.merge(Emulator.layerServer(), FetchHttpClient.layer))))
})
