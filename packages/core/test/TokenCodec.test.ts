import { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import { Credentials } from "@effect-renewal/core/Credentials"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

const ACCESS = "access-SECRET-7f3a9c"
const REFRESH = "refresh-SECRET-b81d2e"
const ID = "id-SECRET-e0c4a1"
const secrets = [ACCESS, REFRESH, ID]

const credentials = new Credentials({
  accessToken: Redacted.make(ACCESS),
  refreshToken: Redacted.make(REFRESH),
  idToken: Redacted.make(ID),
  tokenType: "Bearer",
  expiresAt: DateTime.unsafeMake(1_700_000_000_000),
  scope: "openid offline_access"
})

const randomBytes = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n))
const keyA = Redacted.make<string | Uint8Array>(randomBytes(32))
const keyB = Redacted.make<string | Uint8Array>(randomBytes(32))

/** Asserts that an error carries no secret in its message or serialized forms. */
const assertNoSecret = (error: unknown, extra: ReadonlyArray<string> = []) => {
  const shown = [
    error instanceof Error ? error.message : "",
    String(error),
    JSON.stringify(error),
    error instanceof Error ? String(error.stack) : ""
  ]
  for (const text of shown) {
    for (const secret of [...secrets, ...extra]) {
      assert.notInclude(text, secret)
    }
  }
}

/** Runs `effect`, asserts it failed with a `StoreError` (a Fail, not a defect) and returns it. */
const expectStoreError = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    assert.isTrue(Exit.isFailure(exit), "expected a failure")
    if (Exit.isSuccess(exit)) throw new Error("unreachable")
    assert.isFalse(Cause.isDie(exit.cause), "expected a failure, got a defect")
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure), "expected a Fail cause")
    const error = Option.getOrThrow(failure)
    assert.instanceOf(error, StoreError)
    assert.strictEqual((error as StoreError)._tag, "StoreError")
    assertNoSecret(error)
    return error as StoreError
  })

const expectInvalidConfiguration = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    const error = Option.getOrThrow(Cause.failureOption(exit.cause))
    assert.instanceOf(error, InvalidConfiguration)
    return error as InvalidConfiguration
  })

