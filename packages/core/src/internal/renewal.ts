import type * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import {
  type AuthenticationError,
  LoginRequired,
  RenewalFailed,
  type RenewerError,
  StoreError,
  toRenewerError
} from "../AuthError.js"
import { Credentials, merge } from "../Credentials.js"
import * as Jwt from "../Jwt.js"
import type { RenewalStrategy } from "../RenewalStrategy.js"
import type { TokenStore } from "../TokenStore.js"
import type { Knowledge } from "./knowledge.js"
import * as Logs from "./logs.js"
import * as Metrics from "./metrics.js"
import * as MinTtl from "./minTtl.js"
import type { Runner, Watch } from "./policy.js"
import * as Scope from "./scope.js"
import * as StoreKeys from "./storeKeys.js"
import { annotateTarget } from "./tracing.js"

/**
 * What a `get` asks for, resolved once: the target (the login's own
 * credentials, or API credentials for an audience and scope), the `minTtl`
 * in millis, whether to renew whatever is stored, and extra parameters of the
 * token request.
 *
 * @internal
 */
export interface Request {
  readonly audience: string | undefined
  /** The scope asked; `undefined`: the login's. */
  readonly scope: string | undefined
  readonly minTtl: number
  /** `minTtl` is the default one: bounded by the lifetime (see `MinTtl.required`). */
  readonly bounded?: boolean | undefined
  readonly forceRefresh: boolean
  readonly parameters: Readonly<Record<string, string>> | undefined
}

/**
 * Where a request's credentials live: the login's own entry (`name`
 * undefined), or the API credentials of (audience, scope), kept under a key
 * derived from the session key. `scope` is the effective scope to ask for.
 *
 * @internal
 */
export interface Target {
  readonly name: string | undefined
  readonly audience: string | undefined
  readonly scope: string | undefined
}

/**
 * The target of `request` for a login of scope `loginScope`. A request is for
 * the login when it names no audience and no other scope (as a set); the
 * login's credentials are never replaced by API credentials.
 *
 * @internal
 */
export const target = (request: Request, loginScope: string | undefined): Target => {
  if (request.audience === undefined && (request.scope === undefined || Scope.same(request.scope, loginScope))) {
    return { name: undefined, audience: undefined, scope: loginScope }
  }
  const scope = request.scope === undefined ? loginScope : Scope.normalize(request.scope)
  return {
    name: `api:${JSON.stringify([request.audience ?? null, Scope.key(scope)])}`,
    audience: request.audience,
    scope
  }
}

/**
 * Whether `credentials` meet `request` at `now` (epoch millis), given the
 * lifetime their target's credentials were last issued with.
 *
 * @internal
 */
export const satisfies = (credentials: Credentials, request: Request, now: number, issued?: number): boolean =>
  !request.forceRefresh &&
  DateTime.toEpochMillis(credentials.expiresAt) - MinTtl.required(request.minTtl, request.bounded, issued) > now

/**
 * The renewal itself, run inside the store's lock for the session key:
 * re-read (another renewer, maybe in another process, may have renewed),
 * re-check, renew under the policy, save, publish.
 *
 * Only the reads and the wait for the server can be interrupted: once an
 * answer is in, it is saved. A rotated refresh token goes to the session's
 * own entry before anything else is decided. Only a `LoginRequired` of reason
 * `RefreshTokenRejected` drops the stored refresh token.
 *
 * @internal
 */
export interface Renewal {
  readonly renew: (request: Request, watch: Watch) => Effect.Effect<Credentials, RenewerError>
}

