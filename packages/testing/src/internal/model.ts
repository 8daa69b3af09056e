/**
 * The model of an Auth0 tenant behind the emulator, independent of any
 * transport: a state machine over `Ref`s, reading time from `Clock` at
 * request time.
 */
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Emulator from "../Emulator.js"
import * as Jwt from "./jwt.js"

// -----------------------------------------------------------------------------
// Faults
// -----------------------------------------------------------------------------

const FaultData = Data.taggedEnum<Emulator.Fault>()

const defaultError = (status: number): string =>
  status === 429
    ? "too_many_requests"
    : status === 503
    ? "temporarily_unavailable"
    : status >= 500
    ? "server_error"
    : "invalid_request"

/** @internal */
export const Fault: typeof Emulator.Fault = {
  status: (status, options) =>
    FaultData.Status({
      status,
      error: options?.error ?? defaultError(status),
      description: options?.description ?? `Emulated fault: HTTP ${status}.`,
      format: options?.format ?? "oauth",
      retryAfter: options?.retryAfter === undefined ? undefined : String(options.retryAfter)
    }),
  latency: (duration) => FaultData.Latency({ duration: Duration.decode(duration) }),
  hang: () => FaultData.Hang(),
  reset: () => FaultData.Reset(),
  html: (status) => FaultData.Html({ status }),
  body: (status, body, contentType) => FaultData.Body({ status, body, contentType }),
  errorIn200: (error, description, format) => FaultData.ErrorIn200({ error, description, format: format ?? "oauth" }),
  $is: FaultData.$is
}

// -----------------------------------------------------------------------------
// Configuration
// -----------------------------------------------------------------------------

const TEST_LOGIN_GRANT = "urn:effect-renewal:test-login"
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
const DEFAULT_LOGIN_SCOPE = "openid profile email offline_access"

interface Config {
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly rotation: boolean
  readonly reuseIntervalMillis: number
  readonly accessTokenSeconds: number
  readonly idTokenSeconds: number
  readonly absoluteMillis: number
  readonly idleMillis: number
  readonly issuer: string
  readonly audience: string
  readonly signingSecret: string
}

const millis = (input: Duration.DurationInput | undefined, orElse: number): number =>
  input === undefined ? orElse : Duration.toMillis(Duration.decode(input))

const seconds = (input: Duration.DurationInput | undefined, orElse: Duration.DurationInput): number =>
  Math.floor(Duration.toSeconds(Duration.decode(input ?? orElse)))

const resolve = (options: Emulator.Emulator.Options | undefined): Config => ({
  clientId: options?.clientId ?? "test-client-id",
  clientSecret: options?.clientSecret,
  rotation: options?.rotation ?? true,
  reuseIntervalMillis: millis(options?.reuseInterval, 0),
  accessTokenSeconds: seconds(options?.accessTokenLifetime, "1 hour"),
  idTokenSeconds: seconds(options?.idTokenLifetime, "10 hours"),
  absoluteMillis: millis(options?.refreshTokenAbsoluteLifetime, Infinity),
  idleMillis: millis(options?.refreshTokenIdleLifetime, Infinity),
  issuer: options?.issuer ?? "https://emulator.effect-renewal.test/",
  audience: options?.audience ?? "https://api.effect-renewal.test",
  signingSecret: options?.signingSecret ?? "effect-renewal-emulator-signing-secret"
})

// -----------------------------------------------------------------------------
// State
// -----------------------------------------------------------------------------

interface Family {
  readonly id: string
  readonly user: string
  /** Normalized: space separated, without duplicates. */
  readonly scope: string
  readonly audience: string
  readonly createdAt: number
  readonly revoked: boolean
}

interface RefreshRecord {
  readonly familyId: string
  readonly issuedAt: number
  readonly lastUsedAt: number
  /** When the token was rotated out, if it was. */
  readonly rotatedAt: number | undefined
}

const fresh = (familyId: string, now: number): RefreshRecord => ({
  familyId,
  issuedAt: now,
  lastUsedAt: now,
  rotatedAt: undefined
})

