import { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import { Credentials } from "@effect-renewal/core/Credentials"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

const REFRESH = "refresh-SECRET-5be09d"
const credentials = new Credentials({
  accessToken: Redacted.make("access-SECRET-0c1d2e"),
  refreshToken: Redacted.make(REFRESH),
  tokenType: "Bearer",
  expiresAt: DateTime.unsafeMake(1_700_000_000_000)
})

const rawKey = () => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
const k1 = rawKey()
const k2 = rawKey()
const k3 = rawKey()
const entry = (id: string, key: string) => ({ id, key: Redacted.make<string | Uint8Array>(key) })

/** The CLI's key file, as it reads it: `{ version, current, keys: [{ id, key }] }`. */
const fromKeyFile = (file: { current: string; keys: ReadonlyArray<{ id: string; key: string }> }) =>
  TokenCodec.encrypted({ current: file.current, keys: file.keys.map(({ id, key }) => entry(id, key)) })

const failureOf = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    assert.isFalse(Cause.isDie(exit.cause), "a defect")
    return Option.getOrThrow(Cause.failureOption(exit.cause))
  })

const assertShowsNoKey = (error: unknown) => {
  const shown = [String(error), JSON.stringify(error), error instanceof Error ? error.message : ""]
  for (const text of shown) for (const key of [k1, k2, k3, REFRESH]) assert.notInclude(text, key)
}

