/**
 * The client against answers a hostile or sloppy server gives: a 2xx that
 * carries a new refresh token but is unusable otherwise (the refresh token
 * is never lost), answers without `expires_in` (valid: the expiry comes from
 * the token, or a default lifetime), token types the library cannot use, and
 * configurations whose errors must not repeat credentials. Raw answers come
 * from a `node:http` server on 127.0.0.1 over `fetch`, or from an
 * `HttpClient` double under `TestClock`.
 */
import { AuthenticationClient, AuthError, Credentials, Delegation, Dpop } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Zlib from "node:zlib"
import { clientAnswering } from "./support/answering.js"
import { rawServer as serve } from "./support/rawServer.js"

const REFRESH_TOKEN = "rt-sent-Qw3Er6Ty9Ui2"
const ISSUED = "rt-issued-Zx4Cv7Bn0Ml3"

// -----------------------------------------------------------------------------
// Servers
// -----------------------------------------------------------------------------

const rawServer = (answer: () => { readonly status: number; readonly body: string }) =>
  serve(() => (_, response) => {
    const { body, status } = answer()
    response.writeHead(status, { "content-type": "application/json" }).end(body)
  })

const jwt = (claims: Record<string, unknown>) =>
  `${Buffer.from(JSON.stringify({ alg: "RS256" })).toString("base64url")}.${
    Buffer.from(JSON.stringify(claims)).toString("base64url")
  }.signature`

const tokenBody = (fields: Record<string, unknown>) =>
  JSON.stringify({ access_token: "at-new", token_type: "Bearer", expires_in: 3600, ...fields })

const renderings = (error: unknown): ReadonlyArray<string> => [
  error instanceof Error ? error.message : "",
  String(error),
  JSON.stringify(error),
  error instanceof Error ? error.stack ?? "" : ""
]

// -----------------------------------------------------------------------------
// A rotated refresh token is never lost
// -----------------------------------------------------------------------------

/** 2xx answers that carry a new refresh token and are unusable otherwise, and the field each one gets wrong. */
const unusable: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
  ["a negative expires_in", { expires_in: -5 }, "expires_in"],
  ["a non-numeric expires_in", { expires_in: "soon" }, "expires_in"],
  ["an absurd expires_in", { expires_in: 1e13 }, "expires_in"],
  ["a null expires_in", { expires_in: null }, "expires_in"],
  ["an empty token_type", { token_type: "" }, "token_type"],
  ["no token_type", { token_type: undefined }, "token_type"],
  ["a MAC token_type", { token_type: "MAC" }, "token_type"],
  ["a non-string scope", { scope: 42 }, "scope"],
  ["a non-string id_token", { id_token: { nested: true } }, "id_token"],
  ["an empty access_token", { access_token: "" }, "access_token"],
  ["no access_token", { access_token: undefined }, "access_token"]
]

