/**
 * Keys of the `TokenStore`. A session key may be any string; what the store
 * sees is its store key:
 *
 * - the session's own entry: `encode(sessionKey)`;
 * - an entry derived from the session (its API credentials):
 *   `encode(sessionKey) + U+0000 + encode(name)`.
 *
 * `encode` replaces U+0000, U+0001 (the escape) and every lone UTF-16
 * surrogate by U+0001 followed by the code unit in four lowercase hex digits
 * (U+0000 → `"\u00010000"`), and leaves every other character as it is. So:
 *
 * - it is injective and its output holds no U+0000: the first U+0000 of a
 *   store key ends its session part, which is the store key of the session's
 *   own entry (`sessionKeyOf`), and no two (session, name) pairs share a
 *   store key;
 * - its output is well-formed UTF-16: its UTF-8 bytes (the file store's hash,
 *   SQL text, the AES-GCM associated data) are injective too, where a lone
 *   surrogate would have become U+FFFD;
 * - a key without U+0000, U+0001 or a lone surrogate is its own encoding:
 *   stores written before the encoding keep their keys.
 *
 * @internal
 */

/** @internal */
export const separator = "\u0000"

/** @internal */
export const escape = "\u0001"

// U+0000, U+0001, a high surrogate not followed by a low one, a low one not
// preceded by a high one (code units: no `u` flag)
const escaped = /[\u0000\u0001]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

const escapeUnit = (unit: string): string => `${escape}${unit.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * One part of a store key: injective, no U+0000, well-formed.
 *
 * @internal
 */
export const encode = (part: string): string => part.replace(escaped, escapeUnit)

/**
 * The store key of a session's own entry.
 *
 * @internal
 */
export const entryKey = (sessionKey: string): string => encode(sessionKey)

/**
 * The store key of the entry `name` of the session whose own entry is
 * `entry` (a store key, from `entryKey`).
 *
 * @internal
 */
export const derivedOf = (entry: string, name: string): string => `${entry}${separator}${encode(name)}`

/**
 * The store key of the entry `name` of session `sessionKey`.
 *
 * @internal
 */
export const derivedKey = (sessionKey: string, name: string): string => derivedOf(entryKey(sessionKey), name)

/**
 * The store key of the session's own entry that the store key `key` belongs
 * to: everything before its first U+0000.
 *
 * @internal
 */
export const sessionKeyOf = (key: string): string => {
  const at = key.indexOf(separator)
  return at === -1 ? key : key.slice(0, at)
}
