import { AuthenticationClient, AuthError, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

const api = (status: number, code: string, presented?: AuthError.Presented) =>
  new AuthError.AuthApiError({ status, code, description: "test", ...(presented ? { presented } : {}) })

describe("AuthError.classify", () => {
  it("says what each answer means for the caller", () => {
    const cases: ReadonlyArray<readonly [AuthError.AuthenticationError, AuthError.Classification]> = [
      [new AuthError.NetworkError({ reason: "Timeout", description: "slow" }), "Transient"],
      [api(503, "server_error"), "Transient"],
      [api(429, "too_many_requests"), "Transient"],
      [api(408, "invalid_response"), "Transient"],
      [api(501, "server_error"), "Unexpected"],
      [api(400, "invalid_grant"), "RefreshTokenRejected"],
      [api(400, "invalid_grant", "refresh_token"), "RefreshTokenRejected"],
      [api(400, "invalid_grant", "id_token"), "IdTokenRejected"],
      [api(401, "invalid_response", "id_token"), "IdTokenRejected"],
      [api(403, "mfa_required"), "ActionRequired"],
      [api(403, "a0.mfa_required"), "ActionRequired"],
      [api(400, "consent_required"), "ActionRequired"],
      [api(400, "login_required"), "ActionRequired"],
      [api(403, "access_denied"), "ActionRequired"],
      [api(401, "invalid_client"), "Configuration"],
      [api(400, "unauthorized_client"), "Configuration"],
      [api(400, "unsupported_grant_type"), "Configuration"],
      [api(400, "invalid_scope"), "Unexpected"],
      [api(200, "invalid_response"), "Unexpected"]
    ]
    for (const [error, meaning] of cases) {
      expect([error.message, AuthError.classify(error)]).toEqual([error.message, meaning])
    }
  })

  it.prop(
    "the predicates and the Renewer's error agree on every answer",
    {
      status: Schema.Int.pipe(Schema.between(100, 599)),
      code: Schema.Literal(
        "invalid_grant",
        "mfa_required",
        "login_required",
        "consent_required",
        "invalid_token",
        "invalid_request",
        "invalid_client",
        "server_error",
        "whatever"
      ),
      presented: Schema.Literal("refresh_token", "id_token", "none")
    },
    ({ code, presented, status }) => {
      const error = api(status, code, presented === "none" ? undefined : presented)
      const answer = AuthError.toRenewerError(error)
      expect(AuthError.isLoginRequired(error)).toBe(answer._tag === "LoginRequired")
      expect(AuthError.isTransient(error)).toBe(answer._tag === "RenewalFailed" && answer.reason === "Transient")
      // the Renewer's own error says the same as the client's
      expect(AuthError.isLoginRequired(answer)).toBe(answer._tag === "LoginRequired")
      expect(AuthError.isInvalidGrant(answer)).toBe(code === "invalid_grant")
    }
  )
})

describe("AuthError.toLoginFailed", () => {
  it("gives each failed token request of a login its reason, and the server's code", () => {
    const cases: ReadonlyArray<readonly [AuthError.AuthenticationError, string, string | undefined]> = [
      [api(400, "access_denied"), "AccessDenied", "access_denied"],
      [api(400, "expired_token"), "Expired", "expired_token"],
      [api(400, "invalid_grant"), "Rejected", "invalid_grant"],
      [api(401, "invalid_client"), "Configuration", "invalid_client"],
      [api(503, "temporarily_unavailable"), "Transient", "temporarily_unavailable"],
      [new AuthError.NetworkError({ reason: "Timeout", description: "no answer" }), "Transient", undefined]
    ]
    for (const [error, reason, code] of cases) {
      const failed = AuthError.toLoginFailed(error)
      expect([failed._tag, failed.reason, failed.code]).toEqual(["LoginFailed", reason, code])
      expect(AuthError.isAuthError(failed)).toBe(true)
    }
  })
})

describe("AuthError classification end to end", () => {
  const answers = [
    { status: 400, error: "invalid_grant" },
    { status: 403, error: "mfa_required" },
    { status: 400, error: "consent_required" },
    { status: 403, error: "access_denied" },
    { status: 401, error: "unauthorized_client" },
    { status: 400, error: "invalid_scope" },
    { status: 401, error: "invalid_client" }
  ]
  for (const answer of answers) {
    it.effect(`${answer.status} ${answer.error}: isLoginRequired on the client's error iff the Renewer says LoginRequired`, () =>
      Effect.gen(function*() {
        const login = yield* Fixtures.login()
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(login)
        yield* TestClock.adjust("2 hours")
        const emulator = yield* Emulator.Emulator
        const client = yield* AuthenticationClient.AuthenticationClient
        yield* emulator.faultOn("token", Emulator.Fault.status(answer.status, { error: answer.error }))
        const clientError = yield* Effect.flip(client.renewAuth(login.refreshToken!))
        yield* emulator.faultOn("token", Emulator.Fault.status(answer.status, { error: answer.error }))
        const renewerError = yield* Effect.flip(renewer.get())
        expect(AuthError.isLoginRequired(clientError)).toBe(renewerError._tag === "LoginRequired")
        const kept = Option.getOrThrow(yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.get("default")))
        // the stored refresh token is dropped if and only if the refresh token was rejected
        expect(kept.refreshToken === undefined).toBe(AuthError.classify(clientError) === "RefreshTokenRejected")
        expect(kept.refreshToken === undefined).toBe(
          renewerError._tag === "LoginRequired" && renewerError.reason === "RefreshTokenRejected"
        )
      }).pipe(Effect.provide(Fixtures.layerMemory())))
  }
})
