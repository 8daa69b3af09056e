/**
 * The emulator service: one request through the faults, the protocol and the
 * tenant, logged. The tenant's state, the codes of the login flows, the
 * signing keys and the fault queue live in `Ref`s; time is read from the
 * `Clock` when a request arrives.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Emulator from "../Emulator.js"
import * as Authorize from "./authorize.js"
import * as Config from "./config.js"
import * as Device from "./device.js"
import * as Discovery from "./discovery.js"
import * as Dpop from "./dpop.js"
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
    const dpop = yield* Ref.make(Dpop.empty(config.dpop.nonce))
    const log = RequestLog.make()

    const revokeFamilyOf = (refreshToken: string) => Ref.update(state, (s) => Tenant.revokeFamilyOf(s, refreshToken))

    // a new login: a family when the scope has offline_access, the tokens of the body
    const issue = (input: {
      readonly user: string
      readonly email?: string | undefined
      readonly scope: string
      readonly audience: string
      readonly nonce?: string | undefined
      readonly jkt?: string | undefined
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
            now,
            // RFC 9449 §5: a confidential client's refresh tokens are bound to its credentials instead
            jkt: config.clientSecret === undefined ? input.jkt : undefined
          }))
        return Issuer.tokenBody(config, yield* Ref.get(keys), grant, now, input.nonce, input.jkt)
      })

    const login = (loginOptions?: Emulator.Emulator.LoginOptions) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        issue({
          user: loginOptions?.username ?? Authorize.DEFAULT_USER,
          scope: loginOptions?.scope ?? DEFAULT_LOGIN_SCOPE,
          audience: loginOptions?.audience ?? config.audience,
          jkt: loginOptions?.jkt
        }, now))

    // -------------------------------------------------------------------------
    // DPoP: a proof is checked before anything else runs, so that a refused
    // one (or a nonce challenge) spends no code and no refresh token
    // -------------------------------------------------------------------------

    const checkProof = (input: {
      readonly role: Dpop.Role
      readonly proof: string
      readonly method: string
      readonly url: string | undefined
      readonly accessToken?: string | undefined
      readonly now: number
    }): Effect.Effect<Dpop.Outcome> =>
      Effect.flatMap(
        Effect.promise(() => Dpop.read(input.proof, config.dpop.algorithms, input.now)),
        (read) =>
          read._tag === "Invalid"
            ? Effect.as(Ref.update(dpop, Dpop.refuse), read)
            : Ref.modify(dpop, (s) =>
              Dpop.accept(s, {
                role: input.role,
                proof: read,
                method: input.method.toUpperCase(),
                url: input.url,
                accessToken: input.accessToken,
                now: input.now,
                windowMillis: config.dpop.windowMillis
              }))
      )

    // the proof of a token or delegation request: the key to bind to, or the refusal to answer
    const tokenProof = (
      request: Emulator.EmulatorRequest,
      now: number
    ): Effect.Effect<{ readonly _tag: "Proof"; readonly jkt: string | undefined } | Protocol.Response> =>
      Effect.gen(function*() {
        const proof = request.headers["dpop"]
        if (proof === undefined) {
          if (!config.dpop.required) return { _tag: "Proof", jkt: undefined } as const
          yield* Ref.update(dpop, Dpop.refuse)
          return oauthError(400, "invalid_dpop_proof", "A DPoP proof is required.")
        }
        const url = Dpop.requestUrl(config.issuer, request)
        const outcome = yield* checkProof({ role: "token", proof, method: request.method, url, now })
        switch (outcome._tag) {
          case "Invalid":
            return oauthError(400, "invalid_dpop_proof", outcome.description)
          case "UseNonce":
            return oauthError(400, "use_dpop_nonce", outcome.description, { "dpop-nonce": outcome.nonce })
          case "Accepted":
            return { _tag: "Proof", jkt: outcome.jkt } as const
        }
      })

    // the current nonce of a role, on the answer to a request with a proof, when the role requires one
    const withNonce = (role: Dpop.Role, response: Protocol.Response): Effect.Effect<Protocol.Response> =>
      Effect.map(Ref.get(dpop), (s) =>
        s.nonceRequired[role]
          ? { ...response, headers: { ...response.headers, "dpop-nonce": s.nonces[role] } }
          : response)

    const withProof = (
      request: Emulator.EmulatorRequest,
      now: number,
      run: (jkt: string | undefined) => Effect.Effect<Protocol.Response>
    ): Effect.Effect<Protocol.Response> =>
      Effect.flatMap(tokenProof(request, now), (proof) =>
        proof._tag === "Response"
          ? Effect.succeed(proof)
          : proof.jkt === undefined
          ? run(undefined)
          : Effect.flatMap(run(proof.jkt), (response) => withNonce("token", response)))

    const resourceChallenge = (scheme: "Bearer" | "DPoP", error: string, description: string): string =>
      `${scheme} error="${error}", error_description="${description}"` +
      (scheme === "DPoP" ? `, algs="${config.dpop.algorithms.join(" ")}"` : "")

    const refusedAccess = (
      status: 400 | 401,
      scheme: "Bearer" | "DPoP",
      error: string,
      description: string,
      dpopNonce?: string
    ): Emulator.ResourceAccess => ({
      _tag: "Refused",
      status,
      error,
      description,
      wwwAuthenticate: resourceChallenge(scheme, error, description),
      ...(dpopNonce !== undefined ? { dpopNonce } : {})
    })

    // RFC 6750 §3 and RFC 9449 §7: a Bearer token that is not bound, or a bound one with a proof of its key
    const verifyResource = (request: Emulator.ResourceRequest, now: number): Effect.Effect<Emulator.ResourceAccess> =>
      Effect.gen(function*() {
        const unauthenticated: Emulator.ResourceAccess = {
          _tag: "Refused",
          status: 401,
          error: undefined,
          description: "An access token is required.",
          wwwAuthenticate: `Bearer, DPoP algs="${config.dpop.algorithms.join(" ")}"`
        }
        if (request.authorization === undefined) return unauthenticated
        const match = /^(\S+) +(\S+)$/.exec(request.authorization.trim())
        if (match === null) return refusedAccess(400, "Bearer", "invalid_request", "Malformed Authorization header.")
        const scheme = match[1]!.toLowerCase() === "dpop"
          ? "DPoP"
          : match[1]!.toLowerCase() === "bearer"
          ? "Bearer"
          : undefined
        if (scheme === undefined) return unauthenticated
        const accessToken = match[2]!
        const claims = Jwt.verify(accessToken, config.signingSecret)
        if (claims === undefined) return refusedAccess(401, scheme, "invalid_token", "The access token is invalid.")
        if (typeof claims.exp !== "number" || claims.exp * 1000 <= now) {
          return refusedAccess(401, scheme, "invalid_token", "The access token expired.")
        }
        const cnf = claims.cnf
        const jkt = typeof cnf === "object" && cnf !== null && typeof (cnf as Record<string, unknown>).jkt === "string"
          ? (cnf as Record<string, string>).jkt
          : undefined
        if (scheme === "Bearer") {
          return jkt === undefined
            ? { _tag: "Authorized", claims, jkt: undefined }
            : refusedAccess(401, "DPoP", "invalid_token", "The access token is DPoP-bound: use the DPoP scheme.")
        }
        if (jkt === undefined) return refusedAccess(401, "DPoP", "invalid_token", "The access token is not DPoP-bound.")
        if (request.dpop === undefined) {
          return refusedAccess(400, "DPoP", "invalid_request", "The DPoP scheme needs a DPoP proof.")
        }
        const outcome = yield* checkProof({
          role: "resource",
          proof: request.dpop,
          method: request.method,
          url: Dpop.targetUrl(request.url),
          accessToken,
          now
        })
        switch (outcome._tag) {
          case "Invalid":
            return refusedAccess(401, "DPoP", "invalid_dpop_proof", outcome.description)
          case "UseNonce":
            return refusedAccess(401, "DPoP", "use_dpop_nonce", outcome.description, outcome.nonce)
          case "Accepted":
            return outcome.jkt === jkt
              ? { _tag: "Authorized", claims, jkt }
              : refusedAccess(401, "DPoP", "invalid_token", "The DPoP proof is not signed by the access token's key.")
        }
      })

    const userinfo = (request: Emulator.EmulatorRequest, now: number): Effect.Effect<Protocol.Response> =>
      Effect.gen(function*() {
        const access = yield* verifyResource({
          method: request.method,
          url: Dpop.requestUrl(config.issuer, request) ?? "",
          authorization: request.headers["authorization"],
          dpop: request.headers["dpop"]
        }, now)
        if (access._tag === "Authorized") {
          const body = Protocol.json(200, { sub: access.claims.sub })
          return access.jkt === undefined ? body : yield* withNonce("resource", body)
        }
        return Protocol.json(
          access.status,
          access.error === undefined ? {} : { error: access.error, error_description: access.description },
          {
            "www-authenticate": access.wwwAuthenticate,
            ...(access.dpopNonce !== undefined ? { "dpop-nonce": access.dpopNonce } : {})
          }
        )
      })

    const refresh = (params: Protocol.Params, now: number, jkt: string | undefined) =>
      Effect.gen(function*() {
        const token = param(params, "refresh_token")
        if (token === undefined) return missing("refresh_token")
        const input = {
          token,
          scope: param(params, "scope"),
          audience: param(params, "audience"),
          nextToken: Jwt.opaqueToken(),
          now,
          jkt
        }
        const outcome = yield* Ref.modify(state, (s) => Tenant.refresh(config, s, input))
        return outcome._tag === "Rejected"
          ? oauthError(403, outcome.error, outcome.description)
          : Protocol.json(200, Issuer.tokenBody(config, yield* Ref.get(keys), outcome, now, undefined, jkt))
      })

    const clientIdOf = (request: Emulator.EmulatorRequest, params: Protocol.Params): string =>
      Protocol.parseBasic(request.headers["authorization"])?.id ?? param(params, "client_id") ?? ""

    const exchangeCode = (
      request: Emulator.EmulatorRequest,
      params: Protocol.Params,
      now: number,
      jkt: string | undefined
    ) =>
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
          nonce: granted.nonce,
          jkt
        }, now)
        yield* Ref.update(codes, (s) => Authorize.attach(s, code, body.refresh_token))
        return Protocol.json(200, body)
      })

    const pollDevice = (
      request: Emulator.EmulatorRequest,
      params: Protocol.Params,
      now: number,
      jkt: string | undefined
    ) =>
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
          audience: outcome.audience ?? config.audience,
          jkt
        }, now)
        return Protocol.json(200, body)
      })

    const token = (request: Emulator.EmulatorRequest, params: Protocol.Params, now: number, jkt: string | undefined) =>
      Effect.gen(function*() {
        const grantType = param(params, "grant_type")
        switch (grantType) {
          case undefined:
            return missing("grant_type")
          case "refresh_token":
            return yield* refresh(params, now, jkt)
          case Protocol.AUTHORIZATION_CODE_GRANT:
            return yield* exchangeCode(request, params, now, jkt)
          case Protocol.DEVICE_CODE_GRANT:
            return yield* pollDevice(request, params, now, jkt)
          case Protocol.TEST_LOGIN_GRANT: {
            const scope = param(params, "scope")
            const audience = param(params, "audience")
            const username = param(params, "username")
            const body = yield* login({
              ...(scope !== undefined ? { scope } : {}),
              ...(audience !== undefined ? { audience } : {}),
              ...(username !== undefined ? { username } : {}),
              jkt
            })
            return Protocol.json(200, body)
          }
          default:
            return Protocol.unsupportedGrant(grantType)
        }
      })

    const delegation = (params: Protocol.Params, now: number, jkt: string | undefined) =>
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
        const outcome = yield* Ref.modify(state, (s) => Tenant.use(config, s, refreshToken, now, jkt))
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
          return withProof(request, now, (jkt) => token(request, accepted.params, now, jkt))
        case "delegation":
          return withProof(request, now, (jkt) => delegation(accepted.params, now, jkt))
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
        case "userinfo":
          return userinfo(request, now)
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
        Effect.all([Ref.get(state), Ref.get(codes), Ref.get(devices), Ref.get(dpop)]),
        ([s, c, d, p]) => ({
          requests: log.counts(),
          ...s.counters,
          ...c.counters,
          ...d.counters,
          inFlight,
          maxInFlight,
          ...p.counters
        })
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
      requireDpopNonce: (server, required = true) => Ref.update(dpop, (s) => Dpop.requireNonce(s, server, required)),
      rotateDpopNonce: (server) => Ref.modify(dpop, (s) => Dpop.rotateNonce(s, server)),
      dpopNonce: (server) => Effect.map(Ref.get(dpop), (s) => s.nonces[server]),
      verifyResourceRequest: (request) => Effect.flatMap(Clock.currentTimeMillis, (now) => verifyResource(request, now))
    }
  })
