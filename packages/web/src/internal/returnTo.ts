/**
 * Where a login may send the person back to: a path on this application,
 * never another site (no open redirect). Accepted: a relative path that
 * starts with exactly one `/`, not `//` (another host to a browser) nor `/\`
 * (browsers read a backslash as a slash), with no scheme, no control
 * characters, no whitespace, and that a URL parser resolves to the same
 * origin. What is kept is the parser's form (`pathname + search + hash`,
 * percent-encoded: only ASCII, as a `Location` header needs), at most 512
 * characters (it travels in the pending-login cookie). Anything else is
 * replaced by the fallback.
 *
 * @internal
 */

const maxLength = 512

/** The path itself when it is a safe `returnTo`, `undefined` otherwise. @internal */
export const validate = (value: string | null | undefined): string | undefined => {
  if (typeof value !== "string" || value.length === 0 || value.length > 4 * maxLength) return undefined
  if (value[0] !== "/" || value[1] === "/" || value[1] === "\\") return undefined
  // control characters (browsers strip tabs and newlines: "/\t/evil.example"), spaces, backslashes anywhere
  if (/[\u0000-\u0020\u007f-\u009f\\]/.test(value)) return undefined
  // a second opinion from the URL parser: the resolved URL stays on the origin, with the same path
  const base = "http://origin.invalid"
  let resolved: URL
  try {
    resolved = new URL(value, base)
  } catch {
    return undefined
  }
  if (resolved.origin !== base) return undefined
  const normalized = resolved.pathname + resolved.search + resolved.hash
  // once more on what is kept: dot segments can make "//host" of "/a/..//host"
  if (normalized.length > maxLength || normalized[1] === "/" || normalized[1] === "\\") return undefined
  if (/[^\u0021-\u007e]/.test(normalized)) return undefined
  return normalized
}

/** `validate`, or `fallback`. @internal */
export const orElse = (value: string | null | undefined, fallback: string): string => validate(value) ?? fallback
