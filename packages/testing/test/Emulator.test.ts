import * as Emulator from "@effect-renewal/testing/Emulator"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

const { Fault } = Emulator
const CLIENT_ID = "test-client-id"
const MEMORY_BASE = "https://tenant.example.com"

interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: any
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    const reply: Reply = { status: response.status, headers: response.headers, text, json: parse(text) }
    return reply
  })

const form = (path: string, params: Record<string, string>, base = MEMORY_BASE) =>
  send(HttpClientRequest.post(`${base}${path}`).pipe(HttpClientRequest.bodyUrlParams(params)))

const refresh = (refreshToken: string, extra: Record<string, string> = {}, base = MEMORY_BASE) =>
  form(
    "/oauth/token",
    { grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: refreshToken, ...extra },
    base
  )

const testLogin = (extra: Record<string, string> = {}, base = MEMORY_BASE) =>
  form("/oauth/token", { grant_type: "urn:effect-renewal:test-login", client_id: CLIENT_ID, ...extra }, base)

const delegate = (params: Record<string, string>, base = MEMORY_BASE) =>
  form("/delegation", {
    client_id: CLIENT_ID,
    grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ...params
  }, base)

const revoke = (token: string, extra: Record<string, string> = {}) =>
  form("/oauth/revoke", { client_id: CLIENT_ID, token, ...extra })

const payloadOf = (jwt: string): Record<string, any> =>
  JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"))

const waitUntil = (condition: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    while (!(yield* condition)) yield* Effect.yieldNow()
  })

// With real time: poll every few milliseconds.
const eventually = (condition: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    while (!(yield* condition)) yield* Effect.sleep("5 millis")
  })

const loginRefreshToken = (options?: Emulator.Emulator.LoginOptions) =>
  Effect.flatMap(Emulator.Emulator, (emulator) => emulator.login(options)).pipe(
    Effect.map((body) => body.refresh_token!)
  )

const memory =
  (options?: Emulator.Emulator.Options) =>
  <A, E>(effect: Effect.Effect<A, E, Emulator.Emulator | HttpClient.HttpClient>) =>
    Effect.provide(effect, Emulator.layerMemory(options))

const transportError = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) &&
  Option.exists(
    Cause.failureOption(exit.cause),
    (error: any) => error._tag === "RequestError" && error.reason === "Transport"
  )

