/**
 * The emulator service: one request through the faults, the protocol and the
 * tenant, logged. The tenant's state and the fault queue live in `Ref`s;
 * time is read from the `Clock` when a request arrives.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Emulator from "../Emulator.js"
import * as Config from "./config.js"
import * as Faults from "./faults.js"
import * as Issuer from "./issuer.js"
import * as Jwt from "./jwt.js"
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
    const faults = yield* Ref.make<ReadonlyArray<Faults.Queued>>([])
    const log = RequestLog.make()

    const login = (loginOptions?: Emulator.Emulator.LoginOptions) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const input = {
          familyId: Jwt.jwtId(),
          user: loginOptions?.username ?? "demo-user",
          scope: loginOptions?.scope ?? DEFAULT_LOGIN_SCOPE,
          audience: loginOptions?.audience ?? config.audience,
          refreshToken: Jwt.opaqueToken(),
          now
        }
        const grant = yield* Ref.modify(state, (s) => Tenant.login(s, input))
        return Issuer.tokenBody(config, grant, now)
      })

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
          : Protocol.json(200, Issuer.tokenBody(config, outcome, now))
      })

    const token = (params: Protocol.Params, now: number) =>
      Effect.gen(function*() {
        const grantType = param(params, "grant_type")
        switch (grantType) {
          case undefined:
            return missing("grant_type")
          case "refresh_token":
            return yield* refresh(params, now)
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
          Protocol.json(200, Issuer.delegationBody(config, user, param(params, "target") ?? config.clientId, now))
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
        if (refreshToken === undefined) return missing("id_token or refresh_token")
        const outcome = yield* Ref.modify(state, (s) => Tenant.use(config, s, refreshToken, now))
        return outcome._tag === "Rejected"
          ? oauthError(401, outcome.error, outcome.description)
          : respond(outcome.user)
      })

    const revokeFamilyOf = (refreshToken: string) => Ref.update(state, (s) => Tenant.revokeFamilyOf(s, refreshToken))

    const revoke = (params: Protocol.Params) =>
      Effect.gen(function*() {
        const presented = param(params, "token")
        if (presented === undefined) return missing("token")
        yield* revokeFamilyOf(presented)
        return Protocol.empty(200)
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
          return token(accepted.params, now)
        case "delegation":
          return delegation(accepted.params, now)
        case "revoke":
          return revoke(accepted.params)
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

    return {
      clientId: config.clientId,
      handle,
      serve,
      login,
      fault: (...added) => enqueue(undefined, added),
      faultOn: (endpoint, ...added) => enqueue(endpoint, added),
      clearFaults: Ref.set(faults, []),
      requests: Effect.sync(log.entries),
      counters: Effect.map(Ref.get(state), (s) => ({ requests: log.counts(), ...s.counters, inFlight, maxInFlight })),
      revokeFamilyOf,
      isRevoked: (refreshToken) => Effect.map(Ref.get(state), (s) => Tenant.isRevoked(s, refreshToken))
    }
  })
