/**
 * The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636, RFC 9207):
 * the checks of a `/authorize` request, the approvals a test scripts, the
 * codes issued and their redemption at the token endpoint, as pure
 * transitions `(state, input) => [outcome, state]`. Time is an argument.
 *
 * A code is single use: its first presentation consumes it, whether it
 * succeeds or not (a wrong verifier cannot be retried). A code presented
 * again is refused, and the refresh token family it issued is revoked, as
 * RFC 6749 §4.1.2 suggests; the access token it issued, a JWT, stays valid
 * until it expires.
 */
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import type { Config } from "./config.js"
import * as Protocol from "./protocol.js"

/** What the next `/authorize` answers, as a test scripts it. @internal */
export type Decision =
  | { readonly _tag: "Approve"; readonly user: string; readonly email?: string | undefined }
  | { readonly _tag: "Deny" }

/** The user approved when nothing is scripted. @internal */
export const DEFAULT_USER = "demo-user"

/** A code issued by `/authorize`. @internal */
export interface Code {
  readonly clientId: string
  readonly redirectUri: string
  readonly challenge: string
  readonly scope: string
  readonly audience: string | undefined
  readonly nonce: string | undefined
  readonly user: string
  readonly email: string | undefined
  readonly expiresAt: number
  readonly used: boolean
  /** The refresh token its exchange issued, if any: revoked on a replay. */
  readonly refreshToken: string | undefined
}

/** @internal */
export interface Counters {
  /** `/authorize` requests answered with a code. */
  readonly authorizations: number
  /** `/authorize` requests answered with `access_denied`. */
  readonly denials: number
  /** Codes exchanged for tokens. */
  readonly codeExchanges: number
}

/** @internal */
export interface State {
  readonly script: ReadonlyArray<Decision>
  readonly codes: HashMap.HashMap<string, Code>
  readonly counters: Counters
}

/** @internal */
export const empty: State = {
  script: [],
  codes: HashMap.empty(),
  counters: { authorizations: 0, denials: 0, codeExchanges: 0 }
}

/** Scripts the answer of a later `/authorize`, after those already scripted. @internal */
export const script = (state: State, decision: Decision): State => ({ ...state, script: [...state.script, decision] })

// -----------------------------------------------------------------------------
// The request
// -----------------------------------------------------------------------------

/** A valid `/authorize` request. @internal */
export interface Request {
  readonly _tag: "Request"
  readonly redirectUri: string
  readonly state: string | undefined
  readonly challenge: string
  readonly scope: string
  readonly audience: string | undefined
  readonly nonce: string | undefined
}

/** A request that cannot be redirected (unknown client, no usable redirect URI): a 400 page. @internal */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly description: string
}

/** A request refused by a redirect with an `error` (RFC 6749 §4.1.2.1). @internal */
export interface Refused {
  readonly _tag: "Refused"
  readonly redirectUri: string
  readonly state: string | undefined
  readonly error: string
  readonly description: string
}

const absoluteUrl = (value: string): boolean => {
  try {
    const url = new URL(value)
    // custom schemes of native apps are fine (RFC 8252 §7.1); scripts and fragments are not
    return url.hash === "" && url.protocol !== "javascript:" && url.protocol !== "data:"
  } catch {
    return false
  }
}

// the S256 challenge: base64url of a SHA-256 digest, 43 characters
const challengePattern = /^[A-Za-z0-9_-]{43}$/

/** Reads a `/authorize` request (its query parameters). @internal */
export const read = (config: Pick<Config, "clientId">, params: Protocol.Params): Request | Invalid | Refused => {
  const { param } = Protocol
  const clientId = param(params, "client_id")
  if (clientId === undefined) return { _tag: "Invalid", description: "Missing required parameter: client_id" }
  if (clientId !== config.clientId) return { _tag: "Invalid", description: "Unknown client." }
  const redirectUri = param(params, "redirect_uri")
  if (redirectUri === undefined) return { _tag: "Invalid", description: "Missing required parameter: redirect_uri" }
  if (!absoluteUrl(redirectUri)) return { _tag: "Invalid", description: "The redirect_uri is not an absolute URL." }
  const state = param(params, "state")
  const refuse = (error: string, description: string): Refused => ({
    _tag: "Refused",
    redirectUri,
    state,
    error,
    description
  })
  const responseType = param(params, "response_type")
  if (responseType === undefined) return refuse("invalid_request", "Missing required parameter: response_type")
  if (responseType !== "code") return refuse("unsupported_response_type", "Only response_type=code is supported.")
  const challenge = param(params, "code_challenge")
  const method = param(params, "code_challenge_method")
  if (challenge === undefined) return refuse("invalid_request", "PKCE is required: missing code_challenge.")
  if (method !== "S256") return refuse("invalid_request", "PKCE is required with code_challenge_method=S256.")
  if (!challengePattern.test(challenge)) return refuse("invalid_request", "Malformed code_challenge.")
  return {
    _tag: "Request",
    redirectUri,
    state,
    challenge,
    scope: param(params, "scope") ?? "openid",
    audience: param(params, "audience"),
    nonce: param(params, "nonce")
  }
}

