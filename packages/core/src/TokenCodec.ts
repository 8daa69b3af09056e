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
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import { InvalidConfiguration, StoreError } from "./AuthError.js"
import * as Credentials from "./Credentials.js"

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
  }
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

const VERSION = "v1"
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
const AAD_PREFIX = "@effect-renewal/core/TokenCodec/v1\u0000"

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

const subtle = (): SubtleCrypto => {
  const crypto = globalThis.crypto
  if (crypto?.subtle === undefined) {
    throw new Error("WebCrypto (globalThis.crypto.subtle) is not available")
  }
  return crypto.subtle
}

/** A copy backed by a plain `ArrayBuffer`, as WebCrypto's types want. */
const toBytes = (input: Uint8Array): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(input.byteLength)
  out.set(input)
  return out
}

const additionalData = (key: string): Uint8Array<ArrayBuffer> => encoder.encode(AAD_PREFIX + key)

const decodeBase64Url = (s: string): Uint8Array<ArrayBuffer> | undefined => {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return undefined
  const decoded = Encoding.decodeBase64Url(s)
  return Either.isRight(decoded) ? toBytes(decoded.right) : undefined
}

// The one way this codec writes bytes: a string whose unused low bits of the
// last character are set (or that is padded) decodes to the same bytes, so
// without this check such a change to an entry would go unnoticed.
const decodeCanonical = (s: string): Uint8Array<ArrayBuffer> | undefined => {
  const bytes = decodeBase64Url(s)
  return bytes !== undefined && Encoding.encodeBase64Url(bytes) === s ? bytes : undefined
}

const keyBytes = (
  material: string | Uint8Array
): Either.Either<Uint8Array<ArrayBuffer>, InvalidConfiguration> => {
  const invalid = (what: string) =>
    Either.left(
      new InvalidConfiguration({
        description:
          `token codec key material must be exactly ${KEY_BYTES} bytes, or a base64/base64url string of ${KEY_BYTES} bytes; ${what}`
      })
    )
  if (material instanceof Uint8Array) {
    return material.byteLength === KEY_BYTES
      ? Either.right(toBytes(material))
      : invalid(`got ${material.byteLength} bytes`)
  }
  if (typeof material !== "string") return invalid("got neither a string nor a Uint8Array")
  // Accept base64 (`+`, `/`) and base64url (`-`, `_`), padded or not.
  const normalized = material.trim().replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
  const bytes = decodeBase64Url(normalized)
  if (bytes === undefined) return invalid("the string is not base64 or base64url")
  return bytes.byteLength === KEY_BYTES
    ? Either.right(bytes)
    : invalid(`the string decodes to ${bytes.byteLength} bytes`)
}

const importKey = (bytes: Uint8Array<ArrayBuffer>): Effect.Effect<CryptoKey, InvalidConfiguration> =>
  Effect.tryPromise({
    try: () => subtle().importKey("raw", bytes, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]),
    catch: () =>
      new InvalidConfiguration({ description: "token codec key could not be imported as an AES-256-GCM key" })
  })

const decodeFailure = (key: string, description: string) => new StoreError({ operation: "decode", key, description })

/**
 * A codec that encrypts the {@link json} form with AES-256-GCM (WebCrypto,
 * `globalThis.crypto.subtle`).
 *
 * - `keyMaterial`: exactly 32 bytes, or a base64 / base64url string (padded or
 *   not) that decodes to 32 bytes; anything else is an `InvalidConfiguration`.
 *   {@link generateKey} makes one.
 * - Each write uses a fresh random 12-byte IV. The output is
 *   `v1.<base64url iv>.<base64url ciphertext and tag>`.
 * - The session key is bound as additional authenticated data: an entry copied
 *   under another session key does not decrypt.
 * - A wrong key, a tampered, truncated or foreign entry is a `StoreError`
 *   (operation `"decode"`), never a defect.
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
  keyMaterial: Redacted.Redacted<string | Uint8Array>
): Effect.Effect<TokenCodec.Service, InvalidConfiguration> =>
  Effect.gen(function*() {
    const bytes = yield* keyBytes(Redacted.value(keyMaterial))
    const cryptoKey = yield* importKey(bytes)

    const encode = (key: string, credentials: Credentials.Credentials): Effect.Effect<string, StoreError> =>
      Effect.flatMap(json.encode(key, credentials), (plaintext) =>
        Effect.tryPromise({
          try: async () => {
            const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES))
            const sealed = await subtle().encrypt(
              { name: "AES-GCM", iv, additionalData: additionalData(key), tagLength: TAG_BYTES * 8 },
              cryptoKey,
              encoder.encode(plaintext)
            )
            return `${VERSION}.${Encoding.encodeBase64Url(iv)}.${Encoding.encodeBase64Url(new Uint8Array(sealed))}`
          },
          catch: () => new StoreError({ operation: "encode", key, description: "credentials could not be encrypted" })
        }))

    const decode = (key: string, stored: string): Effect.Effect<Credentials.Credentials, StoreError> =>
      Effect.suspend(() => {
        // written as is: any other spelling (whitespace, another encoding) is a change
        const parts = stored.split(".")
        if (parts.length !== 3 || parts[0] !== VERSION) {
          return Effect.fail(
            decodeFailure(key, `not an encrypted entry (expected format ${VERSION}.<iv>.<ciphertext>)`)
          )
        }
        const iv = decodeCanonical(parts[1])
        const sealed = decodeCanonical(parts[2])
        if (iv === undefined || iv.byteLength !== IV_BYTES || sealed === undefined || sealed.byteLength < TAG_BYTES) {
          return Effect.fail(decodeFailure(key, "malformed or truncated encrypted entry"))
        }
        return Effect.tryPromise({
          try: () =>
            subtle().decrypt(
              { name: "AES-GCM", iv, additionalData: additionalData(key), tagLength: TAG_BYTES * 8 },
              cryptoKey,
              sealed
            ),
          catch: () =>
            decodeFailure(
              key,
              "entry could not be decrypted: wrong key, an entry of another session key, or tampered with"
            )
        }).pipe(
          Effect.flatMap((plaintext) =>
            Effect.try({
              try: () => decoder.decode(plaintext),
              catch: () => decodeFailure(key, "decrypted entry is not UTF-8")
            })
          ),
          Effect.flatMap((plaintext) => json.decode(key, plaintext))
        )
      })

    return { encode, decode }
  })

/**
 * Provides the {@link encrypted} codec, with key material you hold (from a
 * secret manager, for example).
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
  keyMaterial: Redacted.Redacted<string | Uint8Array>
): Layer.Layer<TokenCodec, InvalidConfiguration> => Layer.effect(TokenCodec, encrypted(keyMaterial))

/**
 * Provides the {@link encrypted} codec with key material read from `Config`
 * (what {@link layerEncrypted} takes, as a `Config.Wrap`: for a `Redacted`
 * value, a `Config` of it), by default the environment variable
 * `EFFECT_RENEWAL_STORE_KEY` (a base64 or base64url string of 32 bytes, for
 * example from {@link generateKey}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEncryptedConfig = (
  config: Config.Config.Wrap<Redacted.Redacted<string | Uint8Array>> = Config.redacted("EFFECT_RENEWAL_STORE_KEY")
): Layer.Layer<TokenCodec, ConfigError.ConfigError | InvalidConfiguration> =>
  Layer.effect(TokenCodec, Effect.flatMap(Config.unwrap(config), encrypted))

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
  Redacted.make(Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES))))
)
