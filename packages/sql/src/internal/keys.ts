import { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import { sessionHash, sessionKeyOf } from "@effect-renewal/core/TokenStore"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import { createHmac } from "node:crypto"

/**
 * Where an entry key lives in the tables, in one of two modes.
 *
 * - Clear (the default): a key is its session key (everything before the
 *   first U+0000, see `TokenStore.derivedKey`) and the rest: `""` for the
 *   session's own entry, else the rest starting with the separator.
 *   PostgreSQL `TEXT` cannot hold U+0000, so the rest is escaped (`%` →
 *   `%25`, U+0000 → `%00`): injective, and a key derived from `k` has the
 *   escaped rest of `k` followed by `%00` as a prefix.
 * - Hashed: the database holds only HMAC-SHA-256 values (hex) under a secret
 *   key. The session column is the HMAC of the session key; the rest is, for
 *   each of its U+0000-separated parts, `%00` and the HMAC of the whole key
 *   up to the end of that part. Every HMAC input differs (a session key has
 *   no U+0000; a longer prefix has more), and the prefix property holds as in
 *   clear mode, so removing a session or a derived entry works alike. Lock
 *   keys and `NOTIFY` payloads are built from these columns.
 *
 * @internal
 */
export interface Location {
  readonly session: string
  readonly sub: string
}

/** @internal */
export interface Keys {
  /** What the meta table records: `clear`, or `hmac-sha256:` and a fingerprint of the key. */
  readonly mode: string
  readonly hashed: boolean
  readonly locationOf: (key: string) => Location
  /** The lock key of `key`. */
  readonly lockKeyOf: (key: string) => string
  /** The store key of a row, when the tables hold it (clear mode). */
  readonly keyOfRow: (location: Location) => string | undefined
  /** How a re-encryption report names a row: never the session key. */
  readonly labelOfRow: (location: Location) => string
}

const escape = (s: string): string => s.replace(/%/g, "%25").replace(/\u0000/g, "%00")
const unescape = (s: string): string => s.replace(/%(00|25)/g, (_, code) => (code === "00" ? "\u0000" : "%"))

/**
 * The prefix of the rest of every key derived from `location`.
 *
 * @internal
 */
export const derivedPrefix = (location: Location): string => `${location.sub}%00`

/** @internal */
export const clear: Keys = {
  mode: "clear",
  hashed: false,
  locationOf: (key) => {
    const session = sessionKeyOf(key)
    return { session, sub: escape(key.slice(session.length)) }
  },
  lockKeyOf: escape,
  keyOfRow: (location) => location.session + unescape(location.sub),
  labelOfRow: (location) => {
    const label = `<session ${sessionHash(location.session)}>`
    return location.sub === "" ? label : `${label} (API credentials)`
  }
}

const KEY_BYTES = 32

const keyBytes = (material: string | Uint8Array): Either.Either<Uint8Array, InvalidConfiguration> => {
  const invalid = (what: string) =>
    Either.left(
      new InvalidConfiguration({
        description:
          `SqlTokenStore hashSessionKeys must be ${KEY_BYTES} bytes, or a base64/base64url string of ${KEY_BYTES} bytes (TokenCodec.generateKey makes one); ${what}`
      })
    )
  if (material instanceof Uint8Array) {
    return material.byteLength === KEY_BYTES ? Either.right(material) : invalid(`got ${material.byteLength} bytes`)
  }
  if (typeof material !== "string") return invalid("got neither a string nor a Uint8Array")
  const normalized = material.trim().replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
  if (!/^[A-Za-z0-9_-]*$/.test(normalized)) return invalid("the string is not base64 or base64url")
  const decoded = Encoding.decodeBase64Url(normalized)
  if (Either.isLeft(decoded)) return invalid("the string is not base64 or base64url")
  return decoded.right.byteLength === KEY_BYTES
    ? Either.right(decoded.right)
    : invalid(`the string decodes to ${decoded.right.byteLength} bytes`)
}

/** @internal */
export const hashed = (secret: Redacted.Redacted<string | Uint8Array>): Either.Either<Keys, InvalidConfiguration> =>
  Either.map(keyBytes(Redacted.value(secret)), (key): Keys => {
    const hmac = (input: string): string => createHmac("sha256", key).update(input, "utf8").digest("hex")
    const locationOf = (key: string): Location => {
      const session = sessionKeyOf(key)
      let sub = ""
      // every separator after the session part ends a prefix of the key
      for (let at = key.indexOf("\u0000", session.length + 1); at !== -1; at = key.indexOf("\u0000", at + 1)) {
        sub += `%00${hmac(key.slice(0, at))}`
      }
      if (key.length > session.length) sub += `%00${hmac(key)}`
      return { session: hmac(session), sub }
    }
    return {
      mode: `hmac-sha256:${hmac("@effect-renewal/sql/fingerprint").slice(0, 16)}`,
      hashed: true,
      locationOf,
      lockKeyOf: (key) => {
        const location = locationOf(key)
        return `${location.session}${location.sub}`
      },
      keyOfRow: () => undefined,
      labelOfRow: (location) =>
        `<session hmac ${location.session.slice(0, 16)}>${location.sub === "" ? "" : " (API credentials)"}`
    }
  })