interface State {
  readonly families: HashMap.HashMap<string, Family>
  readonly tokens: HashMap.HashMap<string, RefreshRecord>
  readonly counters: Emulator.Counters
}

const initialState: State = {
  families: HashMap.empty(),
  tokens: HashMap.empty(),
  counters: {
    requests: { token: 0, delegation: 0, revoke: 0 },
    logins: 0,
    rotations: 0,
    reuseDetections: 0,
    revokedFamilies: 0
  }
}

interface QueuedFault {
  readonly endpoint: Emulator.Endpoint | undefined
  readonly fault: Emulator.Fault
}

type Counted = Exclude<keyof Emulator.Counters, "requests">

const bump = (state: State, counter: Counted): State => ({
  ...state,
  counters: { ...state.counters, [counter]: state.counters[counter] + 1 }
})

const bumpRequests = (state: State, endpoint: Emulator.Endpoint): State => ({
  ...state,
  counters: {
    ...state.counters,
    requests: { ...state.counters.requests, [endpoint]: state.counters.requests[endpoint] + 1 }
  }
})

const revokeFamily = (state: State, familyId: string): State => {
  const family = HashMap.get(state.families, familyId)
  if (Option.isNone(family) || family.value.revoked) return state
  return bump(
    { ...state, families: HashMap.set(state.families, familyId, { ...family.value, revoked: true }) },
    "revokedFamilies"
  )
}

const scopeSet = (scope: string): ReadonlyArray<string> => Arr.dedupe(scope.split(/\s+/).filter((s) => s !== ""))

const normalizeScope = (scope: string): string => scopeSet(scope).join(" ")

// -----------------------------------------------------------------------------
// Refresh token checks
// -----------------------------------------------------------------------------

type Check =
  | { readonly _tag: "Valid"; readonly record: RefreshRecord; readonly family: Family }
  | { readonly _tag: "Invalid"; readonly description: string; readonly reuseOf: string | undefined }

const UNKNOWN_REFRESH_TOKEN = "Unknown or invalid refresh token."

const check = (config: Config, state: State, token: string, now: number): Check => {
  const record = HashMap.get(state.tokens, token)
  if (Option.isNone(record)) return { _tag: "Invalid", description: UNKNOWN_REFRESH_TOKEN, reuseOf: undefined }
  const family = HashMap.get(state.families, record.value.familyId)
  if (Option.isNone(family) || family.value.revoked) {
    return { _tag: "Invalid", description: UNKNOWN_REFRESH_TOKEN, reuseOf: undefined }
  }
  if (now - family.value.createdAt >= config.absoluteMillis) {
    return {
      _tag: "Invalid",
      description: "The refresh token has expired (absolute lifetime exceeded).",
      reuseOf: undefined
    }
  }
  if (now - record.value.lastUsedAt >= config.idleMillis) {
    return {
      _tag: "Invalid",
      description: "The refresh token has expired (idle lifetime exceeded).",
      reuseOf: undefined
    }
  }
  const rotatedAt = record.value.rotatedAt
  if (rotatedAt !== undefined && now - rotatedAt >= config.reuseIntervalMillis) {
    return { _tag: "Invalid", description: UNKNOWN_REFRESH_TOKEN, reuseOf: family.value.id }
  }
  return { _tag: "Valid", record: record.value, family: family.value }
}

// -----------------------------------------------------------------------------
// Responses
// -----------------------------------------------------------------------------

type Response = Extract<Emulator.EmulatorOutput, { readonly _tag: "Response" }>

const jsonHeaders = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "pragma": "no-cache"
}

const json = (status: number, body: unknown, headers?: Record<string, string>): Response => ({
  _tag: "Response",
  status,
  headers: { ...jsonHeaders, ...headers },
  body: JSON.stringify(body)
})

const errorBody = (format: Emulator.ErrorFormat, error: string, description: string) =>
  format === "oauth" ? { error, error_description: description } : { code: error, description }