describe("a 2xx answer with a new refresh token, unusable otherwise", () => {
  for (const [name, fields, field] of unusable) {
    it.scopedLive(`${name}: invalid_response naming ${field}, carrying the issued refresh token`, () =>
      Effect.gen(function*() {
        const url = yield* rawServer(() => ({ status: 200, body: tokenBody({ ...fields, refresh_token: ISSUED }) }))
        const client = yield* AuthenticationClient.make({ domain: url, clientId: "client-1" }).pipe(
          Effect.provide(FetchHttpClient.layer)
        )
        const error = yield* Effect.flip(client.renewAuth(Redacted.make(REFRESH_TOKEN)))
        expect(error).toBeInstanceOf(AuthError.AuthApiError)
        const apiError = error as AuthError.AuthApiError
        expect([apiError.status, apiError.code, apiError.description]).toEqual([
          200,
          AuthError.InvalidResponseCode,
          `HTTP 200: missing or invalid ${field}`
        ])
        expect(Redacted.isRedacted(apiError.issuedRefreshToken)).toBe(true)
        expect(Redacted.value(apiError.issuedRefreshToken!)).toBe(ISSUED)
        for (const text of renderings(apiError)) expect(text).not.toContain(ISSUED)
      }))
  }

  it.effect("an OAuth error in a 200 that carries a refresh token: the error, carrying it, never echoing it", () =>
    Effect.gen(function*() {
      const client = yield* clientAnswering(
        200,
        JSON.stringify({
          error: "server_error",
          error_description: `could not finish ${ISSUED}`,
          refresh_token: ISSUED
        })
      )
      const error = (yield* Effect.flip(client.renewAuth(Redacted.make(REFRESH_TOKEN)))) as AuthError.AuthApiError
      expect([error.code, error.description]).toEqual(["server_error", "could not finish <redacted>"])
      expect(Redacted.value(error.issuedRefreshToken!)).toBe(ISSUED)
    }))

  it.effect("an empty refresh_token, or one that is not a string, is no refresh token", () =>
    Effect.gen(function*() {
      for (const refreshToken of ["", 42, null, { value: ISSUED }]) {
        const client = yield* clientAnswering(200, tokenBody({ expires_in: -1, refresh_token: refreshToken }))
        const error = (yield* Effect.flip(client.renewAuth(Redacted.make(REFRESH_TOKEN)))) as AuthError.AuthApiError
        expect(error.issuedRefreshToken).toBeUndefined()
      }
    }))

  it.effect("a non-2xx answer never issues a refresh token, nor does /delegation", () =>
    Effect.gen(function*() {
      const rejected = yield* clientAnswering(400, JSON.stringify({ error: "invalid_request", refresh_token: ISSUED }))
      const error = (yield* Effect.flip(rejected.renewAuth(Redacted.make(REFRESH_TOKEN)))) as AuthError.AuthApiError
      expect(error.issuedRefreshToken).toBeUndefined()
      const delegation = yield* clientAnswering(200, JSON.stringify({ token_type: "Bearer", refresh_token: ISSUED }))
      const failed = (yield* Effect.flip(
        delegation.delegationWithRefreshToken(Redacted.make(REFRESH_TOKEN))
      )) as AuthError.AuthApiError
      expect(failed.issuedRefreshToken).toBeUndefined()
    }))
})

describe("arbitrary 2xx bodies that carry a refresh token", () => {
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom("Bearer", "bearer", "DPoP", "MAC", "", " "),
    fc.integer({ min: -10, max: 1e7 }),
    fc.double(),
    fc.string()
  )
  const body = fc.record({
    refresh_token: fc.string({ minLength: 1 }),
    access_token: fc.oneof(fc.string(), value),
    token_type: fc.oneof(fc.constantFrom("Bearer", "bearer", "DPoP", "dpop", "MAC", "N_A", ""), value),
    expires_in: fc.oneof(fc.integer({ min: 0, max: 1e9 }), value),
    id_token: fc.oneof(fc.string(), value),
    scope: fc.oneof(fc.string(), value),
    error: value,
    code: value,
    extra: value
  }, { requiredKeys: ["refresh_token"] })

  it.effect.prop(
    "decode into credentials holding exactly that refresh token, or fail carrying it: never lost, never a defect",
    [body, fc.constantFrom(200, 201, 203)],
    ([fields, status]) =>
      Effect.gen(function*() {
        const client = yield* clientAnswering(status, JSON.stringify(fields))
        const exit = yield* Effect.exit(client.renewAuth(Redacted.make(REFRESH_TOKEN)))
        if (Exit.isSuccess(exit)) {
          expect(Redacted.value(exit.value.refreshToken!)).toBe(fields.refresh_token)
        } else {
          expect(Cause.isFailType(exit.cause)).toBe(true)
          const error = Cause.squash(exit.cause)
          expect(error).toBeInstanceOf(AuthError.AuthApiError)
          const issued = (error as AuthError.AuthApiError).issuedRefreshToken
          expect(issued === undefined ? undefined : Redacted.value(issued)).toBe(fields.refresh_token)
        }
      }),
    { fastCheck: { numRuns: 300 } }
  )
})

describe("an HttpClient in context that reads bodies itself", () => {
  it.scopedLive("a body already read (response.text) is the answer, not a defect", () =>
    Effect.gen(function*() {
      const url = yield* rawServer(() => ({ status: 200, body: tokenBody({ refresh_token: ISSUED }) }))
      const seen: Array<string> = []
      const client = yield* AuthenticationClient.make({ domain: url, clientId: "client-1" }).pipe(
        Effect.provideServiceEffect(
          HttpClient.HttpClient,
          Effect.map(
            HttpClient.HttpClient,
            HttpClient.transformResponse(Effect.tap((response) => Effect.map(response.text, (text) => seen.push(text))))
          )
        ),
        Effect.provide(FetchHttpClient.layer)
      )
      const credentials = yield* client.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(Redacted.value(credentials.refreshToken!)).toBe(ISSUED)
      expect(seen).toHaveLength(1)
    }))
})

