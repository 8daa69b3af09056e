/**
 * How a persistent token store turns `Credentials` into the string it keeps,
 * and back, given the session key.
 *
 * Two codecs: {@link json} (the stored form of `Credentials`, tokens in plain
 * text; the default when no codec layer is provided) and {@link encrypted}
 * (AES-256-GCM through WebCrypto, a fresh IV per write, the session key bound
 * as additional authenticated data).
 *
 * Every persistent store reads the codec from context, so one layer encrypts
 * any of them.
 *
 * @example
 * ```ts
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Layer from "effect/Layer"
 *
 * const Store = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
 *   Layer.provide(TokenCodec.layerEncryptedConfig())
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import type { InvalidConfiguration } from "./AuthError.js"
import { StoreError } from "./AuthError.js"
import * as Credentials from "./Credentials.js"
import * as internalKeyring from "./internal/keyring.js"

/**
 * The codec a persistent store writes through. A `Context.Reference`: without
 * a codec layer, stores use {@link json}.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenCodec extends Context.Reference<TokenCodec>()("@effect-renewal/core/TokenCodec", {
  defaultValue: (): TokenCodec.Service => json
}) {}

/**
 * The types of the {@link TokenCodec} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace TokenCodec {
  /**
   * What a codec does: encode credentials for a session key, decode them
   * back. A custom store that persists credentials should write through it.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The string to keep for `credentials` under the session key `key`.
     */
    readonly encode: (key: string, credentials: Credentials.Credentials) => Effect.Effect<string, StoreError>
    /**
     * The credentials kept as `stored` under the session key `key`. A string
     * that is not a valid entry for `key` is a `StoreError` (operation
     * `"decode"`).
     */
    readonly decode: (key: string, stored: string) => Effect.Effect<Credentials.Credentials, StoreError>
    /**
     * For a codec with keys (the {@link encrypted} codec): `stored` under the
     * codec's current key, without decoding the credentials. `key` is the
     * entry's store key when the store knows it (a `v1` entry needs it),
     * `undefined` when it does not (a `v2` entry records it). `Current` when
     * the entry is already under the current key (not decrypted), else
     * `Rewritten` with the store key the entry was written for and its new
     * string. An entry that does not open is a `StoreError` (operation
     * `"decode"`), one whose key id the keyring lacks names the id.
     *
     * Absent from codecs without keys (`json`): a store's re-encryption then
     * refuses to run.
     *
     * @since 0.5.0
     */
    readonly reencrypt?:
      | ((stored: string, key: string | undefined) => Effect.Effect<Reencrypted, StoreError>)
      | undefined
  }

  /**
   * What {@link TokenCodec.Service}'s `reencrypt` made of an entry.
   *
   * @since 0.5.0
   * @category models
   */
  export type Reencrypted =
    | { readonly _tag: "Current" }
    | { readonly _tag: "Rewritten"; readonly key: string; readonly stored: string }
}

const credentialFields: ReadonlySet<PropertyKey> = new Set(Object.keys(Credentials.Credentials.fields))

/**
 * Describes a parse error by the paths that failed only: a parse error's
 * message may echo the values (tokens) it rejected.
 */
const describeParseError = (error: ParseResult.ParseError): string => {
  const paths = new Set<string>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    // Only the schema's own field names: never a key or a value read from the input.
    const path = issue.path.filter((segment) => credentialFields.has(segment)).map(String)
    if (path.length > 0) paths.add(path.join("."))
  }
  return paths.size === 0 ? "" : ` (invalid: ${Array.from(paths).join(", ")})`
}

/**
 * The stored form of `Credentials` (`Credentials.StoredJson`): a JSON string,
 * tokens in plain text.
 *
 * @since 0.1.0
 * @category codecs
 */
export const json: TokenCodec.Service = {
  encode: (key, credentials) =>
    Effect.suspend(() => Credentials.encodeJson(credentials)).pipe(
      Effect.mapError((error) =>
        new StoreError({
          operation: "encode",
          key,
          description: `credentials could not be encoded${describeParseError(error)}`
        })
      ),
      // a value the schema accepts but JSON cannot hold (an out-of-range date)
      Effect.catchAllDefect(() =>
        Effect.fail(new StoreError({ operation: "encode", key, description: "credentials hold a value out of range" }))
      )
    ),
  decode: (key, stored) =>
    Effect.mapError(
      Credentials.decodeJson(stored),
      (error) =>
        new StoreError({
          operation: "decode",
          key,
          description: `not a valid stored credentials entry${describeParseError(error)}`
        })
    )
}

// ---------------------------------------------------------------------------
// encrypted
// ---------------------------------------------------------------------------

