/**
 * The AuthenticationClient against the emulator, served two ways: in memory
 * (an `HttpClient` over the model, under `TestClock`) and on a loopback HTTP
 * server (`FetchHttpClient`, real time). Every case is written once and run
 * in both modes.
 */
import { AuthenticationClient, AuthError, Jwt } from "@effect-renewal/core"
import type { Credentials, Delegation } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const { Fault } = Emulator

// -----------------------------------------------------------------------------
// Secrets seen by this file: every token issued and every secret configured.
// The last test of each mode asserts that none of them shows up in an error
// or a log line.
// -----------------------------------------------------------------------------

const secrets = new Set<string>()
const producedErrors: Array<unknown> = []

const remember = (...values: ReadonlyArray<string | undefined>) => {
  for (const value of values) if (value !== undefined && value.length > 0) secrets.add(value)
}

const revealed = (token: Redacted.Redacted<string> | undefined) =>
  token === undefined ? undefined : Redacted.value(token)

// Tokens that only exist in scripted response bodies: the client must not
// echo them when it rejects those bodies.
const BODY_ACCESS_TOKEN = "body-access-token-7c41d9e2"
const BODY_REFRESH_TOKEN = "body-refresh-token-0b93aa51"
const BODY_ID_TOKEN = "body-id-token-e8f0c3d7"
const CLIENT_SECRET = "client-secret-Qm9yZWFsU2VjcmV0"
const WRONG_SECRET = "wrong-secret-a8d1f09c33"
const RESERVED_SECRET = "c2VjcmV0+c2VjcmV0/c2VjcmV0=="
remember(BODY_ACCESS_TOKEN, BODY_REFRESH_TOKEN, BODY_ID_TOKEN, CLIENT_SECRET, WRONG_SECRET, RESERVED_SECRET)

const DEFAULT_SCOPE = "openid profile email offline_access"

/** An initial login at the emulator; its tokens are remembered. */
const login = (options?: Emulator.Emulator.LoginOptions) =>
  Effect.flatMap(Emulator.Emulator, (emulator) => emulator.login(options)).pipe(
    Effect.tap((body) => remember(body.access_token, body.id_token, body.refresh_token))
  )

const issued = <A extends Credentials.Credentials | Delegation.Delegation>(value: A): A => {
  if ("accessToken" in value) {
    remember(revealed(value.accessToken), revealed(value.idToken), revealed(value.refreshToken))
  } else {
    remember(revealed(value.idToken))
  }
  return value
}

/** Runs an effect that must fail, remembers its error and returns it. */
const failure = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.flatMap(
    Effect.either(effect),
    Either.match({
      onLeft: (error) =>
        Effect.sync(() => {
          producedErrors.push(error)
          return error
        }),
      onRight: (value) => Effect.dieMessage(`expected a failure, got a success: ${String(value)}`)
    })
  )

const client = AuthenticationClient.AuthenticationClient

const refreshTokenOf = (body: Emulator.TokenResponseBody) => Redacted.make(body.refresh_token!)
const idTokenOf = (body: Emulator.TokenResponseBody) => Redacted.make(body.id_token!)

const claimsOf = (token: Redacted.Redacted<string> | undefined) => Jwt.decode(token ?? "")

const millisOf = (dateTime: DateTime.Utc) => DateTime.toEpochMillis(dateTime)

// -----------------------------------------------------------------------------
// Modes
// -----------------------------------------------------------------------------

type ClientOptions = Omit<AuthenticationClient.Options, "domain" | "clientId">

interface Setup {
  readonly emulator?: Emulator.Emulator.Options | undefined
  /** The client's id, the emulator's by default. */
  readonly clientId?: string | undefined
  readonly client?: ClientOptions | undefined
}

type Services = Emulator.Emulator | AuthenticationClient.AuthenticationClient

interface Mode {
  readonly name: string
  /** `true` when time is the `TestClock`: then times are exact. */
  readonly virtualTime: boolean
  /** The client `timeout` of the hang tests. */
  readonly timeout: Duration.Duration
  /** Lets time pass: `TestClock.adjust` in memory, a real sleep on loopback. */
  readonly elapse: (duration: Duration.DurationInput) => Effect.Effect<void>
  readonly test: (
    name: string,
    body: () => Effect.Effect<void, unknown, Services>,
    setup?: Setup
  ) => void
}

