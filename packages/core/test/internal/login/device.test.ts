import { AuthError, Credentials } from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import type { Client } from "../../../src/internal/login/client.js"
import * as Device from "../../../src/internal/login/device.js"
import type { Verifier } from "../../../src/internal/login/idToken.js"

type Answer = "pending" | "slow_down" | "denied" | "expired" | "unavailable" | "offline" | "rate_limited" | "ok"

const apiError = (status: number, code: string, extra: Partial<AuthError.AuthApiError> = {}) =>
  new AuthError.AuthApiError({ status, code, description: code, ...extra })

/** A client whose token endpoint answers from a script, recording when it was polled. */
const scripted = (
  script: ReadonlyArray<Answer>,
  device: Record<string, unknown> = { expires_in: 600 }
) => {
  const polls: Array<number> = []
  const fields: Array<Record<string, string | undefined>> = []
  let next = 0
  const client: Client = {
    clientId: "client-1",
    metadata: {
      issuer: "https://issuer.example/",
      tokenEndpoint: "https://issuer.example/token",
      deviceAuthorizationEndpoint: "https://issuer.example/device",
      jwksUri: "https://issuer.example/jwks",
      authorizationResponseIssParameterSupported: false
    },
    formRequest: (endpoint, form) =>
      Effect.sync(() => {
        expect(endpoint).toBe("https://issuer.example/device")
        fields.push(form)
        return {
          device_code: "the-device-code",
          user_code: "ABCD-EFGH",
          verification_uri: "https://issuer.example/activate",
          ...device
        }
      }),
    tokenRequest: (grantType, form, options) =>
      Effect.gen(function*() {
        expect(grantType).toBe(Device.GrantType)
        expect(form["device_code"]).toBe("the-device-code")
        expect(options?.presented).toBe("device_code")
        expect(options?.secrets?.map(Redacted.value)).toEqual(["the-device-code"])
        polls.push(yield* TestClock.currentTimeMillis)
        const answer = script[Math.min(next++, script.length - 1)]!
        switch (answer) {
          case "pending":
            return yield* apiError(400, "authorization_pending")
          case "slow_down":
            return yield* apiError(400, "slow_down")
          case "denied":
            return yield* apiError(403, "access_denied")
          case "expired":
            return yield* apiError(400, "expired_token")
          case "unavailable":
            return yield* apiError(503, "temporarily_unavailable")
          case "rate_limited":
            return yield* apiError(429, "too_many_requests", { retryAfter: Duration.seconds(45) })
          case "offline":
            return yield* new AuthError.NetworkError({ reason: "Transport", description: "connection reset" })
          case "ok":
            return new Credentials.Credentials({
              accessToken: Redacted.make("at"),
              refreshToken: Redacted.make("rt"),
              tokenType: "Bearer",
              expiresAt: DateTime.unsafeMake((yield* TestClock.currentTimeMillis) + 3_600_000)
            })
        }
      })
  }
  return { client, polls, fields }
}

const verifier: Verifier = { verify: () => Effect.void, prepare: Effect.void }
const scope = "profile offline_access"

