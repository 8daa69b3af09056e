/**
 * DPoP (RFC 9449) at the emulator. The proofs are built here with jose
 * directly, independently of any client code, so that a client tested
 * against the emulator is checked against RFC 9449 and not against itself.
 */
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Jose from "jose"
import { createHash, randomBytes } from "node:crypto"
import { claimsOf, CLIENT_ID, ISSUER, memory, send } from "./support/wire.js"

const TOKEN_URL = new URL("oauth/token", ISSUER).href
const USERINFO_URL = new URL("userinfo", ISSUER).href

interface Key {
  readonly alg: string
  readonly privateKey: Jose.CryptoKey
  readonly jwk: Jose.JWK
  readonly jkt: string
}

const makeKey = async (alg: string, options?: Jose.GenerateKeyPairOptions): Promise<Key> => {
  const pair = await Jose.generateKeyPair(alg, { extractable: true, ...options })
  const jwk = await Jose.exportJWK(pair.publicKey)
  return { alg, privateKey: pair.privateKey, jwk, jkt: await Jose.calculateJwkThumbprint(jwk) }
}

// generated once: a key per test would be slow on a shared machine
const keys = Promise.all([makeKey("ES256"), makeKey("ES256")])
const withKeys = Effect.promise(() => keys)

interface ProofOptions {
  readonly htm?: string
  readonly htu?: string
  /** Seconds; default the Clock's. */
  readonly iat?: number
  readonly jti?: string
  readonly nonce?: string
  readonly ath?: string
  readonly header?: Record<string, unknown>
  readonly omit?: ReadonlyArray<string>
}

/** A DPoP proof signed by `key`, for a POST to the token endpoint unless told otherwise. */
const proofOf = (key: Key, options: ProofOptions = {}) =>
  Effect.gen(function*() {
    const iat = options.iat ?? Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const claims: Record<string, unknown> = {
      htm: options.htm ?? "POST",
      htu: options.htu ?? TOKEN_URL,
      iat,
      jti: options.jti ?? randomBytes(12).toString("base64url"),
      ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
      ...(options.ath !== undefined ? { ath: options.ath } : {})
    }
    for (const name of options.omit ?? []) delete claims[name]
    return yield* Effect.promise(() =>
      new Jose.SignJWT(claims)
        .setProtectedHeader(
          { alg: key.alg, typ: "dpop+jwt", jwk: key.jwk, ...options.header } as Jose.JWTHeaderParameters
        )
        .sign(key.privateKey)
    )
  })

const athOf = (accessToken: string) => createHash("sha256").update(accessToken).digest("base64url")

const tokenRequest = (params: Record<string, string>, dpop?: string) =>
  send(
    HttpClientRequest.post(TOKEN_URL).pipe(
      HttpClientRequest.bodyUrlParams({ client_id: CLIENT_ID, ...params }),
      dpop === undefined ? (request) => request : HttpClientRequest.setHeader("DPoP", dpop)
    )
  )

const testLogin = (dpop?: string) =>
  tokenRequest({ grant_type: "urn:effect-renewal:test-login", scope: "openid offline_access" }, dpop)

const refresh = (refreshToken: string, dpop?: string) =>
  tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken }, dpop)

const userinfo = (authorization: string | undefined, dpop?: string) =>
  send(
    HttpClientRequest.get(USERINFO_URL).pipe(
      authorization === undefined ? (request) => request : HttpClientRequest.setHeader("Authorization", authorization),
      dpop === undefined ? (request) => request : HttpClientRequest.setHeader("DPoP", dpop)
    )
  )

