/**
 * The keys behind the cookies, derived with HKDF-SHA-256 (WebCrypto) from
 * each cookie secret: an HMAC-SHA-256 key that signs the session id, and an
 * AES-256-GCM key that seals the pending login. The first secret signs and
 * seals; every secret verifies and opens, so that a secret can be rotated
 * without logging everyone out (add the new one first, drop the old one
 * after the longest session lifetime).
 *
 * Verification goes through `subtle.verify`, which compares in constant
 * time; a value that does not verify under any key is refused the same way,
 * whatever part of it is wrong.
 *
 * @internal
 */
import { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/** The least length of a cookie secret, in UTF-8 bytes. @internal */
export const minimumSecretBytes = 32

const IV_BYTES = 12

/** One secret's keys. */
interface KeyPair {
  readonly hmac: CryptoKey
  readonly aes: CryptoKey
}

/** @internal */
export interface Keys {
  /** `<payload>.<base64url HMAC>` of a purpose and a payload. */
  readonly sign: (purpose: string, payload: string) => Effect.Effect<string>
  /** The payload of a signed value, if any key signed it for this purpose. */
  readonly verify: (purpose: string, signed: string) => Effect.Effect<Option.Option<string>>
  /** `<base64url iv>.<base64url ciphertext and tag>`, the purpose as associated data. */
  readonly seal: (purpose: string, plaintext: string) => Effect.Effect<string>
  /** The plaintext of a sealed value, if any key opens it for this purpose. */
  readonly open: (purpose: string, sealed: string) => Effect.Effect<Option.Option<string>>
}

const subtle = () => globalThis.crypto.subtle

const toBytes = (input: Uint8Array): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(input.byteLength)
  out.set(input)
  return out
}

const decodeBase64Url = (s: string): Uint8Array<ArrayBuffer> | undefined => {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined
  const decoded = Encoding.decodeBase64Url(s)
  // one spelling per value: a changed unused bit is a changed value
  return Either.isRight(decoded) && Encoding.encodeBase64Url(decoded.right) === s ? toBytes(decoded.right) : undefined
}

const derive = (secret: string) =>
  Effect.promise(async (): Promise<KeyPair> => {
    const material = await subtle().importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"])
    const params = (info: string) => ({
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode("@effect-renewal/web"),
      info: encoder.encode(info)
    })
    const hmac = await subtle().deriveKey(
      params("session cookie signature"),
      material,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign", "verify"]
    )
    const aes = await subtle().deriveKey(
      params("pending login encryption"),
      material,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"]
    )
    return { hmac, aes }
  })

/**
 * The keys of the secrets, the first one current. Fails with
 * `InvalidConfiguration` for no secret or one shorter than 32 bytes.
 *
 * @internal
 */
export const make = (
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): Effect.Effect<Keys, InvalidConfiguration> =>
  Effect.gen(function*() {
    if (secrets.length === 0) {
      return yield* new InvalidConfiguration({ description: "WebAuth needs at least one cookie secret" })
    }
    for (const secret of secrets) {
      const value: unknown = Redacted.value(secret)
      if (typeof value !== "string" || encoder.encode(value).byteLength < minimumSecretBytes) {
        return yield* new InvalidConfiguration({
          description: `every WebAuth cookie secret must be a string of at least ${minimumSecretBytes} bytes`
        })
      }
    }
    const pairs = yield* Effect.forEach(secrets, (secret) => derive(Redacted.value(secret)))
    const current = pairs[0]!

    const sign = (purpose: string, payload: string) =>
      Effect.promise(async () => {
        const mac = await subtle().sign("HMAC", current.hmac, encoder.encode(`${purpose}\u0000${payload}`))
        return `${payload}.${Encoding.encodeBase64Url(new Uint8Array(mac))}`
      })

    const verify = (purpose: string, signed: string) =>
      Effect.promise(async () => {
        const dot = signed.lastIndexOf(".")
        if (dot <= 0) return Option.none<string>()
        const payload = signed.slice(0, dot)
        const mac = decodeBase64Url(signed.slice(dot + 1))
        if (mac === undefined || mac.byteLength !== 32) return Option.none<string>()
        const data = encoder.encode(`${purpose}\u0000${payload}`)
        for (const pair of pairs) {
          if (await subtle().verify("HMAC", pair.hmac, mac, data)) return Option.some(payload)
        }
        return Option.none<string>()
      })

    const seal = (purpose: string, plaintext: string) =>
      Effect.promise(async () => {
        const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES))
        const sealed = await subtle().encrypt(
          { name: "AES-GCM", iv, additionalData: encoder.encode(purpose) },
          current.aes,
          encoder.encode(plaintext)
        )
        return `${Encoding.encodeBase64Url(iv)}.${Encoding.encodeBase64Url(new Uint8Array(sealed))}`
      })

    const open = (purpose: string, sealed: string) =>
      Effect.promise(async () => {
        const parts = sealed.split(".")
        if (parts.length !== 2) return Option.none<string>()
        const iv = decodeBase64Url(parts[0]!)
        const data = decodeBase64Url(parts[1]!)
        if (iv === undefined || iv.byteLength !== IV_BYTES || data === undefined || data.byteLength < 16) {
          return Option.none<string>()
        }
        for (const pair of pairs) {
          try {
            const plain = await subtle().decrypt(
              { name: "AES-GCM", iv, additionalData: encoder.encode(purpose) },
              pair.aes,
              data
            )
            return Option.some(decoder.decode(plain))
          } catch {
            // another key, or tampered: try the next
          }
        }
        return Option.none<string>()
      })

    return { sign, verify, seal, open }
  })

/** `bytes` random bytes (`crypto.getRandomValues`), base64url. @internal */
export const randomId = (bytes: number): string =>
  Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(bytes)))

/** base64url of the SHA-256 of a string. @internal */
export const sha256 = (value: string): Effect.Effect<string> =>
  Effect.promise(async () =>
    Encoding.encodeBase64Url(new Uint8Array(await subtle().digest("SHA-256", encoder.encode(value))))
  )