/** Runs the flow to its end, the clock moved by `step` until it ends. */
const run = (client: Client, step = 1000) =>
  Effect.gen(function*() {
    const authorization = yield* Device.start(client, verifier, { scope })
    const fiber = yield* Effect.fork(Effect.either(authorization.credentials))
    for (let i = 0; i < 2000; i++) {
      const done = yield* Fiber.poll(fiber)
      if (done._tag === "Some") break
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

describe("internal/login/device", () => {
  it.effect("polls one interval after the start, goes on while pending, and remembers the scope asked", () =>
    Effect.gen(function*() {
      const { client, fields, polls } = scripted(["pending", "pending", "ok"])
      const authorization = yield* Device.start(client, verifier, { scope, audience: "api" })
      expect(authorization.userCode).toBe("ABCD-EFGH")
      expect(authorization.verificationUri).toBe("https://issuer.example/activate")
      expect(DateTime.toEpochMillis(authorization.expiresAt)).toBe(600_000)
      expect(fields).toEqual([{ scope, audience: "api" }])
      const fiber = yield* Effect.fork(authorization.credentials)
      yield* TestClock.adjust(4_999)
      expect(polls).toEqual([])
      yield* TestClock.adjust(1)
      expect(polls).toEqual([5_000])
      yield* TestClock.adjust(10_000)
      const credentials = yield* Fiber.join(fiber)
      expect(polls).toEqual([5_000, 10_000, 15_000])
      expect(credentials.scope).toBe(scope)
    }))

  it.effect("the server's interval, and slow_down adds 5 s for good", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["slow_down", "pending", "slow_down", "pending", "ok"], {
        expires_in: 600,
        interval: 2
      })
      const result = yield* run(client)
      expect(result._tag).toBe("Right")
      expect(polls).toEqual([2_000, 9_000, 16_000, 28_000, 40_000])
    }))

  it.effect("access_denied is AccessDenied, expired_token is Expired", () =>
    Effect.gen(function*() {
      const denied = yield* run(scripted(["pending", "denied"]).client)
      expect(denied._tag === "Left" && denied.left.reason).toBe("AccessDenied")
      const expired = yield* run(scripted(["pending", "expired"]).client)
      expect(expired._tag === "Left" && expired.left.reason).toBe("Expired")
    }))

  it.effect("the code's lifetime ends the polling: no poll is sent after it", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["pending"], { expires_in: 12 })
      const result = yield* run(client)
      expect(result._tag === "Left" && result.left.reason).toBe("Expired")
      expect(polls).toEqual([5_000, 10_000])
      expect(yield* TestClock.currentTimeMillis).toBeLessThan(12_000)
    }))

  it.effect("transport faults, 5xx and 429 are retried with backoff, then it goes on", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["unavailable", "offline", "rate_limited", "pending", "ok"])
      const result = yield* run(client)
      expect(result._tag).toBe("Right")
      // backoff 10 s, 20 s, then Retry-After 45 s over the 40 s backoff; pending resets to the interval
      expect(polls).toEqual([5_000, 15_000, 35_000, 80_000, 85_000])
    }))

  it.effect("a server down for the code's whole lifetime is Transient, not Expired", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["unavailable"], { expires_in: 120 })
      const result = yield* run(client)
      expect(result._tag === "Left" && result.left.reason).toBe("Transient")
      expect(polls).toEqual([5_000, 15_000, 35_000, 75_000])
    }))

  it.effect("interrupting the credentials stops the polling", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["pending"])
      const authorization = yield* Device.start(client, verifier, { scope })
      const fiber = yield* Effect.fork(authorization.credentials)
      yield* TestClock.adjust("12 seconds")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("5 minutes")
      expect(polls).toEqual([5_000, 10_000])
    }))

  it.effect("no device endpoint is Configuration; an unreadable answer is Rejected, quoting nothing", () =>
    Effect.gen(function*() {
      const { client } = scripted(["ok"])
      const none = yield* Effect.flip(
        Device.start(
          { ...client, metadata: { ...client.metadata, deviceAuthorizationEndpoint: undefined } },
          verifier,
          {}
        )
      )
      expect(none.reason).toBe("Configuration")
      const unreadable = yield* Effect.flip(Device.start(scripted(["ok"], { expires_in: "soon" }).client, verifier, {}))
      expect(unreadable.reason).toBe("Rejected")
      expect(unreadable.message).not.toContain("the-device-code")
      const noUri = yield* Effect.flip(
        Device.start(scripted(["ok"], { expires_in: 60, verification_uri: undefined }).client, verifier, {})
      )
      expect(noUri.reason).toBe("Rejected")
    }))

  it.effect("a verification URI that is not https (or http on loopback), or a user code that is not printable, is refused", () =>
    Effect.gen(function*() {
      const refused = [
        { verification_uri: "javascript:alert(1)" },
        { verification_uri: "http://issuer.example/activate" },
        { verification_uri: "data:text/html,hi" },
        { verification_uri: "https://user:pw@issuer.example/activate" },
        { verification_uri_complete: "javascript:alert(1)//?user_code=ABCD" },
        { verification_uri_complete: "http://phish.example/activate?user_code=ABCD" },
        { verification_url: "vbscript:x", verification_uri: undefined },
        { user_code: "ABCD\u001b]0;owned\u0007" },
        { user_code: "ABCD\nEFGH" },
        { user_code: "ABCD\u202eHGFE" },
        { user_code: "A".repeat(65) }
      ]
      for (const answer of refused) {
        const error = yield* Effect.flip(
          Device.start(scripted(["ok"], { expires_in: 60, ...answer }).client, verifier, {})
        )
        expect(error.reason).toBe("Rejected")
        expect(error.code).toBe(AuthError.InvalidResponseCode)
        expect(error.message).not.toContain("the-device-code")
        expect(error.message).not.toContain("\u001b")
      }
      // accepted: a loopback http URI, a user code of any printable script, up to 64 characters
      const accepted = yield* Device.start(
        scripted(["ok"], {
          expires_in: 60,
          verification_uri: "http://127.0.0.1:3000/activate",
          verification_uri_complete: "https://issuer.example/activate?user_code=WXYZ-1234",
          user_code: "Ä".repeat(60) + " 1-2"
        }).client,
        verifier,
        {}
      )
      expect(accepted.verificationUri).toBe("http://127.0.0.1:3000/activate")
      expect(accepted.userCode).toBe("Ä".repeat(60) + " 1-2")
    }))

  it.effect("the code's lifetime honoured is at most an hour, whatever expires_in says", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["pending"], { expires_in: 3_153_600_000, interval: 600 })
      const authorization = yield* Device.start(client, verifier, { scope })
      expect(DateTime.toEpochMillis(authorization.expiresAt)).toBe(Duration.toMillis(Device.maxLifetime))
      const result = yield* run(client, 60_000)
      expect(result._tag === "Left" && result.left.reason).toBe("Expired")
      expect(polls.every((at) => at < 3_600_000)).toBe(true)
      expect(yield* TestClock.currentTimeMillis).toBeLessThanOrEqual(3_600_000)
    }))

  it.effect("a poll in flight when the code expires ends as Expired: no answer is waited for past expiresAt", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["pending"], { expires_in: 12 })
      const hanging: Client = {
        ...client,
        tokenRequest: (...args) => Effect.flatMap(Effect.either(client.tokenRequest(...args)), () => Effect.never)
      }
      const authorization = yield* Device.start(hanging, verifier, { scope })
      const fiber = yield* Effect.fork(Effect.either(authorization.credentials))
      yield* TestClock.adjust("10 hours")
      const result = yield* Fiber.join(fiber)
      expect(result._tag === "Left" && result.left.reason).toBe("Expired")
      expect(polls).toEqual([5_000])
    }))

  it.effect("openid asked of a provider without a jwks_uri is Configuration before the device request", () =>
    Effect.gen(function*() {
      const { client, fields } = scripted(["ok"])
      const noKeys: Client = { ...client, metadata: { ...client.metadata, jwksUri: undefined } }
      const error = yield* Effect.flip(Device.start(noKeys, verifier, { scope: "openid offline_access" }))
      expect(error.reason).toBe("Configuration")
      expect(fields).toEqual([])
    }))

  it.effect("the keys are read before the first poll, when openid is asked: a JWKS down polls nothing", () =>
    Effect.gen(function*() {
      const { client, polls } = scripted(["ok"])
      const down: Verifier = {
        ...verifier,
        prepare: Effect.fail(new AuthError.LoginFailed({ reason: "Transient", description: "JWKS down" }))
      }
      const authorization = yield* Device.start(client, down, { scope: "openid offline_access" })
      const fiber = yield* Effect.fork(Effect.flip(authorization.credentials))
      yield* TestClock.adjust("1 minute")
      expect((yield* Fiber.join(fiber)).reason).toBe("Transient")
      expect(polls).toEqual([])
      // without openid no key is needed: the polling goes on
      const plain = yield* Device.start(client, down, { scope })
      const polled = yield* Effect.fork(plain.credentials)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(polled)
      expect(polls).toEqual([65_000])
    }))

  it.effect("the device endpoint refusing the client is Configuration", () =>
    Effect.gen(function*() {
      const { client } = scripted(["ok"])
      const refusing: Client = { ...client, formRequest: () => Effect.fail(apiError(401, "invalid_client")) }
      const error = yield* Effect.flip(Device.start(refusing, verifier, {}))
      expect(error.reason).toBe("Configuration")
      expect(error.code).toBe("invalid_client")
    }))

  it.effect("Google's verification_url is read as the verification URI; the default scope asks for openid", () =>
    Effect.gen(function*() {
      const { client, fields } = scripted(["ok"], {
        expires_in: 60,
        verification_uri: undefined,
        verification_url: "https://www.google.com/device"
      })
      const authorization = yield* Device.start(client, verifier, undefined)
      expect(authorization.verificationUri).toBe("https://www.google.com/device")
      expect(fields[0]!["scope"]).toBe("openid offline_access")
      // openid asked, no id_token in the answer: refused
      const fiber = yield* Effect.fork(Effect.flip(authorization.credentials))
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(fiber)).reason).toBe("InvalidIdToken")
    }))
})