describe("DPoP at the token endpoint", () => {
  it.effect("a proof binds the access token (cnf.jkt, token_type DPoP) and a public client's refresh token", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* testLogin(yield* proofOf(key))
      expect(login.status).toBe(200)
      expect(login.json.token_type).toBe("DPoP")
      expect(claimsOf(login.json.access_token).cnf).toEqual({ jkt: key.jkt })

      const renewed = yield* refresh(login.json.refresh_token, yield* proofOf(key))
      expect(renewed.status).toBe(200)
      expect(renewed.json.token_type).toBe("DPoP")
      expect(claimsOf(renewed.json.access_token).cnf).toEqual({ jkt: key.jkt })
      expect(renewed.headers["dpop-nonce"]).toBeUndefined()
      expect(yield* emulator.counters).toMatchObject({ dpopProofs: 2, dpopRefusals: 0, rotations: 1 })
    }).pipe(memory()))

  it.effect("without a proof, tokens are Bearer as before", () =>
    Effect.gen(function*() {
      const login = yield* testLogin()
      expect(login.json.token_type).toBe("Bearer")
      expect(claimsOf(login.json.access_token).cnf).toBeUndefined()
      const renewed = yield* refresh(login.json.refresh_token)
      expect(renewed.status).toBe(200)
      expect(renewed.json.token_type).toBe("Bearer")
    }).pipe(memory()))

  it.effect("a bound refresh token is refused without a proof or with another key, and stays usable", () =>
    Effect.gen(function*() {
      const [key, other] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* testLogin(yield* proofOf(key))
      const refreshToken: string = login.json.refresh_token

      const bare = yield* refresh(refreshToken)
      expect(bare.status).toBe(403)
      expect(bare.json.error).toBe("invalid_grant")
      const stranger = yield* refresh(refreshToken, yield* proofOf(other))
      expect(stranger.status).toBe(403)
      expect(stranger.json.error).toBe("invalid_grant")

      const renewed = yield* refresh(refreshToken, yield* proofOf(key))
      expect(renewed.status).toBe(200)
      expect(yield* emulator.counters).toMatchObject({ rotations: 1, reuseDetections: 0, revokedFamilies: 0 })
      expect(yield* emulator.isRevoked(refreshToken)).toBe(false)
    }).pipe(memory()))

  it.effect("a confidential client's refresh token is not bound: its secret binds it", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const login = yield* tokenRequest({
        grant_type: "urn:effect-renewal:test-login",
        scope: "openid offline_access",
        client_secret: "s3cret"
      }, yield* proofOf(key))
      expect(login.json.token_type).toBe("DPoP")
      const renewed = yield* tokenRequest({
        grant_type: "refresh_token",
        refresh_token: login.json.refresh_token,
        client_secret: "s3cret"
      })
      expect(renewed.status).toBe(200)
      expect(renewed.json.token_type).toBe("Bearer")
    }).pipe(memory({ clientSecret: "s3cret" })))

  it.effect("login({ jkt }) mints tokens bound to that key without HTTP", () =>
    Effect.gen(function*() {
      const [key, other] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login({ jkt: key.jkt })
      expect(login.token_type).toBe("DPoP")
      expect(claimsOf(login.access_token).cnf).toEqual({ jkt: key.jkt })
      expect((yield* refresh(login.refresh_token!, yield* proofOf(other))).status).toBe(403)
      expect((yield* refresh(login.refresh_token!, yield* proofOf(key))).status).toBe(200)
    }).pipe(memory()))

  // each with a word of the error_description it gets
  const refusals: ReadonlyArray<readonly [string, string, (key: Key, other: Key) => Effect.Effect<string>]> = [
    ["another method (htm)", "htm", (key) => proofOf(key, { htm: "GET" })],
    ["another URL (htu)", "htu", (key) => proofOf(key, { htu: new URL("oauth/revoke", ISSUER).href })],
    ["another host (htu)", "htu", (key) => proofOf(key, { htu: "https://elsewhere.test/oauth/token" })],
    ["an iat 61 s old", "iat", (key) => proofOf(key, { iat: -61 })],
    ["an iat 61 s ahead", "iat", (key) => proofOf(key, { iat: 61 })],
    ["no jti", "no jti", (key) => proofOf(key, { omit: ["jti"] })],
    ["no htu", "no htu", (key) => proofOf(key, { omit: ["htu"] })],
    ["no iat", "no iat", (key) => proofOf(key, { omit: ["iat"] })],
    ["typ JWT", "typ", (key) => proofOf(key, { header: { typ: "JWT" } })],
    ["a private key in the jwk header", "not a public key", (key) =>
      Effect.flatMap(
        Effect.promise(() => Jose.exportJWK(key.privateKey)),
        (privateJwk) => proofOf(key, { header: { jwk: privateJwk } })
      )],
    [
      "the jwk of another key (bad signature)",
      "signature",
      (key, other) => proofOf(key, { header: { jwk: other.jwk } })
    ],
    ["a tampered payload", "signature", (key) =>
      Effect.map(proofOf(key), (proof) => {
        const [header, , signature] = proof.split(".")
        const payload = Buffer.from(JSON.stringify({ htm: "POST", htu: TOKEN_URL, iat: 0, jti: "x" })).toString(
          "base64url"
        )
        return `${header}.${payload}.${signature}`
      })],
    [
      "a symmetric key (HS256)",
      "not a public key",
      () =>
        Effect.promise(() =>
          new Jose.SignJWT({ htm: "POST", htu: TOKEN_URL, iat: 0, jti: "hs" })
            .setProtectedHeader(
              { alg: "HS256", typ: "dpop+jwt", jwk: { kty: "oct", k: "c2VjcmV0" } } as Jose.JWTHeaderParameters
            )
            .sign(new TextEncoder().encode("secret"))
        )
    ],
    ["an unsigned JWT (alg none)", "jwk", () =>
      Effect.succeed(
        new Jose.UnsecuredJWT({ htm: "POST", htu: TOKEN_URL, iat: 0, jti: "none" }).encode()
      )],
    [
      "two proofs",
      "signature",
      (key) => Effect.map(Effect.all([proofOf(key), proofOf(key)]), (proofs) => proofs.join(", "))
    ],
    ["not a JWS", "compact JWS", () => Effect.succeed("not-a-proof")],
    [
      "a symmetric algorithm (HS256) with a public jwk",
      "algorithm",
      (key) =>
        Effect.promise(() =>
          new Jose.SignJWT({ htm: "POST", htu: TOKEN_URL, iat: 0, jti: "hs-public" })
            .setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: key.jwk })
            .sign(new TextEncoder().encode("secret"))
        )
    ]
  ]

  it.effect("an invalid proof is a 400 invalid_dpop_proof that spends nothing", () =>
    Effect.gen(function*() {
      const [key, other] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login()
      const refreshToken = login.refresh_token!
      for (const [name, reason, make] of refusals) {
        const answer = yield* refresh(refreshToken, yield* make(key, other))
        expect([name, answer.status, answer.json.error]).toEqual([name, 400, "invalid_dpop_proof"])
        expect([name, answer.json.error_description]).toEqual([name, expect.stringContaining(reason)])
        expect(answer.text).not.toContain(refreshToken)
      }
      expect(yield* emulator.counters).toMatchObject({
        dpopRefusals: refusals.length,
        dpopProofs: 0,
        rotations: 0,
        reuseDetections: 0
      })
      expect((yield* refresh(refreshToken, yield* proofOf(key))).status).toBe(200)
    }).pipe(memory()))

  it.effect("htu is compared without query and fragment, after normalisation", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const htu = "HTTPS://Emulator.Effect-Renewal.TEST:443/oauth/token?x=1#f"
      expect((yield* testLogin(yield* proofOf(key, { htu }))).status).toBe(200)
    }).pipe(memory()))

  it.effect("a replayed proof is refused while its iat is in the window, then for its iat", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      yield* TestClock.adjust("1 hour")
      const proof = yield* proofOf(key)
      expect((yield* testLogin(proof)).status).toBe(200)
      yield* TestClock.adjust("30 seconds")
      const replayed = yield* testLogin(proof)
      expect(replayed.json).toEqual({ error: "invalid_dpop_proof", error_description: expect.stringContaining("jti") })
      yield* TestClock.adjust("31 seconds")
      const stale = yield* testLogin(proof)
      expect(stale.json).toEqual({ error: "invalid_dpop_proof", error_description: expect.stringContaining("iat") })
    }).pipe(memory()))

  it.effect("the acceptance window is an option", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      yield* TestClock.adjust("1 hour")
      const now = 3600
      expect((yield* testLogin(yield* proofOf(key, { iat: now - 5 }))).status).toBe(200)
      expect((yield* testLogin(yield* proofOf(key, { iat: now - 11 }))).json.error).toBe("invalid_dpop_proof")
    }).pipe(memory({ dpop: { proofWindow: "10 seconds" } })))

  it.effect("every algorithm the emulator names by default is accepted", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const algorithms = ["ES256", "ES384", "RS256", "PS256", "EdDSA"] as const
      for (const alg of algorithms) {
        const key = yield* Effect.promise(() => makeKey(alg))
        const login = yield* testLogin(yield* proofOf(key))
        expect([alg, login.status]).toEqual([alg, 200])
        expect(claimsOf(login.json.access_token).cnf.jkt).toBe(key.jkt)
      }
      expect((yield* emulator.counters).dpopProofs).toBe(algorithms.length)
    }).pipe(memory()))

  it.effect("algorithms is an option", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      expect((yield* testLogin(yield* proofOf(key))).json.error).toBe("invalid_dpop_proof")
    }).pipe(memory({ dpop: { algorithms: ["EdDSA"] } })))

  it.effect("dpop.required: a token request without a proof is refused", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const bare = yield* testLogin()
      expect(bare.status).toBe(400)
      expect(bare.json.error).toBe("invalid_dpop_proof")
      expect((yield* testLogin(yield* proofOf(key))).status).toBe(200)
      expect(yield* emulator.counters).toMatchObject({ dpopRefusals: 1, dpopProofs: 1, logins: 1 })
    }).pipe(memory({ dpop: { required: true } })))

  it.effect("the discovery document names the algorithms", () =>
    Effect.gen(function*() {
      const document = yield* send(HttpClientRequest.get(new URL(".well-known/openid-configuration", ISSUER).href))
      expect(document.json.dpop_signing_alg_values_supported).toEqual(["ES256", "ES384", "RS256", "PS256", "EdDSA"])
      expect(document.json.userinfo_endpoint).toBe(USERINFO_URL)
    }).pipe(memory()))

  it.effect("the request log keeps no proof, nonce or token", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const nonce = yield* emulator.dpopNonce("token")
      const proof = yield* proofOf(key, { nonce })
      const login = yield* testLogin(proof)
      const log = JSON.stringify(yield* emulator.requests)
      for (const secret of [proof, nonce, login.json.access_token, login.json.refresh_token]) {
        expect(log).not.toContain(secret)
      }
    }).pipe(memory({ dpop: { nonce: true } })))
})

