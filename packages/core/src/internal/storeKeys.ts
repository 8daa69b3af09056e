/**
 * Keys of the `TokenStore`: a session's own key, and keys derived from it
 * (`TokenStore.derivedKey`), separated by U+0000.
 *
 * @internal
 */

/** @internal */
export const separator = "\u0000"

/** @internal */
export const derivedKey = (sessionKey: string, name: string): string => `${sessionKey}${separator}${name}`

/** @internal */
export const sessionKeyOf = (key: string): string => {
  const at = key.indexOf(separator)
  return at === -1 ? key : key.slice(0, at)
}