const memoryLayer = (setup: Setup): Layer.Layer<Services> =>
  (setup.client === undefined
    ? Fixtures.layerClient({ clientId: setup.clientId })
    : Layer.unwrapEffect(
      Effect.map(Emulator.Emulator, (emulator) =>
        AuthenticationClient.layer({
          domain: Fixtures.memoryDomain,
          clientId: setup.clientId ?? emulator.clientId,
          ...setup.client
        }))
    ).pipe(Layer.orDie)).pipe(Layer.provideMerge(Emulator.layerMemory(setup.emulator)))

const loopbackLayer = (setup: Setup): Layer.Layer<Services> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const server = yield* Emulator.EmulatorServer
      return AuthenticationClient.layer({
        domain: server.url,
        clientId: setup.clientId ?? emulator.clientId,
        ...setup.client
      })
    })
  ).pipe(
    Layer.orDie,
    Layer.provide(FetchHttpClient.layer),
    Layer.provideMerge(Emulator.layerServer(setup.emulator))
  )

const memory: Mode = {
  name: "in memory",
  virtualTime: true,
  timeout: Duration.seconds(5),
  elapse: (duration) => TestClock.adjust(duration),
  test: (name, body, setup = {}) => it.effect(name, () => Effect.provide(body(), memoryLayer(setup)))
}

const loopback: Mode = {
  name: "on loopback",
  virtualTime: false,
  timeout: Duration.millis(300),
  elapse: (duration) => Effect.sleep(duration),
  // A fresh emulator and server per test.
  test: (name, body, setup = {}) => it.live(name, () => Effect.provide(body(), loopbackLayer(setup)))
}

// -----------------------------------------------------------------------------
// Expectations
// -----------------------------------------------------------------------------

interface Expected {
  readonly _tag: "AuthApiError" | "NetworkError"
  readonly status?: number
  readonly code?: string
  readonly reason?: "Transport" | "Timeout"
  readonly description?: string | RegExp
  /** `[min, max]` milliseconds; absent means no `retryAfter`. */
  readonly retryAfter?: readonly [number, number]
}

const expectError = (error: unknown, expected: Expected) => {
  expect(error).toBeInstanceOf(expected._tag === "AuthApiError" ? AuthError.AuthApiError : AuthError.NetworkError)
  const e = error as AuthError.AuthenticationError
  expect(e._tag).toBe(expected._tag)
  if (e._tag === "AuthApiError") {
    if (expected.status !== undefined) expect(e.status).toBe(expected.status)
    if (expected.code !== undefined) expect(e.code).toBe(expected.code)
    if (expected.retryAfter === undefined) {
      expect(e.retryAfter).toBeUndefined()
    } else {
      expect(e.retryAfter).toBeDefined()
      const millis = Duration.toMillis(e.retryAfter!)
      expect(millis).toBeGreaterThanOrEqual(expected.retryAfter[0])
      expect(millis).toBeLessThanOrEqual(expected.retryAfter[1])
    }
  } else if (expected.reason !== undefined) {
    expect(e.reason).toBe(expected.reason)
  }
  if (typeof expected.description === "string") expect(e.description).toBe(expected.description)
  else if (expected.description !== undefined) expect(e.description).toMatch(expected.description)
}

interface Predicates {
  readonly transient: boolean
  readonly rateLimited?: boolean
  readonly networkError?: boolean
  readonly mfaRequired?: boolean
  readonly invalidGrant?: boolean
}

const expectPredicates = (error: unknown, predicates: Predicates) => {
  expect({
    isTransient: AuthError.isTransient(error),
    isRateLimited: AuthError.isRateLimited(error),
    isNetworkError: AuthError.isNetworkError(error),
    isMfaRequired: AuthError.isMfaRequired(error),
    isInvalidGrant: AuthError.isInvalidGrant(error)
  }).toEqual({
    isTransient: predicates.transient,
    isRateLimited: predicates.rateLimited ?? false,
    isNetworkError: predicates.networkError ?? false,
    isMfaRequired: predicates.mfaRequired ?? false,
    isInvalidGrant: predicates.invalidGrant ?? false
  })
}