const oauthError = (status: number, error: string, description: string, headers?: Record<string, string>) =>
  json(status, errorBody("oauth", error, description), headers)

const escapeHtml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const faultOutput = (fault: Emulator.Fault): Emulator.EmulatorOutput => {
  switch (fault._tag) {
    case "Status":
      return json(
        fault.status,
        errorBody(fault.format, fault.error, fault.description),
        fault.retryAfter === undefined ? undefined : { "retry-after": fault.retryAfter }
      )
    case "ErrorIn200":
      return json(200, errorBody(fault.format, fault.error, fault.description))
    case "Html": {
      const title = escapeHtml(`${fault.status} ${statusText(fault.status)}`)
      return {
        _tag: "Response",
        status: fault.status,
        headers: { "content-type": "text/html; charset=utf-8" },
        body: `<!DOCTYPE html>\n<html><head><title>${title}</title></head>` +
          `<body><center><h1>${title}</h1></center><hr><center>emulated proxy</center></body></html>\n`
      }
    }
    case "Body":
      return {
        _tag: "Response",
        status: fault.status,
        headers: { "content-type": fault.contentType ?? "application/json" },
        body: fault.body
      }
    case "Hang":
      return { _tag: "Hang" }
    case "Reset":
      return { _tag: "Reset" }
    case "Latency":
      // Not reached: a latency fault runs the model.
      return { _tag: "Hang" }
  }
}

const statusText = (status: number): string => {
  switch (status) {
    case 400:
      return "Bad Request"
    case 403:
      return "Forbidden"
    case 404:
      return "Not Found"
    case 429:
      return "Too Many Requests"
    case 500:
      return "Internal Server Error"
    case 502:
      return "Bad Gateway"
    case 503:
      return "Service Unavailable"
    case 504:
      return "Gateway Timeout"
    default:
      return "Error"
  }
}

// -----------------------------------------------------------------------------
// Request parsing
// -----------------------------------------------------------------------------

type Params = Readonly<Record<string, string>>

const parseParams = (request: Emulator.EmulatorRequest): Params | undefined => {
  const contentType = (request.headers["content-type"] ?? "").toLowerCase()
  if (contentType.includes("json")) {
    if (request.body.trim() === "") return {}
    let value: unknown
    try {
      value = JSON.parse(request.body)
    } catch {
      return undefined
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
    const params: Record<string, string> = {}
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === "string") params[key] = v
      else if (typeof v === "number" || typeof v === "boolean") params[key] = String(v)
    }
    return params
  }
  const params: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(request.body)) {
    if (!(key in params)) params[key] = value
  }
  return params
}

const param = (params: Params, name: string): string | undefined => {
  const value = params[name]
  return value === undefined || value === "" ? undefined : value
}

const parseBasic = (header: string | undefined): { readonly id: string; readonly secret: string } | undefined => {
  if (header === undefined) return undefined
  const match = /^basic\s+(\S+)\s*$/i.exec(header)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return undefined
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "))
    } catch {
      return s
    }
  }
  return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) }
}

const route = (path: string): Emulator.Endpoint | "other" => {
  switch (path.split("?")[0]) {
    case "/oauth/token":
      return "token"
    case "/delegation":
      return "delegation"
    case "/oauth/revoke":
      return "revoke"
    default:
      return "other"
  }
}

// -----------------------------------------------------------------------------
// The model
// -----------------------------------------------------------------------------