describe("TokenCodec keyring", () => {
  it.effect("writes v2 entries that name the current key id, and reads them back", () =>
    Effect.gen(function*() {
      const codec = yield* fromKeyFile({ current: "k2", keys: [{ id: "k1", key: k1 }, { id: "k2", key: k2 }] })
      const stored = yield* codec.encode("alice", credentials)
      assert.match(stored, /^v2\.k2\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
      assert.notInclude(stored, "alice")
      assert.isTrue(Equal.equals(yield* codec.decode("alice", stored), credentials))
    }))

  it.effect("reads entries of an older key; the next write moves them to the current key", () =>
    Effect.gen(function*() {
      const before = yield* fromKeyFile({ current: "k1", keys: [{ id: "k1", key: k1 }] })
      const old = yield* before.encode("alice", credentials)
      const after = yield* fromKeyFile({ current: "k2", keys: [{ id: "k1", key: k1 }, { id: "k2", key: k2 }] })
      assert.isTrue(Equal.equals(yield* after.decode("alice", old), credentials))
      const rewritten = yield* after.encode("alice", yield* after.decode("alice", old))
      assert.isTrue(rewritten.startsWith("v2.k2."))
      // once moved, the old key is no longer needed
      const retired = yield* fromKeyFile({ current: "k2", keys: [{ id: "k2", key: k2 }] })
      assert.isTrue(Equal.equals(yield* retired.decode("alice", rewritten), credentials))
    }))

  it.effect("an entry whose key id the keyring lacks is a StoreError naming the id, never a key", () =>
    Effect.gen(function*() {
      const writer = yield* fromKeyFile({ current: "old-2024", keys: [{ id: "old-2024", key: k1 }] })
      const stored = yield* writer.encode("alice", credentials)
      const reader = yield* fromKeyFile({ current: "k2", keys: [{ id: "k2", key: k2 }, { id: "k3", key: k3 }] })
      const error = yield* failureOf(reader.decode("alice", stored))
      assert.instanceOf(error, StoreError)
      assert.strictEqual(error.operation, "decode")
      assert.include(error.message, `"old-2024"`)
      assertShowsNoKey(error)
      const viaReencrypt = yield* failureOf(reader.reencrypt!(stored, undefined))
      assert.include(viaReencrypt.message, `"old-2024"`)
      assertShowsNoKey(viaReencrypt)
    }))

  it.effect("the key id is authenticated: an entry relabelled with another id does not open", () =>
    Effect.gen(function*() {
      // the same key under two ids: only the associated data differs
      const codec = yield* fromKeyFile({ current: "a", keys: [{ id: "a", key: k1 }, { id: "b", key: k1 }] })
      const stored = yield* codec.encode("alice", credentials)
      const relabelled = stored.replace(/^v2\.a\./, "v2.b.")
      const error = yield* failureOf(codec.decode("alice", relabelled))
      assert.strictEqual(error.operation, "decode")
    }))

  it.effect("a v2 entry copied under another session key does not open", () =>
    Effect.gen(function*() {
      const codec = yield* fromKeyFile({ current: "k1", keys: [{ id: "k1", key: k1 }] })
      const stored = yield* codec.encode("alice", credentials)
      const error = yield* failureOf(codec.decode("mallory", stored))
      assert.strictEqual(error.operation, "decode")
      assert.include(error.message, "another session key")
      // nor a prefix or extension of it
      yield* failureOf(codec.decode("alic", stored))
      yield* failureOf(codec.decode("alice\u0000x", stored))
    }))

  it.effect("v1 compatibility: the single-key form writes and reads v1 as before; a keyring reads v1 with its legacy key", () =>
    Effect.gen(function*() {
      const single = yield* TokenCodec.encrypted(Redacted.make(k1))
      const v1 = yield* single.encode("alice", credentials)
      assert.isTrue(v1.startsWith("v1."))
      assert.isTrue(Equal.equals(yield* single.decode("alice", v1), credentials))
      const ring = yield* TokenCodec.encrypted({
        current: "k2",
        keys: [entry("k1", k1), entry("k2", k2)],
        legacy: "k1"
      })
      assert.isTrue(Equal.equals(yield* ring.decode("alice", v1), credentials))
      // without a legacy key, a v1 entry is a StoreError that says why
      const noLegacy = yield* TokenCodec.encrypted({ current: "k2", keys: [entry("k1", k1), entry("k2", k2)] })
      const error = yield* failureOf(noLegacy.decode("alice", v1))
      assert.include(error.message, "legacy")
      // the single-key form does not read v2 entries (it holds no ids)
      yield* failureOf(single.decode("alice", yield* ring.encode("alice", credentials)))
    }))

  it.effect("reencrypt: Current for the current key (nothing decrypted), Rewritten with the entry's key otherwise", () =>
    Effect.gen(function*() {
      const before = yield* TokenCodec.encrypted(Redacted.make(k1))
      const v1 = yield* before.encode("alice", credentials)
      const ring = yield* TokenCodec.encrypted({
        current: "k2",
        keys: [entry("k1", k1), entry("k2", k2)],
        legacy: "k1"
      })
      // a v1 entry needs its store key
      const unknown = yield* failureOf(ring.reencrypt!(v1, undefined))
      assert.include(unknown.message, "does not record its session key")
      const fromV1 = yield* ring.reencrypt!(v1, "alice")
      assert.strictEqual(fromV1._tag, "Rewritten")
      if (fromV1._tag !== "Rewritten") return
      assert.strictEqual(fromV1.key, "alice")
      assert.isTrue(fromV1.stored.startsWith("v2.k2."))
      assert.isTrue(Equal.equals(yield* ring.decode("alice", fromV1.stored), credentials))
      assert.deepStrictEqual(yield* ring.reencrypt!(fromV1.stored, undefined), { _tag: "Current" })
      // a v2 entry of an older key: its store key is read from the entry
      const k1Ring = yield* TokenCodec.encrypted({ current: "k1", keys: [entry("k1", k1)] })
      const old = yield* k1Ring.encode("bob\u0000orders", credentials)
      const moved = yield* ring.reencrypt!(old, undefined)
      assert.strictEqual(moved._tag, "Rewritten")
      if (moved._tag !== "Rewritten") return
      assert.strictEqual(moved.key, "bob\u0000orders")
      assert.isTrue(Equal.equals(yield* ring.decode("bob\u0000orders", moved.stored), credentials))
      // given the wrong store key, refused
      const wrong = yield* failureOf(ring.reencrypt!(old, "mallory"))
      assert.include(wrong.message, "another session key")
      // garbage is a StoreError, not a defect
      yield* failureOf(ring.reencrypt!("v2.k1.AAAA.AAAA", undefined))
      yield* failureOf(ring.reencrypt!("{\"accessToken\":\"x\"}", "alice"))
    }))

  it.effect.prop(
    "round-trips any credentials under any store key, and any change of store key is refused",
    { credentials: Credentials, key: Schema.String, other: Schema.String },
    ({ credentials, key, other }) =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted({ current: "k1", keys: [entry("k1", k1)] })
        const stored = yield* codec.encode(key, credentials)
        assert.isTrue(Equal.equals(yield* codec.decode(key, stored), credentials))
        const moved = yield* codec.reencrypt!(stored, undefined)
        assert.deepStrictEqual(moved, { _tag: "Current" })
        // (UTF-8 turns every lone surrogate into U+FFFD: store keys have none)
        if (new TextEncoder().encode(other).join() !== new TextEncoder().encode(key).join()) {
          yield* failureOf(codec.decode(other, stored))
        }
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect.prop(
    "arbitrary input never decodes, never re-encrypts and never dies",
    { stored: Schema.String },
    ({ stored }) =>
      Effect.gen(function*() {
        const codec = yield* TokenCodec.encrypted({
          current: "k2",
          keys: [entry("k1", k1), entry("k2", k2)],
          legacy: "k1"
        })
        for (const input of [stored, `v2.k1.${stored}`, `v2.k2.${stored}`, `v1.${stored}`]) {
          yield* failureOf(codec.decode("k", input))
        }
        // (an entry that names the current key is Current without being decrypted)
        for (const input of [stored, `v2.k1.${stored}`, `v1.${stored}`]) {
          yield* failureOf(codec.reencrypt!(input, "k"))
          yield* failureOf(codec.reencrypt!(input, undefined))
        }
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("bad keyrings are InvalidConfiguration, and show no key material", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<TokenCodec.Keyring> = [
        { current: "k1", keys: [] },
        { current: "k1", keys: [entry("k1", k1), entry("k1", k2)] },
        { current: "k9", keys: [entry("k1", k1)] },
        { current: "k1", keys: [entry("k1", k1)], legacy: "k9" },
        { current: "a.b", keys: [entry("a.b", k1)] },
        { current: "", keys: [entry("", k1)] },
        { current: "x".repeat(65), keys: [entry("x".repeat(65), k1)] },
        { current: "k 1", keys: [entry("k 1", k1)] },
        { current: "k1", keys: [entry("k1", k1.slice(0, 20))] },
        { current: "k1", keys: [entry("k1", `${k1}${k2}`)] },
        { current: "k1", keys: [{ id: "k1", key: k1 as never }] }
      ]
      for (const keyring of bad) {
        const error = yield* failureOf(TokenCodec.encrypted(keyring))
        assert.instanceOf(error, InvalidConfiguration)
        assertShowsNoKey(error)
        assert.notInclude(String(error), k1.slice(0, 20))
      }
      assert.isTrue(TokenCodec.isKeyId("k_2026-12"))
      for (const id of ["", "a.b", "a:b", "a,b", "x".repeat(65), "é"]) assert.isFalse(TokenCodec.isKeyId(id))
      const duplicate = yield* failureOf(
        TokenCodec.encrypted({ current: "k1", keys: [entry("k1", k1), entry("k1", k2)] })
      )
      assert.include(duplicate.message, "twice")
    }))

  it.effect("keyringConfig: EFFECT_RENEWAL_STORE_KEYS, _CURRENT and _LEGACY; layerEncryptedConfig prefers the keyring", () =>
    Effect.gen(function*() {
      const withEnv = (env: Record<string, string>) =>
        Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
      const codecFrom = (env: Record<string, string>) =>
        Effect.exit(
          Effect.provide(TokenCodec.TokenCodec, TokenCodec.layerEncryptedConfig().pipe(Layer.provide(withEnv(env))))
        )
      const v1 = yield* (yield* TokenCodec.encrypted(Redacted.make(k1))).encode("alice", credentials)
      const ring = yield* codecFrom({
        EFFECT_RENEWAL_STORE_KEYS: `k1:${k1},k2:${k2}`,
        EFFECT_RENEWAL_STORE_KEY_CURRENT: "k2",
        EFFECT_RENEWAL_STORE_KEY_LEGACY: "k1",
        EFFECT_RENEWAL_STORE_KEY: k3
      })
      assert.isTrue(Exit.isSuccess(ring))
      if (Exit.isFailure(ring)) return
      assert.isTrue((yield* ring.value.encode("alice", credentials)).startsWith("v2.k2."))
      assert.isTrue(Equal.equals(yield* ring.value.decode("alice", v1), credentials))
      // the single key when no keyring is set
      const single = yield* codecFrom({ EFFECT_RENEWAL_STORE_KEY: k1 })
      assert.isTrue(Exit.isSuccess(single))
      if (Exit.isSuccess(single)) assert.isTrue((yield* single.value.encode("a", credentials)).startsWith("v1."))
      // keys without a current id, or a pair without `:`: ConfigError showing no key
      for (
        const env of [
          { EFFECT_RENEWAL_STORE_KEYS: `k1:${k1}` },
          { EFFECT_RENEWAL_STORE_KEYS: `k1${k1}`, EFFECT_RENEWAL_STORE_KEY_CURRENT: "k1" }
        ]
      ) {
        const exit = yield* codecFrom(env)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isSuccess(exit)) continue
        const error = Option.getOrThrow(Cause.failureOption(exit.cause))
        assert.isTrue(ConfigError.isConfigError(error))
        assertShowsNoKey(error)
      }
      // a bad key: InvalidConfiguration naming the id
      const badKey = yield* codecFrom({ EFFECT_RENEWAL_STORE_KEYS: `k1:short`, EFFECT_RENEWAL_STORE_KEY_CURRENT: "k1" })
      assert.isTrue(Exit.isFailure(badKey))
      if (Exit.isFailure(badKey)) {
        const error = Option.getOrThrow(Cause.failureOption(badKey.cause))
        assert.instanceOf(error, InvalidConfiguration)
        assert.include((error as InvalidConfiguration).message, `"k1"`)
      }
    }))
})
