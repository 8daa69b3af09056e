/**
 * The device authorization grant (RFC 8628): device codes and their user
 * codes, the approval or denial a test gives, and the polls of the token
 * endpoint, as pure transitions `(state, input) => [outcome, state]`. Time
 * is an argument.
 *
 * A poll sooner than the current interval after the previous poll is
 * answered `slow_down`, and the interval grows by 5 seconds for good
 * (RFC 8628 §3.5); the first poll is never too soon. Past its lifetime a
 * device code answers `expired_token`; once it has issued tokens it is spent.
 */
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import { randomInt } from "node:crypto"

/** How a device code stands. @internal */
export type Status =
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Approved"; readonly user: string; readonly email?: string | undefined }
  | { readonly _tag: "Denied" }
  | { readonly _tag: "Spent" }

/** @internal */
export interface Authorization {
  readonly userCode: string
  readonly clientId: string
  readonly scope: string
  readonly audience: string | undefined
  readonly expiresAt: number
  readonly intervalSeconds: number
  readonly lastPollAt: number | undefined
  readonly status: Status
}

/** @internal */
export interface Counters {
  /** Device codes issued by `/oauth/device/code`. */
  readonly deviceAuthorizations: number
  /** `device_code` grants received by the token endpoint. */
  readonly devicePolls: number
}

/** @internal */
export interface State {
  /** By device code. */
  readonly authorizations: HashMap.HashMap<string, Authorization>
  /** User code to device code. */
  readonly userCodes: HashMap.HashMap<string, string>
  readonly counters: Counters
}

/** @internal */
export const empty: State = {
  authorizations: HashMap.empty(),
  userCodes: HashMap.empty(),
  counters: { deviceAuthorizations: 0, devicePolls: 0 }
}

// RFC 8628 §6.1: consonants only, so that no word is spelled and no letter read as a digit
const ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"

/** A fresh user code, like `"BDFG-HJKL"`. @internal */
export const userCode = (): string => {
  let letters = ""
  for (let i = 0; i < 8; i++) letters += ALPHABET[randomInt(ALPHABET.length)]
  return `${letters.slice(0, 4)}-${letters.slice(4)}`
}

/** A user code as typed: case, spaces and dashes do not matter. @internal */
export const normalizeUserCode = (typed: string): string => {
  const letters = typed.toUpperCase().replace(/[^A-Z]/g, "")
  return letters.length === 8 ? `${letters.slice(0, 4)}-${letters.slice(4)}` : letters
}

/** A device authorization request: a pending authorization under the caller's codes. @internal */
export const start = (
  state: State,
  input: Omit<Authorization, "lastPollAt" | "status"> & { readonly deviceCode: string }
): State => ({
  authorizations: HashMap.set(state.authorizations, input.deviceCode, {
    userCode: input.userCode,
    clientId: input.clientId,
    scope: input.scope,
    audience: input.audience,
    expiresAt: input.expiresAt,
    intervalSeconds: input.intervalSeconds,
    lastPollAt: undefined,
    status: { _tag: "Pending" }
  }),
  userCodes: HashMap.set(state.userCodes, input.userCode, input.deviceCode),
  counters: { ...state.counters, deviceAuthorizations: state.counters.deviceAuthorizations + 1 }
})

/**
 * The person's answer for a user code: `false` when no device code has
 * this user code. A spent code stays spent.
 *
 * @internal
 */
export const decide = (
  state: State,
  typedUserCode: string,
  status: Extract<Status, { readonly _tag: "Approved" | "Denied" }>
): readonly [boolean, State] => {
  const deviceCode = HashMap.get(state.userCodes, normalizeUserCode(typedUserCode))
  const found = Option.flatMap(deviceCode, (code) => HashMap.get(state.authorizations, code))
  if (Option.isNone(deviceCode) || Option.isNone(found)) return [false, state]
  if (found.value.status._tag === "Spent") return [true, state]
  return [true, {
    ...state,
    authorizations: HashMap.set(state.authorizations, deviceCode.value, { ...found.value, status })
  }]
}

/** What a poll answers. @internal */
export type Poll =
  | {
    readonly _tag: "Approved"
    readonly user: string
    readonly email?: string | undefined
    readonly scope: string
    readonly audience: string | undefined
  }
  | {
    readonly _tag: "Refused"
    readonly error: "authorization_pending" | "slow_down" | "expired_token" | "access_denied" | "invalid_grant"
    readonly description: string
  }

const refused = (error: Extract<Poll, { _tag: "Refused" }>["error"], description: string): Poll => ({
  _tag: "Refused",
  error,
  description
})

/** A `device_code` grant. @internal */
export const poll = (state: State, input: {
  readonly deviceCode: string
  readonly clientId: string
  readonly now: number
}): readonly [Poll, State] => {
  const { deviceCode, now } = input
  const counted: State = {
    ...state,
    counters: { ...state.counters, devicePolls: state.counters.devicePolls + 1 }
  }
  const found = HashMap.get(state.authorizations, deviceCode)
  if (Option.isNone(found) || found.value.clientId !== input.clientId) {
    return [refused("invalid_grant", "Invalid or unknown device code."), counted]
  }
  const authorization = found.value
  if (authorization.status._tag === "Spent") {
    return [refused("invalid_grant", "Invalid or unknown device code."), counted]
  }
  const set = (next: Authorization): State => ({
    ...counted,
    authorizations: HashMap.set(counted.authorizations, deviceCode, next)
  })
  if (now >= authorization.expiresAt) {
    return [refused("expired_token", "The device code has expired."), set({ ...authorization, lastPollAt: now })]
  }
  const last = authorization.lastPollAt
  if (last !== undefined && now - last < authorization.intervalSeconds * 1000) {
    const intervalSeconds = authorization.intervalSeconds + 5
    return [
      refused("slow_down", `Polled too fast: wait ${intervalSeconds} seconds between polls.`),
      set({ ...authorization, lastPollAt: now, intervalSeconds })
    ]
  }
  const polled = { ...authorization, lastPollAt: now }
  switch (authorization.status._tag) {
    case "Pending":
      return [refused("authorization_pending", "User has yet to authorize device code."), set(polled)]
    case "Denied":
      return [refused("access_denied", "User refused to authorize the device."), set(polled)]
    case "Approved": {
      const { email, user } = authorization.status
      return [
        { _tag: "Approved", user, email, scope: authorization.scope, audience: authorization.audience },
        set({ ...polled, status: { _tag: "Spent" } })
      ]
    }
  }
}
