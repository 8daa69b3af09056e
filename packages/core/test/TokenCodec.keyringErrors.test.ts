/**
 * A slip in the keyring configuration never puts a key into the
 * InvalidConfiguration message: ids are 1 to 32 characters, so a 32-byte key
 * (43 characters or more in base64) never passes for an id; keys are named by
 * position, and a key written where an id belongs is said to look like a key,
 * unquoted.
 */
import { TokenCodec } from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

const secretOf = (r: Redacted.Redacted<string>) => Redacted.value(r)

const textOf = (error: unknown) => `${String(error)} ${JSON.stringify(error)}`

const failureText = (env: Record<string, string>) =>
  Layer.build(TokenCodec.layerEncryptedConfig()).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.scoped,
    Effect.flip,
    Effect.map(textOf)
  )

const base64Key = () => Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString("base64")

describe("keyring configuration errors never quote a key", () => {
  it.effect("EFFECT_RENEWAL_STORE_KEY_CURRENT set to the key itself", () =>
    Effect.gen(function*() {
      const secret = secretOf(yield* TokenCodec.generateKey)
      const text = yield* failureText({
        EFFECT_RENEWAL_STORE_KEYS: `k1:${secret}`,
        EFFECT_RENEWAL_STORE_KEY_CURRENT: secret
      })
      expect(text).not.toContain(secret)
      expect(text).toContain("looks like a key, not a key id")
    }))

  it.effect("EFFECT_RENEWAL_STORE_KEYS written key:id instead of id:key", () =>
    Effect.gen(function*() {
      const secret = secretOf(yield* TokenCodec.generateKey)
      const text = yield* failureText({
        EFFECT_RENEWAL_STORE_KEYS: `k0:${secretOf(yield* TokenCodec.generateKey)},${secret}:k1`,
        EFFECT_RENEWAL_STORE_KEY_CURRENT: "k1"
      })
      expect(text).not.toContain(secret)
      expect(text).toContain("key #2")
      expect(text).toContain("looks like a key, not a key id")
    }))

  it.effect("EFFECT_RENEWAL_STORE_KEY_LEGACY set to a key (base64, padded)", () =>
    Effect.gen(function*() {
      const secret = base64Key()
      const text = yield* failureText({
        EFFECT_RENEWAL_STORE_KEYS: `k1:${secret}`,
        EFFECT_RENEWAL_STORE_KEY_CURRENT: "k1",
        EFFECT_RENEWAL_STORE_KEY_LEGACY: secret
      })
      expect(text).not.toContain(secret)
      expect(text).not.toContain(secret.slice(0, 20))
      expect(text).toContain("looks like a key, not a key id")
    }))

  it.effect("a keyring given in code: a key as an id, a key as current, a bad key under a good id", () =>
    Effect.gen(function*() {
      const secret = secretOf(yield* TokenCodec.generateKey)
      const good = yield* TokenCodec.generateKey
      const asId = textOf(
        yield* Effect.flip(TokenCodec.encrypted({ current: "k1", keys: [{ id: secret, key: good }] }))
      )
      expect(asId).not.toContain(secret)
      expect(asId).toContain("key #1")
      const asCurrent = textOf(
        yield* Effect.flip(TokenCodec.encrypted({ current: secret, keys: [{ id: "k1", key: good }] }))
      )
      expect(asCurrent).not.toContain(secret)
      // a short key (24 bytes, 32 characters) under an id: named by position
      const short = Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(24)))
      const badKey = textOf(
        yield* Effect.flip(TokenCodec.encrypted({ current: "k1", keys: [{ id: "k1", key: Redacted.make(short) }] }))
      )
      expect(badKey).not.toContain(short)
      expect(badKey).toContain("key #1")
      const twice = textOf(
        yield* Effect.flip(
          TokenCodec.encrypted({ current: "k1", keys: [{ id: "k1", key: good }, { id: "k1", key: good }] })
        )
      )
      expect(twice).toContain(`key #2 has the same id "k1" as key #1`)
    }))

  it.effect("an id that names no key is quoted when it has the form of an id, else not", () =>
    Effect.gen(function*() {
      const good = yield* TokenCodec.generateKey
      const unknown = textOf(
        yield* Effect.flip(TokenCodec.encrypted({ current: "k2", keys: [{ id: "k1", key: good }] }))
      )
      expect(unknown).toContain(`"k2"`)
      const long = "x".repeat(33)
      const tooLong = textOf(
        yield* Effect.flip(TokenCodec.encrypted({ current: long, keys: [{ id: "k1", key: good }] }))
      )
      expect(tooLong).not.toContain(long)
    }))

  it("isKeyId: 1 to 32 characters among A-Z a-z 0-9 _ -; never a key", () =>
    Effect.runSync(Effect.gen(function*() {
      expect(TokenCodec.isKeyId("x".repeat(32))).toBe(true)
      expect(TokenCodec.isKeyId("x".repeat(33))).toBe(false)
      for (let i = 0; i < 20; i++) expect(TokenCodec.isKeyId(secretOf(yield* TokenCodec.generateKey))).toBe(false)
    })))
})