/** @internal */
export const make = (options: {
  /** The store key of the session's own entry (`TokenStore.entryKey`). */
  readonly key: string
  readonly store: TokenStore.Service
  readonly strategy: RenewalStrategy.Service
  readonly knowledge: Knowledge
  readonly runner: Runner
  readonly clock: Clock.Clock
  /** When the layer is closing, no request is sent any more: the renewal fails with this. */
  readonly closing: () => RenewalFailed | undefined
  /** Wraps the requests of each renewal (`Sessions` bounds them across keys). */
  readonly gate?: Gate | undefined
}): Renewal => {
  const { clock, closing, key, knowledge, runner, store, strategy } = options
  const gate = options.gate ?? identity

  const saveLogin = (credentials: Credentials) =>
    store.set(key, credentials).pipe(
      Effect.mapError((error) => new StoreError({ ...error, unsaved: credentials })),
      Effect.tapError(Logs.unsaved(key)),
      Effect.tap(() => knowledge.publish(credentials))
    )

  // A definitive rejection of the refresh token: drop it, keep the rest. If
  // that write fails, the caller still learns that a login is required.
  const dropRefreshToken = (login: Credentials) => {
    if (login.refreshToken === undefined) return Effect.void
    const { refreshToken: _, ...rest } = login
    const kept = new Credentials(rest, true)
    return Effect.zipRight(store.set(key, kept), Effect.sync(() => knowledge.publish(kept))).pipe(
      Effect.zipRight(Metric.increment(Metrics.refreshTokensDropped)),
      Effect.zipRight(Logs.refreshTokenDropped),
      Effect.catchAll(Logs.refreshTokenNotDropped(key))
    )
  }

  // A refresh token that came in a 2xx answer whose rest was unusable: with
  // rotation the old one is gone at the server, so this one is saved before
  // the failure is reported.
  const keepIssued = (login: Credentials, error: LoginRequired | AuthenticationError | RenewalFailed) =>
    error._tag === "AuthApiError" && error.issuedRefreshToken !== undefined &&
      !sameToken(error.issuedRefreshToken, login.refreshToken)
      ? saveLogin(new Credentials({ ...login, refreshToken: error.issuedRefreshToken }, true)).pipe(
        Effect.zipRight(Logs.issuedRefreshTokenKept)
      )
      : Effect.void

  const attempt = (login: Credentials, to: Target, request: Request, watch: Watch) =>
    gate(runner.run(
      strategy.renew(login, { scope: to.scope, audience: to.audience, parameters: request.parameters }),
      watch
    )).pipe(
      Effect.tapError((error) => keepIssued(login, error)),
      Effect.mapError((error: LoginRequired | AuthenticationError | RenewalFailed | StoreError): RenewerError =>
        error._tag === "AuthApiError" || error._tag === "NetworkError" ? toRenewerError(error) : error
      )
    )

  const renew = (request: Request, watch: Watch) =>
    Effect.uninterruptibleMask((restore) => {
      // From what the store holds: re-check, renew, save. A rejected refresh
      // token is checked against the store before the user is logged out:
      // another process (or a login elsewhere) may have stored a newer one
      // meanwhile, and then all of this runs once more from what is stored
      // now (its scope, its refresh token; maybe no request at all). Only
      // when the store still holds the rejected one is it dropped.
      const from = (stored: Option.Option<Credentials>, again: boolean): Effect.Effect<Credentials, RenewerError> =>
        Effect.gen(function*() {
          knowledge.observe(stored)
          if (Option.isNone(stored)) return yield* noCredentials()
          const login = stored.value
          const to = target(request, login.scope)
          yield* annotateTarget(to.name !== undefined)
          const entry = to.name === undefined ? key : StoreKeys.derivedOf(key, to.name)
          const memo = to.name ?? ""
          const before = clock.unsafeCurrentTimeMillis()
          if (to.name === undefined) {
            if (satisfies(login, request, before, knowledge.issued(memo))) return login
          } else {
            const kept = Option.getOrUndefined(yield* restore(store.get(entry)))
            knowledge.setApi(to.name, kept)
            if (kept !== undefined && satisfies(kept, request, before, knowledge.issued(memo))) return kept
          }
          const lifetime = knowledge.lifetime(memo)
          const minTtl = MinTtl.required(request.minTtl, request.bounded, lifetime)
          if (!request.forceRefresh && lifetime !== undefined && minTtl >= lifetime) {
            return yield* ttlUnreachable(lifetime, minTtl, "no renewal was attempted")
          }

          const stopped = closing()
          if (stopped !== undefined) return yield* stopped

          const renewed = yield* Effect.either(attempt(login, to, request, watch))
          if (Either.isLeft(renewed)) {
            const error = renewed.left
            if (!isRejected(error)) return yield* error
            const reread = yield* Effect.either(restore(store.get(key)))
            if (Either.isLeft(reread)) return yield* error
            const current = Option.getOrUndefined(reread.right)
            if (!again && current?.refreshToken !== undefined && !sameToken(current.refreshToken, login.refreshToken)) {
              return yield* from(reread.right, true)
            }
            knowledge.observe(reread.right)
            if (
              current !== undefined && login.refreshToken !== undefined &&
              sameToken(login.refreshToken, current.refreshToken)
            ) {
              yield* dropRefreshToken(current)
            }
            return yield* error
          }
          const fresh = renewed.right
          const scope = Scope.normalize(fresh.scope) ?? to.scope
          const now = clock.unsafeCurrentTimeMillis()
          let result: Credentials
          if (to.name === undefined) {
            result = withScope(merge(login, fresh), scope)
            knowledge.setLifetime(memo, lifetimeLeft(fresh, now))
            yield* saveLogin(result)
          } else {
            // The login keeps its own scope and audience; only a rotated refresh
            // token is taken over, and it is saved whatever else is wrong.
            if (fresh.refreshToken !== undefined && !sameToken(fresh.refreshToken, login.refreshToken)) {
              yield* saveLogin(new Credentials({ ...login, refreshToken: fresh.refreshToken }, true))
            }
            if (to.audience !== undefined) yield* checkAudience(fresh, to.audience)
            knowledge.setLifetime(memo, lifetimeLeft(fresh, now))
            const { refreshToken: _, ...api } = withScope(fresh, scope)
            // renewed with the session's refresh token, hence bound to the session's key
            const dpop = fresh.dpop ?? login.dpop
            result = new Credentials(dpop === undefined ? api : { ...api, dpop }, true)
            yield* store.set(entry, result).pipe(
              Effect.mapError((error) => new StoreError({ ...error, unsaved: result })),
              Effect.tapError(Logs.unsaved(key))
            )
            knowledge.setApi(to.name, result)
          }
          if (!satisfies(result, { ...request, forceRefresh: false }, now, knowledge.issued(memo))) {
            return yield* ttlUnreachable(
              lifetimeLeft(result, now),
              MinTtl.required(request.minTtl, request.bounded, knowledge.issued(memo)),
              "the renewed credentials were saved"
            )
          }
          return result
        })
      return Effect.zipRight(
        Logs.lockTaken(watch, () => clock.unsafeCurrentTimeMillis()),
        Effect.flatMap(restore(store.get(key)), (stored) => from(stored, false))
      )
    })

  return { renew }
}