const expectNoSecretIn = (texts: ReadonlyArray<string>) => {
  expect(secrets.size).toBeGreaterThan(0)
  for (const text of texts) {
    for (const secret of secrets) {
      if (text.includes(secret)) {
        expect.fail(`a secret (${secret.slice(0, 6)}…) appears in: ${text.slice(0, 200)}`)
      }
    }
  }
}

const renderings = (error: unknown): ReadonlyArray<string> => [
  error instanceof Error ? error.message : "",
  String(error),
  JSON.stringify(error),
  error instanceof Error ? error.stack ?? "" : ""
]

// -----------------------------------------------------------------------------
// Calls and faults
// -----------------------------------------------------------------------------

type Call = "renewAuth" | "delegationWithIdToken" | "delegationWithRefreshToken" | "revoke"

const allCalls: ReadonlyArray<Call> = ["renewAuth", "delegationWithIdToken", "delegationWithRefreshToken", "revoke"]

const endpointOf: Record<Call, Emulator.Endpoint> = {
  renewAuth: "token",
  delegationWithIdToken: "delegation",
  delegationWithRefreshToken: "delegation",
  revoke: "revoke"
}

const invoke = (call: Call, body: Emulator.TokenResponseBody) =>
  Effect.flatMap(client, (c): Effect.Effect<unknown, AuthError.AuthenticationError> => {
    switch (call) {
      case "renewAuth":
        return Effect.map(c.renewAuth(refreshTokenOf(body)), issued)
      case "delegationWithIdToken":
        return Effect.map(c.delegationWithIdToken(idTokenOf(body)), issued)
      case "delegationWithRefreshToken":
        return Effect.map(c.delegationWithRefreshToken(refreshTokenOf(body)), issued)
      case "revoke":
        return c.revoke(refreshTokenOf(body))
    }
  })

interface FaultCase {
  readonly name: string
  /** Built at the time of the test, from the `Clock` in milliseconds. */
  readonly fault: (now: number) => Emulator.Fault
  readonly calls: ReadonlyArray<Call>
  readonly expected: Expected
  readonly predicates: Predicates
}

const tokenBody = (fields: Record<string, unknown>) =>
  JSON.stringify({
    access_token: BODY_ACCESS_TOKEN,
    id_token: BODY_ID_TOKEN,
    refresh_token: BODY_REFRESH_TOKEN,
    token_type: "Bearer",
    scope: DEFAULT_SCOPE,
    ...fields
  })

const httpDate = (millis: number) => new Date(millis).toUTCString()

