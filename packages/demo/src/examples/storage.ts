/**
 * docs/storage.md: the stores, the codecs, and a custom store.
 */
import { AuthError, TokenCodec, TokenStore } from "@effect-renewal/core"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

// --- file ---
// Plain JSON files (TokenCodec.json, the default):
export const PlainFiles = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
  Layer.provide([NodeFileSystem.layer, NodePath.layer])
)

// Encrypted files, directory and key from the environment:
export const EncryptedFiles = TokenStore.layerFileSystemConfig({ directory: Config.string("TOKEN_DIR") }).pipe(
  Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
)
// --- end file ---

// --- generate ---
// Prints a new key for EFFECT_RENEWAL_STORE_KEY (run once, keep it in your secret store).
export const printNewKey = Effect.flatMap(TokenCodec.generateKey, (key) => Console.log(Redacted.value(key)))
// --- end generate ---

// --- rotate ---
// EFFECT_RENEWAL_STORE_KEYS="k1:<old>,k2:<new>", EFFECT_RENEWAL_STORE_KEY_CURRENT=k2
export const rotate = TokenStore.reencrypt().pipe(
  Effect.tap(({ current, failed, rewritten }) =>
    Console.log(`${rewritten} rewritten, ${current} already current, ${failed.length} left as they were`)
  ),
  Effect.provide(
    TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
      Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
    )
  )
)
// --- end rotate ---

// --- custom ---
// A TokenStore over @effect/platform's KeyValueStore. It writes through the
// TokenCodec in context, like the built-in persistent stores, and locks in
// this process only.
export const makeKeyValueStore = Effect.gen(function*() {
  const kv = yield* KeyValueStore.KeyValueStore
  const codec = yield* TokenCodec.TokenCodec
  const locks = new Map<string, Effect.Semaphore>()
  const lockOf = (key: string) => {
    let lock = locks.get(key)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      locks.set(key, lock)
    }
    return lock
  }
  const entry = (key: string) => `effect-renewal/${key}`
  // Describe the failure, never the value: it may hold tokens.
  const storeError =
    (operation: AuthError.StoreError["operation"], key: string) => (error: { readonly _tag: string }) =>
      new AuthError.StoreError({ operation, key, description: `key-value store failed (${error._tag})` })

  return TokenStore.TokenStore.of({
    get: (key) =>
      kv.get(entry(key)).pipe(
        Effect.mapError(storeError("get", key)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (stored) => Effect.asSome(codec.decode(key, stored))
        }))
      ),
    set: (key, credentials) =>
      codec.encode(key, credentials).pipe(
        Effect.flatMap((stored) => Effect.mapError(kv.set(entry(key), stored), storeError("set", key)))
      ),
    remove: (key) => Effect.mapError(kv.remove(entry(key)), storeError("remove", key)),
    withLock: (key, effect) => lockOf(key).withPermits(1)(effect)
  })
})

export const layerKeyValueStore = Layer.effect(TokenStore.TokenStore, makeKeyValueStore)

// For example over files, encrypted:
export const KeyValueFiles = layerKeyValueStore.pipe(
  Layer.provide(KeyValueStore.layerFileSystem(".tokens-kv")),
  Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
)
// --- end custom ---