describe("Emulator (in memory)", () => {
  describe("login", () => {
    it.effect("login mints tokens and counts", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* emulator.login()
        expect(body.token_type).toBe("Bearer")
        expect(body.expires_in).toBe(3600)
        expect(body.scope).toBe("openid profile email offline_access")
        expect(body.refresh_token).toBeTypeOf("string")
        const idToken = payloadOf(body.id_token!)
        expect(idToken).toMatchObject({
          iss: "https://emulator.effect-renewal.test/",
          sub: "demo-user",
          aud: CLIENT_ID,
          iat: 0,
          exp: 36000
        })
        const accessToken = payloadOf(body.access_token)
        expect(accessToken).toMatchObject({
          aud: "https://api.effect-renewal.test",
          scope: "openid profile email offline_access",
          exp: 3600
        })
        expect((yield* emulator.counters).logins).toBe(1)
      }).pipe(memory()))

    it.effect("the test-login grant over HTTP", () =>
      Effect.gen(function*() {
        const full = yield* testLogin({ username: "alice", audience: "https://other.api" })
        expect(full.status).toBe(200)
        expect(full.headers["content-type"]).toContain("application/json")
        expect(full.headers["cache-control"]).toBe("no-store")
        expect(payloadOf(full.json.id_token).sub).toBe("alice")
        expect(payloadOf(full.json.access_token).aud).toBe("https://other.api")
        expect(full.json.refresh_token).toBeTypeOf("string")

        const online = yield* testLogin({ scope: "openid profile" })
        expect(online.json.refresh_token).toBeUndefined()
        expect(online.json.id_token).toBeTypeOf("string")

        const noOpenId = yield* testLogin({ scope: "offline_access read:things" })
        expect(noOpenId.json.id_token).toBeUndefined()
        expect(noOpenId.json.scope).toBe("offline_access read:things")

        const emulator = yield* Emulator.Emulator
        expect((yield* emulator.counters).logins).toBe(3)
      }).pipe(memory()))

    it.effect("two tokens issued in the same second differ", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const a = yield* emulator.login()
        const b = yield* emulator.login()
        expect(a.access_token).not.toBe(b.access_token)
        expect(a.id_token).not.toBe(b.id_token)
        expect(a.refresh_token).not.toBe(b.refresh_token)
      }).pipe(memory()))
  })

  describe("refresh token grant", () => {
    it.effect("rotation issues a new token; reusing the old one revokes the family", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const first = yield* loginRefreshToken()
        yield* TestClock.adjust("1 minute")

        const renewed = yield* refresh(first)
        expect(renewed.status).toBe(200)
        expect(renewed.json.refresh_token).toBeTypeOf("string")
        expect(renewed.json.refresh_token).not.toBe(first)
        expect(renewed.json.scope).toBe("openid profile email offline_access")
        expect(renewed.json.expires_in).toBe(3600)
        expect(payloadOf(renewed.json.access_token).iat).toBe(60)
        const second: string = renewed.json.refresh_token

        const reused = yield* refresh(first)
        expect(reused.status).toBe(403)
        expect(reused.json).toEqual({ error: "invalid_grant", error_description: "Unknown or invalid refresh token." })
        expect(yield* emulator.isRevoked(second)).toBe(true)

        const afterRevocation = yield* refresh(second)
        expect(afterRevocation.status).toBe(403)
        expect(afterRevocation.json.error).toBe("invalid_grant")

        expect(yield* emulator.counters).toEqual({
          requests: { token: 3, delegation: 0, revoke: 0, authorize: 0, device: 0, discovery: 0, jwks: 0, userinfo: 0 },
          logins: 1,
          rotations: 1,
          reuseDetections: 1,
          revokedFamilies: 1,
          authorizations: 0,
          denials: 0,
          codeExchanges: 0,
          deviceAuthorizations: 0,
          devicePolls: 0,
          inFlight: 0,
          maxInFlight: 1,
          dpopProofs: 0,
          dpopNonceChallenges: 0,
          dpopRefusals: 0
        })
      }).pipe(memory()))

    it.effect("two concurrent refreshes with one token: one wins, the other is reuse", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        const replies = yield* Effect.all([refresh(token), refresh(token)], { concurrency: 2 })
        expect(replies.map((reply) => reply.status).sort()).toEqual([200, 403])
        expect(yield* emulator.isRevoked(token)).toBe(true)
      }).pipe(memory()))

    it.effect("a rotated-out token works again within the reuse interval", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const first = yield* loginRefreshToken()
        const second = (yield* refresh(first)).json.refresh_token
        yield* TestClock.adjust("20 seconds")

        const again = yield* refresh(first)
        expect(again.status).toBe(200)
        expect(again.json.refresh_token).toBeTypeOf("string")
        expect(again.json.refresh_token).not.toBe(second)
        expect(yield* emulator.isRevoked(first)).toBe(false)

        yield* TestClock.adjust("10 seconds")
        const late = yield* refresh(first)
        expect(late.status).toBe(403)
        expect(yield* emulator.isRevoked(second)).toBe(true)
        const counters = yield* emulator.counters
        expect(counters.rotations).toBe(2)
        expect(counters.reuseDetections).toBe(1)
      }).pipe(memory({ reuseInterval: "30 seconds" })))

    it.effect("without rotation the same token stays valid and none is returned", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        const a = yield* refresh(token)
        const b = yield* refresh(token)
        expect(a.status).toBe(200)
        expect(b.status).toBe(200)
        expect("refresh_token" in a.json).toBe(false)
        expect("refresh_token" in b.json).toBe(false)
        expect((yield* emulator.counters).rotations).toBe(0)
      }).pipe(memory({ rotation: false })))

    it.effect("absolute lifetime", () =>
      Effect.gen(function*() {
        let token = yield* loginRefreshToken()
        yield* TestClock.adjust("23 hours")
        const ok = yield* refresh(token)
        expect(ok.status).toBe(200)
        token = ok.json.refresh_token
        yield* TestClock.adjust("1 hour")
        const expired = yield* refresh(token)
        expect(expired.status).toBe(403)
        expect(expired.json.error).toBe("invalid_grant")
        expect(expired.json.error_description).toMatch(/expired/)
      }).pipe(memory({ refreshTokenAbsoluteLifetime: "1 day" })))

    it.effect("idle lifetime counts from the issue of the token (rotation)", () =>
      Effect.gen(function*() {
        let token = yield* loginRefreshToken()
        for (let i = 0; i < 3; i++) {
          yield* TestClock.adjust("59 minutes")
          const ok = yield* refresh(token)
          expect(ok.status).toBe(200)
          token = ok.json.refresh_token
        }
        yield* TestClock.adjust("1 hour")
        const expired = yield* refresh(token)
        expect(expired.status).toBe(403)
        expect(expired.json.error_description).toMatch(/expired/)
      }).pipe(memory({ refreshTokenIdleLifetime: "1 hour" })))

    it.effect("idle lifetime counts from the last use (no rotation)", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken()
        yield* TestClock.adjust("50 minutes")
        expect((yield* refresh(token)).status).toBe(200)
        yield* TestClock.adjust("50 minutes")
        expect((yield* refresh(token)).status).toBe(200)
        yield* TestClock.adjust("60 minutes")
        expect((yield* refresh(token)).status).toBe(403)
      }).pipe(memory({ rotation: false, refreshTokenIdleLifetime: "1 hour" })))

    it.effect("a requested scope must be a subset of the granted one", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken({ scope: "openid offline_access read:a" })
        const narrower = yield* refresh(token, { scope: "read:a offline_access" })
        expect(narrower.status).toBe(200)
        expect(narrower.json.scope).toBe("read:a offline_access")
        expect(narrower.json.id_token).toBeUndefined()
        expect(payloadOf(narrower.json.access_token).scope).toBe("read:a offline_access")

        const wider = yield* refresh(narrower.json.refresh_token, { scope: "openid read:a write:a" })
        expect(wider.status).toBe(403)
        expect(wider.json.error).toBe("invalid_scope")

        // the refused request changed nothing: the token still works, with the family's scope
        const same = yield* refresh(narrower.json.refresh_token)
        expect(same.status).toBe(200)
        expect(same.json.scope).toBe("openid offline_access read:a")
        expect(same.json.id_token).toBeTypeOf("string")
      }).pipe(memory()))

    it.effect("JSON bodies are accepted", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken()
        const reply = yield* send(
          HttpClientRequest.post(`${MEMORY_BASE}/oauth/token`).pipe(
            HttpClientRequest.bodyUnsafeJson({
              grant_type: "refresh_token",
              client_id: CLIENT_ID,
              refresh_token: token
            })
          )
        )
        expect(reply.status).toBe(200)
        const malformed = yield* send(
          HttpClientRequest.post(`${MEMORY_BASE}/oauth/token`).pipe(
            HttpClientRequest.bodyText("{\"grant_type\":", "application/json")
          )
        )
        expect(malformed.status).toBe(400)
        expect(malformed.json.error).toBe("invalid_request")
      }).pipe(memory()))

    it.effect("request errors", () =>
      Effect.gen(function*() {
        const unknown = yield* refresh("not-a-token")
        expect(unknown.status).toBe(403)
        expect(unknown.json).toEqual({ error: "invalid_grant", error_description: "Unknown or invalid refresh token." })

        const missing = yield* form("/oauth/token", { grant_type: "refresh_token", client_id: CLIENT_ID })
        expect(missing.status).toBe(400)
        expect(missing.json.error).toBe("invalid_request")

        const noGrant = yield* form("/oauth/token", { client_id: CLIENT_ID })
        expect(noGrant.status).toBe(400)
        expect(noGrant.json.error).toBe("invalid_request")

        const password = yield* form("/oauth/token", { grant_type: "password", client_id: CLIENT_ID })
        expect(password.status).toBe(400)
        expect(password.json.error).toBe("unsupported_grant_type")

        const otherClient = yield* form("/oauth/token", { grant_type: "refresh_token", client_id: "someone-else" })
        expect(otherClient.status).toBe(401)
        expect(otherClient.json.error).toBe("invalid_client")

        const notFound = yield* form("/nowhere", {})
        expect(notFound.status).toBe(404)
        expect(notFound.json).toEqual({ error: "not_found" })

        const get = yield* send(HttpClientRequest.get(`${MEMORY_BASE}/oauth/token`))
        expect(get.status).toBe(405)
      }).pipe(memory()))
  })

  describe("API audiences (multi-resource refresh token)", () => {
    const ORDERS = "https://orders.example"
    const BILLING = "https://billing.example"
    const DEFAULT_AUDIENCE = "https://api.effect-renewal.test"

    it.effect("an allowed audience gets an access token for it, with the scope asked", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken({ scope: "openid offline_access read:orders" })
        const orders = yield* refresh(token, { audience: ORDERS, scope: "read:orders" })
        expect(orders.status).toBe(200)
        expect(payloadOf(orders.json.access_token)).toMatchObject({ aud: ORDERS, scope: "read:orders" })
        expect(orders.json.scope).toBe("read:orders")

        const own = yield* refresh(orders.json.refresh_token, { audience: DEFAULT_AUDIENCE })
        expect(payloadOf(own.json.access_token).aud).toBe(DEFAULT_AUDIENCE)

        const wider = yield* refresh(own.json.refresh_token, { audience: ORDERS, scope: "write:orders" })
        expect(wider.status).toBe(403)
        expect(wider.json.error).toBe("invalid_scope")
      }).pipe(memory({ audiences: [ORDERS] })))

    it.effect("another audience is not an error: a 200 for the login's audience", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken()
        const billing = yield* refresh(token, { audience: BILLING })
        expect(billing.status).toBe(200)
        expect(payloadOf(billing.json.access_token).aud).toBe(DEFAULT_AUDIENCE)

        // the login's audience is the family's, not the emulator's default
        const other = yield* testLogin({ audience: "https://other.api" })
        const back = yield* refresh(other.json.refresh_token, { audience: DEFAULT_AUDIENCE })
        expect(back.status).toBe(200)
        expect(payloadOf(back.json.access_token).aud).toBe("https://other.api")
      }).pipe(memory({ audiences: [ORDERS] })))

    it.effect("without a policy every audience is granted", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken()
        expect(payloadOf((yield* refresh(token, { audience: BILLING })).json.access_token).aud).toBe(BILLING)
      }).pipe(memory()))
  })

  describe("client authentication", () => {
    it.effect("a configured client secret is required on token and revoke", () =>
      Effect.gen(function*() {
        const token = yield* loginRefreshToken()

        const missing = yield* refresh(token)
        expect(missing.status).toBe(401)
        expect(missing.json.error).toBe("invalid_client")
        const wrong = yield* refresh(token, { client_secret: "nope" })
        expect(wrong.status).toBe(401)
        const wrongRevoke = yield* revoke(token)
        expect(wrongRevoke.status).toBe(401)

        const viaForm = yield* refresh(token, { client_secret: "s3cret" })
        expect(viaForm.status).toBe(200)

        const viaBasic = yield* send(
          HttpClientRequest.post(`${MEMORY_BASE}/oauth/token`).pipe(
            HttpClientRequest.basicAuth(CLIENT_ID, "s3cret"),
            HttpClientRequest.bodyUrlParams({ grant_type: "refresh_token", refresh_token: viaForm.json.refresh_token })
          )
        )
        expect(viaBasic.status).toBe(200)

        const wrongBasic = yield* send(
          HttpClientRequest.post(`${MEMORY_BASE}/oauth/token`).pipe(
            HttpClientRequest.basicAuth(CLIENT_ID, "nope"),
            HttpClientRequest.bodyUrlParams({ grant_type: "refresh_token", refresh_token: viaBasic.json.refresh_token })
          )
        )
        expect(wrongBasic.status).toBe(401)

        // delegation does not take a client secret
        const delegated = yield* delegate({ refresh_token: viaBasic.json.refresh_token })
        expect(delegated.status).toBe(200)
      }).pipe(memory({ clientSecret: "s3cret" })))
  })

  describe("delegation", () => {
    it.effect("with an id_token: a fresh id_token expiring after its lifetime", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const login = yield* emulator.login({ username: "bob" })
        yield* TestClock.adjust("5 minutes")
        const reply = yield* delegate({ id_token: login.id_token!, scope: "openid", api_type: "app" })
        expect(reply.status).toBe(200)
        expect(reply.json.token_type).toBe("Bearer")
        expect(reply.json.expires_in).toBe(36000)
        expect(Object.keys(reply.json).sort()).toEqual(["expires_in", "id_token", "token_type"])
        const claims = payloadOf(reply.json.id_token)
        expect(claims.sub).toBe("bob")
        expect(claims.iat).toBe(300)
        expect(claims.exp).toBe(300 + 36000)

        const targeted = yield* delegate({ id_token: login.id_token!, target: "other-client" })
        expect(payloadOf(targeted.json.id_token).aud).toBe("other-client")
        expect((yield* emulator.counters).requests.delegation).toBe(2)
      }).pipe(memory()))

    it.effect("with an expired id_token: 401 jwt expired", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const login = yield* emulator.login()
        yield* TestClock.adjust("2 hours")
        expect((yield* delegate({ id_token: login.id_token! })).status).toBe(200)
        yield* TestClock.adjust("1 hour")
        const expired = yield* delegate({ id_token: login.id_token! })
        expect(expired.status).toBe(401)
        expect(expired.json).toEqual({ error: "invalid_token", error_description: "jwt expired" })
      }).pipe(memory({ idTokenLifetime: "3 hours" })))

    it.effect("with a bad signature or a malformed token: 401 invalid signature", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const login = yield* emulator.login()
        const [header, payload] = login.id_token!.split(".")
        const forged = `${header}.${payload}.${Buffer.from("forged").toString("base64url")}`
        for (const token of [forged, "not.a.jwt", "garbage"]) {
          const reply = yield* delegate({ id_token: token })
          expect(reply.status).toBe(401)
          expect(reply.json).toEqual({ error: "invalid_token", error_description: "invalid signature" })
        }
        const otherKey = yield* Emulator.make({ signingSecret: "another-key" })
        const foreign = yield* otherKey.login()
        expect((yield* delegate({ id_token: foreign.id_token! })).status).toBe(401)
      }).pipe(memory()))

    it.effect("with a refresh token: valid without rotating; revoked is refused", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken({ username: "carol" })
        const a = yield* delegate({ refresh_token: token })
        const b = yield* delegate({ refresh_token: token })
        expect(a.status).toBe(200)
        expect(b.status).toBe(200)
        expect(payloadOf(a.json.id_token).sub).toBe("carol")
        expect((yield* emulator.counters).rotations).toBe(0)

        yield* emulator.revokeFamilyOf(token)
        const refused = yield* delegate({ refresh_token: token })
        expect(refused.status).toBe(401)
        expect(refused.json.error).toBe("invalid_grant")

        const missing = yield* delegate({})
        expect(missing.status).toBe(400)
        expect(missing.json.error).toBe("invalid_request")
        const wrongGrant = yield* delegate({ grant_type: "refresh_token", refresh_token: token })
        expect(wrongGrant.status).toBe(400)
        expect(wrongGrant.json.error).toBe("unsupported_grant_type")
      }).pipe(memory()))
  })

  describe("revocation", () => {
    it.effect("revoking a token revokes its family", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const first = yield* loginRefreshToken()
        const second = (yield* refresh(first)).json.refresh_token

        const revoked = yield* revoke(second)
        expect(revoked.status).toBe(200)
        expect(revoked.text).toBe("")
        expect(yield* emulator.isRevoked(first)).toBe(true)

        const refused = yield* refresh(second)
        expect(refused.status).toBe(403)
        expect(refused.json.error).toBe("invalid_grant")

        expect((yield* revoke(second)).status).toBe(200)
        expect((yield* revoke("unknown-token")).status).toBe(200)
        const missing = yield* form("/oauth/revoke", { client_id: CLIENT_ID })
        expect(missing.status).toBe(400)
        expect(missing.json.error).toBe("invalid_request")

        const counters = yield* emulator.counters
        expect(counters.revokedFamilies).toBe(1)
        expect(counters.reuseDetections).toBe(0)
        expect(counters.requests.revoke).toBe(4)
      }).pipe(memory()))

    it.effect("isRevoked is false for a live or unknown token", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        expect(yield* emulator.isRevoked(token)).toBe(false)
        expect(yield* emulator.isRevoked("unknown")).toBe(false)
      }).pipe(memory()))
  })

  describe("faults", () => {
    it.effect("status faults in both body formats, with Retry-After; no state change", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.faultOn(
          "token",
          Fault.status(429, { retryAfter: 7 }),
          Fault.status(503, { format: "auth0", description: "Down for maintenance" })
        )
        // a fault queued for the token endpoint does not affect another endpoint
        expect((yield* delegate({ refresh_token: token })).status).toBe(200)

        const limited = yield* refresh(token)
        expect(limited.status).toBe(429)
        expect(limited.headers["retry-after"]).toBe("7")
        expect(limited.json).toEqual({ error: "too_many_requests", error_description: "Emulated fault: HTTP 429." })

        const down = yield* refresh(token)
        expect(down.status).toBe(503)
        expect(down.json).toEqual({ code: "temporarily_unavailable", description: "Down for maintenance" })
        expect(down.headers["retry-after"]).toBeUndefined()

        // normal service resumes, and the token was not rotated by the faulted requests
        const ok = yield* refresh(token)
        expect(ok.status).toBe(200)
        expect((yield* emulator.counters).rotations).toBe(1)
      }).pipe(memory()))

    it.effect("fault without an endpoint matches any request; clearFaults drops the queue", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.fault(Fault.status(500), Fault.status(502))
        expect((yield* revoke("whatever")).status).toBe(500)
        expect((yield* delegate({ refresh_token: token })).status).toBe(502)
        expect((yield* delegate({ refresh_token: token })).status).toBe(200)
        yield* emulator.fault(Fault.status(500))
        yield* emulator.clearFaults
        expect((yield* refresh(token)).status).toBe(200)
      }).pipe(memory()))

    it.effect("html, raw bodies and an error in a 200", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.faultOn(
          "token",
          Fault.html(502),
          Fault.body(200, "{\"access_token\":\"abc"),
          Fault.body(200, ""),
          Fault.body(500, "oops", "text/plain"),
          Fault.errorIn200("invalid_grant", "Nope."),
          Fault.errorIn200("access_denied", "Nope.", "auth0")
        )
        const html = yield* refresh(token)
        expect(html.status).toBe(502)
        expect(html.headers["content-type"]).toContain("text/html")
        expect(html.text).toContain("<html>")

        const truncated = yield* refresh(token)
        expect(truncated.status).toBe(200)
        expect(truncated.text).toBe("{\"access_token\":\"abc")
        expect(truncated.json).toBeUndefined()

        const empty = yield* refresh(token)
        expect(empty.status).toBe(200)
        expect(empty.text).toBe("")

        const plain = yield* refresh(token)
        expect(plain.status).toBe(500)
        expect(plain.headers["content-type"]).toBe("text/plain")

        const errorIn200 = yield* refresh(token)
        expect(errorIn200.status).toBe(200)
        expect(errorIn200.json).toEqual({ error: "invalid_grant", error_description: "Nope." })
        const auth0In200 = yield* refresh(token)
        expect(auth0In200.json).toEqual({ code: "access_denied", description: "Nope." })
      }).pipe(memory()))

    it.effect("reset fails with a transport error", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.faultOn("token", Fault.reset())
        const exit = yield* Effect.exit(refresh(token))
        expect(transportError(exit)).toBe(true)
        expect((yield* refresh(token)).status).toBe(200)
      }).pipe(memory()))

    it.effect("hang never answers until a timeout interrupts it", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.faultOn("token", Fault.hang())
        const fiber = yield* refresh(token).pipe(Effect.timeout("10 seconds"), Effect.fork)
        yield* waitUntil(Effect.map(emulator.requests, (log) => log.length === 1))
        yield* TestClock.adjust("9 seconds")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isFailure(exit)).toBe(true)
        expect(String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause))).toContain("TimeoutException")
        expect((yield* emulator.requests)[0]).toMatchObject({ status: "hang", fault: "Hang" })
      }).pipe(memory()))

    it.effect("latency holds the response after the server did the work", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.faultOn("token", Fault.latency("5 seconds"))
        const fiber = yield* Effect.fork(refresh(token))
        yield* waitUntil(Effect.map(emulator.requests, (log) => log.length === 1))
        expect((yield* emulator.counters).rotations).toBe(1)
        yield* TestClock.adjust("4 seconds")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("1 second")
        const reply = yield* Fiber.join(fiber)
        expect(reply.status).toBe(200)
        expect(reply.json.refresh_token).not.toBe(token)
        // the token was rotated before the response: presenting it again is reuse
        expect((yield* refresh(token)).status).toBe(403)
        expect((yield* emulator.requests)[0]).toMatchObject({ status: 200, fault: "Latency", at: 0 })
      }).pipe(memory()))
  })

  describe("requests in flight", () => {
    it.effect("count from arrival until the latency is waited out; the maximum stays", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const tokens = yield* Effect.all([loginRefreshToken(), loginRefreshToken(), loginRefreshToken()])
        yield* emulator.faultOn("token", Fault.latency("2 seconds"), Fault.latency("1 second"))
        const slow = yield* Effect.fork(Effect.all([refresh(tokens[0]), refresh(tokens[1])], { concurrency: 2 }))
        yield* waitUntil(Effect.map(emulator.counters, (c) => c.inFlight === 2))
        // answered at once: in flight while it is served only
        expect((yield* refresh(tokens[2])).status).toBe(200)
        expect(yield* emulator.counters).toMatchObject({ inFlight: 2, maxInFlight: 3 })
        yield* TestClock.adjust("1 second")
        yield* waitUntil(Effect.map(emulator.counters, (c) => c.inFlight === 1))
        yield* TestClock.adjust("1 second")
        const replies = yield* Fiber.join(slow)
        expect(replies.map((reply) => reply.status)).toEqual([200, 200])
        expect(yield* emulator.counters).toMatchObject({ inFlight: 0, maxInFlight: 3 })
      }).pipe(memory()))

    it.effect("a hung request is in flight until its client gives up", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = yield* loginRefreshToken()
        yield* emulator.faultOn("token", Fault.hang())
        const fiber = yield* Effect.fork(refresh(token))
        yield* waitUntil(Effect.map(emulator.counters, (c) => c.inFlight === 1))
        yield* TestClock.adjust("1 hour")
        expect((yield* emulator.counters).inFlight).toBe(1)
        yield* Fiber.interrupt(fiber)
        expect(yield* emulator.counters).toMatchObject({ inFlight: 0, maxInFlight: 1 })
      }).pipe(memory()))
  })

  it.effect("the request log records every request and never a token", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const issued: Array<string> = []
      const login = yield* testLogin({ client_secret: "s3cret" })
      issued.push(login.json.access_token, login.json.id_token, login.json.refresh_token)
      yield* TestClock.adjust("1 second")
      const renewed = yield* refresh(login.json.refresh_token, { client_secret: "s3cret" })
      issued.push(renewed.json.access_token, renewed.json.id_token, renewed.json.refresh_token)
      const delegated = yield* delegate({ id_token: renewed.json.id_token })
      issued.push(delegated.json.id_token)
      yield* emulator.faultOn("token", Fault.status(503))
      yield* refresh(renewed.json.refresh_token, { client_secret: "s3cret" })
      yield* revoke(renewed.json.refresh_token, { client_secret: "s3cret" })
      yield* form("/nowhere", { token: renewed.json.refresh_token })

      const log = yield* emulator.requests
      const R = "<redacted>"
      const refreshParams = { grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: R, client_secret: R }
      expect(log).toEqual([
        {
          endpoint: "token",
          method: "POST",
          path: "/oauth/token",
          grantType: "urn:effect-renewal:test-login",
          params: { grant_type: "urn:effect-renewal:test-login", client_id: CLIENT_ID, client_secret: R },
          status: 200,
          at: 0
        },
        {
          endpoint: "token",
          method: "POST",
          path: "/oauth/token",
          grantType: "refresh_token",
          params: refreshParams,
          status: 200,
          at: 1000
        },
        {
          endpoint: "delegation",
          method: "POST",
          path: "/delegation",
          grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          params: { client_id: CLIENT_ID, grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", id_token: R },
          status: 200,
          at: 1000
        },
        {
          endpoint: "token",
          method: "POST",
          path: "/oauth/token",
          grantType: "refresh_token",
          params: refreshParams,
          status: 503,
          fault: "Status",
          at: 1000
        },
        {
          endpoint: "revoke",
          method: "POST",
          path: "/oauth/revoke",
          params: { client_id: CLIENT_ID, token: R, client_secret: R },
          status: 200,
          at: 1000
        },
        { endpoint: "other", method: "POST", path: "/nowhere", params: { token: R }, status: 404, at: 1000 }
      ])
      const serialized = JSON.stringify(log)
      for (const token of issued) {
        expect(token).toBeTypeOf("string")
        expect(serialized).not.toContain(token)
      }
      expect(serialized).not.toContain("s3cret")
      expect((yield* emulator.counters).requests).toEqual({
        token: 3,
        delegation: 1,
        revoke: 1,
        authorize: 0,
        device: 0,
        discovery: 0,
        jwks: 0,
        userinfo: 0
      })
    }).pipe(memory({ clientSecret: "s3cret" })))
  it.effect("the request log keeps the parameters that reached the server, secrets redacted", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const token = yield* loginRefreshToken()
      yield* send(
        HttpClientRequest.post(`${MEMORY_BASE}/oauth/token`).pipe(
          HttpClientRequest.basicAuth(CLIENT_ID, "s3cret"),
          HttpClientRequest.bodyUrlParams({
            grant_type: "refresh_token",
            refresh_token: token,
            audience: "https://orders.example",
            scope: "openid",
            device: "phone"
          })
        )
      )
      yield* send(
        HttpClientRequest.post(`${MEMORY_BASE}/delegation`).pipe(
          HttpClientRequest.bodyUnsafeJson({ client_id: CLIENT_ID, refresh_token: token, target: "app", n: 3 })
        )
      )
      yield* send(
        HttpClientRequest.post(`${MEMORY_BASE}/oauth/token`).pipe(
          HttpClientRequest.bodyText("{\"password\":", "application/json")
        )
      )
      const log = yield* emulator.requests
      expect(log.map((entry) => entry.params)).toEqual([
        {
          grant_type: "refresh_token",
          refresh_token: "<redacted>",
          audience: "https://orders.example",
          scope: "openid",
          device: "phone"
        },
        { client_id: CLIENT_ID, refresh_token: "<redacted>", target: "app", n: "3" },
        {}
      ])
      const serialized = JSON.stringify(log)
      expect(serialized).not.toContain(token)
      expect(serialized).not.toContain("s3cret")
      expect(serialized).not.toContain(Buffer.from(`${CLIENT_ID}:s3cret`).toString("base64"))
    }).pipe(memory({ clientSecret: "s3cret" })))
})