const faultCases: ReadonlyArray<FaultCase> = [
  {
    name: "503 with Retry-After in seconds",
    fault: () => Fault.status(503, { retryAfter: 7 }),
    calls: allCalls,
    expected: {
      _tag: "AuthApiError",
      status: 503,
      code: "temporarily_unavailable",
      description: "Emulated fault: HTTP 503.",
      retryAfter: [7000, 7000]
    },
    predicates: { transient: true }
  },
  {
    name: "429 with Retry-After in seconds",
    fault: () => Fault.status(429, { retryAfter: 30 }),
    calls: allCalls,
    expected: {
      _tag: "AuthApiError",
      status: 429,
      code: "too_many_requests",
      description: "Emulated fault: HTTP 429.",
      retryAfter: [30_000, 30_000]
    },
    predicates: { transient: true, rateLimited: true }
  },
  {
    name: "429 with Retry-After as an HTTP date two minutes ahead",
    // whole seconds (an HTTP date has no milliseconds), at least 119 s ahead of the receipt
    fault: (now) => Fault.status(429, { retryAfter: httpDate(Math.ceil(now / 1000) * 1000 + 120_000) }),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 429, code: "too_many_requests", retryAfter: [115_000, 121_000] },
    predicates: { transient: true, rateLimited: true }
  },
  {
    name: "503 with Retry-After as an HTTP date in the past",
    fault: (now) => Fault.status(503, { retryAfter: httpDate(now - 3_600_000) }),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 503, code: "temporarily_unavailable", retryAfter: [0, 0] },
    predicates: { transient: true }
  },
  {
    name: "429 without Retry-After",
    fault: () => Fault.status(429),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 429, code: "too_many_requests" },
    predicates: { transient: true, rateLimited: true }
  },
  {
    name: "500 server_error",
    fault: () => Fault.status(500),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 500, code: "server_error", description: "Emulated fault: HTTP 500." },
    predicates: { transient: true }
  },
  {
    name: "400 in the OAuth body format",
    fault: () => Fault.status(400, { error: "invalid_request", description: "Bad request (oauth).", format: "oauth" }),
    calls: allCalls,
    expected: { _tag: "AuthApiError", status: 400, code: "invalid_request", description: "Bad request (oauth)." },
    predicates: { transient: false }
  },
  {
    name: "400 in the Auth0 body format",
    fault: () => Fault.status(400, { error: "invalid_body", description: "Bad request (auth0).", format: "auth0" }),
    calls: allCalls,
    expected: { _tag: "AuthApiError", status: 400, code: "invalid_body", description: "Bad request (auth0)." },
    predicates: { transient: false }
  },
  {
    name: "403 mfa_required",
    fault: () => Fault.status(403, { error: "mfa_required", description: "Multifactor authentication required" }),
    calls: ["renewAuth"],
    expected: {
      _tag: "AuthApiError",
      status: 403,
      code: "mfa_required",
      description: "Multifactor authentication required"
    },
    predicates: { transient: false, mfaRequired: true }
  },
  {
    name: "403 invalid_grant in the Auth0 body format",
    fault: () => Fault.status(403, { error: "invalid_grant", description: "Refresh token revoked.", format: "auth0" }),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 403, code: "invalid_grant", description: "Refresh token revoked." },
    predicates: { transient: false, invalidGrant: true }
  },
  {
    name: "connection reset",
    fault: () => Fault.reset(),
    calls: allCalls,
    expected: { _tag: "NetworkError", reason: "Transport" },
    predicates: { transient: true, networkError: true }
  },
  {
    name: "an HTML page with 502",
    fault: () => Fault.html(502),
    calls: allCalls,
    expected: {
      _tag: "AuthApiError",
      status: 502,
      code: "invalid_response",
      description: /^HTTP 502: the body is not JSON \(\d+ characters\) \(text\/html\)$/
    },
    predicates: { transient: true }
  },
  {
    name: "truncated JSON with 200",
    fault: () => Fault.body(200, tokenBody({ expires_in: 3600 }).slice(0, 60)),
    calls: ["renewAuth", "delegationWithIdToken"],
    expected: {
      _tag: "AuthApiError",
      status: 200,
      code: "invalid_response",
      description: /^HTTP 200: the body is not JSON/
    },
    predicates: { transient: false }
  },
  {
    name: "malformed JSON with 200",
    fault: () => Fault.body(200, `{"access_token": ${BODY_ACCESS_TOKEN}, "expires_in": 3600}`),
    calls: ["renewAuth"],
    expected: {
      _tag: "AuthApiError",
      status: 200,
      code: "invalid_response",
      description: /^HTTP 200: the body is not JSON/
    },
    predicates: { transient: false }
  },
  {
    name: "an empty body with 200",
    fault: () => Fault.body(200, ""),
    calls: ["renewAuth", "delegationWithRefreshToken"],
    expected: {
      _tag: "AuthApiError",
      status: 200,
      code: "invalid_response",
      description: "HTTP 200: the body is empty"
    },
    predicates: { transient: false }
  },
  {
    name: "an empty body with 500",
    fault: () => Fault.body(500, ""),
    calls: allCalls,
    expected: {
      _tag: "AuthApiError",
      status: 500,
      code: "invalid_response",
      description: /^HTTP 500: the body is empty/
    },
    predicates: { transient: true }
  },
  {
    name: "a 200 with an OAuth error body",
    fault: () => Fault.errorIn200("invalid_grant", "Unknown or invalid refresh token."),
    calls: allCalls,
    expected: {
      _tag: "AuthApiError",
      status: 200,
      code: "invalid_grant",
      description: "Unknown or invalid refresh token."
    },
    predicates: { transient: false, invalidGrant: true }
  },
  {
    name: "a 200 with an Auth0 error body",
    fault: () => Fault.errorIn200("mfa_required", "Multifactor authentication required", "auth0"),
    calls: ["renewAuth"],
    expected: {
      _tag: "AuthApiError",
      status: 200,
      code: "mfa_required",
      description: "Multifactor authentication required"
    },
    predicates: { transient: false, mfaRequired: true }
  },
  {
    name: "a 200 token response with a token_type the library cannot use",
    fault: () => Fault.body(200, tokenBody({ expires_in: 3600, token_type: "MAC" })),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 200, code: "invalid_response", description: /token_type$/ },
    predicates: { transient: false }
  },
  {
    name: "a 200 delegation response with an empty token_type",
    fault: () => Fault.body(200, JSON.stringify({ id_token: BODY_ID_TOKEN, token_type: "", expires_in: 60 })),
    calls: ["delegationWithIdToken"],
    expected: { _tag: "AuthApiError", status: 200, code: "invalid_response", description: /token_type$/ },
    predicates: { transient: false }
  },
  {
    name: "a 200 token response with a negative expires_in",
    fault: () => Fault.body(200, tokenBody({ expires_in: -5 })),
    calls: ["renewAuth"],
    expected: { _tag: "AuthApiError", status: 200, code: "invalid_response", description: /expires_in/ },
    predicates: { transient: false }
  },
  {
    name: "a 200 delegation response with a negative expires_in",
    fault: () => Fault.body(200, JSON.stringify({ id_token: BODY_ID_TOKEN, token_type: "Bearer", expires_in: -1 })),
    calls: ["delegationWithIdToken"],
    expected: { _tag: "AuthApiError", status: 200, code: "invalid_response", description: /expires_in/ },
    predicates: { transient: false }
  }
]

