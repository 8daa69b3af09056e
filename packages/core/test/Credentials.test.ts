import { Credentials, Jwt } from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

const credentialsArbitrary = Arbitrary.make(Credentials.Credentials)

describe("Credentials", () => {
  it.prop("the stored form round-trips exactly", [credentialsArbitrary], ([credentials]) => {
    const json = Effect.runSync(Credentials.encodeJson(credentials))
    const back = Effect.runSync(Credentials.decodeJson(json))
    expect(Equal.equals(back, credentials)).toBe(true)
    expect(Redacted.value(back.accessToken)).toBe(Redacted.value(credentials.accessToken))
    expect(DateTime.toEpochMillis(back.expiresAt)).toBe(DateTime.toEpochMillis(credentials.expiresAt))
  })

  it.effect("expires_in becomes expiresAt from the Clock at receipt", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1000 seconds")
      const response = Schema.decodeUnknownSync(Credentials.TokenResponse)({
        access_token: "at",
        token_type: "bearer",
        expires_in: 3600,
        scope: "openid"
      })
      const credentials = yield* Credentials.fromTokenResponse(response)
      expect(DateTime.toEpochMillis(credentials.expiresAt)).toBe(4_600_000)
      expect(credentials.tokenType).toBe("Bearer")
      expect(credentials.scope).toBe("openid")
    }))

  it("token_type is compared case-insensitively and expires_in must be a non-negative number", () => {
    const decode = Schema.decodeUnknownEither(Credentials.TokenResponse)
    const base = { access_token: "at", expires_in: 10 }
    for (const tokenType of ["Bearer", "bearer", "BEARER", "BeArEr"]) {
      expect(Either.getOrThrow(decode({ ...base, token_type: tokenType })).tokenType).toBe("Bearer")
    }
    expect(Either.getOrThrow(decode({ ...base, token_type: "Bearer", expires_in: "60" })).expiresIn).toBe(60)
    for (const expiresIn of [-1, "soon", null, Infinity, Number.NaN, 1e13, "1e300"]) {
      expect(Either.isLeft(decode({ ...base, token_type: "Bearer", expires_in: expiresIn }))).toBe(true)
    }
    expect(Either.isLeft(decode({ token_type: "Bearer", expires_in: 1 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, token_type: "" }))).toBe(true)
    // only the types the library can use: DPoP (RFC 9449) in its canonical spelling
    for (const tokenType of ["DPoP", "dpop", "DPOP"]) {
      expect(Either.getOrThrow(decode({ ...base, token_type: tokenType })).tokenType).toBe("DPoP")
    }
    expect(Either.isLeft(decode({ ...base, token_type: "MAC" }))).toBe(true)
    // expires_in is only RECOMMENDED
    expect(Either.getOrThrow(decode({ access_token: "at", token_type: "Bearer" })).expiresIn).toBeUndefined()
  })

  it("merge keeps the stored refresh token when the response has none, and replaces it otherwise", () => {
    const at = (s: string) => Redacted.make(s)
    const previous = new Credentials.Credentials({
      accessToken: at("a1"),
      refreshToken: at("r1"),
      idToken: at("i1"),
      tokenType: "Bearer",
      expiresAt: DateTime.unsafeMake(0),
      scope: "openid offline_access"
    })
    const next = new Credentials.Credentials({
      accessToken: at("a2"),
      tokenType: "Bearer",
      expiresAt: DateTime.unsafeMake(1000)
    })
    const kept = Credentials.merge(previous, next)
    expect(Redacted.value(kept.refreshToken!)).toBe("r1")
    expect(Redacted.value(kept.accessToken)).toBe("a2")
    // the scope is the new credentials' own: the Renewer decides what a renewal without one stands for
    expect(kept.scope).toBeUndefined()
    const rotated = Credentials.merge(previous, new Credentials.Credentials({ ...next, refreshToken: at("r2") }))
    expect(Redacted.value(rotated.refreshToken!)).toBe("r2")
  })

  it("scopes compare as sets", () => {
    expect(Credentials.sameScope("openid email", "email  openid")).toBe(true)
    expect(Credentials.sameScope("openid email", "openid")).toBe(false)
    expect(Credentials.sameScope(undefined, "")).toBe(true)
  })

  it("no token appears in String, JSON or inspection of credentials", () => {
    const credentials = new Credentials.Credentials({
      accessToken: Redacted.make("secret-access-token"),
      refreshToken: Redacted.make("secret-refresh-token"),
      tokenType: "Bearer",
      expiresAt: DateTime.unsafeMake(0)
    })
    for (const text of [String(credentials), JSON.stringify(credentials), `${credentials.toString()}`]) {
      expect(text).not.toContain("secret-")
    }
  })
})

describe("Jwt", () => {
  const b64 = (u: unknown) => Buffer.from(JSON.stringify(u)).toString("base64url")
  const jwt = (claims: unknown) => `${b64({ alg: "HS256" })}.${b64(claims)}.sig`

  it.effect("decodes registered claims and expiry", () =>
    Effect.gen(function*() {
      const claims = yield* Jwt.decode(jwt({ exp: 100, iat: 40, sub: "u", aud: ["a", "b"], iss: "i", extra: 1 }))
      expect(claims.sub).toBe("u")
      expect(claims.extra).toBe(1)
      expect(Jwt.isExpired(claims, DateTime.unsafeMake(99_000))).toBe(false)
      expect(Jwt.isExpired(claims, DateTime.unsafeMake(99_000), "2 seconds")).toBe(true)
      expect(Jwt.isExpired(claims, DateTime.unsafeMake(100_000))).toBe(true)
    }))

  it("expiresAtOnReceipt: exp, never beyond the receipt plus the stated lifetime, none when unusable", () => {
    const at = (claims: Jwt.Claims, receivedAt: number) =>
      Jwt.expiresAtOnReceipt(claims, DateTime.unsafeMake(receivedAt)).pipe(
        Option.map(DateTime.toEpochMillis),
        Option.getOrUndefined
      )
    expect(at({ exp: 100 }, 10_000)).toBe(100_000)
    // a server clock 50 s ahead: 30 s of lifetime from the receipt
    expect(at({ iat: 60, exp: 90 }, 10_000)).toBe(40_000)
    // a server clock behind: exp is earlier
    expect(at({ iat: 0, exp: 30 }, 10_000)).toBe(30_000)
    expect(at({}, 0)).toBeUndefined()
    expect(at({ exp: 1e15 }, 0)).toBeUndefined()
  })

  it.prop("malformed input fails with a typed error, never a defect", [
    fc.oneof(
      fc.string(),
      fc.string().map((s) => `${s}.${s}.${s}`),
      fc.jsonValue().map((j) => jwt(j)),
      fc.record({ exp: fc.oneof(fc.string(), fc.constant(null), fc.object()) }).map(jwt)
    )
  ], ([input]) => {
    const exit = Effect.runSyncExit(Jwt.decode(input))
    if (Exit.isFailure(exit)) {
      expect(exit.cause._tag).toBe("Fail")
      expect(String(exit.cause)).not.toContain(input.length > 8 ? input : "\u0000")
    }
  })
})