// -----------------------------------------------------------------------------
// expires_in is only RECOMMENDED
// -----------------------------------------------------------------------------

describe("an answer without expires_in", () => {
  it.effect("takes the expiry from the access token's exp when it is a JWT", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1000 seconds")
      const client = yield* clientAnswering(200, tokenBody({ expires_in: undefined, access_token: jwt({ exp: 1600 }) }))
      const credentials = yield* client.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(1_600_000)
    }))

  it.effect("a server clock ahead of ours does not lengthen the token: never beyond receipt + (exp - iat)", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1000 seconds")
      // issued "at 1500" by a clock 500 s ahead, for 600 s
      const client = yield* clientAnswering(
        200,
        tokenBody({ expires_in: undefined, access_token: jwt({ iat: 1500, exp: 2100 }) })
      )
      const credentials = yield* client.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(1_600_000)
    }))

  it.effect("lives the default lifetime, 5 minutes, when the access token is no JWT or has no usable exp", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1000 seconds")
      for (const accessToken of ["opaque-token", jwt({ sub: "no-exp" }), jwt({ exp: 1e15 }), jwt({ exp: "soon" })]) {
        const client = yield* clientAnswering(200, tokenBody({ expires_in: undefined, access_token: accessToken }))
        const credentials = yield* client.renewAuth(Redacted.make(REFRESH_TOKEN))
        expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(1_300_000)
      }
    }))

  it.effect("the default lifetime is an option of the client; an unusable value is an InvalidConfiguration", () =>
    Effect.gen(function*() {
      const client = yield* clientAnswering(200, tokenBody({ expires_in: undefined }), {
        client: { defaultExpiresIn: "1 minute" }
      })
      const credentials = yield* client.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(60_000)
      // expires_in, when given, still wins
      const stated = yield* clientAnswering(200, tokenBody({ expires_in: 30 }), {
        client: { defaultExpiresIn: "1 minute" }
      })
      expect(DateTime.toEpochMillis((yield* stated.renewAuth(Redacted.make(REFRESH_TOKEN))).expiresAt)).toBe(30_000)
      for (const defaultExpiresIn of [0, -5, "soon", "200 weeks and a day", Infinity, Number.NaN, 1e15] as const) {
        const error = yield* Effect.flip(
          clientAnswering(200, "{}", { client: { defaultExpiresIn: defaultExpiresIn as never } })
        )
        expect(error).toBeInstanceOf(AuthError.InvalidConfiguration)
        expect(error.description).toMatch(/^defaultExpiresIn must be/)
      }
      for (const timeout of [-1, "soon", Infinity]) {
        const error = yield* Effect.flip(clientAnswering(200, "{}", { client: { timeout: timeout as never } }))
        expect(error.description).toMatch(/^timeout must be/)
      }
    }))

  it.effect("a /delegation answer without expires_in takes the id_token's exp, or the default lifetime", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1000 seconds")
      const withExp = yield* clientAnswering(
        200,
        JSON.stringify({ id_token: jwt({ exp: 4600 }), token_type: "Bearer" })
      )
      const delegation = yield* withExp.delegationWithIdToken(Redacted.make("idt-sent"))
      expect(DateTime.toEpochMillis(delegation.expiresAt)).toBe(4_600_000)
      const opaque = yield* clientAnswering(200, JSON.stringify({ id_token: "opaque", token_type: "bearer" }), {
        client: { defaultExpiresIn: "2 minutes" }
      })
      const fallback = yield* opaque.delegationWithRefreshToken(Redacted.make(REFRESH_TOKEN))
      expect(DateTime.toEpochMillis(fallback.expiresAt)).toBe(1_120_000)
      expect(fallback.tokenType).toBe("Bearer")
    }))

  it.effect("Credentials.fromTokenResponse and Delegation.fromResponse take the same expiry options", () =>
    Effect.gen(function*() {
      const response = Schema.decodeUnknownSync(Credentials.TokenResponse)({ access_token: "at", token_type: "Bearer" })
      expect(response.expiresIn).toBeUndefined()
      const credentials = yield* Credentials.fromTokenResponse(response)
      expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(300_000)
      const longer = yield* Credentials.fromTokenResponse(response, { defaultExpiresIn: "1 hour" })
      expect(DateTime.toEpochMillis(longer.expiresAt)).toBe(3_600_000)
      const delegation = yield* Delegation.fromResponse(
        Schema.decodeUnknownSync(Delegation.DelegationResponse)({ id_token: "idt", token_type: "Bearer" }),
        { defaultExpiresIn: "10 seconds" }
      )
      expect(DateTime.toEpochMillis(delegation.expiresAt)).toBe(10_000)
    }))

  it.scopedLive("over fetch: a real server's answer without expires_in is credentials", () =>
    Effect.gen(function*() {
      const exp = Math.floor(Date.now() / 1000) + 120
      const url = yield* rawServer(() => ({
        status: 200,
        body: JSON.stringify({ access_token: jwt({ exp }), token_type: "bearer", refresh_token: ISSUED })
      }))
      const client = yield* AuthenticationClient.make({ domain: url, clientId: "client-1" }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      const credentials = yield* client.renewAuth(Redacted.make(REFRESH_TOKEN))
      expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(exp * 1000)
      expect(Redacted.value(credentials.refreshToken!)).toBe(ISSUED)
    }))
})