describe("DPoP nonces at the token endpoint", () => {
  it.effect("a proof without the nonce is challenged before the grant: the refresh token is not spent, no reuse", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login({ jkt: key.jkt })
      const refreshToken = login.refresh_token!

      const challenged = yield* refresh(refreshToken, yield* proofOf(key))
      expect(challenged.status).toBe(400)
      expect(challenged.json.error).toBe("use_dpop_nonce")
      const nonce = challenged.headers["dpop-nonce"]!
      expect(nonce).toBe(yield* emulator.dpopNonce("token"))

      const renewed = yield* refresh(refreshToken, yield* proofOf(key, { nonce }))
      expect(renewed.status).toBe(200)
      expect(renewed.headers["dpop-nonce"]).toBe(nonce)
      expect(yield* emulator.counters).toMatchObject({
        dpopNonceChallenges: 1,
        dpopProofs: 1,
        rotations: 1,
        reuseDetections: 0,
        revokedFamilies: 0
      })
    }).pipe(memory({ dpop: { nonce: true } })))

  it.effect("rotateDpopNonce makes the stored nonce stale: challenged with the new one, even when not required", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login({ jkt: key.jkt })
      const stale = yield* emulator.dpopNonce("token")
      const fresh = yield* emulator.rotateDpopNonce("token")
      expect(fresh).not.toBe(stale)
      expect(yield* emulator.dpopNonce("token")).toBe(fresh)
      const challenged = yield* refresh(login.refresh_token!, yield* proofOf(key, { nonce: stale }))
      expect(challenged.json.error).toBe("use_dpop_nonce")
      expect(challenged.headers["dpop-nonce"]).toBe(fresh)
      const renewed = yield* refresh(login.refresh_token!, yield* proofOf(key, { nonce: fresh }))
      expect(renewed.status).toBe(200)
      // not required: the answer carries no nonce
      expect(renewed.headers["dpop-nonce"]).toBeUndefined()
      expect(yield* emulator.counters).toMatchObject({ dpopNonceChallenges: 1, rotations: 1, reuseDetections: 0 })
    }).pipe(memory()))

  it.effect("requireDpopNonce turns the requirement on and off at run time", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      expect((yield* testLogin(yield* proofOf(key))).status).toBe(200)
      yield* emulator.requireDpopNonce("token")
      expect((yield* testLogin(yield* proofOf(key))).json.error).toBe("use_dpop_nonce")
      yield* emulator.requireDpopNonce("token", false)
      expect((yield* testLogin(yield* proofOf(key))).status).toBe(200)
      // the resource's requirement is its own
      yield* emulator.requireDpopNonce("resource")
      expect((yield* testLogin(yield* proofOf(key))).status).toBe(200)
    }).pipe(memory()))

  it.effect("a nonce challenge does not spend an authorization code", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const verifier = randomBytes(32).toString("base64url")
      const authorize = new URL("authorize", ISSUER)
      authorize.search = new URLSearchParams({
        response_type: "code",
        client_id: CLIENT_ID,
        redirect_uri: "http://127.0.0.1:8765/callback",
        scope: "openid offline_access",
        state: "s",
        code_challenge: createHash("sha256").update(verifier).digest("base64url"),
        code_challenge_method: "S256"
      }).toString()
      const redirect = yield* send(HttpClientRequest.get(authorize.href))
      const code = new URL(redirect.headers["location"]!).searchParams.get("code")!
      const exchange = (dpop: string) =>
        tokenRequest({
          grant_type: "authorization_code",
          code,
          redirect_uri: "http://127.0.0.1:8765/callback",
          code_verifier: verifier
        }, dpop)
      const challenged = yield* exchange(yield* proofOf(key))
      expect(challenged.json.error).toBe("use_dpop_nonce")
      const granted = yield* exchange(yield* proofOf(key, { nonce: challenged.headers["dpop-nonce"]! }))
      expect(granted.status).toBe(200)
      expect(granted.json.token_type).toBe("DPoP")
      expect(claimsOf(granted.json.access_token).cnf).toEqual({ jkt: key.jkt })
      expect(yield* emulator.counters).toMatchObject({ codeExchanges: 1, dpopNonceChallenges: 1 })
      // the code's refresh token is bound
      expect((yield* refresh(granted.json.refresh_token)).json.error).toBe("invalid_grant")
    }).pipe(memory({ dpop: { nonce: true } })))

  it.effect("a nonce challenge does not spend a device code", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const started = yield* send(
        HttpClientRequest.post(new URL("oauth/device/code", ISSUER).href).pipe(
          HttpClientRequest.bodyUrlParams({ client_id: CLIENT_ID, scope: "openid offline_access" })
        )
      )
      yield* emulator.approveDevice(started.json.user_code)
      const poll = (dpop: string) =>
        tokenRequest({
          grant_type: "urn:ietf:params:oauth:grant-type:device_code",
          device_code: started.json.device_code
        }, dpop)
      const challenged = yield* poll(yield* proofOf(key))
      expect(challenged.json.error).toBe("use_dpop_nonce")
      const granted = yield* poll(yield* proofOf(key, { nonce: challenged.headers["dpop-nonce"]! }))
      expect(granted.status).toBe(200)
      expect(claimsOf(granted.json.access_token).cnf).toEqual({ jkt: key.jkt })
      // the challenge was not a poll: no slow_down for the retry
      expect((yield* emulator.counters).devicePolls).toBe(1)
    }).pipe(memory({ dpop: { nonce: true } })))

  it.effect("a bound refresh token presented at /delegation needs a proof of its key", () =>
    Effect.gen(function*() {
      const [key, other] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login({ jkt: key.jkt })
      const delegate = (dpop?: string) =>
        send(
          HttpClientRequest.post(new URL("delegation", ISSUER).href).pipe(
            HttpClientRequest.bodyUrlParams({
              client_id: CLIENT_ID,
              grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
              refresh_token: login.refresh_token!
            }),
            dpop === undefined ? (request) => request : HttpClientRequest.setHeader("DPoP", dpop)
          )
        )
      const htu = new URL("delegation", ISSUER).href
      expect((yield* delegate()).json.error).toBe("invalid_grant")
      expect((yield* delegate(yield* proofOf(other, { htu }))).json.error).toBe("invalid_grant")
      expect((yield* delegate(yield* proofOf(key, { htu }))).status).toBe(200)
    }).pipe(memory()))
})