// -----------------------------------------------------------------------------
// The cases, once for both modes
// -----------------------------------------------------------------------------

const suite = (mode: Mode) => {
  const { test } = mode

  describe("every endpoint succeeds", () => {
    test("renewAuth returns credentials with a rotated refresh token, the scope and expiresAt from the Clock", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login()
        if (mode.virtualTime) yield* TestClock.adjust("90 minutes") // receipt time is not the epoch
        const before = millisOf(yield* DateTime.now)
        const renewed = issued(yield* (yield* client).renewAuth(refreshTokenOf(body)))
        const after = millisOf(yield* DateTime.now)

        expect(revealed(renewed.refreshToken)).toBeDefined()
        expect(revealed(renewed.refreshToken)).not.toBe(body.refresh_token)
        expect(revealed(renewed.accessToken)).not.toBe(body.access_token)
        expect(revealed(renewed.idToken)).toBeDefined()
        expect(revealed(renewed.idToken)).not.toBe(body.id_token)
        expect(renewed.tokenType).toBe("Bearer")
        expect(renewed.scope).toBe(DEFAULT_SCOPE)
        const expiresAt = millisOf(renewed.expiresAt)
        if (mode.virtualTime) {
          expect(before).toBe(Duration.toMillis("90 minutes"))
          expect(expiresAt).toBe(before + 3_600_000)
        } else {
          expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000)
          expect(expiresAt).toBeLessThanOrEqual(after + 3_600_000)
        }
        // the new refresh token is the live one; the old one was rotated out
        expect(yield* emulator.isRevoked(revealed(renewed.refreshToken)!)).toBe(false)
        const counters = yield* emulator.counters
        expect(counters.rotations).toBe(1)
        expect(counters.requests.token).toBe(1)
        const [entry] = yield* emulator.requests
        expect(entry).toMatchObject({ endpoint: "token", method: "POST", grantType: "refresh_token", status: 200 })
      }))

    test("renewAuth: an answer without expires_in, whose access token is no JWT, lives the default lifetime", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login()
        yield* emulator.faultOn("token", Fault.body(200, tokenBody({})))
        const before = millisOf(yield* DateTime.now)
        const renewed = issued(yield* (yield* client).renewAuth(refreshTokenOf(body)))
        const after = millisOf(yield* DateTime.now)
        expect(revealed(renewed.refreshToken)).toBe(BODY_REFRESH_TOKEN)
        expect(millisOf(renewed.expiresAt)).toBeGreaterThanOrEqual(before + 300_000)
        expect(millisOf(renewed.expiresAt)).toBeLessThanOrEqual(after + 300_000)
      }))

    test("renewAuth without rotation returns no refresh token", () =>
      Effect.gen(function*() {
        const body = yield* login()
        const renewed = issued(yield* (yield* client).renewAuth(refreshTokenOf(body)))
        expect(renewed.refreshToken).toBeUndefined()
        expect(renewed.scope).toBe(DEFAULT_SCOPE)
      }), { emulator: { rotation: false } })

    test("renewAuth with a subset of the scope", () =>
      Effect.gen(function*() {
        const body = yield* login()
        const renewed = issued(
          yield* (yield* client).renewAuth(refreshTokenOf(body), { scope: "openid offline_access" })
        )
        expect(renewed.scope).toBe("openid offline_access")
        const claims = yield* claimsOf(renewed.accessToken)
        expect(claims.scope).toBe("openid offline_access")
      }))

    test("renewAuth with a scope beyond the grant fails with 403 invalid_scope", () =>
      Effect.gen(function*() {
        const body = yield* login({ scope: "openid offline_access" })
        const error = yield* failure((yield* client).renewAuth(refreshTokenOf(body), { scope: "openid admin" }))
        expectError(error, { _tag: "AuthApiError", status: 403, code: "invalid_scope" })
        expectPredicates(error, { transient: false })
      }))

    test("renewAuth with an audience", () =>
      Effect.gen(function*() {
        const body = yield* login()
        const renewed = issued(
          yield* (yield* client).renewAuth(refreshTokenOf(body), { audience: "https://orders.example" })
        )
        expect((yield* claimsOf(renewed.accessToken)).aud).toBe("https://orders.example")
      }))

    test("renewAuth with extra parameters: they never override the client's own", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login()
        const renewed = issued(
          yield* (yield* client).renewAuth(refreshTokenOf(body), {
            parameters: {
              grant_type: "password",
              client_id: "intruder-client",
              refresh_token: "forged-refresh-token",
              device: "test-device"
            }
          })
        )
        expect(revealed(renewed.refreshToken)).not.toBe(body.refresh_token)
        const [entry] = yield* emulator.requests
        expect(entry).toMatchObject({ grantType: "refresh_token", status: 200 })
      }))

    test("renewAuth with extra parameters: the ones the client does not set reach the server", () =>
      Effect.gen(function*() {
        const body = yield* login()
        const renewed = issued(
          yield* (yield* client).renewAuth(refreshTokenOf(body), {
            parameters: { audience: "https://billing.example" }
          })
        )
        expect((yield* claimsOf(renewed.accessToken)).aud).toBe("https://billing.example")
      }))

    test("delegationWithIdToken returns a new id_token for the target", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login({ username: "alice" })
        const before = millisOf(yield* DateTime.now)
        const delegation = issued(
          yield* (yield* client).delegationWithIdToken(idTokenOf(body), {
            target: "target-client",
            scope: "openid",
            apiType: "app",
            parameters: { id_token: "forged-id-token" }
          })
        )
        const after = millisOf(yield* DateTime.now)
        expect(revealed(delegation.idToken)).not.toBe(body.id_token)
        expect(delegation.tokenType).toBe("Bearer")
        const claims = yield* claimsOf(delegation.idToken)
        expect(claims.sub).toBe("alice")
        expect(claims.aud).toBe("target-client")
        // the emulator's id_token lifetime: 10 hours
        expect(millisOf(delegation.expiresAt)).toBeGreaterThanOrEqual(before + 36_000_000)
        expect(millisOf(delegation.expiresAt)).toBeLessThanOrEqual(after + 36_000_000)
        expect((yield* emulator.counters).requests.delegation).toBe(1)
      }))

    test("delegationWithRefreshToken returns a new id_token for the client", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login()
        const delegation = issued(yield* (yield* client).delegationWithRefreshToken(refreshTokenOf(body)))
        expect(delegation.tokenType).toBe("Bearer")
        const claims = yield* claimsOf(delegation.idToken)
        expect(claims.sub).toBe("demo-user")
        expect(claims.aud).toBe(emulator.clientId)
        // delegation does not rotate the refresh token
        expect((yield* emulator.counters).rotations).toBe(0)
      }))

    test("revoke, then renewAuth with that token fails with 403 invalid_grant", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login()
        const c = yield* client
        yield* c.revoke(refreshTokenOf(body))
        expect(yield* emulator.isRevoked(body.refresh_token!)).toBe(true)
        expect((yield* emulator.counters).revokedFamilies).toBe(1)

        const error = yield* failure(c.renewAuth(refreshTokenOf(body)))
        expectError(error, {
          _tag: "AuthApiError",
          status: 403,
          code: "invalid_grant",
          description: "Unknown or invalid refresh token."
        })
        expectPredicates(error, { transient: false, invalidGrant: true })
        expect(AuthError.isLoginRequired(error)).toBe(true)

        const delegation = yield* failure(c.delegationWithRefreshToken(refreshTokenOf(body)))
        expectError(delegation, { _tag: "AuthApiError", status: 401, code: "invalid_grant" })
      }))

    test("an unknown client id fails with 401 invalid_client", () =>
      Effect.gen(function*() {
        const body = yield* login()
        const error = yield* failure((yield* client).renewAuth(refreshTokenOf(body)))
        expectError(error, {
          _tag: "AuthApiError",
          status: 401,
          code: "invalid_client",
          description: "Unknown client."
        })
      }), { clientId: "another-client" })
  })

  describe("client secret", () => {
    const methods = ["client_secret_post", "client_secret_basic"] as const
    for (const method of methods) {
      test(`${method}: the right secret is accepted by the token and revoke endpoints`, () =>
        Effect.gen(function*() {
          const emulator = yield* Emulator.Emulator
          const body = yield* login()
          const c = yield* client
          const renewed = issued(yield* c.renewAuth(refreshTokenOf(body)))
          yield* c.revoke(renewed.refreshToken!)
          expect(yield* emulator.isRevoked(revealed(renewed.refreshToken)!)).toBe(true)
        }), {
        emulator: { clientSecret: CLIENT_SECRET },
        client: { clientSecret: Redacted.make(CLIENT_SECRET), clientAuthentication: method }
      })

      test(`${method}: a secret with reserved characters (+ / =) is accepted`, () =>
        Effect.gen(function*() {
          const body = yield* login()
          issued(yield* (yield* client).renewAuth(refreshTokenOf(body)))
        }), {
        emulator: { clientSecret: RESERVED_SECRET },
        client: { clientSecret: Redacted.make(RESERVED_SECRET), clientAuthentication: method }
      })

      test(`${method}: a wrong secret is rejected with 401 invalid_client`, () =>
        Effect.gen(function*() {
          const emulator = yield* Emulator.Emulator
          const body = yield* login()
          const c = yield* client
          for (const call of [c.renewAuth(refreshTokenOf(body)), c.revoke(refreshTokenOf(body))]) {
            const error = yield* failure(call)
            expectError(error, {
              _tag: "AuthApiError",
              status: 401,
              code: "invalid_client",
              description: "Client authentication failed."
            })
            expectPredicates(error, { transient: false })
          }
          expect(yield* emulator.isRevoked(body.refresh_token!)).toBe(false)
        }), {
        emulator: { clientSecret: CLIENT_SECRET },
        client: { clientSecret: Redacted.make(WRONG_SECRET), clientAuthentication: method }
      })
    }

    test("no secret at all is rejected with 401 invalid_client", () =>
      Effect.gen(function*() {
        const body = yield* login()
        const error = yield* failure((yield* client).renewAuth(refreshTokenOf(body)))
        expectError(error, { _tag: "AuthApiError", status: 401, code: "invalid_client" })
      }), { emulator: { clientSecret: CLIENT_SECRET } })
  })

  describe("faults", () => {
    for (const c of faultCases) {
      for (const call of c.calls) {
        test(`${call}: ${c.name}`, () =>
          Effect.gen(function*() {
            const emulator = yield* Emulator.Emulator
            const body = yield* login()
            const fault = c.fault(yield* Clock.currentTimeMillis)
            yield* emulator.faultOn(endpointOf[call], fault)
            const error = yield* failure(invoke(call, body))
            expectError(error, c.expected)
            expectPredicates(error, c.predicates)
            const entries = yield* emulator.requests
            expect(entries.map((entry) => entry.fault)).toEqual([fault._tag])
          }))
      }
    }

    test("latency: the call is pending until the delay has passed, then succeeds", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const body = yield* login()
        yield* emulator.faultOn("token", Fault.latency("600 millis"))
        const fiber = yield* Effect.fork((yield* client).renewAuth(refreshTokenOf(body)))
        yield* mode.elapse("100 millis")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* mode.elapse("600 millis")
        const renewed = issued(yield* Fiber.join(fiber))
        expect(revealed(renewed.refreshToken)).not.toBe(body.refresh_token)
        const [entry] = yield* emulator.requests
        expect(entry).toMatchObject({ status: 200, fault: "Latency" })
      }))

    for (const call of ["renewAuth", "delegationWithIdToken", "revoke"] as const) {
      test(
        `${call}: a hung server fails with NetworkError Timeout after the client's timeout`,
        () =>
          Effect.gen(function*() {
            const emulator = yield* Emulator.Emulator
            const body = yield* login()
            yield* emulator.faultOn(endpointOf[call], Fault.hang())
            const fiber = yield* Effect.fork(failure(invoke(call, body)))
            yield* mode.elapse("100 millis")
            expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
            yield* mode.elapse(mode.timeout)
            const error = yield* Fiber.join(fiber)
            expectError(error, {
              _tag: "NetworkError",
              reason: "Timeout",
              description: new RegExp(`within ${Duration.format(mode.timeout)}$`)
            })
            expectPredicates(error, { transient: true, networkError: true })
          }),
        { client: { timeout: mode.timeout } }
      )
    }
  })

  test("no token or secret appears in any error, nor in the logs of a failing call", () => {
    const lines: Array<string> = []
    const collector = Logger.make((options) => {
      lines.push(Logger.logfmtLogger.log(options), Logger.jsonLogger.log(options))
    })
    return Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const c = yield* client
      const body = yield* login()
      const renewed = issued(yield* c.renewAuth(refreshTokenOf(body)))
      issued(yield* c.delegationWithIdToken(idTokenOf(body)))
      // one error of every kind, each call with the token of a live or a revoked login
      yield* emulator.faultOn(
        "token",
        Fault.body(200, tokenBody({ expires_in: -5 })),
        Fault.body(200, `{"access_token": "${BODY_ACCESS_TOKEN}", "refresh_tok`),
        Fault.html(502),
        Fault.status(429, { retryAfter: 3 }),
        Fault.errorIn200("invalid_grant", "Unknown or invalid refresh token."),
        Fault.reset(),
        Fault.hang()
      )
      const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        failure(
          effect.pipe(
            Effect.tapErrorCause(Effect.logError),
            Effect.tapError((error) => Effect.logWarning("renewal failed", error)),
            Effect.withLogSpan("renew"),
            Effect.annotateLogs("client", "AuthenticationClient")
          )
        )
      const errors: Array<unknown> = []
      for (let i = 0; i < 6; i++) errors.push(yield* logged(c.renewAuth(renewed.refreshToken!)))
      const hung = yield* Effect.fork(logged(c.renewAuth(renewed.refreshToken!)))
      yield* mode.elapse(mode.timeout)
      errors.push(yield* Fiber.join(hung))
      yield* c.revoke(renewed.refreshToken!)
      errors.push(yield* logged(c.renewAuth(renewed.refreshToken!)))
      errors.push(yield* logged(c.delegationWithRefreshToken(renewed.refreshToken!)))

      expect(errors.map((e) => (e as AuthError.AuthenticationError)._tag)).toEqual([
        "AuthApiError",
        "AuthApiError",
        "AuthApiError",
        "AuthApiError",
        "AuthApiError",
        "NetworkError",
        "NetworkError",
        "AuthApiError",
        "AuthApiError"
      ])
      // the logs are there, and they say what went wrong
      expect(lines.length).toBeGreaterThanOrEqual(errors.length * 2)
      expect(lines.join("\n")).toContain("invalid_grant")
      expect(lines.join("\n")).toContain("renew=")

      expect(secrets.has(body.refresh_token!)).toBe(true)
      expect(secrets.has(revealed(renewed.refreshToken)!)).toBe(true)
      // every error produced so far by this file, and every log line
      expectNoSecretIn([...producedErrors, ...errors].flatMap(renderings))
      expectNoSecretIn(lines)
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, collector)))
  }, { client: { timeout: mode.timeout } })
}

describe("AuthenticationClient", () => {
  for (const mode of [memory, loopback]) {
    describe(mode.name, () => suite(mode))
  }
})
