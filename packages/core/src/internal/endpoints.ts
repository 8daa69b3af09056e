/**
 * What a URL the client sends secrets to must be: `https:`, or plain `http:`
 * on a loopback host only, without user-info or fragment. And how a
 * configured value is repeated in an error without its user-info.
 *
 * @internal
 */
import * as Either from "effect/Either"

/** @internal */
export const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * A configured value, repeated in an error, unless it may hold user-info
 * (`user:password@`): a URL that does not parse cannot say where its
 * credentials end, so any `@` keeps the whole value out.
 *
 * @internal
 */
export const quoted = (value: string): string =>
  value.includes("@") ? "(not repeated: it contains \"@\", and credentials are never accepted there)" : `"${value}"`

/**
 * `value` as an absolute URL a request may go to, or why not. `query` says
 * whether a query is allowed (an endpoint of the metadata may have one,
 * RFC 6749 §3.1; an issuer may not, RFC 8414 §2).
 *
 * @internal
 */
export const secureUrl = (
  name: string,
  value: string,
  options: { readonly query: boolean }
): Either.Either<URL, string> => {
  if (!URL.canParse(value)) return Either.left(`${name} ${quoted(value)} is not an absolute URL`)
  const url = new URL(value)
  if (url.username !== "" || url.password !== "") return Either.left(`${name} must not carry credentials`)
  if (url.hash !== "" || value.includes("#")) return Either.left(`${name} must not have a fragment`)
  if (!options.query && (url.search !== "" || value.includes("?"))) {
    return Either.left(`${name} must not have a query`)
  }
  if (url.protocol === "http:") {
    if (!isLoopback(url.hostname)) {
      return Either.left(`${name} uses plain http, which is only allowed for loopback hosts, not ${url.hostname}`)
    }
  } else if (url.protocol !== "https:") {
    return Either.left(`${name} has the unsupported scheme ${url.protocol}`)
  }
  return Either.right(url)
}

/**
 * A URL as it is named in an error: origin and path, never the query.
 *
 * @internal
 */
export const named = (url: URL): string => `${url.origin}${url.pathname}`
