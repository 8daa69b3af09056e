import { sessionKeyOf } from "@effect-renewal/core/TokenStore"

/**
 * Where an entry key lives in the entries table. A key is its session key
 * (everything before the first U+0000, see `TokenStore.derivedKey`) and the
 * rest: `""` for the session's own entry, else the rest starting with the
 * separator. PostgreSQL `TEXT` cannot hold U+0000, so the rest is escaped
 * (`%` → `%25`, U+0000 → `%00`): injective, and a key derived from `k` has
 * the escaped rest of `k` followed by `%00` as a prefix.
 *
 * @internal
 */
export interface Location {
  readonly session: string
  readonly sub: string
}

const escape = (s: string): string => s.replace(/%/g, "%25").replace(/\u0000/g, "%00")

/** @internal */
export const locationOf = (key: string): Location => {
  const session = sessionKeyOf(key)
  return { session, sub: escape(key.slice(session.length)) }
}

/**
 * The lock key of `key` (the whole key, escaped like a location's rest).
 *
 * @internal
 */
export const lockKeyOf = (key: string): string => escape(key)

/**
 * The prefix of the escaped rest of every key derived from `location`.
 *
 * @internal
 */
export const derivedPrefix = (location: Location): string => `${location.sub}%00`
