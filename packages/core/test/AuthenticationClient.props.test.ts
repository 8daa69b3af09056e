import { AuthenticationClient } from "@effect-renewal/core"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import { clientAnswering } from "./support/answering.js"

const secret = "rt-secret-value-never-shown"

const statuses = fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 408, 429, 500, 502, 503)

const calls = (client: AuthenticationClient.AuthenticationClient.Service) => [
  client.renewAuth(Redacted.make(secret)),
  client.delegationWithIdToken(Redacted.make(secret)),
  client.delegationWithRefreshToken(Redacted.make(secret)),
  client.revoke(Redacted.make(secret))
]

const assertTyped = (exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isFailure(exit)) {
    expect(Cause.isFailType(exit.cause)).toBe(true)
    const error = Cause.squash(exit.cause) as Error
    expect(["AuthApiError", "NetworkError"]).toContain((error as { _tag?: string })._tag)
    for (const text of [error.message, String(error), JSON.stringify(error)]) {
      expect(text).not.toContain(secret)
    }
  }
}

describe("AuthenticationClient with arbitrary answers", () => {
  it.effect.prop(
    "arbitrary JSON never produces a defect",
    [statuses, fc.jsonValue()],
    ([status, json]) =>
      Effect.gen(function*() {
        const client = yield* clientAnswering(status, JSON.stringify(json))
        for (const call of calls(client)) assertTyped(yield* Effect.exit(call))
      })
  )

  it.effect.prop(
    "arbitrary token-response-like objects never produce a defect",
    [
      statuses,
      fc.record({
        access_token: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        token_type: fc.oneof(fc.constantFrom("Bearer", "bearer", "MAC", ""), fc.integer()),
        expires_in: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        refresh_token: fc.oneof(fc.string(), fc.boolean()),
        id_token: fc.string(),
        error: fc.string(),
        code: fc.string(),
        description: fc.oneof(fc.string(), fc.object())
      }, { requiredKeys: [] })
    ],
    ([status, body]) =>
      Effect.gen(function*() {
        const client = yield* clientAnswering(status, JSON.stringify(body))
        for (const call of calls(client)) assertTyped(yield* Effect.exit(call))
      })
  )

  it.effect.prop(
    "arbitrary bytes never produce a defect",
    [statuses, fc.uint8Array({ maxLength: 512 }), fc.constantFrom("application/json", "text/html", "")],
    ([status, bytes, contentType]) =>
      Effect.gen(function*() {
        const client = yield* clientAnswering(status, bytes, { contentType })
        for (const call of calls(client)) assertTyped(yield* Effect.exit(call))
      })
  )
})

describe("AuthenticationClient with a server that echoes what it was sent", () => {
  it.effect("the token and the client secret never reach the error", () =>
    Effect.gen(function*() {
      const clientSecret = "client-secret-never-shown"
      const echo = JSON.stringify({
        error: `bad_${secret}`,
        error_description: `refresh_token=${secret}&client_secret=${clientSecret} rejected`
      })
      const client = yield* clientAnswering(400, echo, {
        contentType: "text/plain",
        client: { clientSecret: Redacted.make(clientSecret) }
      })
      for (const call of calls(client)) {
        const error = yield* Effect.flip(call)
        for (const text of [error.message, String(error), JSON.stringify(error)]) {
          expect(text).not.toContain(secret)
          expect(text).not.toContain(clientSecret)
        }
        expect(error.message).toContain("<redacted>")
      }
    }))
})

describe("AuthenticationClient configuration", () => {
  const domain = (value: string) =>
    Effect.runSyncExit(AuthenticationClient.baseUrl(value)).pipe(
      Exit.match({ onFailure: () => "invalid", onSuccess: (url) => url })
    )

  it("accepts a host or an https URL, and http only on loopback", () => {
    expect(domain("tenant.auth0.com")).toBe("https://tenant.auth0.com")
    expect(domain("https://tenant.auth0.com/")).toBe("https://tenant.auth0.com")
    expect(domain("https://login.example.com/tenant/")).toBe("https://login.example.com/tenant")
    expect(domain("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080")
    expect(domain("http://localhost:3000")).toBe("http://localhost:3000")
    expect(domain("http://[::1]:3000")).toBe("http://[::1]:3000")
    expect(domain("http://tenant.auth0.com")).toBe("invalid")
    expect(domain("ftp://tenant.auth0.com")).toBe("invalid")
    expect(domain("")).toBe("invalid")
    expect(domain("https://user:pass@tenant.auth0.com")).toBe("invalid")
    expect(domain("not a host")).toBe("invalid")
  })

  it.effect("endpoint paths must start with a single slash", () =>
    Effect.gen(function*() {
      const make = (tokenPath: string) =>
        AuthenticationClient.make({ domain: "tenant.example.com", clientId: "c", tokenPath }).pipe(
          Effect.provideService(HttpClient.HttpClient, HttpClient.make(() => Effect.never)),
          Effect.map((client) => client.baseUrl),
          Effect.orElseSucceed(() => "invalid")
        )
      expect(yield* make("/custom/token")).toBe("https://tenant.example.com")
      expect(yield* make("oauth/token")).toBe("invalid")
      expect(yield* make("//evil.example/token")).toBe("invalid")
      expect(yield* make(".evil.example/token")).toBe("invalid")
    }))
})
