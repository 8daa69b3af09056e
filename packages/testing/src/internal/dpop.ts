/**
 * DPoP (RFC 9449) at the emulator: the check of a proof (its signature,
 * `typ`, algorithm and embedded public key with `jose`; then `htm`, `htu`,
 * `iat`, `ath`, replay of its `jti`, `nonce`), the nonces the token endpoint
 * and the resource each require, and the counters.
 *
 * The check has two halves. `read` is the cryptography, asynchronous as
 * `jose` is (WebCrypto); a request without a `DPoP` header never reaches it,
 * so a bearer request stays synchronous. `accept` is a pure transition
 * `(state, input) => [outcome, state]` run in one `Ref.modify` after `read`,
 * so that two requests racing with one proof cannot both be accepted.
 */
import * as HashMap from "effect/HashMap"
import * as jose from "jose"
import { createHash, randomBytes } from "node:crypto"
import type * as Emulator from "../Emulator.js"

/** @internal */
export type Algorithm = Emulator.DpopAlgorithm

/** The algorithms a proof may be signed with, all asymmetric. @internal */
export const ALGORITHMS: ReadonlyArray<Algorithm> = ["ES256", "ES384", "RS256", "PS256", "EdDSA"]

/** Who checks a proof: the token endpoint (and `/delegation`) or the resource. @internal */
export type Role = Emulator.DpopServer

/** @internal */
export interface Counters {
  readonly dpopProofs: number
  readonly dpopNonceChallenges: number
  readonly dpopRefusals: number
}

/** @internal */
export interface State {
  readonly nonceRequired: Readonly<Record<Role, boolean>>
  readonly nonces: Readonly<Record<Role, string>>
  /** The `jti`s of accepted proofs, until their `iat` leaves the window (ms). */
  readonly seen: HashMap.HashMap<string, number>
  /** When to drop the expired `jti`s next (ms): once a window, not on every proof. */
  readonly pruneAt: number
  readonly counters: Counters
}

/** A fresh nonce: 16 random bytes, base64url. @internal */
export const freshNonce = (): string => randomBytes(16).toString("base64url")

/** @internal */
export const empty = (nonceRequired: Readonly<Record<Role, boolean>>): State => ({
  nonceRequired,
  nonces: { token: freshNonce(), resource: freshNonce() },
  seen: HashMap.empty(),
  pruneAt: 0,
  counters: { dpopProofs: 0, dpopNonceChallenges: 0, dpopRefusals: 0 }
})

/** The `ath` of an access token: base64url SHA-256 of its ASCII. @internal */
export const ath = (accessToken: string): string =>
  createHash("sha256").update(accessToken, "ascii").digest("base64url")

/** A proof whose signature, header and claim types are valid. @internal */
export interface Read {
  readonly _tag: "Read"
  /** RFC 7638 SHA-256 thumbprint of the proof's key. */
  readonly jkt: string
  readonly htm: string
  readonly htu: string
  /** Seconds. */
  readonly iat: number
  readonly jti: string
  readonly nonce: string | undefined
  readonly ath: string | undefined
}

/** @internal */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly description: string
}

const invalid = (description: string): Invalid => ({ _tag: "Invalid", description })

// the members of a private or symmetric JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037)
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Reads a proof: one compact JWS with `typ: dpop+jwt`, an algorithm of
 * `algorithms`, signed by the public key of its `jwk` header, whose claims
 * have the types RFC 9449 §4.2 says. Never rejects. `now` (ms) is the
 * emulator's: an `exp` or `nbf` in the proof is judged by it.
 *
 * @internal
 */
export const read = async (
  proof: string,
  algorithms: ReadonlyArray<Algorithm>,
  now: number
): Promise<Read | Invalid> => {
  let header: jose.ProtectedHeaderParameters
  try {
    header = jose.decodeProtectedHeader(proof)
  } catch {
    return invalid("The DPoP proof is not a compact JWS.")
  }
  if (!isRecord(header.jwk)) return invalid("The DPoP proof has no jwk header.")
  const jwk = header.jwk as Record<string, unknown>
  if (privateMembers.some((name) => name in jwk)) {
    return invalid("The jwk header of the DPoP proof is not a public key.")
  }
  if (typeof header.alg !== "string" || !(algorithms as ReadonlyArray<string>).includes(header.alg)) {
    return invalid("The DPoP proof's algorithm is not supported.")
  }
  let payload: jose.JWTPayload
  try {
    const verified = await jose.jwtVerify(proof, jose.EmbeddedJWK, {
      typ: "dpop+jwt",
      algorithms: [...algorithms],
      currentDate: new Date(now)
    })
    payload = verified.payload
  } catch (cause) {
    return invalid(
      cause instanceof jose.errors.JWTClaimValidationFailed && cause.claim === "typ"
        ? "The DPoP proof's typ is not dpop+jwt."
        : "The DPoP proof's signature, header or key is invalid."
    )
  }
  const { htm, htu, iat, jti, nonce } = payload
  if (typeof htm !== "string") return invalid("The DPoP proof has no htm claim.")
  if (typeof htu !== "string") return invalid("The DPoP proof has no htu claim.")
  if (typeof iat !== "number" || !Number.isFinite(iat)) return invalid("The DPoP proof has no iat claim.")
  if (typeof jti !== "string" || jti === "") return invalid("The DPoP proof has no jti claim.")
  if (nonce !== undefined && typeof nonce !== "string") return invalid("The DPoP proof's nonce is not a string.")
  if (payload.ath !== undefined && typeof payload.ath !== "string") {
    return invalid("The DPoP proof's ath is not a string.")
  }
  let jkt: string
  try {
    jkt = await jose.calculateJwkThumbprint(jwk as jose.JWK, "sha256")
  } catch {
    return invalid("The jwk header of the DPoP proof is invalid.")
  }
  return { _tag: "Read", jkt, htm, htu, iat, jti, nonce, ath: payload.ath as string | undefined }
}