describe("DPoP at the protected resource (GET /userinfo)", () => {
  it.effect("Bearer for an unbound token; DPoP with a proof naming it in ath for a bound one", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const bearer = yield* emulator.login({ username: "alice" })
      const plain = yield* userinfo(`Bearer ${bearer.access_token}`)
      expect(plain.status).toBe(200)
      expect(plain.json).toEqual({ sub: "alice" })

      const bound = (yield* emulator.login({ username: "bob", jkt: key.jkt })).access_token
      const asBearer = yield* userinfo(`Bearer ${bound}`)
      expect(asBearer.status).toBe(401)
      expect(asBearer.headers["www-authenticate"]).toMatch(/^DPoP error="invalid_token"/)

      const proof = yield* proofOf(key, { htm: "GET", htu: USERINFO_URL, ath: athOf(bound) })
      const granted = yield* userinfo(`DPoP ${bound}`, proof)
      expect(granted.status).toBe(200)
      expect(granted.json).toEqual({ sub: "bob" })
      expect((yield* emulator.counters).requests.userinfo).toBe(3)
      expect(JSON.stringify(yield* emulator.requests)).not.toContain(bound)
    }).pipe(memory()))

  it.effect("refusals: no credentials, a wrong ath, another key, no proof, an unbound token as DPoP, expiry", () =>
    Effect.gen(function*() {
      const [key, other] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const bound = (yield* emulator.login({ jkt: key.jkt })).access_token
      const unbound = (yield* emulator.login()).access_token
      const get = { htm: "GET", htu: USERINFO_URL }

      const none = yield* userinfo(undefined)
      expect(none.status).toBe(401)
      expect(none.headers["www-authenticate"]).toMatch(/^Bearer, DPoP algs="ES256/)

      const wrongAth = yield* userinfo(`DPoP ${bound}`, yield* proofOf(key, { ...get, ath: athOf(unbound) }))
      expect([wrongAth.status, wrongAth.json.error]).toEqual([401, "invalid_dpop_proof"])
      expect(wrongAth.headers["www-authenticate"]).toMatch(/^DPoP error="invalid_dpop_proof"/)
      const noAth = yield* userinfo(`DPoP ${bound}`, yield* proofOf(key, get))
      expect(noAth.json.error).toBe("invalid_dpop_proof")
      const postProof = yield* userinfo(`DPoP ${bound}`, yield* proofOf(key, { htu: USERINFO_URL, ath: athOf(bound) }))
      expect(postProof.json.error).toBe("invalid_dpop_proof")

      const stranger = yield* userinfo(`DPoP ${bound}`, yield* proofOf(other, { ...get, ath: athOf(bound) }))
      expect([stranger.status, stranger.json.error]).toEqual([401, "invalid_token"])
      const noProof = yield* userinfo(`DPoP ${bound}`)
      expect([noProof.status, noProof.json.error]).toEqual([400, "invalid_request"])
      const unboundAsDpop = yield* userinfo(`DPoP ${unbound}`, yield* proofOf(key, { ...get, ath: athOf(unbound) }))
      expect([unboundAsDpop.status, unboundAsDpop.json.error]).toEqual([401, "invalid_token"])
      const forged = yield* userinfo(`Bearer ${unbound.slice(0, -2)}xx`)
      expect([forged.status, forged.json.error]).toEqual([401, "invalid_token"])

      yield* TestClock.adjust("2 hours")
      const expired = yield* userinfo(`DPoP ${bound}`, yield* proofOf(key, { ...get, ath: athOf(bound) }))
      expect(expired.json).toEqual({ error: "invalid_token", error_description: "The access token expired." })
    }).pipe(memory()))

  it.effect("the resource's nonce is its own: challenged with a 401 and DPoP-Nonce, then accepted", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const bound = (yield* emulator.login({ jkt: key.jkt })).access_token
      const get = { htm: "GET", htu: USERINFO_URL, ath: athOf(bound) }
      const challenged = yield* userinfo(`DPoP ${bound}`, yield* proofOf(key, get))
      expect(challenged.status).toBe(401)
      expect(challenged.headers["www-authenticate"]).toMatch(/^DPoP error="use_dpop_nonce"/)
      const nonce = challenged.headers["dpop-nonce"]!
      expect(nonce).toBe(yield* emulator.dpopNonce("resource"))
      expect(nonce).not.toBe(yield* emulator.dpopNonce("token"))
      // the token endpoint's nonce is not the resource's
      const wrong = yield* userinfo(
        `DPoP ${bound}`,
        yield* proofOf(key, { ...get, nonce: yield* emulator.dpopNonce("token") })
      )
      expect(wrong.json.error).toBe("use_dpop_nonce")
      const granted = yield* userinfo(`DPoP ${bound}`, yield* proofOf(key, { ...get, nonce }))
      expect(granted.status).toBe(200)
      expect(granted.headers["dpop-nonce"]).toBe(nonce)
      expect(yield* emulator.counters).toMatchObject({ dpopNonceChallenges: 2, dpopProofs: 1 })
    }).pipe(memory({ dpop: { resourceNonce: true } })))

  it.effect("verifyResourceRequest checks a token and a proof directly, and refuses a replay", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const bound = (yield* emulator.login({ username: "carol", jkt: key.jkt })).access_token
      const url = "https://api.example.test/orders?page=2"
      const proof = yield* proofOf(key, { htm: "GET", htu: "https://api.example.test/orders", ath: athOf(bound) })
      const request = { method: "GET", url, authorization: `DPoP ${bound}`, dpop: proof }
      const access = yield* emulator.verifyResourceRequest(request)
      expect(access).toMatchObject({ _tag: "Authorized", jkt: key.jkt, claims: { sub: "carol" } })
      const replay = yield* emulator.verifyResourceRequest(request)
      expect(replay).toMatchObject({ _tag: "Refused", status: 401, error: "invalid_dpop_proof" })
      const elsewhere = yield* emulator.verifyResourceRequest({ ...request, url: "https://api.example.test/admin" })
      expect(elsewhere).toMatchObject({ _tag: "Refused", error: "invalid_dpop_proof" })
    }).pipe(memory()))
})