/**
 * Several keys, each with an id, one of them current: what {@link encrypted}
 * takes to rotate keys. It writes with the `current` key (entries
 * `v2.<id>.<iv>.<ciphertext>`) and reads each entry with the key whose id it
 * names, so that an entry moves to the current key the next time it is
 * written (at its renewal, or by a store's `reencrypt`).
 *
 * - `keys`: each `key` is 32 bytes, or a base64/base64url string of 32 bytes
 *   ({@link generateKey} makes one); each `id` is 1 to 32 characters among
 *   `A-Z a-z 0-9 _ -` (see {@link isKeyId}), and no two are the same.
 * - `current`: the id of the key that writes.
 * - `legacy`: the id of the key that reads `v1.` entries, those the
 *   single-key form (`encrypted(keyMaterial)`) wrote; without it a `v1`
 *   entry is a `StoreError`. Usually the single key used so far.
 *
 * The shape of the CLI's key file (`keys` as a list of `{ id, key }`), with
 * every key wrapped in `Redacted`.
 *
 * @since 0.5.0
 * @category models
 */
export interface Keyring {
  readonly current: string
  readonly keys: ReadonlyArray<{ readonly id: string; readonly key: Redacted.Redacted<string | Uint8Array> }>
  readonly legacy?: string | undefined
}

/**
 * Whether `id` may name a key of a {@link Keyring}: 1 to 32 characters among
 * `A-Z a-z 0-9 _ -` (so that it fits in an entry, between dots, and in
 * `EFFECT_RENEWAL_STORE_KEYS`, between commas and colons). A 32-byte key is
 * 43 characters or more in base64 or base64url, so no key is a key id: an
 * error may quote an id, and a key written where an id belongs (a pair
 * written `key:id`) is refused as one that "looks like a key", unquoted.
 *
 * @example
 * ```ts
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 *
 * console.log(TokenCodec.isKeyId("2026-12")) // true
 * console.log(TokenCodec.isKeyId("k.1")) // false
 * // a key, from generateKey (43 characters), is never an id
 * console.log(TokenCodec.isKeyId("x".repeat(43))) // false
 * ```
 *
 * @since 0.5.0
 * @category keyring
 */
export const isKeyId = (id: string): boolean => internalKeyring.keyIdPattern.test(id)

/**
 * A codec that encrypts the {@link json} form with AES-256-GCM (WebCrypto,
 * `globalThis.crypto.subtle`), with one key or a {@link Keyring}.
 *
 * - One key (`Redacted` key material: exactly 32 bytes, or a base64 /
 *   base64url string, padded or not, that decodes to 32 bytes;
 *   {@link generateKey} makes one): writes and reads
 *   `v1.<base64url iv>.<base64url ciphertext and tag>`, as it always has, so
 *   that processes of older versions sharing a store keep reading it.
 * - A {@link Keyring}: writes `v2.<key id>.<iv>.<ciphertext and tag>` with
 *   the current key, reads each `v2` entry with the key its id names (an id
 *   the keyring lacks is a `StoreError` naming the id), and `v1` entries with
 *   its `legacy` key. The key id is bound as additional authenticated data.
 *   `reencrypt` (see {@link TokenCodec.Service}) moves an entry to the
 *   current key.
 * - Each write uses a fresh random 12-byte IV.
 * - The entry is bound to its store key: in `v1` as additional authenticated
 *   data, in `v2` inside the authenticated plaintext (so that re-encryption
 *   can learn it from the entry). An entry copied under another store key
 *   does not open.
 * - A wrong key, a tampered, truncated or foreign entry is a `StoreError`
 *   (operation `"decode"`), never a defect; a bad key or keyring (wrong
 *   length, bad or duplicate id, a `current` or `legacy` id it does not
 *   hold) is an `InvalidConfiguration` that shows no key material.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as DateTime from "effect/DateTime"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 *
 * const program = Effect.gen(function*() {
 *   const codec = yield* TokenCodec.encrypted(yield* TokenCodec.generateKey)
 *   const credentials = new Credentials.Credentials({
 *     accessToken: Redacted.make("an-access-token"),
 *     tokenType: "Bearer",
 *     expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00Z")
 *   })
 *   const stored = yield* codec.encode("alice", credentials)
 *   console.log(stored.startsWith("v1.")) // true: v1.<iv>.<ciphertext and tag>
 *   const decoded = yield* codec.decode("alice", stored)
 *   console.log(Redacted.value(decoded.accessToken)) // "an-access-token"
 *   // bound to its session key: under another one, the entry does not decrypt
 *   const error = yield* Effect.flip(codec.decode("bob", stored))
 *   console.log(error.operation) // "decode"
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const encrypted = (
  keys: Redacted.Redacted<string | Uint8Array> | Keyring
): Effect.Effect<TokenCodec.Service, InvalidConfiguration> => internalKeyring.make(keys, json)

/**
 * Provides the {@link encrypted} codec, with key material or a
 * {@link Keyring} you hold (from a secret manager, for example).
 *
 * @example
 * ```ts
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as NodePath from "@effect/platform-node/NodePath"
 * import * as Layer from "effect/Layer"
 * import type * as Redacted from "effect/Redacted"
 *
 * // the codec is provided to the store layer, which reads it when it is built
 * const Store = (key: Redacted.Redacted<string>) =>
 *   TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
 *     Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncrypted(key)])
 *   )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEncrypted = (
  keys: Redacted.Redacted<string | Uint8Array> | Keyring
): Layer.Layer<TokenCodec, InvalidConfiguration> => Layer.effect(TokenCodec, encrypted(keys))

/**
 * A {@link Keyring} read from `Config`: `EFFECT_RENEWAL_STORE_KEYS` (secret:
 * `id:key` pairs separated by commas, each key a base64 or base64url string
 * of 32 bytes, for example `k1:<key>,k2:<key>`),
 * `EFFECT_RENEWAL_STORE_KEY_CURRENT` (the id that writes) and, optionally,
 * `EFFECT_RENEWAL_STORE_KEY_LEGACY` (the id that reads `v1` entries). Names
 * are given to `Config`, so a `ConfigProvider` may nest or rename them.
 * A pair without `:` is a `ConfigError` that shows no key material; the keys
 * themselves are checked by {@link encrypted}.
 *
 * @since 0.5.0
 * @category config
 */
