/**
 * What a resource server's 401 says of the token (RFC 6750 §3, RFC 9449
 * §7.1): the `error` parameters of its `WWW-Authenticate` challenges
 * (`Bearer` or `DPoP`). Only `invalid_token`, or a challenge with no error at
 * all (a request the server found without credentials it takes), says the
 * token is at fault; any other error (`invalid_dpop_proof`,
 * `use_dpop_nonce`, `invalid_request`, `insufficient_scope`) is not cured by
 * a new token.
 *
 * @internal
 */

const errorParameter = /(?:^|[\s,])error\s*=\s*(?:"([^"]*)"|([^\s,]*))/gi

/** The `error` parameters of a `WWW-Authenticate` value, in order. @internal */
export const errorsOf = (header: string | undefined): ReadonlyArray<string> =>
  header === undefined ? [] : Array.from(header.matchAll(errorParameter), (match) => match[1] ?? match[2] ?? "")

/** Whether a 401 with this `WWW-Authenticate` value is one a renewed token may cure. @internal */
export const blamesToken = (header: string | undefined): boolean => {
  const errors = errorsOf(header)
  return errors.length === 0 || errors.some((error) => error.toLowerCase() === "invalid_token")
}