/**
 * Wraps the requests of a renewal, e.g. to bound how many run at once.
 *
 * @internal
 */
export type Gate = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

const identity: Gate = (effect) => effect

const isRejected = (error: RenewerError) => error._tag === "LoginRequired" && error.reason === "RefreshTokenRejected"

/** Millis `credentials` have left at `now` (epoch millis), zero when expired. @internal */
export const lifetimeLeft = (credentials: Credentials, now: number): number =>
  Math.max(0, DateTime.toEpochMillis(credentials.expiresAt) - now)

const noCredentials = () => new LoginRequired({ reason: "NoCredentials", description: "no credentials are stored" })

/** @internal */
export const ttlUnreachable = (lifetime: number, minTtl: number, what: string): RenewalFailed =>
  new RenewalFailed({
    reason: "TtlUnreachable",
    description: `renewed credentials live ${
      Duration.format(Duration.millis(lifetime))
    }, which cannot meet a minTtl of ${Duration.format(Duration.millis(minTtl))}; ${what}`
  })

const withScope = (credentials: Credentials, scope: string | undefined): Credentials => {
  if (credentials.scope === scope) return credentials
  const { scope: _, ...rest } = credentials
  return new Credentials(scope === undefined ? rest : { ...rest, scope }, true)
}

const sameToken = (a: Redacted.Redacted<string>, b: Redacted.Redacted<string> | undefined) =>
  b !== undefined && Redacted.value(a) === Redacted.value(b)

// Auth0 answers an audience the refresh token's policy does not allow with a
// token for its default audience: never hand that out as the asked one. An
// access token that is not a JWT cannot be checked and is taken as it is.
const checkAudience = (credentials: Credentials, audience: string): Effect.Effect<void, RenewalFailed> =>
  Effect.flatMap(Effect.either(Jwt.decode(credentials.accessToken)), (claims) => {
    if (Either.isLeft(claims) || claims.right.aud === undefined) return Effect.void
    const aud = claims.right.aud
    if (typeof aud === "string" ? aud === audience : aud.includes(audience)) return Effect.void
    return Effect.fail(
      new RenewalFailed({
        reason: "AudienceMismatch",
        description: `an access token for ${JSON.stringify(audience)} was asked, and the server issued one for ${
          JSON.stringify(aud)
        }: the refresh token's policy does not allow that audience`
      })
    )
  })