/** @internal */
export const make = (options?: Emulator.Emulator.Options): Effect.Effect<Emulator.Emulator.Service> =>
  Effect.gen(function*() {
    const config = resolve(options)
    const state = yield* Ref.make(initialState)
    const faults = yield* Ref.make<ReadonlyArray<QueuedFault>>([])
    // appended to in place: copying the whole log on every request is quadratic
    const log: Array<Emulator.RequestLogEntry> = []

    const sign = (claims: Record<string, unknown>) => Jwt.sign({ ...claims, jti: Jwt.jwtId() }, config.signingSecret)

    const issueTokens = (input: {
      readonly user: string
      readonly scope: string
      readonly audience: string
      readonly refreshToken: string | undefined
      readonly now: number
    }): Emulator.TokenResponseBody => {
      const iat = Math.floor(input.now / 1000)
      const access_token = sign({
        iss: config.issuer,
        sub: input.user,
        aud: input.audience,
        azp: config.clientId,
        iat,
        exp: iat + config.accessTokenSeconds,
        scope: input.scope
      })
      const withIdToken = scopeSet(input.scope).includes("openid")
      return {
        access_token,
        ...(withIdToken ? { id_token: idToken(input.user, config.clientId, iat) } : {}),
        ...(input.refreshToken !== undefined ? { refresh_token: input.refreshToken } : {}),
        token_type: "Bearer",
        expires_in: config.accessTokenSeconds,
        scope: input.scope
      }
    }

    const idToken = (user: string, audience: string, iat: number) =>
      sign({ iss: config.issuer, sub: user, aud: audience, iat, exp: iat + config.idTokenSeconds })

    const login = (loginOptions?: Emulator.Emulator.LoginOptions) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const scope = normalizeScope(loginOptions?.scope ?? DEFAULT_LOGIN_SCOPE)
        const user = loginOptions?.username ?? "demo-user"
        const audience = loginOptions?.audience ?? config.audience
        const offline = scopeSet(scope).includes("offline_access")
        const refreshToken = offline ? Jwt.opaqueToken() : undefined
        const family: Family = { id: Jwt.jwtId(), user, scope, audience, createdAt: now, revoked: false }
        yield* Ref.update(state, (s) => {
          const counted = bump(s, "logins")
          if (refreshToken === undefined) return counted
          return {
            ...counted,
            families: HashMap.set(counted.families, family.id, family),
            tokens: HashMap.set(counted.tokens, refreshToken, fresh(family.id, now))
          }
        })
        return issueTokens({ user, scope, audience, refreshToken, now })
      })

    const authenticateClient = (
      request: Emulator.EmulatorRequest,
      params: Params,
      requireSecret: boolean
    ): Response | undefined => {
      const basic = parseBasic(request.headers["authorization"])
      const bodyClientId = param(params, "client_id")
      if (basic !== undefined && bodyClientId !== undefined && bodyClientId !== basic.id) {
        return oauthError(401, "invalid_client", "Conflicting client credentials.")
      }
      const clientId = basic?.id ?? bodyClientId
      if (clientId === undefined) return oauthError(401, "invalid_client", "Missing client_id.")
      if (clientId !== config.clientId) return oauthError(401, "invalid_client", "Unknown client.")
      if (requireSecret && config.clientSecret !== undefined) {
        const secret = basic?.secret ?? param(params, "client_secret")
        if (secret !== config.clientSecret) {
          return oauthError(401, "invalid_client", "Client authentication failed.")
        }
      }
      return undefined
    }

    const refresh = (params: Params, now: number) =>
      Effect.gen(function*() {
        const token = param(params, "refresh_token")
        if (token === undefined) {
          return oauthError(400, "invalid_request", "Missing required parameter: refresh_token")
        }
        const asked = param(params, "scope")
        const newToken = config.rotation ? Jwt.opaqueToken() : undefined
        const outcome = yield* Ref.modify(state, (s): [
          Response | { readonly family: Family; readonly refreshToken: string | undefined },
          State
        ] => {
          const result = check(config, s, token, now)
          if (result._tag === "Invalid") {
            const next = result.reuseOf === undefined ? s : revokeFamily(bump(s, "reuseDetections"), result.reuseOf)
            return [oauthError(403, "invalid_grant", result.description), next]
          }
          const { family, record } = result
          if (asked !== undefined) {
            const granted = scopeSet(family.scope)
            if (!scopeSet(asked).every((s) => granted.includes(s))) {
              return [
                oauthError(403, "invalid_scope", "The requested scope exceeds the scope granted to the refresh token."),
                s
              ]
            }
          }
          if (newToken === undefined) {
            const tokens = HashMap.set(s.tokens, token, { ...record, lastUsedAt: now })
            return [{ family, refreshToken: undefined }, { ...s, tokens }]
          }
          const rotatedOut: RefreshRecord = { ...record, lastUsedAt: now, rotatedAt: record.rotatedAt ?? now }
          const tokens = s.tokens.pipe(HashMap.set(token, rotatedOut), HashMap.set(newToken, fresh(family.id, now)))
          return [{ family, refreshToken: newToken }, bump({ ...s, tokens }, "rotations")]
        })
        if ("_tag" in outcome) return outcome
        return json(
          200,
          issueTokens({
            user: outcome.family.user,
            scope: asked === undefined ? outcome.family.scope : normalizeScope(asked),
            audience: param(params, "audience") ?? outcome.family.audience,
            refreshToken: outcome.refreshToken,
            now
          })
        )
      })

    const token = (request: Emulator.EmulatorRequest, params: Params, now: number) =>
      Effect.gen(function*() {
        const unauthenticated = authenticateClient(request, params, true)
        if (unauthenticated !== undefined) return unauthenticated
        const grantType = param(params, "grant_type")
        switch (grantType) {
          case undefined:
            return oauthError(400, "invalid_request", "Missing required parameter: grant_type")
          case "refresh_token":
            return yield* refresh(params, now)
          case TEST_LOGIN_GRANT: {
            const scope = param(params, "scope")
            const audience = param(params, "audience")
            const username = param(params, "username")
            return json(
              200,
              yield* login({
                ...(scope !== undefined ? { scope } : {}),
                ...(audience !== undefined ? { audience } : {}),
                ...(username !== undefined ? { username } : {})
              })
            )
          }
          default:
            return oauthError(400, "unsupported_grant_type", `Unsupported grant type: ${grantType}`)
        }
      })

    const delegation = (request: Emulator.EmulatorRequest, params: Params, now: number) =>
      Effect.gen(function*() {
        const unauthenticated = authenticateClient(request, params, false)
        if (unauthenticated !== undefined) return unauthenticated
        const grantType = param(params, "grant_type")
        if (grantType === undefined) {
          return oauthError(400, "invalid_request", "Missing required parameter: grant_type")
        }
        if (grantType !== JWT_BEARER_GRANT) {
          return oauthError(400, "unsupported_grant_type", `Unsupported grant type: ${grantType}`)
        }
        const audience = param(params, "target") ?? config.clientId
        const iat = Math.floor(now / 1000)
        const respond = (user: string) =>
          json(200, { id_token: idToken(user, audience, iat), token_type: "Bearer", expires_in: config.idTokenSeconds })
        const presentedIdToken = param(params, "id_token")
        if (presentedIdToken !== undefined) {
          const claims = Jwt.verify(presentedIdToken, config.signingSecret)
          if (claims === undefined || typeof claims.sub !== "string") {
            return oauthError(401, "invalid_token", "invalid signature")
          }
          if (typeof claims.exp !== "number" || claims.exp * 1000 <= now) {
            return oauthError(401, "invalid_token", "jwt expired")
          }
          return respond(claims.sub)
        }
        const refreshToken = param(params, "refresh_token")
        if (refreshToken === undefined) {
          return oauthError(400, "invalid_request", "Missing required parameter: id_token or refresh_token")
        }
        const result = yield* Ref.modify(state, (s): [Check, State] => {
          const result = check(config, s, refreshToken, now)
          if (result._tag === "Invalid") return [result, s]
          return [result, {
            ...s,
            tokens: HashMap.set(s.tokens, refreshToken, { ...result.record, lastUsedAt: now })
          }]
        })
        if (result._tag === "Invalid") return oauthError(401, "invalid_grant", result.description)
        return respond(result.family.user)
      })

    const revoke = (request: Emulator.EmulatorRequest, params: Params) =>
      Effect.gen(function*() {
        const unauthenticated = authenticateClient(request, params, true)
        if (unauthenticated !== undefined) return unauthenticated
        const presented = param(params, "token")
        if (presented === undefined) return oauthError(400, "invalid_request", "Missing required parameter: token")
        yield* revokeFamilyOf(presented)
        const response: Response = { _tag: "Response", status: 200, headers: {}, body: "" }
        return response
      })

    const revokeFamilyOf = (refreshToken: string) =>
      Ref.update(state, (s) =>
        Option.match(HashMap.get(s.tokens, refreshToken), {
          onNone: () => s,
          onSome: (record) => revokeFamily(s, record.familyId)
        }))

    const isRevoked = (refreshToken: string) =>
      Effect.map(Ref.get(state), (s) =>
        HashMap.get(s.tokens, refreshToken).pipe(
          Option.flatMap((record) => HashMap.get(s.families, record.familyId)),
          Option.exists((family) => family.revoked)
        ))

    const takeFault = (endpoint: Emulator.Endpoint | "other") =>
      Ref.modify(faults, (queue): [Emulator.Fault | undefined, ReadonlyArray<QueuedFault>] => {
        const index = queue.findIndex((queued) => queued.endpoint === undefined || queued.endpoint === endpoint)
        return index < 0 ? [undefined, queue] : [queue[index]!.fault, Arr.remove(queue, index)]
      })

    const dispatch = (
      endpoint: Emulator.Endpoint | "other",
      request: Emulator.EmulatorRequest,
      params: Params | undefined,
      now: number
    ): Effect.Effect<Response> => {
      if (endpoint === "other") return Effect.succeed(json(404, { error: "not_found" }))
      if (request.method.toUpperCase() !== "POST") {
        return Effect.succeed(
          oauthError(405, "method_not_allowed", `${request.method} is not allowed, use POST.`, { allow: "POST" })
        )
      }
      if (params === undefined) return Effect.succeed(oauthError(400, "invalid_request", "Malformed request body."))
      switch (endpoint) {
        case "token":
          return token(request, params, now)
        case "delegation":
          return delegation(request, params, now)
        case "revoke":
          return revoke(request, params)
      }
    }

    const handle = (request: Emulator.EmulatorRequest): Effect.Effect<Emulator.EmulatorOutput> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const path = request.path.split("?")[0]!
        const endpoint = route(path)
        if (endpoint !== "other") yield* Ref.update(state, (s) => bumpRequests(s, endpoint))
        const fault = yield* takeFault(endpoint)
        const params = parseParams(request)
        let output: Emulator.EmulatorOutput
        if (fault === undefined || fault._tag === "Latency") {
          const response = yield* dispatch(endpoint, request, params, now)
          output = fault === undefined ? response : { ...response, delay: fault.duration }
        } else {
          output = faultOutput(fault)
        }
        const grantType = params === undefined ? undefined : param(params, "grant_type")
        const entry: Emulator.RequestLogEntry = {
          endpoint,
          method: request.method,
          path,
          ...(grantType !== undefined ? { grantType } : {}),
          status: output._tag === "Response" ? output.status : output._tag === "Hang" ? "hang" : "reset",
          ...(fault !== undefined ? { fault: fault._tag } : {}),
          at: now
        }
        log.push(entry)
        return output
      })

    const enqueue = (endpoint: Emulator.Endpoint | undefined, added: ReadonlyArray<Emulator.Fault>) =>
      Ref.update(faults, (queue) => [...queue, ...added.map((fault) => ({ endpoint, fault }))])

    return {
      clientId: config.clientId,
      handle,
      login,
      fault: (...added) => enqueue(undefined, added),
      faultOn: (endpoint, ...added) => enqueue(endpoint, added),
      clearFaults: Ref.set(faults, []),
      requests: Effect.sync(() => log.slice()),
      counters: Effect.map(Ref.get(state), (s) => s.counters),
      revokeFamilyOf,
      isRevoked
    }
  })
