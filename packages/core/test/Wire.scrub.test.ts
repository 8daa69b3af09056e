/**
 * Scrubbing what a server said of the secrets a request carried never throws,
 * whatever the secret (lone UTF-16 surrogates included: `encodeURIComponent`
 * throws on them), and a refresh token a 2xx answer issued reaches the store
 * however broken the rest of that answer is.
 */
import {
  AuthenticationClient,
  AuthError,
  Credentials,
  RenewalStrategy,
  Renewer,
  TokenStore
} from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Wire from "../src/internal/wire.js"
import { clientAnswering } from "./support/answering.js"

const LONE_HIGH = "rt-issued-\uD800-tail"
const LONE_LOW = "\uDC00rt-issued"

// any code point, and often a lone surrogate
const text = fc.string({
  unit: fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
  )
})

describe("Wire: scrubbing", () => {
  it("never throws, for any secret and any text", () =>
    fc.assert(
      fc.property(
        fc.array(text, { maxLength: 4 }),
        text,
        (secrets, text) => {
          const scrub = Wire.redactor(secrets.map((secret) => Redacted.make(secret)))
          const scrubbed = scrub(text)
          expect(typeof scrubbed).toBe("string")
          for (const secret of secrets) {
            if (secret.length > 0) expect(scrub(secret)).toBe("<redacted>")
          }
        }
      ),
      { numRuns: 500 }
    ))

  it("removes a secret that holds a lone surrogate, as is", () => {
    const scrub = Wire.redactor([Redacted.make(LONE_HIGH), Redacted.make(LONE_LOW)])
    expect(scrub(`echo ${LONE_HIGH} and ${LONE_LOW}`)).toBe("echo <redacted> and <redacted>")
  })

  it("finish keeps the issued refresh token of an unusable 2xx, lone surrogates and all", () => {
    const issued = Redacted.make(LONE_HIGH)
    const error = Wire.finish(
      new AuthError.AuthApiError({
        status: 200,
        code: AuthError.InvalidResponseCode,
        description: `HTTP 200: missing or invalid expires_in ${LONE_HIGH}`,
        issuedRefreshToken: issued
      }),
      { presented: "refresh_token", secrets: [Redacted.make("rt-sent")] }
    )
    expect(error.description).not.toContain(LONE_HIGH)
    expect(Redacted.value(error.issuedRefreshToken!)).toBe(LONE_HIGH)
  })
})

describe("Renewer: a 2xx with a lone-surrogate refresh token, unusable otherwise", () => {
  for (const issued of [LONE_HIGH, LONE_LOW]) {
    it.effect(`fails typed and saves the refresh token it carried (${JSON.stringify(issued)})`, () =>
      Effect.gen(function*() {
        const client = yield* clientAnswering(
          200,
          JSON.stringify({ access_token: "at-new", token_type: "Bearer", expires_in: -5, refresh_token: issued })
        )
        const layer = Renewer.layer().pipe(
          Layer.provide(RenewalStrategy.refreshToken),
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provide(Layer.succeed(AuthenticationClient.AuthenticationClient, client))
        )
        yield* Effect.gen(function*() {
          const renewer = yield* Renewer.Renewer
          const now = yield* DateTime.now
          yield* renewer.save(
            new Credentials.Credentials({
              accessToken: Redacted.make("at-old"),
              refreshToken: Redacted.make("rt-sent"),
              tokenType: "Bearer",
              expiresAt: DateTime.subtract(now, { seconds: 1 })
            })
          )
          const error = yield* Effect.flip(renewer.get())
          expect(error._tag).toBe("RenewalFailed")
          expect(error._tag === "RenewalFailed" && error.reason).toBe("Unexpected")
          const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("default"))
          expect(Option.isSome(stored)).toBe(true)
          const saved = Option.getOrThrow(stored).refreshToken
          expect(saved === undefined ? undefined : Redacted.value(saved)).toBe(issued)
        }).pipe(Effect.provide(layer))
      }))
  }
})