describe("DPoP over loopback", () => {
  it.live("the htu of a proof is the server's URL", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const server = yield* Emulator.EmulatorServer
      const emulator = yield* Emulator.Emulator
      const url = `${server.url}/oauth/token`
      const iat = Math.floor(Date.now() / 1000)
      const post = (dpop: string) =>
        Effect.promise(() =>
          fetch(url, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", DPoP: dpop },
            body: new URLSearchParams({
              grant_type: "urn:effect-renewal:test-login",
              client_id: emulator.clientId,
              scope: "openid"
            })
          }).then(async (response) => ({ status: response.status, body: await response.json() }))
        )
      const granted = yield* post(yield* proofOf(key, { htu: url, iat }))
      expect(granted.status).toBe(200)
      expect(granted.body.token_type).toBe("DPoP")
      const misdirected = yield* post(yield* proofOf(key, { htu: TOKEN_URL, iat }))
      expect(misdirected.body.error).toBe("invalid_dpop_proof")
    }).pipe(Effect.provide(Emulator.layerServer())))
})

describe("DPoP binding is decided at login", () => {
  it.effect("a family started without a proof stays unbound: a refresh with a proof binds only its access token", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      const emulator = yield* Emulator.Emulator
      const login = yield* emulator.login()
      const bound = yield* refresh(login.refresh_token!, yield* proofOf(key))
      expect(bound.json.token_type).toBe("DPoP")
      expect(claimsOf(bound.json.access_token).cnf).toEqual({ jkt: key.jkt })
      const bare = yield* refresh(bound.json.refresh_token)
      expect(bare.status).toBe(200)
      expect(bare.json.token_type).toBe("Bearer")
    }).pipe(memory()))

  it.effect("pruning forgets no jti whose proof is still within the window", () =>
    Effect.gen(function*() {
      const [key] = yield* withKeys
      yield* TestClock.adjust("1 hour")
      // from 59 s ahead: accepted until 119 s from now
      const early = yield* proofOf(key, { iat: 3600 + 59 })
      expect((yield* testLogin(early)).status).toBe(200)
      yield* TestClock.adjust("61 seconds")
      // a proof past the first window: the expired jtis are dropped now
      expect((yield* testLogin(yield* proofOf(key))).status).toBe(200)
      yield* TestClock.adjust("39 seconds")
      expect((yield* testLogin(early)).json.error_description).toContain("jti")
    }).pipe(memory()))
})