// -----------------------------------------------------------------------------
// token_type: only what the library can use
// -----------------------------------------------------------------------------

describe("token_type", () => {
  it("Bearer and DPoP in any case decode to their canonical spelling; anything else fails", () => {
    const decode = Schema.decodeUnknownEither(Credentials.TokenType)
    for (
      const [input, canonical] of [
        ["Bearer", "Bearer"],
        ["bearer", "Bearer"],
        ["BEARER", "Bearer"],
        ["DPoP", "DPoP"],
        ["dpop", "DPoP"]
      ]
    ) {
      expect(Either.getOrThrow(decode(input))).toBe(canonical)
    }
    for (
      const input of ["MAC", "N_A", "", " ", " Bearer", "Bearer ", " DPoP", "Basic", "bearer-ish", "dpop+jwt", 42, null]
    ) {
      expect(Either.isLeft(decode(input))).toBe(true)
    }
  })

  it.effect("an answer with a type the library cannot use is an invalid_response naming the field only", () =>
    Effect.gen(function*() {
      for (const tokenType of ["MAC", "N_A", "", "mac-with-secret-ish-value"]) {
        const client = yield* clientAnswering(200, tokenBody({ token_type: tokenType }))
        const error = (yield* Effect.flip(client.renewAuth(Redacted.make(REFRESH_TOKEN)))) as AuthError.AuthApiError
        expect([error.code, error.description]).toEqual([
          AuthError.InvalidResponseCode,
          "HTTP 200: missing or invalid token_type"
        ])
        expect(AuthError.classify(error)).toBe("Unexpected")
        const delegation = yield* clientAnswering(200, JSON.stringify({ id_token: "idt", token_type: tokenType }))
        const failed = yield* Effect.flip(delegation.delegationWithIdToken(Redacted.make("idt-sent")))
        expect(failed.description).toBe("HTTP 200: missing or invalid token_type")
      }
    }))

  it.effect("a DPoP-bound token issued to a request without a proof is refused: there is no key to send it with", () =>
    Effect.gen(function*() {
      const client = yield* clientAnswering(200, tokenBody({ token_type: "DPoP" }))
      const error = (yield* Effect.flip(client.renewAuth(Redacted.make(REFRESH_TOKEN)))) as AuthError.AuthApiError
      expect([error.code, error.description]).toEqual([
        AuthError.InvalidResponseCode,
        "HTTP 200: the server issued a DPoP-bound token to a request without a DPoP proof"
      ])
    }))

  it.effect("a DPoP-bound token answered to a delegation request without a proof is refused; with a proof it is taken", () =>
    Effect.gen(function*() {
      const body = JSON.stringify({ id_token: "idt-new", token_type: "DPoP", expires_in: 3600 })
      const client = yield* clientAnswering(200, body)
      for (const delegate of [client.delegationWithIdToken, client.delegationWithRefreshToken]) {
        const error = (yield* Effect.flip(delegate(Redacted.make("sent-token")))) as AuthError.AuthApiError
        expect([error._tag, error.code, error.description]).toEqual([
          "AuthApiError",
          AuthError.InvalidResponseCode,
          "HTTP 200: the server issued a DPoP-bound token to a request without a DPoP proof"
        ])
        expect(AuthError.classify(error)).toBe("Unexpected")
      }
      const key = yield* Dpop.generateKey
      const bound = yield* client.delegationWithIdToken(Redacted.make("sent-token"), { dpop: key })
      expect(bound.tokenType).toBe("DPoP")
    }))
})