describe("Emulator (loopback server)", () => {
  const server = <A, E>(
    f: (base: string) => Effect.Effect<A, E, Emulator.Emulator | HttpClient.HttpClient>,
    options?: Emulator.Emulator.ServerOptions
  ) =>
    Effect.flatMap(Emulator.EmulatorServer, (server) => f(server.url)).pipe(
      Effect.provide(Layer.merge(Emulator.layerServer(options), FetchHttpClient.layer))
    )

  it.live("serves the model over HTTP on 127.0.0.1", () =>
    server((base) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

        const login = yield* testLogin({}, base)
        expect(login.status).toBe(200)
        const renewed = yield* refresh(login.json.refresh_token, {}, base)
        expect(renewed.status).toBe(200)
        expect(renewed.json.refresh_token).not.toBe(login.json.refresh_token)
        const delegated = yield* delegate({ id_token: renewed.json.id_token }, base)
        expect(delegated.status).toBe(200)
        const claims = payloadOf(delegated.json.id_token)
        expect(claims.exp - claims.iat).toBe(36000)
        expect(Math.abs(claims.iat * 1000 - Date.now())).toBeLessThan(10_000)

        const reused = yield* refresh(login.json.refresh_token, {}, base)
        expect(reused.status).toBe(403)
        expect(reused.json.error).toBe("invalid_grant")

        expect((yield* send(HttpClientRequest.get(`${base}/oauth/token`))).status).toBe(405)
        expect((yield* form("/missing", {}, base)).status).toBe(404)
        expect(yield* emulator.counters).toMatchObject({ logins: 1, rotations: 1, reuseDetections: 1 })
      })
    ))

  it.live("status, html, body and error-in-200 faults", () =>
    server((base) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = (yield* emulator.login()).refresh_token!
        yield* emulator.faultOn(
          "token",
          Fault.status(429, { retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT", format: "auth0" }),
          Fault.html(503),
          Fault.body(200, "{\"trunc"),
          Fault.body(200, ""),
          Fault.errorIn200("invalid_grant", "Nope.")
        )
        const limited = yield* refresh(token, {}, base)
        expect(limited.status).toBe(429)
        expect(limited.headers["retry-after"]).toBe("Wed, 21 Oct 2015 07:28:00 GMT")
        expect(limited.json).toEqual({ code: "too_many_requests", description: "Emulated fault: HTTP 429." })
        const html = yield* refresh(token, {}, base)
        expect(html.status).toBe(503)
        expect(html.headers["content-type"]).toContain("text/html")
        expect((yield* refresh(token, {}, base)).text).toBe("{\"trunc")
        expect((yield* refresh(token, {}, base)).text).toBe("")
        expect((yield* refresh(token, {}, base)).json.error).toBe("invalid_grant")
        expect((yield* refresh(token, {}, base)).status).toBe(200)
      })
    ))

  it.live("reset drops the connection: a transport error", () =>
    server((base) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = (yield* emulator.login()).refresh_token!
        yield* emulator.faultOn("token", Fault.reset())
        const exit = yield* Effect.exit(refresh(token, {}, base))
        expect(transportError(exit)).toBe(true)
        expect((yield* emulator.requests)[0]).toMatchObject({ status: "reset", fault: "Reset" })
        expect((yield* refresh(token, {}, base)).status).toBe(200)
      })
    ))

  it.live("hang keeps the connection open until the client gives up", () =>
    server((base) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = (yield* emulator.login()).refresh_token!
        yield* emulator.faultOn("token", Fault.hang())
        const result = yield* refresh(token, {}, base).pipe(Effect.timeout("300 millis"), Effect.either)
        expect(result._tag).toBe("Left")
        expect((yield* refresh(token, {}, base)).status).toBe(200)
      })
    ))

  it.live("latency delays the response in real time, the work is done at once", () =>
    server((base) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const token = (yield* emulator.login()).refresh_token!
        yield* emulator.faultOn("token", Fault.latency("300 millis"))
        const fiber = yield* Effect.fork(Effect.timed(refresh(token, {}, base)))
        yield* eventually(Effect.map(emulator.counters, (c) => c.rotations === 1))
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        const [elapsed, reply] = yield* Fiber.join(fiber)
        expect(reply.status).toBe(200)
        expect(elapsed.value._tag === "Millis" ? elapsed.value.millis : 1e9).toBeGreaterThanOrEqual(250)
      })
    ))

  it.live("requests in flight are counted on loopback too", () =>
    server((base) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const tokens = yield* Effect.all([emulator.login(), emulator.login()])
        yield* emulator.faultOn("token", Fault.latency("200 millis"), Fault.latency("200 millis"))
        const replies = yield* Effect.all(tokens.map((t) => refresh(t.refresh_token!, {}, base)), {
          concurrency: "unbounded"
        })
        expect(replies.map((reply) => reply.status)).toEqual([200, 200])
        expect(yield* emulator.counters).toMatchObject({ inFlight: 0, maxInFlight: 2 })
      })
    ))

  it.live("closing the scope stops the server and destroys hung connections", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Emulator.layerServer(), scope)
      const emulator = Context.get(context, Emulator.Emulator)
      const { port, url } = Context.get(context, Emulator.EmulatorServer)
      expect(url).toBe(`http://127.0.0.1:${port}`)
      const token = (yield* emulator.login()).refresh_token!
      yield* emulator.faultOn("token", Fault.hang())
      const fiber = yield* Effect.fork(refresh(token, {}, url))
      yield* eventually(Effect.map(emulator.requests, (log) => log.length === 1))
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("5 seconds"))
      const exit = yield* Fiber.await(fiber).pipe(Effect.timeout("5 seconds"))
      expect(transportError(exit)).toBe(true)
      const after = yield* Effect.exit(refresh(token, {}, url))
      expect(transportError(after)).toBe(true)
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
