/**
 * The emulator service: one request through the faults, the protocol and the
 * tenant, logged. The tenant's state, the codes of the login flows, the
 * signing keys and the fault queue live in `Ref`s; time is read from the
 * `Clock` when a request arrives.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Emulator from "../Emulator.js"
import * as Authorize from "./authorize.js"
import * as Config from "./config.js"
import * as Device from "./device.js"
import * as Discovery from "./discovery.js"
import * as Faults from "./faults.js"
import * as Issuer from "./issuer.js"
import * as Jwt from "./jwt.js"
import * as Keys from "./keys.js"
import * as Protocol from "./protocol.js"
import * as RequestLog from "./requestLog.js"
import * as Tenant from "./tenant.js"

const DEFAULT_LOGIN_SCOPE = "openid profile email offline_access"

const { missing, oauthError, param } = Protocol

/** @internal */
export const make = (options?: Emulator.Emulator.Options): Effect.Effect<Emulator.Emulator.Service> =>
  Effect.gen(function*() {
    const config = Config.resolve(options)
    const state = yield* Ref.make(Tenant.empty)
    const codes = yield* Ref.make(Authorize.empty)
    const devices = yield* Ref.make(Device.empty)
    const keys = yield* Ref.make(yield* Keys.initial)
    const faults = yield* Ref.make<ReadonlyArray<Faults.Queued>>([])
    const log = RequestLog.make()

    const revokeFamilyOf = (refreshToken: string) => Ref.update(state, (s) => Tenant.revokeFamilyOf(s, refreshToken))

    // a new login: a family when the scope has offline_access, the tokens of the body
    const issue = (input: {
      readonly user: string
      readonly email?: string | undefined
      readonly scope: string
      readonly audience: string
      readonly nonce?: string | undefined
    }, now: number) =>
      Effect.gen(function*() {
        const grant = yield* Ref.modify(state, (s) =>
          Tenant.login(s, {
            familyId: Jwt.jwtId(),
            user: input.user,
            email: input.email,
            scope: input.scope,
            audience: input.audience,
            refreshToken: Jwt.opaqueToken(),
            now
          }))
        return Issuer.tokenBody(config, yield* Ref.get(keys), grant, now, input.nonce)
      })

    const login = (loginOptions?: Emulator.Emulator.LoginOptions) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        issue({
          user: loginOptions?.username ?? Authorize.DEFAULT_USER,
          scope: loginOptions?.scope ?? DEFAULT_LOGIN_SCOPE,
          audience: loginOptions?.audience ?? config.audience
        }, now))

    const refresh = (params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const token = param(params, "refresh_token")
        if (token === undefined) return missing("refresh_token")
        const input = {
          token,
          scope: param(params, "scope"),
          audience: param(params, "audience"),
          nextToken: Jwt.opaqueToken(),
          now
        }
        const outcome = yield* Ref.modify(state, (s) => Tenant.refresh(config, s, input))
        return outcome._tag === "Rejected"
          ? oauthError(403, outcome.error, outcome.description)
          : Protocol.json(200, Issuer.tokenBody(config, yield* Ref.get(keys), outcome, now))
      })

    const clientIdOf = (request: Emulator.EmulatorRequest, params: Protocol.Params): string =>
      Protocol.parseBasic(request.headers["authorization"])?.id ?? param(params, "client_id") ?? ""

    const exchangeCode = (request: Emulator.EmulatorRequest, params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const code = param(params, "code")
        if (code === undefined) return missing("code")
        const input = {
          code,
          clientId: clientIdOf(request, params),
          redirectUri: param(params, "redirect_uri"),
          verifier: param(params, "code_verifier"),
          now
        }
        const outcome = yield* Ref.modify(codes, (s) => Authorize.redeem(s, input))
        if (outcome._tag === "Rejected") {
          if (outcome.revoke !== undefined) yield* revokeFamilyOf(outcome.revoke)
          return oauthError(403, "invalid_grant", outcome.description)
        }
        const granted = outcome.code
        const body = yield* issue({
          user: granted.user,
          email: granted.email,
          scope: granted.scope,
          audience: granted.audience ?? config.audience,
          nonce: granted.nonce
        }, now)
        yield* Ref.update(codes, (s) => Authorize.attach(s, code, body.refresh_token))
        return Protocol.json(200, body)
      })

    const pollDevice = (request: Emulator.EmulatorRequest, params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const deviceCode = param(params, "device_code")
        if (deviceCode === undefined) return missing("device_code")
        const input = { deviceCode, clientId: clientIdOf(request, params), now }
        const outcome = yield* Ref.modify(devices, (s) => Device.poll(s, input))
        if (outcome._tag === "Refused") return oauthError(403, outcome.error, outcome.description)
        const body = yield* issue({
          user: outcome.user,
          email: outcome.email,
          scope: outcome.scope,
          audience: outcome.audience ?? config.audience
        }, now)
        return Protocol.json(200, body)
      })

    const token = (request: Emulator.EmulatorRequest, params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const grantType = param(params, "grant_type")
        switch (grantType) {
          case undefined:
            return missing("grant_type")
          case "refresh_token":
            return yield* refresh(params, now)
          case Protocol.AUTHORIZATION_CODE_GRANT:
            return yield* exchangeCode(request, params, now)
          case Protocol.DEVICE_CODE_GRANT:
            return yield* pollDevice(request, params, now)
          case Protocol.TEST_LOGIN_GRANT: {
            const scope = param(params, "scope")
            const audience = param(params, "audience")
            const username = param(params, "username")
            const body = yield* login({
              ...(scope !== undefined ? { scope } : {}),
              ...(audience !== undefined ? { audience } : {}),
              ...(username !== undefined ? { username } : {})
            })
            return Protocol.json(200, body)
          }
          default:
            return Protocol.unsupportedGrant(grantType)
        }
      })

    const delegation = (params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const grantType = param(params, "grant_type")
        if (grantType === undefined) return missing("grant_type")
        if (grantType !== Protocol.JWT_BEARER_GRANT) return Protocol.unsupportedGrant(grantType)
        const respond = (user: string) =>
          Effect.gen(function*() {
            const audience = param(params, "target") ?? config.clientId
            return Protocol.json(200, Issuer.delegationBody(config, yield* Ref.get(keys), user, audience, now))
          })
        const presentedIdToken = param(params, "id_token")
        if (presentedIdToken !== undefined) {
          const claims = Issuer.verifyIdToken(config, yield* Ref.get(keys), presentedIdToken)
          if (claims === undefined || typeof claims.sub !== "string") {
            return oauthError(401, "invalid_token", "invalid signature")
          }
          if (typeof claims.exp !== "number" || claims.exp * 1000 <= now) {
            return oauthError(401, "invalid_token", "jwt expired")
          }
          return yield* respond(claims.sub)
        }
        const refreshToken = param(params, "refresh_token")
        if (refreshToken === undefined) return missing("id_token or refresh_token")
        const outcome = yield* Ref.modify(state, (s) => Tenant.use(config, s, refreshToken, now))
        return outcome._tag === "Rejected"
          ? oauthError(401, outcome.error, outcome.description)
          : yield* respond(outcome.user)
      })

    const revoke = (params: Protocol.Params) =>
      Effect.gen(function*() {
        const presented = param(params, "token")
        if (presented === undefined) return missing("token")
        yield* revokeFamilyOf(presented)
        return Protocol.empty(200)
      })

    const authorize = (params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const request = Authorize.read(config, params)
        switch (request._tag) {
          case "Invalid":
            return Protocol.page(400, "Invalid authorization request", request.description)
          case "Refused":
            return Protocol.redirect(Authorize.redirectTo(request.redirectUri, {
              error: request.error,
              error_description: request.description,
              state: request.state,
              iss: config.issuer
            }))
        }
        const code = Jwt.opaqueToken()
        const input = { request, clientId: config.clientId, code, expiresAt: now + config.authorizationCodeMillis }
        const decision = yield* Ref.modify(codes, (s) => Authorize.authorize(s, input))
        return Protocol.redirect(Authorize.redirectTo(
          request.redirectUri,
          decision._tag === "Deny"
            ? {
              error: "access_denied",
              error_description: "The user denied the request.",
              state: request.state,
              iss: config.issuer
            }
            : { code, state: request.state, iss: config.issuer }
        ))
      })

    const deviceAuthorization = (params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const deviceCode = Jwt.opaqueToken()
        const userCode = Device.userCode()
        const input = {
          deviceCode,
          userCode,
          clientId: config.clientId,
          scope: param(params, "scope") ?? "openid",
          audience: param(params, "audience"),
          expiresAt: now + config.deviceCodeSeconds * 1000,
          intervalSeconds: config.deviceIntervalSeconds
        }
        yield* Ref.update(devices, (s) => Device.start(s, input))
        const verificationUri = Discovery.endpoint(config.issuer, Discovery.paths.activate)
        return Protocol.json(200, {
          device_code: deviceCode,
          user_code: userCode,
          verification_uri: verificationUri,
          verification_uri_complete: `${verificationUri}?user_code=${encodeURIComponent(userCode)}`,
          expires_in: config.deviceCodeSeconds,
          interval: config.deviceIntervalSeconds
        })
      })

    const respond = (
      request: Emulator.EmulatorRequest,
      parsed: Protocol.Parsed,
      now: number
    ): Effect.Effect<Protocol.Response> => {
      const accepted = Protocol.accept(config, request, parsed)
      if (accepted._tag === "Response") return Effect.succeed(accepted)
      switch (accepted.endpoint) {
        case "token":
          return token(request, accepted.params, now)
        case "delegation":
          return delegation(accepted.params, now)
        case "revoke":
          return revoke(accepted.params)
        case "authorize":
          return authorize(accepted.params, now)
        case "device":
          return deviceAuthorization(accepted.params, now)
        case "discovery":
          return Effect.succeed(Protocol.json(200, Discovery.document(config), { "cache-control": "max-age=0" }))
        case "jwks":
          return Effect.map(
            Ref.get(keys),
            (current) => Protocol.json(200, Keys.jwks(current), { "cache-control": "max-age=0" })
          )
      }
    }

    // requests received and not yet served (their latency waited out), and
    // the most there were at once: what a client's concurrency bound is
    // checked against
    let inFlight = 0
    let maxInFlight = 0

    const handle = (request: Emulator.EmulatorRequest): Effect.Effect<Emulator.EmulatorOutput> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const parsed = Protocol.parse(request)
        const fault = yield* Ref.modify(faults, (queue) => Faults.take(queue, parsed.endpoint))
        const output = yield* Faults.apply(fault, respond(request, parsed, now))
        log.append(RequestLog.entry({ request, parsed, fault, output, now }))
        return output
      })

    const serve = (request: Emulator.EmulatorRequest): Effect.Effect<Emulator.EmulatorOutput> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          inFlight++
          if (inFlight > maxInFlight) maxInFlight = inFlight
          return Effect.ensuring(
            restore(
              Effect.flatMap(handle(request), (output) => output._tag === "Hang" ? Effect.never : Faults.settle(output))
            ),
            Effect.sync(() => {
              inFlight--
            })
          )
        })
      )

    const enqueue = (endpoint: Emulator.Endpoint | undefined, added: ReadonlyArray<Emulator.Fault>) =>
      Ref.update(faults, (queue) => Faults.enqueue(queue, endpoint, added))

    const decideDevice = (
      userCode: string,
      status: Extract<Device.Status, { readonly _tag: "Approved" | "Denied" }>
    ): Effect.Effect<void, Cause.NoSuchElementException> =>
      Effect.flatMap(
        Ref.modify(devices, (s) => Device.decide(s, userCode, status)),
        (found) => found ? Effect.void : Effect.fail(new Cause.NoSuchElementException("Unknown user code."))
      )

    return {
      clientId: config.clientId,
      issuer: config.issuer,
      handle,
      serve,
      login,
      fault: (...added) => enqueue(undefined, added),
      faultOn: (endpoint, ...added) => enqueue(endpoint, added),
      clearFaults: Ref.set(faults, []),
      requests: Effect.sync(log.entries),
      counters: Effect.map(
        Effect.all([Ref.get(state), Ref.get(codes), Ref.get(devices)]),
        ([s, c, d]) => ({ requests: log.counts(), ...s.counters, ...c.counters, ...d.counters, inFlight, maxInFlight })
      ),
      approveNext: (approval) =>
        Ref.update(codes, (s) =>
          Authorize.script(s, {
            _tag: "Approve",
            user: approval?.username ?? Authorize.DEFAULT_USER,
            email: approval?.email
          })),
      denyNext: () => Ref.update(codes, (s) => Authorize.script(s, { _tag: "Deny" })),
      approveDevice: (userCode, approval) =>
        decideDevice(userCode, {
          _tag: "Approved",
          user: approval?.username ?? Authorize.DEFAULT_USER,
          email: approval?.email
        }),
      denyDevice: (userCode) => decideDevice(userCode, { _tag: "Denied" }),
      rotateSigningKey: () =>
        Effect.flatMap(Ref.get(keys), Keys.rotate).pipe(
          Effect.tap((next) => Ref.set(keys, next)),
          Effect.map((next) => next.current.kid)
        ),
      revokeFamilyOf,
      isRevoked: (refreshToken) => Effect.map(Ref.get(state), (s) => Tenant.isRevoked(s, refreshToken)),
      verifyAccessToken: (accessToken) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const claims = Jwt.verify(accessToken, config.signingSecret)
          return claims !== undefined && typeof claims.exp === "number" && claims.exp * 1000 > now
            ? Option.some(claims)
            : Option.none()
        })
    }
  })