// -----------------------------------------------------------------------------
// InvalidConfiguration never repeats user-info
// -----------------------------------------------------------------------------

describe("InvalidConfiguration", () => {
  const PASSWORD = "pw-Hk7Jd2Ls9"
  const configure = (options: Partial<AuthenticationClient.Options>) =>
    AuthenticationClient.make({ domain: "tenant.example.com", clientId: "client-1", ...options }).pipe(
      Effect.provideService(HttpClient.HttpClient, HttpClient.make(() => Effect.never)),
      Effect.flip
    )

  it.effect("names the problem without the credentials of a domain or a path", () =>
    Effect.gen(function*() {
      const domains = [
        `https://user:${PASSWORD}@tenant.auth0.com`,
        `http://user:${PASSWORD}@evil.example`,
        `user:${PASSWORD}@tenant.auth0.com`,
        `https://user:${PASSWORD}@`,
        `https://us er:${PASSWORD}@tenant.auth0.com`,
        `https://user:${PASSWORD}@host with space`,
        `https://user:${PASSWORD.slice(0, 4)}/${PASSWORD.slice(4)}@tenant.auth0.com`,
        `ftp://user:${PASSWORD}@tenant.auth0.com`,
        ` https://user:${PASSWORD}@[::1 `
      ]
      for (const domain of domains) {
        const error = yield* configure({ domain })
        expect(error).toBeInstanceOf(AuthError.InvalidConfiguration)
        for (const text of renderings(error)) {
          expect(text).not.toContain(PASSWORD)
          expect(text).not.toContain(PASSWORD.slice(4))
        }
      }
      for (const tokenPath of [`https://user:${PASSWORD}@evil.example/token`, `//user:${PASSWORD}@evil.example`]) {
        const error = yield* configure({ tokenPath })
        expect(error.description).toMatch(/^endpoint path/)
        for (const text of renderings(error)) expect(text).not.toContain(PASSWORD)
      }
    }))

  it.effect("still repeats a value without user-info, which helps find a typo", () =>
    Effect.gen(function*() {
      const error = yield* configure({ domain: "tenant .auth0.com" })
      expect(error.description).toBe(`domain "tenant .auth0.com" is not a host name or URL`)
      const path = yield* configure({ revokePath: "oauth/revoke" })
      expect(path.description).toBe(`endpoint path "oauth/revoke" must start with a single "/"`)
    }))
})

// -----------------------------------------------------------------------------
// Encoded bodies
// -----------------------------------------------------------------------------

describe("an encoded body", () => {
  it.scopedLive("a small gzip body that decodes beyond the cap is not read past it", () =>
    Effect.gen(function*() {
      // 2 MiB of JSON that compresses to a few kilobytes, with its compressed length declared
      const decoded = JSON.stringify({ access_token: "a", token_type: "Bearer", padding: "x".repeat(2 * 1024 * 1024) })
      const encoded = Zlib.gzipSync(decoded)
      const url = yield* serve(() => (_, response) => {
        response.writeHead(200, {
          "content-type": "application/json",
          "content-encoding": "gzip",
          "content-length": String(encoded.byteLength)
        }).end(encoded)
      })
      const client = yield* AuthenticationClient.make({ domain: url, clientId: "client-1" }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      const error = (yield* Effect.flip(client.renewAuth(Redacted.make(REFRESH_TOKEN)))) as AuthError.AuthApiError
      expect([error.status, error.code, error.description]).toEqual([
        200,
        AuthError.InvalidResponseCode,
        "HTTP 200: the body exceeds 1048576 bytes"
      ])
    }))
})
