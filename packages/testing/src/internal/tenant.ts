/**
 * The tenant: refresh token families and their rules (rotation, reuse
 * detection, reuse interval, absolute and idle lifetimes, revocation, the
 * audiences a refresh token may ask for), as pure transitions
 * `(state, input) => [outcome, state]`. Time is an argument and new tokens are
 * drawn by the caller, so every rule can be tested alone.
 */
import * as Credentials from "@effect-renewal/core/Credentials"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type { Config } from "./config.js"

/** The part of the configuration the tenant's rules read. @internal */
export type Policy = Pick<Config, "rotation" | "reuseIntervalMillis" | "absoluteMillis" | "idleMillis" | "audiences">

/** Every refresh token descends from one login: its family. @internal */
export interface Family {
  readonly id: string
  readonly user: string
  /** The user's `email` claim, if they have one. */
  readonly email?: string | undefined
  /** Normalized: space separated, without duplicates. */
  readonly scope: string
  readonly audience: string
  readonly createdAt: number
  readonly revoked: boolean
  /**
   * The thumbprint of the DPoP key its refresh tokens are bound to (RFC 9449
   * §5: those of a public client that logged in with a proof), if any.
   */
  readonly jkt?: string | undefined
}

/** @internal */
export interface RefreshRecord {
  readonly familyId: string
  readonly issuedAt: number
  readonly lastUsedAt: number
  /** When the token was rotated out, if it was. */
  readonly rotatedAt: number | undefined
}

/** @internal */
export interface Counters {
  readonly logins: number
  readonly rotations: number
  readonly reuseDetections: number
  readonly revokedFamilies: number
}

/** @internal */
export interface State {
  readonly families: HashMap.HashMap<string, Family>
  readonly tokens: HashMap.HashMap<string, RefreshRecord>
  readonly counters: Counters
}

/** @internal */
export const empty: State = {
  families: HashMap.empty(),
  tokens: HashMap.empty(),
  counters: { logins: 0, rotations: 0, reuseDetections: 0, revokedFamilies: 0 }
}

/** What a login or a refresh grants: the tokens to issue are made from it. @internal */
export interface Grant {
  readonly _tag: "Grant"
  readonly user: string
  readonly email?: string | undefined
  readonly scope: string
  readonly audience: string
  /** The refresh token to return, if any. */
  readonly refreshToken: string | undefined
}

/** A refused grant, with the OAuth error code to answer. @internal */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly error: "invalid_grant" | "invalid_scope"
  readonly description: string
}

/** A scope written plainly: names once, in their first order, single spaces. @internal */
export const normalizeScope = (scope: string): string => [...Credentials.scopeSet(scope)].join(" ")

/** Whether a scope contains a name. @internal */
export const hasScope = (scope: string, name: string): boolean => Credentials.scopeSet(scope).has(name)

const fresh = (familyId: string, now: number): RefreshRecord => ({
  familyId,
  issuedAt: now,
  lastUsedAt: now,
  rotatedAt: undefined
})

const bump = (state: State, counter: keyof Counters): State => ({
  ...state,
  counters: { ...state.counters, [counter]: state.counters[counter] + 1 }
})

const revokeFamily = (state: State, familyId: string): State => {
  const family = HashMap.get(state.families, familyId)
  if (Option.isNone(family) || family.value.revoked) return state
  return bump(
    { ...state, families: HashMap.set(state.families, familyId, { ...family.value, revoked: true }) },
    "revokedFamilies"
  )
}

const touch = (state: State, token: string, record: RefreshRecord, now: number): State => ({
  ...state,
  tokens: HashMap.set(state.tokens, token, { ...record, lastUsedAt: now })
})

/**
 * A login: a refresh token (the caller's candidate) is issued, and a family
 * started, only when the scope contains `offline_access`.
 *
 * @internal
 */
export const login = (state: State, input: {
  readonly familyId: string
  readonly user: string
  readonly email?: string | undefined
  readonly scope: string
  readonly audience: string
  readonly refreshToken: string
  readonly now: number
  /** Binds the family's refresh tokens to this DPoP key. */
  readonly jkt?: string | undefined
}): readonly [Grant, State] => {
  const { audience, email, now, refreshToken, user } = input
  const scope = normalizeScope(input.scope)
  const counted = bump(state, "logins")
  if (!hasScope(scope, "offline_access")) {
    return [{ _tag: "Grant", user, email, scope, audience, refreshToken: undefined }, counted]
  }
  const family: Family = {
    id: input.familyId,
    user,
    email,
    scope,
    audience,
    createdAt: now,
    revoked: false,
    ...(input.jkt !== undefined ? { jkt: input.jkt } : {})
  }
  return [{ _tag: "Grant", user, email, scope, audience, refreshToken }, {
    ...counted,
    families: HashMap.set(counted.families, family.id, family),
    tokens: HashMap.set(counted.tokens, refreshToken, fresh(family.id, now))
  }]
}

type Check =
  | { readonly _tag: "Valid"; readonly record: RefreshRecord; readonly family: Family }
  | (Rejected & { readonly reuseOf: string | undefined })

const UNKNOWN_REFRESH_TOKEN = "Unknown or invalid refresh token."

const invalid = (description: string, reuseOf?: string): Check => ({
  _tag: "Rejected",
  error: "invalid_grant",
  description,
  reuseOf
})