describe("TokenCodec", () => {
  describe("json", () => {
    it.effect("credentials with an out-of-range expiry fail to encode with a StoreError, not a defect", () =>
      Effect.gen(function*() {
        const broken = new Credentials({
          ...credentials,
          expiresAt: DateTime.add(DateTime.unsafeMake(0), { seconds: 1e13 })
        }, true)
        const exit = yield* Effect.exit(TokenCodec.json.encode("k", broken))
        assert.isTrue(Exit.isFailure(exit) && Cause.isFailType(exit.cause))
        if (Exit.isFailure(exit) && Cause.isFailType(exit.cause)) {
          assert.strictEqual(exit.cause.error._tag, "StoreError")
        }
      }))

    it.effect.prop(
      "round-trips any credentials",
      { credentials: Credentials, key: Schema.String },
      ({ credentials, key }) =>
        Effect.gen(function*() {
          const stored = yield* TokenCodec.json.encode(key, credentials)
          const decoded = yield* TokenCodec.json.decode(key, stored)
          assert.isTrue(Equal.equals(decoded, credentials))
        })
    )

    it.effect("is the default codec when no layer is provided", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.TokenCodec
        assert.strictEqual(codec, TokenCodec.json)
      }))

    it.effect("stores readable JSON (the stored form)", () =>
      Effect.gen(function*() {
        const stored = yield* TokenCodec.json.encode("k", credentials)
        const parsed = JSON.parse(stored)
        assert.strictEqual(parsed.accessToken, ACCESS)
      }))

    it.effect("a corrupt entry is a StoreError that echoes nothing of it", () =>
      Effect.gen(function*() {
        for (
          const stored of [
            "",
            "not json",
            `{"accessToken":"${ACCESS}"`,
            JSON.stringify({ accessToken: ACCESS, refreshToken: REFRESH, tokenType: "Bearer", expiresAt: ID }),
            JSON.stringify({ accessToken: 42, refreshToken: REFRESH, tokenType: "Bearer" }),
            JSON.stringify([ACCESS])
          ]
        ) {
          const error = yield* expectStoreError(TokenCodec.json.decode("session", stored))
          assert.strictEqual(error.operation, "decode")
          assert.strictEqual(error.key, "session")
          assert.include(error.description, "not a valid stored credentials entry")
        }
        const error = yield* expectStoreError(
          TokenCodec.json.decode(
            "session",
            JSON.stringify({ accessToken: ACCESS, tokenType: "Bearer", expiresAt: "yesterday" })
          )
        )
        assert.include(error.description, "expiresAt")
        assert.notInclude(error.description, "yesterday")
      }))
  })

  describe("encrypted", () => {
    it.effect.prop(
      "round-trips any credentials",
      { credentials: Credentials, key: Schema.String },
      ({ credentials, key }) =>
        Effect.gen(function*() {
          const codec = yield* TokenCodec.encrypted(keyA)
          const stored = yield* codec.encode(key, credentials)
          const decoded = yield* codec.decode(key, stored)
          assert.isTrue(Equal.equals(decoded, credentials))
        }),
      { fastCheck: { numRuns: 50 } }
    )

    it.effect("writes a versioned string that hides the tokens", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const stored = yield* codec.encode("k", credentials)
        assert.match(stored, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
        for (const secret of [...secrets, "accessToken", "Bearer", "openid"]) {
          assert.notInclude(stored, secret)
        }
      }))

    it.effect("uses a fresh IV per write", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const first = yield* codec.encode("k", credentials)
        const second = yield* codec.encode("k", credentials)
        assert.notStrictEqual(first, second)
        assert.notStrictEqual(first.split(".")[1], second.split(".")[1])
        assert.isTrue(Equal.equals(yield* codec.decode("k", first), credentials))
        assert.isTrue(Equal.equals(yield* codec.decode("k", second), credentials))
      }))

    it.effect("a wrong key is a StoreError", () =>
      Effect.gen(function*() {
        const a = yield* TokenCodec.encrypted(keyA)
        const b = yield* TokenCodec.encrypted(keyB)
        const stored = yield* a.encode("k", credentials)
        const error = yield* expectStoreError(b.decode("k", stored))
        assert.strictEqual(error.operation, "decode")
        assert.strictEqual(error.key, "k")
      }))

    it.effect("an entry copied under another session key does not open", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const stored = yield* codec.encode("alice", credentials)
        const error = yield* expectStoreError(codec.decode("mallory", stored))
        assert.strictEqual(error.operation, "decode")
        assert.strictEqual(error.key, "mallory")
      }))

    it.effect("any flipped byte is a StoreError", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const stored = yield* codec.encode("k", credentials)
        const [version, iv, sealed] = stored.split(".")
        const ivBytes = Option.getOrThrow(Option.getRight(Encoding.decodeBase64Url(iv)))
        const sealedBytes = Option.getOrThrow(Option.getRight(Encoding.decodeBase64Url(sealed)))
        for (let i = 0; i < ivBytes.length; i++) {
          const tampered = Uint8Array.from(ivBytes)
          tampered[i] ^= 0x01
          yield* expectStoreError(codec.decode("k", `${version}.${Encoding.encodeBase64Url(tampered)}.${sealed}`))
        }
        for (let i = 0; i < sealedBytes.length; i++) {
          const tampered = Uint8Array.from(sealedBytes)
          tampered[i] ^= 0x80
          yield* expectStoreError(codec.decode("k", `${version}.${iv}.${Encoding.encodeBase64Url(tampered)}`))
        }
      }))

    it.effect("any other character anywhere is a StoreError, the unused bits of the last ones included", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const stored = yield* codec.encode("k", credentials)
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        const lastOfParts = [stored.indexOf(".", 3) - 1, stored.length - 1]
        for (let at = 0; at < stored.length; at++) {
          // every character at the ends of the parts (where unused bits live), a few elsewhere
          const others = lastOfParts.includes(at) ? alphabet : "A_z9"
          for (const c of others) {
            if (c === stored[at]) continue
            yield* expectStoreError(codec.decode("k", stored.slice(0, at) + c + stored.slice(at + 1)))
          }
        }
        for (const spelled of [`${stored}\n`, ` ${stored}`, `${stored}=`]) {
          yield* expectStoreError(codec.decode("k", spelled))
        }
      }))

    it.effect("a truncated entry is a StoreError", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const stored = yield* codec.encode("k", credentials)
        for (let length = 0; length < stored.length; length++) {
          yield* expectStoreError(codec.decode("k", stored.slice(0, length)))
        }
        // The last bytes cut off the ciphertext (the tag), with a valid shape.
        const [version, iv, sealed] = stored.split(".")
        const bytes = Option.getOrThrow(Option.getRight(Encoding.decodeBase64Url(sealed)))
        yield* expectStoreError(
          codec.decode("k", `${version}.${iv}.${Encoding.encodeBase64Url(bytes.subarray(0, bytes.length - 1))}`)
        )
      }))

    it.effect("a plain JSON entry or garbage is a StoreError", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted(keyA)
        const plain = yield* TokenCodec.json.encode("k", credentials)
        for (
          const stored of [
            plain,
            "",
            ".",
            "v1..",
            "v1.a.b",
            "v2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
            "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
            "v1.!!!!!!!!!!!!!!!!.????",
            `v1.${ACCESS}.${REFRESH}`
          ]
        ) {
          const error = yield* expectStoreError(codec.decode("k", stored))
          assert.strictEqual(error.operation, "decode")
        }
      }))

    it.effect.prop(
      "arbitrary input never decodes and never dies",
      { stored: Schema.String },
      ({ stored }) =>
        Effect.gen(function*() {
          const codec = yield* TokenCodec.encrypted(keyA)
          yield* expectStoreError(codec.decode("k", stored))
          yield* expectStoreError(codec.decode("k", `v1.${stored}`))
        }),
      { fastCheck: { numRuns: 50 } }
    )

    it.effect("accepts 32 bytes, base64 and base64url key material", () =>
      Effect.gen(function*() {
        const raw = randomBytes(32)
        // Make sure the standard alphabet has `+` or `/` in it.
        raw[0] = 0xfb
        raw[1] = 0xff
        const base64 = Encoding.encodeBase64(raw)
        const base64Url = Encoding.encodeBase64Url(raw)
        assert.match(base64, /[+/]/)
        assert.match(base64, /=$/)
        const fromBytes = yield* TokenCodec.encrypted(Redacted.make(raw))
        const stored = yield* fromBytes.encode("k", credentials)
        for (const material of [base64, base64Url, `${base64Url}=`, ` ${base64}\n`]) {
          const codec = yield* TokenCodec.encrypted(Redacted.make(material))
          assert.isTrue(Equal.equals(yield* codec.decode("k", stored), credentials))
        }
      }))

    it.effect("bad key material is InvalidConfiguration, and does not echo it", () =>
      Effect.gen(function*() {
        const secretish = Encoding.encodeBase64Url(randomBytes(31))
        const materials: ReadonlyArray<string | Uint8Array> = [
          randomBytes(0),
          randomBytes(16),
          randomBytes(31),
          randomBytes(33),
          randomBytes(64),
          "",
          "not base64 at all!",
          secretish,
          Encoding.encodeBase64Url(randomBytes(33)),
          Encoding.encodeHex(randomBytes(32))
        ]
        for (const material of materials) {
          const error = yield* expectInvalidConfiguration(TokenCodec.encrypted(Redacted.make(material)))
          assert.notInclude(error.message, secretish)
          assert.notInclude(JSON.stringify(error), secretish)
        }
      }))

    it.effect("generateKey makes usable, distinct keys", () =>
      Effect.gen(function*() {
        const a = yield* TokenCodec.generateKey
        const b = yield* TokenCodec.generateKey
        assert.match(Redacted.value(a), /^[A-Za-z0-9_-]{43}$/)
        assert.notStrictEqual(Redacted.value(a), Redacted.value(b))
        assert.notInclude(String(a), Redacted.value(a))
        const codec = yield* TokenCodec.encrypted(a)
        const stored = yield* codec.encode("k", credentials)
        assert.isTrue(Equal.equals(yield* codec.decode("k", stored), credentials))
      }))

    it.effect("layerEncrypted provides the codec in place of json", () =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.TokenCodec
        assert.notStrictEqual(codec, TokenCodec.json)
        const stored = yield* codec.encode("k", credentials)
        assert.isTrue(stored.startsWith("v1."))
      }).pipe(Effect.provide(TokenCodec.layerEncrypted(keyA))))

    it.effect("layerEncryptedConfig reads EFFECT_RENEWAL_STORE_KEY", () =>
      Effect.gen(function*() {
        const key = yield* TokenCodec.generateKey
        const withEnv = (env: Record<string, string>) =>
          Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

        const stored = yield* Effect.flatMap(TokenCodec.TokenCodec, (codec) => codec.encode("k", credentials)).pipe(
          Effect.provide(
            TokenCodec.layerEncryptedConfig().pipe(Layer.provide(withEnv({
              EFFECT_RENEWAL_STORE_KEY: Redacted.value(key)
            })))
          )
        )
        const codec = yield* TokenCodec.encrypted(key)
        assert.isTrue(Equal.equals(yield* codec.decode("k", stored), credentials))

        const missing = yield* Effect.exit(
          Effect.provide(TokenCodec.TokenCodec, TokenCodec.layerEncryptedConfig().pipe(Layer.provide(withEnv({}))))
        )
        assert.isTrue(Exit.isFailure(missing))
        if (Exit.isFailure(missing)) {
          const error = Option.getOrThrow(Cause.failureOption(missing.cause))
          assert.isTrue(ConfigError.isConfigError(error))
        }

        const invalid = yield* expectInvalidConfiguration(
          Effect.provide(
            TokenCodec.TokenCodec,
            TokenCodec.layerEncryptedConfig().pipe(Layer.provide(withEnv({ EFFECT_RENEWAL_STORE_KEY: "short" })))
          )
        )
        assert.notInclude(invalid.message, "short")
      }))

    it.effect("layerEncryptedConfig takes the key material as any Config (a Config.Wrap of a Redacted)", () =>
      Effect.gen(function*() {
        const key = yield* TokenCodec.generateKey
        const encodeWith = <E>(layer: Layer.Layer<TokenCodec.TokenCodec, E>) =>
          Effect.flatMap(TokenCodec.TokenCodec, (codec) => codec.encode("k", credentials)).pipe(Effect.provide(layer))
        const codec = yield* TokenCodec.encrypted(key)

        const fromOtherName = yield* encodeWith(
          TokenCodec.layerEncryptedConfig(Config.redacted("MY_KEY")).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["MY_KEY", Redacted.value(key)]]))))
          )
        )
        assert.isTrue(Equal.equals(yield* codec.decode("k", fromOtherName), credentials))

        // raw bytes, which only a Config of its own can give
        const bytes = Encoding.decodeBase64Url(Redacted.value(key)).pipe(Either.getOrThrow)
        const fromBytes = yield* encodeWith(
          TokenCodec.layerEncryptedConfig(Config.succeed(Redacted.make<string | Uint8Array>(bytes)))
        )
        assert.isTrue(Equal.equals(yield* codec.decode("k", fromBytes), credentials))
      }))
  })
})
