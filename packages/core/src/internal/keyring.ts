import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import { InvalidConfiguration, StoreError } from "../AuthError.js"
import type * as Credentials from "../Credentials.js"
import type { Keyring, TokenCodec } from "../TokenCodec.js"

/**
 * The encrypted codec: AES-256-GCM (WebCrypto) over the `json` codec's
 * string, with a keyring. Two envelopes:
 *
 * - `v1.<iv>.<sealed>`: written by the single-key form (as before keyrings);
 *   associated data `AAD_V1 + store key`, plaintext the json string.
 * - `v2.<key id>.<iv>.<sealed>`: written by a keyring; associated data
 *   `AAD_V2 + key id` (so that the id cannot be swapped for another's),
 *   plaintext the store key's UTF-8 length (4 bytes, big-endian), its UTF-8
 *   bytes, then the json string. The store key is inside the authenticated
 *   plaintext, not in the associated data: it binds the entry to its key as
 *   much (a copy under another key decrypts, and is refused by the
 *   comparison), and re-encryption can read it back from an entry whose key
 *   the store does not know (the file store names files by a hash; the SQL
 *   store in hashed mode keeps only an HMAC).
 *
 * @internal
 */

const IV_BYTES = 12
const TAG_BYTES = 16
/** @internal */
export const KEY_BYTES = 32
const AAD_V1 = "@effect-renewal/core/TokenCodec/v1\u0000"
const AAD_V2 = "@effect-renewal/core/TokenCodec/v2\u0000"

/**
 * What a key id may be: base64url characters, 1 to 32 of them. A 32-byte
 * key is 43 characters or more in base64 or base64url, so that no key passes
 * for an id: an id may be quoted in an error, a key never.
 *
 * @internal
 */
export const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/

/** @internal */
export const keyIdRule = "1 to 32 characters among A-Z a-z 0-9 _ -"

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
  material: string | Uint8Array,
  which: string
): Either.Either<Uint8Array<ArrayBuffer>, InvalidConfiguration> => {
  const invalid = (what: string) =>
    Either.left(
      new InvalidConfiguration({
        description:
          `token codec key material${which} must be exactly ${KEY_BYTES} bytes, or a base64/base64url string of ${KEY_BYTES} bytes; ${what}`
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

const invalidKeyring = (description: string) =>
  new InvalidConfiguration({ description: `token codec keyring: ${description}` })

/** Whether `value` could be key material: a base64/base64url string of 32 bytes. */
const looksLikeKey = (value: string): boolean => Either.isRight(keyBytes(value, ""))

/**
 * What an error says of the `current` or `legacy` id `id` that names no key:
 * the id quoted only when it has the form of a key id (which no key has),
 * never anything else, since an operator may have written a key there.
 */
const unknownId = (which: string, id: unknown): string =>
  typeof id === "string" && keyIdPattern.test(id)
    ? `the ${which} key id "${id}" is not one of its keys`
    : typeof id === "string" && looksLikeKey(id)
    ? `the ${which} key id (not shown) looks like a key, not a key id: it must be the id of one of its keys`
    : `the ${which} key id (not shown) is not a key id (${keyIdRule}), so it is not one of its keys`

interface Ring {
  /** Writes: `v1` with the single key, or `v2` with the current key of a keyring. */
  readonly writer: { readonly version: "v1"; readonly key: CryptoKey } | {
    readonly version: "v2"
    readonly id: string
    readonly key: CryptoKey
  }
  readonly byId: ReadonlyMap<string, CryptoKey>
  /** The key that reads `v1` entries, if any. */
  readonly legacy: CryptoKey | undefined
}

const buildRing = (
  input: Redacted.Redacted<string | Uint8Array> | Keyring
): Effect.Effect<Ring, InvalidConfiguration> =>
  Effect.gen(function*() {
    if (Redacted.isRedacted(input)) {
      const key = yield* importKey(yield* keyBytes(Redacted.value(input), ""))
      return { writer: { version: "v1", key }, byId: new Map(), legacy: key }
    }
    if (typeof input !== "object" || input === null || !Array.isArray(input.keys)) {
      return yield* invalidKeyring("expected { current, keys: [{ id, key }], legacy? }")
    }
    // Keys are named by their position, and by their id only once it has the
    // form of an id: what is not one may be a key (a pair written `key:id`).
    const byId = new Map<string, CryptoKey>()
    const positions = new Map<string, number>()
    for (const [index, entry] of input.keys.entries()) {
      const position = index + 1
      const id: unknown = entry?.id
      if (typeof id !== "string" || !keyIdPattern.test(id)) {
        return yield* invalidKeyring(
          typeof id === "string" && looksLikeKey(id)
            ? `the id of key #${position} (not shown) looks like a key, not a key id (an id:key pair written key:id?)`
            : `the id of key #${position} must be ${keyIdRule}`
        )
      }
      const first = positions.get(id)
      // from here on `id` has the form of an id, which no key has: it may be quoted
      if (first !== undefined) {
        return yield* invalidKeyring(`key #${position} has the same id "${id}" as key #${first}: an id appears twice`)
      }
      if (!Redacted.isRedacted(entry.key)) {
        return yield* invalidKeyring(`the key of key #${position} (id "${id}") must be a Redacted value`)
      }
      byId.set(id, yield* importKey(yield* keyBytes(Redacted.value(entry.key), ` of key #${position} (id "${id}")`)))
      positions.set(id, position)
    }
    if (byId.size === 0) return yield* invalidKeyring("it holds no key")
    const current = typeof input.current === "string" ? byId.get(input.current) : undefined
    if (current === undefined) return yield* invalidKeyring(unknownId("current", input.current))
    let legacy: CryptoKey | undefined = undefined
    if (input.legacy !== undefined) {
      legacy = typeof input.legacy === "string" ? byId.get(input.legacy) : undefined
      if (legacy === undefined) return yield* invalidKeyring(unknownId("legacy", input.legacy))
    }
    return { writer: { version: "v2", id: input.current, key: current }, byId, legacy }
  })

const seal = (key: CryptoKey, aad: string, plaintext: Uint8Array<ArrayBuffer>): Promise<string> => {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES))
  return subtle().encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(aad), tagLength: TAG_BYTES * 8 },
    key,
    plaintext
  ).then((sealed) => `${Encoding.encodeBase64Url(iv)}.${Encoding.encodeBase64Url(new Uint8Array(sealed))}`)
}