/**
 * The answer to a valid request: the next scripted decision (the default
 * approves `"demo-user"`); an approval issues `code`, the caller's candidate.
 *
 * @internal
 */
export const authorize = (state: State, input: {
  readonly request: Request
  readonly clientId: string
  readonly code: string
  readonly expiresAt: number
}): readonly [Decision, State] => {
  const [decision, ...script] = state.script.length > 0
    ? state.script
    : [{ _tag: "Approve", user: DEFAULT_USER } as const]
  const next = { ...state, script }
  if (decision._tag === "Deny") {
    return [decision, { ...next, counters: { ...next.counters, denials: next.counters.denials + 1 } }]
  }
  const { request } = input
  const code: Code = {
    clientId: input.clientId,
    redirectUri: request.redirectUri,
    challenge: request.challenge,
    scope: request.scope,
    audience: request.audience,
    nonce: request.nonce,
    user: decision.user,
    email: decision.email,
    expiresAt: input.expiresAt,
    used: false,
    refreshToken: undefined
  }
  return [decision, {
    ...next,
    codes: HashMap.set(next.codes, input.code, code),
    counters: { ...next.counters, authorizations: next.counters.authorizations + 1 }
  }]
}

/** The `redirect_uri` with the answer's parameters added to its query (RFC 6749 §4.1.2). @internal */
export const redirectTo = (redirectUri: string, params: Readonly<Record<string, string | undefined>>): string => {
  const url = new URL(redirectUri)
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(name, value)
  }
  return url.href
}

// -----------------------------------------------------------------------------
// The exchange
// -----------------------------------------------------------------------------

/** The S256 challenge of a verifier (RFC 7636 §4.2). @internal */
export const challengeOf = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

// RFC 7636 §4.1: 43 to 128 unreserved characters
const verifierPattern = /^[A-Za-z0-9._~-]{43,128}$/

/** @internal */
export type Redeemed =
  | { readonly _tag: "Redeemed"; readonly code: Code }
  | { readonly _tag: "Rejected"; readonly description: string; readonly revoke: string | undefined }

/**
 * An `authorization_code` grant: the code must be known, unused, unexpired,
 * issued to this client for this `redirect_uri`, and the verifier must match
 * its challenge. Any presentation consumes the code; a replay names the
 * refresh token to revoke.
 *
 * @internal
 */
export const redeem = (state: State, input: {
  readonly code: string
  readonly clientId: string
  readonly redirectUri: string | undefined
  readonly verifier: string | undefined
  readonly now: number
}): readonly [Redeemed, State] => {
  const found = HashMap.get(state.codes, input.code)
  const rejected = (description: string, revoke?: string): Redeemed => ({ _tag: "Rejected", description, revoke })
  if (Option.isNone(found)) return [rejected("Invalid authorization code."), state]
  const code = found.value
  if (code.used) return [rejected("Invalid authorization code.", code.refreshToken), state]
  const next: State = { ...state, codes: HashMap.set(state.codes, input.code, { ...code, used: true }) }
  if (input.now >= code.expiresAt) return [rejected("The authorization code has expired."), next]
  if (input.clientId !== code.clientId) return [rejected("The code was issued to another client."), next]
  if (input.redirectUri !== code.redirectUri) {
    return [rejected("The redirect_uri does not match the authorization request."), next]
  }
  if (
    input.verifier === undefined || !verifierPattern.test(input.verifier) ||
    challengeOf(input.verifier) !== code.challenge
  ) {
    return [rejected("Failed to verify code verifier."), next]
  }
  return [{ _tag: "Redeemed", code }, {
    ...next,
    counters: { ...next.counters, codeExchanges: next.counters.codeExchanges + 1 }
  }]
}

/** Remembers the refresh token a code's exchange issued. @internal */
export const attach = (state: State, code: string, refreshToken: string | undefined): State =>
  Option.match(HashMap.get(state.codes, code), {
    onNone: () => state,
    onSome: (record) => ({ ...state, codes: HashMap.set(state.codes, code, { ...record, refreshToken }) })
  })