export const keyringConfig: Config.Config<Keyring> = Config.all({
  keys: Config.redacted("EFFECT_RENEWAL_STORE_KEYS"),
  current: Config.string("EFFECT_RENEWAL_STORE_KEY_CURRENT"),
  legacy: Config.option(Config.string("EFFECT_RENEWAL_STORE_KEY_LEGACY"))
}).pipe(Config.mapOrFail(({ current, keys, legacy }) => {
  const pairs: Array<{ readonly id: string; readonly key: Redacted.Redacted<string> }> = []
  for (const [index, pair] of Redacted.value(keys).split(",").entries()) {
    const at = pair.indexOf(":")
    if (at === -1) {
      return Either.left(ConfigError.InvalidData([], `key #${index + 1} of the keyring is not written id:key`))
    }
    pairs.push({ id: pair.slice(0, at).trim(), key: Redacted.make(pair.slice(at + 1).trim()) })
  }
  return Either.right({ current, keys: pairs, legacy: Option.getOrUndefined(legacy) })
}))

/**
 * Provides the {@link encrypted} codec with key material or a keyring read
 * from `Config`. By default: the {@link keyringConfig} when
 * `EFFECT_RENEWAL_STORE_KEYS` is set, else the single key in
 * `EFFECT_RENEWAL_STORE_KEY` (a base64 or base64url string of 32 bytes, for
 * example from {@link generateKey}). Another `Config` (of a `Redacted` key,
 * or of a {@link Keyring}) replaces both.
 *
 * @example
 * ```ts
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as Config from "effect/Config"
 *
 * // EFFECT_RENEWAL_STORE_KEYS="2025:<old key>,2026:<new key>"
 * // EFFECT_RENEWAL_STORE_KEY_CURRENT=2026
 * // EFFECT_RENEWAL_STORE_KEY_LEGACY=2025 (entries written by the single-key form)
 * const Codec = TokenCodec.layerEncryptedConfig()
 *
 * // a single key of the application's own naming
 * const Single = TokenCodec.layerEncryptedConfig(Config.redacted("TOKENS_KEY"))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEncryptedConfig = (
  config?: Config.Config<Redacted.Redacted<string | Uint8Array> | Keyring>
): Layer.Layer<TokenCodec, ConfigError.ConfigError | InvalidConfiguration> =>
  Layer.effect(TokenCodec, Effect.flatMap(config ?? defaultConfig, encrypted))

// the keyring when its keys are set, else the single key
const defaultConfig: Effect.Effect<Redacted.Redacted<string | Uint8Array> | Keyring, ConfigError.ConfigError> = Effect
  .flatMap(
    Config.option(Config.redacted("EFFECT_RENEWAL_STORE_KEYS")),
    (keys): Effect.Effect<Redacted.Redacted<string | Uint8Array> | Keyring, ConfigError.ConfigError> =>
      Option.isSome(keys) ? keyringConfig : Config.redacted("EFFECT_RENEWAL_STORE_KEY")
  )

/**
 * Fresh key material for {@link encrypted}: 32 random bytes from
 * `crypto.getRandomValues`, as a base64url string.
 *
 * @example
 * ```ts
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as Effect from "effect/Effect"
 * import * as Redacted from "effect/Redacted"
 *
 * // print a key once, to keep in EFFECT_RENEWAL_STORE_KEY (never in the repository)
 * const printKey = Effect.map(TokenCodec.generateKey, (key) => console.log(Redacted.value(key)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey: Effect.Effect<Redacted.Redacted<string>> = Effect.sync(() =>
  Redacted.make(Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(internalKeyring.KEY_BYTES))))
)