/**
 * The URL a proof's `htu` must name: where the request was sent, without
 * query and fragment. The transports say where: the `host` header and, in
 * memory, `x-forwarded-proto`; without a `host`, the issuer's origin.
 *
 * @internal
 */
export const requestUrl = (
  issuer: string,
  request: { readonly path: string; readonly headers: Readonly<Record<string, string>> }
): string | undefined => {
  const issuerUrl = new URL(issuer)
  const host = request.headers["host"]
  const proto = request.headers["x-forwarded-proto"] ?? issuerUrl.protocol.replace(/:$/, "")
  const query = request.path.search(/[?#]/)
  const path = query < 0 ? request.path : request.path.slice(0, query)
  try {
    return new URL(`${host === undefined ? issuerUrl.origin : `${proto}://${host}`}${path}`).href
  } catch {
    return undefined
  }
}

/** A URL without query and fragment, normalized; `undefined` when not a URL. @internal */
export const targetUrl = (htu: string): string | undefined => {
  try {
    const url = new URL(htu)
    url.search = ""
    url.hash = ""
    return url.href
  } catch {
    return undefined
  }
}

/** What `accept` decides. @internal */
export type Outcome =
  | { readonly _tag: "Accepted"; readonly jkt: string }
  | Invalid
  | { readonly _tag: "UseNonce"; readonly nonce: string; readonly description: string }

/** @internal */
export interface AcceptInput {
  readonly role: Role
  readonly proof: Read
  /** The request's method, upper case. */
  readonly method: string
  /** The request's URL, from `requestUrl`. */
  readonly url: string | undefined
  /** At the resource: the access token the proof must name in `ath`. */
  readonly accessToken?: string | undefined
  readonly now: number
  /** How far `iat` may be from `now`, either way (ms). */
  readonly windowMillis: number
}

const bump = (state: State, counter: keyof Counters): State => ({
  ...state,
  counters: { ...state.counters, [counter]: state.counters[counter] + 1 }
})

/** A refusal before `accept` (an unreadable or missing proof), counted. @internal */
export const refuse = (state: State): State => bump(state, "dpopRefusals")

/**
 * The checks of RFC 9449 §4.3 that need the request and the emulator's
 * state: `htm`, `htu`, `iat` within the window, `ath` at the resource, the
 * `jti` not seen within the window, then the nonce (the role's current one,
 * when required or when the proof has one). An accepted proof's `jti` is
 * remembered; a refused one changes nothing but the counters.
 *
 * @internal
 */
export const accept = (state: State, input: AcceptInput): readonly [Outcome, State] => {
  const { now, proof, role, windowMillis } = input
  const refused = (description: string): readonly [Outcome, State] => [invalid(description), refuse(state)]
  if (proof.htm !== input.method) return refused("The DPoP proof's htm does not match the request's method.")
  if (input.url === undefined || targetUrl(proof.htu) !== input.url) {
    return refused("The DPoP proof's htu does not match the request's URL.")
  }
  if (Math.abs(proof.iat * 1000 - now) > windowMillis) {
    return refused("The DPoP proof's iat is outside the acceptance window.")
  }
  if (input.accessToken !== undefined && proof.ath !== ath(input.accessToken)) {
    return refused("The DPoP proof's ath does not match the access token.")
  }
  const until = HashMap.get(state.seen, proof.jti)
  if (until._tag === "Some" && until.value >= now) return refused("The DPoP proof was used before (jti replayed).")
  // forget the jtis whose proofs would be refused for their iat anyway
  const pruned = now >= state.pruneAt
    ? { ...state, seen: HashMap.filter(state.seen, (until) => until >= now), pruneAt: now + windowMillis }
    : state
  const current = state.nonces[role]
  if (proof.nonce === undefined ? state.nonceRequired[role] : proof.nonce !== current) {
    return [
      {
        _tag: "UseNonce",
        nonce: current,
        description: proof.nonce === undefined
          ? "A nonce is required in the DPoP proof."
          : "The nonce of the DPoP proof is not the current one."
      },
      bump(pruned, "dpopNonceChallenges")
    ]
  }
  return [
    { _tag: "Accepted", jkt: proof.jkt },
    bump({ ...pruned, seen: HashMap.set(pruned.seen, proof.jti, proof.iat * 1000 + windowMillis) }, "dpopProofs")
  ]
}

/** Requires (or stops requiring) a nonce from one role. @internal */
export const requireNonce = (state: State, role: Role, required: boolean): State => ({
  ...state,
  nonceRequired: { ...state.nonceRequired, [role]: required }
})

/** A new nonce for one role: the previous one is stale from now on. @internal */
export const rotateNonce = (state: State, role: Role): readonly [string, State] => {
  const nonce = freshNonce()
  return [nonce, { ...state, nonces: { ...state.nonces, [role]: nonce } }]
}