const check = (policy: Policy, state: State, token: string, now: number): Check => {
  const record = HashMap.get(state.tokens, token)
  if (Option.isNone(record)) return invalid(UNKNOWN_REFRESH_TOKEN)
  const family = HashMap.get(state.families, record.value.familyId)
  if (Option.isNone(family) || family.value.revoked) return invalid(UNKNOWN_REFRESH_TOKEN)
  if (now - family.value.createdAt >= policy.absoluteMillis) {
    return invalid("The refresh token has expired (absolute lifetime exceeded).")
  }
  if (now - record.value.lastUsedAt >= policy.idleMillis) {
    return invalid("The refresh token has expired (idle lifetime exceeded).")
  }
  const rotatedAt = record.value.rotatedAt
  // a rotated-out token still works within the reuse interval; after it, presenting it is reuse
  if (rotatedAt !== undefined && now - rotatedAt >= policy.reuseIntervalMillis) {
    return invalid(UNKNOWN_REFRESH_TOKEN, family.value.id)
  }
  return { _tag: "Valid", record: record.value, family: family.value }
}

/**
 * A bound refresh token needs a proof of its key (RFC 9449 §5): refused
 * without one or with another key, changing nothing (not reuse, not a use).
 */
const unbound = (family: Family, jkt: string | undefined): string | undefined =>
  family.jkt === undefined || family.jkt === jkt
    ? undefined
    : jkt === undefined
    ? "The refresh token is bound to a DPoP key: a DPoP proof is required."
    : "The DPoP proof is not signed by the key the refresh token is bound to."

const rejected = (error: Rejected["error"], description: string): Rejected => ({ _tag: "Rejected", error, description })

/**
 * The audience of an access token issued to a family. Like Auth0's
 * multi-resource refresh tokens: an audience the policy does not allow is not
 * an error, the token is for the family's own audience.
 *
 * @internal
 */
export const audienceFor = (policy: Policy, family: Family, asked: string | undefined): string => {
  if (asked === undefined || asked === family.audience) return family.audience
  return policy.audiences === undefined || policy.audiences.has(asked) ? asked : family.audience
}

/**
 * A `refresh_token` grant. With rotation the presented token is rotated out
 * and `nextToken` (the caller's candidate) issued in its place; a rotated-out
 * token presented after the reuse interval revokes its whole family.
 *
 * @internal
 */
export const refresh = (policy: Policy, state: State, input: {
  readonly token: string
  readonly scope: string | undefined
  readonly audience: string | undefined
  readonly nextToken: string
  readonly now: number
  /** The thumbprint of the request's accepted DPoP proof, if it had one. */
  readonly jkt?: string | undefined
}): readonly [Grant | Rejected, State] => {
  const { now, token } = input
  const result = check(policy, state, token, now)
  if (result._tag === "Rejected") {
    const next = result.reuseOf === undefined ? state : revokeFamily(bump(state, "reuseDetections"), result.reuseOf)
    return [rejected(result.error, result.description), next]
  }
  const { family, record } = result
  const mismatch = unbound(family, input.jkt)
  if (mismatch !== undefined) return [rejected("invalid_grant", mismatch), state]
  if (input.scope !== undefined) {
    const granted = Credentials.scopeSet(family.scope)
    for (const name of Credentials.scopeSet(input.scope)) {
      if (!granted.has(name)) {
        return [rejected("invalid_scope", "The requested scope exceeds the scope granted to the refresh token."), state]
      }
    }
  }
  const grant = (refreshToken: string | undefined): Grant => ({
    _tag: "Grant",
    user: family.user,
    email: family.email,
    scope: input.scope === undefined ? family.scope : normalizeScope(input.scope),
    audience: audienceFor(policy, family, input.audience),
    refreshToken
  })
  if (!policy.rotation) return [grant(undefined), touch(state, token, record, now)]
  const rotatedOut: RefreshRecord = { ...record, lastUsedAt: now, rotatedAt: record.rotatedAt ?? now }
  const tokens = state.tokens.pipe(
    HashMap.set(token, rotatedOut),
    HashMap.set(input.nextToken, fresh(family.id, now))
  )
  return [grant(input.nextToken), bump({ ...state, tokens }, "rotations")]
}

/**
 * A refresh token presented to the legacy delegation endpoint: checked and
 * marked as used, never rotated; a rotated-out token is refused without
 * counting as reuse.
 *
 * @internal
 */
export const use = (
  policy: Policy,
  state: State,
  token: string,
  now: number,
  jkt?: string | undefined
): readonly [{ readonly _tag: "Used"; readonly user: string } | Rejected, State] => {
  const result = check(policy, state, token, now)
  if (result._tag === "Rejected") return [rejected(result.error, result.description), state]
  const mismatch = unbound(result.family, jkt)
  if (mismatch !== undefined) return [rejected("invalid_grant", mismatch), state]
  return [{ _tag: "Used", user: result.family.user }, touch(state, token, result.record, now)]
}

/** Revokes the family of a refresh token; an unknown token changes nothing. @internal */
export const revokeFamilyOf = (state: State, token: string): State =>
  Option.match(HashMap.get(state.tokens, token), {
    onNone: () => state,
    onSome: (record) => revokeFamily(state, record.familyId)
  })

/** Whether the family of a refresh token is revoked (`false` for an unknown token). @internal */
export const isRevoked = (state: State, token: string): boolean =>
  HashMap.get(state.tokens, token).pipe(
    Option.flatMap((record) => HashMap.get(state.families, record.familyId)),
    Option.exists((family) => family.revoked)
  )