/** The v2 plaintext: the store key, length-prefixed, then the json string. */
const framed = (storeKey: string, json: Uint8Array): Uint8Array<ArrayBuffer> => {
  const keyUtf8 = encoder.encode(storeKey)
  const out = new Uint8Array(4 + keyUtf8.byteLength + json.byteLength)
  new DataView(out.buffer).setUint32(0, keyUtf8.byteLength)
  out.set(keyUtf8, 4)
  out.set(json, 4 + keyUtf8.byteLength)
  return out
}

const unframed = (plaintext: Uint8Array): { readonly key: Uint8Array; readonly json: Uint8Array } | undefined => {
  if (plaintext.byteLength < 4) return undefined
  const length = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getUint32(0)
  if (4 + length > plaintext.byteLength) return undefined
  return { key: plaintext.subarray(4, 4 + length), json: plaintext.subarray(4 + length) }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])

/** A stored string taken apart, before any decryption. */
type Envelope =
  | { readonly version: "v1"; readonly iv: Uint8Array<ArrayBuffer>; readonly sealed: Uint8Array<ArrayBuffer> }
  | {
    readonly version: "v2"
    readonly id: string
    readonly iv: Uint8Array<ArrayBuffer>
    readonly sealed: Uint8Array<ArrayBuffer>
  }

const parse = (stored: string): Envelope | string => {
  // written as is: any other spelling (whitespace, another encoding) is a change
  const parts = stored.split(".")
  const [version] = parts
  if (!((version === "v1" && parts.length === 3) || (version === "v2" && parts.length === 4))) {
    return "not an encrypted entry (expected format v2.<key id>.<iv>.<ciphertext> or v1.<iv>.<ciphertext>)"
  }
  const id = version === "v2" ? parts[1] : ""
  if (version === "v2" && !keyIdPattern.test(id)) return "malformed encrypted entry (its key id)"
  const iv = decodeCanonical(parts[parts.length - 2])
  const sealed = decodeCanonical(parts[parts.length - 1])
  if (iv === undefined || iv.byteLength !== IV_BYTES || sealed === undefined || sealed.byteLength < TAG_BYTES) {
    return "malformed or truncated encrypted entry"
  }
  return version === "v2" ? { version, id, iv, sealed } : { version: "v1", iv, sealed }
}

const open = (
  key: CryptoKey,
  aad: string,
  envelope: Envelope,
  fail: (description: string) => StoreError
): Effect.Effect<Uint8Array, StoreError> =>
  Effect.tryPromise({
    try: () =>
      subtle().decrypt(
        { name: "AES-GCM", iv: envelope.iv, additionalData: encoder.encode(aad), tagLength: TAG_BYTES * 8 },
        key,
        envelope.sealed
      ),
    catch: () =>
      fail(
        envelope.version === "v1"
          ? "entry could not be decrypted: wrong key, an entry of another session key, or tampered with"
          : `entry could not be decrypted with key id "${envelope.id}": wrong key for that id, or tampered with`
      )
  }).pipe(Effect.map((plaintext) => new Uint8Array(plaintext)))

