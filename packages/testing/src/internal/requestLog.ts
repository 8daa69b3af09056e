/**
 * The request log and the request counters. A log entry never holds a
 * secret: the values of secret parameters are replaced, headers are not kept.
 */
import type * as Emulator from "../Emulator.js"
import type * as Protocol from "./protocol.js"

/** What stands in the log for the value of a secret parameter. @internal */
export const REDACTED = "<redacted>"

const secretNames: ReadonlySet<string> = new Set([
  "refresh_token",
  "id_token",
  "access_token",
  "client_secret",
  "client_assertion",
  "token",
  "password",
  "authorization",
  "code",
  "code_verifier",
  "device_code"
])

/** The parameters with every secret value replaced by `"<redacted>"`; names compared in any case. @internal */
export const redact = (params: Protocol.Params): Protocol.Params => {
  const redacted: Record<string, string> = {}
  for (const [name, value] of Object.entries(params)) {
    redacted[name] = secretNames.has(name.toLowerCase()) ? REDACTED : value
  }
  return redacted
}

/** @internal */
export const entry = (input: {
  readonly request: Emulator.EmulatorRequest
  readonly parsed: Protocol.Parsed
  readonly fault: Emulator.Fault | undefined
  readonly output: Emulator.EmulatorOutput
  readonly now: number
}): Emulator.RequestLogEntry => {
  const { fault, output, parsed } = input
  const params = parsed.params === undefined ? {} : redact(parsed.params)
  const grantType = params["grant_type"]
  return {
    endpoint: parsed.endpoint,
    method: input.request.method,
    path: parsed.path,
    ...(grantType !== undefined && grantType !== "" ? { grantType } : {}),
    params,
    status: output._tag === "Response" ? output.status : output._tag === "Hang" ? "hang" : "reset",
    ...(fault !== undefined ? { fault: fault._tag } : {}),
    at: input.now
  }
}

/** @internal */
export interface RequestLog {
  readonly append: (entry: Emulator.RequestLogEntry) => void
  /** A copy of the entries, oldest first. */
  readonly entries: () => ReadonlyArray<Emulator.RequestLogEntry>
  readonly counts: () => Emulator.Counters["requests"]
}

/** @internal */
export const make = (): RequestLog => {
  // appended to in place: copying the whole log on every request would be quadratic
  const entries: Array<Emulator.RequestLogEntry> = []
  const counts = { token: 0, delegation: 0, revoke: 0, authorize: 0, device: 0, discovery: 0, jwks: 0, userinfo: 0 }
  return {
    append: (entry) => {
      entries.push(entry)
      if (entry.endpoint !== "other") counts[entry.endpoint]++
    },
    entries: () => entries.slice(),
    counts: () => ({ ...counts })
  }
}