/**
 * The plaintext of an entry: the store key it was written for (read from a
 * v2 entry when `storeKey` is not given; a v1 entry needs it) and its json
 * bytes.
 */
const openEntry = (
  ring: Ring,
  envelope: Envelope,
  storeKey: string | undefined,
  fail: (description: string) => StoreError
): Effect.Effect<{ readonly key: string; readonly json: Uint8Array }, StoreError> => {
  if (envelope.version === "v1") {
    if (ring.legacy === undefined) {
      return Effect.fail(fail(
        "a v1 entry (written by the single-key codec), and the keyring names no legacy key to read it"
      ))
    }
    if (storeKey === undefined) {
      return Effect.fail(fail(
        "a v1 entry does not record its session key, and its store does not know it: it moves to the current key when it is next written"
      ))
    }
    return Effect.map(
      open(ring.legacy, AAD_V1 + storeKey, envelope, fail),
      (json) => ({ key: storeKey, json })
    )
  }
  const key = ring.byId.get(envelope.id)
  if (key === undefined) {
    return Effect.fail(fail(`the entry was written with key id "${envelope.id}", which the keyring does not hold`))
  }
  return Effect.flatMap(open(key, AAD_V2 + envelope.id, envelope, fail), (plaintext) => {
    const parts = unframed(plaintext)
    if (parts === undefined) return Effect.fail(fail("malformed encrypted entry (its plaintext)"))
    if (storeKey !== undefined && !sameBytes(parts.key, encoder.encode(storeKey))) {
      return Effect.fail(fail("the entry belongs to another session key"))
    }
    if (storeKey !== undefined) return Effect.succeed({ key: storeKey, json: parts.json })
    return Effect.try({
      try: () => ({ key: decoder.decode(parts.key), json: parts.json }),
      catch: () => fail("malformed encrypted entry (its session key)")
    })
  })
}

/** @internal */
export const make = (
  input: Redacted.Redacted<string | Uint8Array> | Keyring,
  json: TokenCodec.Service
): Effect.Effect<TokenCodec.Service, InvalidConfiguration> =>
  Effect.map(buildRing(input), (ring): TokenCodec.Service => {
    const { writer } = ring

    const sealFor = (storeKey: string, json: Uint8Array<ArrayBuffer>): Promise<string> =>
      writer.version === "v1"
        ? seal(writer.key, AAD_V1 + storeKey, json).then((sealed) => `v1.${sealed}`)
        : seal(writer.key, AAD_V2 + writer.id, framed(storeKey, json)).then((sealed) => `v2.${writer.id}.${sealed}`)

    const encryptError = (key: string) =>
      new StoreError({ operation: "encode", key, description: "credentials could not be encrypted" })

    const encode = (key: string, credentials: Credentials.Credentials): Effect.Effect<string, StoreError> =>
      Effect.flatMap(json.encode(key, credentials), (plaintext) =>
        Effect.tryPromise({
          try: () => sealFor(key, encoder.encode(plaintext)),
          catch: () => encryptError(key)
        }))

    const decode = (key: string, stored: string): Effect.Effect<Credentials.Credentials, StoreError> =>
      Effect.suspend(() => {
        const fail = (description: string) => new StoreError({ operation: "decode", key, description })
        const envelope = parse(stored)
        if (typeof envelope === "string") return Effect.fail(fail(envelope))
        return openEntry(ring, envelope, key, fail).pipe(
          Effect.flatMap((opened) =>
            Effect.try({
              try: () => decoder.decode(opened.json),
              catch: () => fail("decrypted entry is not UTF-8")
            })
          ),
          Effect.flatMap((plaintext) => json.decode(key, plaintext))
        )
      })

    const reencrypt = (stored: string, key: string | undefined): Effect.Effect<TokenCodec.Reencrypted, StoreError> =>
      Effect.suspend((): Effect.Effect<TokenCodec.Reencrypted, StoreError> => {
        const fail = (description: string) => new StoreError({ operation: "decode", key: key ?? "*", description })
        const envelope = parse(stored)
        if (typeof envelope === "string") return Effect.fail(fail(envelope))
        const current = envelope.version === "v1" ? writer.version === "v1" : writer.version === "v2" &&
          writer.id === envelope.id
        if (current) return Effect.succeed({ _tag: "Current" } as const)
        return Effect.flatMap(openEntry(ring, envelope, key, fail), (opened) => {
          const storeKey = opened.key
          return Effect.tryPromise({
            try: () => sealFor(storeKey, toBytes(opened.json)),
            catch: () => encryptError(storeKey)
          }).pipe(Effect.map((rewritten) => ({ _tag: "Rewritten", key: storeKey, stored: rewritten } as const)))
        })
      })

    return { encode, decode, reencrypt }
  })
