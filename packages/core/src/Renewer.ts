/**
 * The engine: hands out valid credentials for one session key, renewing them
 * when needed, once for all concurrent callers.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import {
  type AuthenticationError,
  isTransient,
  LoginRequired,
  NetworkError,
  RenewalFailed,
  type RenewerError,
  StoreError,
  toRenewerError as classifyError
} from "./AuthError.js"
import { Credentials, merge, sameScope, scopeSet } from "./Credentials.js"
import { RenewalPolicy } from "./RenewalPolicy.js"
import { RenewalStrategy } from "./RenewalStrategy.js"
import { TokenStore } from "./TokenStore.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Renewer extends Context.Tag("@effect-renewal/core/Renewer")<Renewer, Renewer.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Renewer {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The session key this renewer serves. */
    readonly key: string
    /**
     * Valid credentials: the stored ones while they have at least `minTtl`
     * left, else renewed ones (saved before they are returned). A different
     * `scope` (compared as a set) renews for that scope; `forceRefresh`
     * renews whatever is stored.
     */
    readonly get: (options?: GetOptions) => Effect.Effect<Credentials, RenewerError>
    /** Stores the credentials of a login (the scope of this login is the one renewals ask for). */
    readonly save: (credentials: Credentials) => Effect.Effect<void, StoreError>
    /**
     * Whether `get` can succeed without a new login: credentials are stored
     * and either have `minTtl` left or hold a refresh token. No request is made.
     */
    readonly hasValid: (minTtl?: Duration.DurationInput) => Effect.Effect<boolean, StoreError>
    /**
     * Removes the stored credentials; with `revoke`, first revokes the refresh
     * token at the server. The local credentials are removed even when
     * revocation fails, which is then reported as `RenewalFailed`.
     */
    readonly clear: (options?: { readonly revoke?: boolean | undefined }) => Effect.Effect<void, RenewerError>
    /**
     * The stored credentials as this renewer knows them: first the current
     * ones (read when the layer was built, or last written), then each change
     * this renewer makes (saved, renewed, cleared, refresh token dropped).
     * `None` when nothing is stored.
     */
    readonly changes: Stream.Stream<Option.Option<Credentials>>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface GetOptions {
    readonly minTtl?: Duration.DurationInput | undefined
    readonly scope?: string | undefined
    readonly forceRefresh?: boolean | undefined
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The session key in the `TokenStore`: `"default"` unless given. */
  readonly key?: string | undefined
  /** The `minTtl` of a `get` that does not give one: the policy's unless given. */
  readonly minTtl?: Duration.DurationInput | undefined
}

interface Cached {
  readonly credentials: Credentials
  /** Epoch millis until which the credentials satisfy the default minTtl. */
  readonly freshUntil: number
  readonly success: Effect.Effect<Credentials>
}

interface Request {
  readonly minTtl: Duration.Duration
  readonly scope: string | undefined
  readonly forceRefresh: boolean
}

const noCredentials = new LoginRequired({ reason: "NoCredentials", description: "no credentials are stored" })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Renewer.Service, never, TokenStore | RenewalStrategy | Scope.Scope> =>
  Effect.gen(function*() {
    const key = options.key ?? "default"
    const store = yield* TokenStore
    const strategy = yield* RenewalStrategy
    const policy = yield* RenewalPolicy
    const defaultMinTtl = Duration.decode(options.minTtl ?? policy.minTtl)
    const defaultMinTtlMillis = Duration.toMillis(defaultMinTtl)
    // Captured once so that the hot path reads time synchronously; under a
    // TestClock this is the TestClock.
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope

    // The credentials last read from or written to the store. A plain
    // reference: reading it takes no lock and looks up no service.
    let cached: Cached | undefined
    // Per scope key ("" for the stored login's scope): the lifetime of the
    // last credentials a renewal brought (a minTtl at or above it cannot be
    // met by renewing again) and, for other scopes, the last credentials, kept
    // in memory only.
    const lifetimes = new Map<string, number>()
    const scopedCredentials = new Map<string, Credentials>()
    let inflight:
      | {
        readonly deferred: Deferred.Deferred<Credentials, RenewerError>
        readonly scope: string
        readonly force: boolean
      }
      | undefined

    const remember = (credentials: Option.Option<Credentials>): void => {
      cached = Option.isNone(credentials) ? undefined : {
        credentials: credentials.value,
        freshUntil: DateTime.toEpochMillis(credentials.value.expiresAt) - defaultMinTtlMillis,
        success: Effect.succeed(credentials.value)
      }
    }

    // What the store held when the layer was built (a store that cannot be
    // read now is read again by the first `get`).
    const initial = yield* Effect.orElseSucceed(store.get(key), () => Option.none<Credentials>())
    remember(initial)
    const state = yield* SubscriptionRef.make(initial)

    // Counts what this renewer learnt of the store, so that a read started
    // before a write cannot bring back what the write replaced.
    let version = 0
    const publish = (credentials: Option.Option<Credentials>) =>
      Effect.zipRight(
        Effect.sync(() => {
          version++
          remember(credentials)
        }),
        SubscriptionRef.set(state, credentials)
      )

    // What a read of the store found: remembered, and published when it is
    // not what this renewer knew (another process renewed, saved or cleared).
    const observe = (stored: Option.Option<Credentials>) =>
      Effect.suspend(() => {
        const known = cached === undefined ? Option.none() : Option.some(cached.credentials)
        return Equal.equals(stored, known) ? Effect.sync(() => remember(stored)) : publish(stored)
      })

    const satisfies = (credentials: Credentials, request: Request, now: DateTime.Utc): boolean =>
      !request.forceRefresh && credentials.isValidAt(now, request.minTtl) &&
      (request.scope === undefined || sameScope(request.scope, credentials.scope))

    const toRenewerError = (error: LoginRequired | AuthenticationError | RenewalFailed): RenewerError =>
      error._tag === "LoginRequired" || error._tag === "RenewalFailed" ? error : classifyError(error)

    const retrySchedule = Schedule.intersect(policy.retry, Schedule.identity<AuthenticationError>()).pipe(
      Schedule.modifyDelay(([, error], delay) =>
        error._tag === "AuthApiError" && error.retryAfter !== undefined
          ? Duration.max(delay, error.retryAfter)
          : delay
      )
    )
    const attemptMillis = Duration.toMillis(policy.attemptTimeout)
    const deadlineMillis = Duration.toMillis(policy.deadline)
    const deadlineExceeded = (last: AuthenticationError | undefined) =>
      new RenewalFailed({
        reason: "Deadline",
        description: `renewal did not finish within ${Duration.format(policy.deadline)}${
          last === undefined ? "" : `; last failure: ${last.message}`
        }`,
        cause: last
      })
    const attemptTimedOut = () =>
      new RenewalFailed({
        reason: "Transient",
        description: `no answer within ${
          Duration.format(policy.attemptTimeout)
        }; the request goes on until the deadline and a late answer will be saved`,
        cause: new NetworkError({
          reason: "Timeout",
          description: `renewal attempt took longer than ${Duration.format(policy.attemptTimeout)}`
        })
      })

    // Runs `effect` under the policy. A request that was sent is never given
    // up before the deadline: the server may have processed it and rotated the
    // refresh token, and a second request with the old one would look like
    // reuse. When an attempt is slower than `attemptTimeout`, `onSlow` lets the
    // callers go while the request goes on. Answered transient failures are
    // retried on the schedule, never past the deadline.
    const withPolicy = <A>(
      effect: Effect.Effect<A, LoginRequired | AuthenticationError>,
      onSlow: (error: RenewalFailed) => Effect.Effect<void>
    ): Effect.Effect<A, LoginRequired | AuthenticationError | RenewalFailed> =>
      Effect.suspend(() => {
        const deadlineAt = clock.unsafeCurrentTimeMillis() + deadlineMillis
        const remaining = () => Math.max(0, deadlineAt - clock.unsafeCurrentTimeMillis())
        let last: AuthenticationError | undefined
        const attempt = Effect.suspend(() => {
          const left = remaining()
          if (left <= 0) return Effect.fail(deadlineExceeded(last))
          // The request runs in a fiber of its own, watched by one timer: after
          // `attemptTimeout` the timer lets the callers go, at the deadline it
          // abandons the request. (Cheaper than nested timeouts on the path
          // where the answer comes in time.)
          return Effect.flatMap(Effect.fork(effect), (request) => {
            const timer = left > attemptMillis
              ? Effect.sleep(attemptMillis).pipe(
                Effect.zipRight(Effect.suspend(() => onSlow(attemptTimedOut()))),
                Effect.zipRight(Effect.sleep(left - attemptMillis))
              )
              : Effect.sleep(left)
            return Effect.flatMap(
              Effect.fork(Effect.zipRight(timer, Fiber.interrupt(request))),
              (watchdog) =>
                Effect.flatMap(
                  Fiber.await(request),
                  (exit): Effect.Effect<A, LoginRequired | AuthenticationError | RenewalFailed> => {
                    watchdog.unsafeInterruptAsFork(FiberId.none)
                    if (Exit.isSuccess(exit)) return Effect.succeed(exit.value)
                    const failure = Cause.failureOption(exit.cause)
                    if (Option.isSome(failure)) {
                      const error = failure.value
                      if (error._tag !== "LoginRequired") last = error
                      return Effect.fail(error)
                    }
                    // abandoned at the deadline; a defect stays one
                    return Cause.isInterruptedOnly(exit.cause)
                      ? Effect.fail(deadlineExceeded(last))
                      : Effect.failCause(exit.cause as Cause.Cause<never>)
                  }
                )
            )
          })
        })
        const retryable = (error: LoginRequired | AuthenticationError | RenewalFailed): boolean =>
          (error._tag === "AuthApiError" || error._tag === "NetworkError") && isTransient(error) &&
          (error._tag !== "AuthApiError" || error.retryAfter === undefined ||
            (Duration.lessThanOrEqualTo(error.retryAfter, policy.maxRetryAfter) &&
              Duration.toMillis(error.retryAfter) < remaining()))
        // The retry machinery starts only after a first failure: a renewal
        // that succeeds at once pays nothing for it.
        return Effect.catchAll(attempt, (first) => {
          if (!retryable(first)) return Effect.fail(first)
          let replayed = false
          const again = Effect.suspend(() => replayed ? attempt : (replayed = true, Effect.fail(first)))
          return Effect.retry(again, {
            schedule: retrySchedule.pipe(
              Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(remaining())))
            ) as Schedule.Schedule<unknown, LoginRequired | AuthenticationError | RenewalFailed>,
            while: retryable
          })
        })
      })

    const renewWithPolicy = (
      current: Credentials,
      scope: string | undefined,
      onSlow: (error: RenewalFailed) => Effect.Effect<void>
    ) => withPolicy(strategy.renew(current, { scope }), onSlow).pipe(Effect.mapError(toRenewerError))

    const ttlUnreachable = (lifetime: Duration.Duration, minTtl: Duration.Duration, what: string) =>
      new RenewalFailed({
        reason: "TtlUnreachable",
        description: `renewed credentials live ${Duration.format(lifetime)}, which cannot meet a minTtl of ${
          Duration.format(minTtl)
        }; ${what}`
      })

    const saveRenewed = (credentials: Credentials) =>
      store.set(key, credentials).pipe(
        Effect.mapError((error) => new StoreError({ ...error, unsaved: credentials })),
        Effect.zipRight(publish(Option.some(credentials)))
      )

    // A definitive rejection of the refresh token: drop it, keep the rest. If
    // that write fails, the caller still learns that a login is required.
    const dropRefreshToken = (current: Credentials) => {
      if (current.refreshToken === undefined) return Effect.void
      const { refreshToken: _, ...rest } = current
      const kept = new Credentials(rest, true)
      return Effect.zipRight(store.set(key, kept), publish(Option.some(kept))).pipe(
        Effect.catchAll((error) => Effect.logWarning("could not drop a rejected refresh token", error.message))
      )
    }

    // Runs inside the store's lock: re-read, re-check, renew, save. Only the
    // wait for the server can be interrupted (by the layer's scope closing);
    // once an answer is in, it is saved.
    const renewLocked = (
      request: Request,
      onSlow: (error: RenewalFailed) => Effect.Effect<void>
    ): Effect.Effect<Credentials, RenewerError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const stored = yield* restore(store.get(key))
          yield* observe(stored)
          if (Option.isNone(stored)) return yield* noCredentials
          const current = stored.value
          const before = yield* DateTime.now
          if (satisfies(current, request, before)) return current
          const scoped = request.scope !== undefined && !sameScope(request.scope, current.scope)
          const memo = scoped ? scopeKeyOf(request.scope) : ""
          const kept = scoped ? scopedCredentials.get(memo) : undefined
          if (kept !== undefined && satisfies(kept, request, before)) return kept
          const lifetime = lifetimes.get(memo)
          if (!request.forceRefresh && lifetime !== undefined && Duration.toMillis(request.minTtl) >= lifetime) {
            return yield* ttlUnreachable(Duration.millis(lifetime), request.minTtl, "no renewal was attempted")
          }
          const renewed = yield* restore(renewWithPolicy(current, request.scope, onSlow)).pipe(
            Effect.tapError((error) =>
              error._tag === "LoginRequired" && error.reason === "RefreshTokenRejected"
                ? dropRefreshToken(current)
                : Effect.void
            )
          )
          const next = merge(current, renewed)
          if (!scoped) {
            yield* saveRenewed(next)
          } else if (
            renewed.refreshToken !== undefined && !Equal.equals(renewed.refreshToken, current.refreshToken)
          ) {
            // The stored credentials keep the scope of the first login; only
            // the rotated refresh token is taken over.
            yield* saveRenewed(new Credentials({ ...current, refreshToken: renewed.refreshToken }, true))
          }
          const now = yield* DateTime.now
          lifetimes.set(memo, DateTime.toEpochMillis(renewed.expiresAt) - DateTime.toEpochMillis(now))
          if (scoped) scopedCredentials.set(memo, next)
          if (!next.isValidAt(now, request.minTtl)) {
            return yield* ttlUnreachable(
              next.ttl(now),
              request.minTtl,
              scoped ? "they are kept in memory for that scope" : "the renewed credentials were saved"
            )
          }
          return next
        })
      )

    const scopeKeyOf = (scope: string | undefined): string =>
      scope === undefined ? "" : [...scopeSet(scope)].sort().join(" ")

    const slow = (request: Request, fallback = true): Effect.Effect<Credentials, RenewerError> =>
      Effect.suspend(() => {
        const scopeKey = scopeKeyOf(request.scope)
        const current = inflight
        // Join a renewal in flight for the same scope (a forced refresh only
        // joins a forced one). If its outcome does not meet this caller's
        // minTtl, this caller tries once more, through a shared flight again:
        // no caller gets credentials that do not satisfy its request.
        if (current !== undefined && current.scope === scopeKey && (!request.forceRefresh || current.force)) {
          const again = () => fallback ? slow({ ...request, forceRefresh: false }, false) : undefined
          return Deferred.await(current.deferred).pipe(
            Effect.matchEffect({
              onSuccess: (credentials) =>
                credentials.isValidAt(DateTime.unsafeMake(clock.unsafeCurrentTimeMillis()), request.minTtl)
                  ? Effect.succeed(credentials)
                  : again() ??
                    Effect.fail(
                      ttlUnreachable(
                        credentials.ttl(DateTime.unsafeMake(clock.unsafeCurrentTimeMillis())),
                        request.minTtl,
                        "no renewal was attempted"
                      )
                    ),
              onFailure: (error) =>
                error._tag === "RenewalFailed" && error.reason === "TtlUnreachable"
                  ? again() ?? Effect.fail(error)
                  : Effect.fail(error)
            })
          )
        }
        return lead(request, scopeKey)
      })

    const closed = Exit.fail(
      new RenewalFailed({ reason: "Shutdown", description: "the Renewer's scope was closed: no renewal can run" })
    )

    const lead = (request: Request, scopeKey: string): Effect.Effect<Credentials, RenewerError> =>
      // Registering the flight and its observer is not interrupted half-way:
      // a flight nobody settles would make every later caller wait forever.
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const deferred = Deferred.unsafeMake<Credentials, RenewerError>(FiberId.none)
          const flight = { deferred, scope: scopeKey, force: request.forceRefresh }
          inflight = flight
          const settle = (exit: Exit.Exit<Credentials, RenewerError>) => {
            if (inflight === flight) inflight = undefined
            // the renewal fiber is only interrupted when the layer's scope closes
            Deferred.unsafeDone(
              deferred,
              Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? closed : exit
            )
          }
          // A slow attempt lets the callers go; later callers start anew and
          // wait for the store's lock, which the renewal still holds.
          const onSlow = (error: RenewalFailed) => Effect.sync(() => settle(Exit.fail(error)))
          // The renewal belongs to the layer's scope, not to the caller. The
          // observer settles the callers however the fiber ends, even if the
          // scope was already closed and the fiber never ran.
          return Effect.flatMap(
            // forked interruptible (the layer's scope may close), like the caller was
            Effect.forkIn(restore(store.withLock(key, renewLocked(request, onSlow))), scope),
            (fiber) => {
              fiber.addObserver(settle)
              return restore(Deferred.await(deferred))
            }
          )
        })
      )

    const get = (getOptions?: Renewer.GetOptions): Effect.Effect<Credentials, RenewerError> => {
      if (
        getOptions === undefined || (getOptions.minTtl === undefined && getOptions.scope === undefined &&
          getOptions.forceRefresh !== true)
      ) {
        return getDefault
      }
      const request: Request = {
        minTtl: getOptions.minTtl === undefined ? defaultMinTtl : Duration.decode(getOptions.minTtl),
        scope: getOptions.scope,
        forceRefresh: getOptions.forceRefresh === true
      }
      return Effect.suspend(() => {
        const now = DateTime.unsafeMake(clock.unsafeCurrentTimeMillis())
        if (cached !== undefined) {
          if (satisfies(cached.credentials, request, now)) return cached.success
          if (request.scope !== undefined && !sameScope(request.scope, cached.credentials.scope)) {
            const kept = scopedCredentials.get(scopeKeyOf(request.scope))
            if (kept !== undefined && satisfies(kept, request, now)) return Effect.succeed(kept)
          }
        }
        return slow(request)
      })
    }

    const defaultRequest: Request = { minTtl: defaultMinTtl, scope: undefined, forceRefresh: false }
    // The hot path: one synchronous check of a plain reference.
    const getDefault: Effect.Effect<Credentials, RenewerError> = Effect.suspend(() =>
      cached !== undefined && cached.freshUntil > clock.unsafeCurrentTimeMillis()
        ? cached.success
        : slow(defaultRequest)
    )

    // A new login (or none): what earlier renewals brought says nothing about it.
    const forget = Effect.sync(() => {
      lifetimes.clear()
      scopedCredentials.clear()
    })

    // The write and what the renewer knows of it go together: an interrupted
    // caller cannot leave the hot path serving what the store no longer holds.
    const save = (credentials: Credentials) =>
      store.withLock(
        key,
        Effect.uninterruptible(
          Effect.zipRight(store.set(key, credentials), Effect.zipRight(publish(Option.some(credentials)), forget))
        )
      )

    const hasValid = (minTtl?: Duration.DurationInput) =>
      Effect.gen(function*() {
        // read without the lock: a renewal may finish meanwhile
        const before = version
        const stored = yield* store.get(key)
        if (version === before) yield* observe(stored)
        if (Option.isNone(stored)) return false
        if (stored.value.refreshToken !== undefined) return true
        return stored.value.isValidAt(yield* DateTime.now, minTtl ?? defaultMinTtl)
      })

    const clear = (clearOptions?: { readonly revoke?: boolean | undefined }) =>
      store.withLock(
        key,
        Effect.gen(function*() {
          const revocation = clearOptions?.revoke === true
            ? yield* Effect.either(
              store.get(key).pipe(
                Effect.mapError((error) =>
                  new RenewalFailed({
                    reason: "Unexpected",
                    description: `the stored entry could not be read to revoke its refresh token (${error.description})`
                  })
                ),
                Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: renewRevoke }))
              )
            )
            : undefined
          yield* Effect.uninterruptible(
            Effect.zipRight(store.remove(key), Effect.zipRight(publish(Option.none()), forget))
          )
          if (revocation !== undefined && revocation._tag === "Left") {
            return yield* new RenewalFailed({
              reason: revocation.left.reason,
              description: `credentials removed locally, but revocation failed: ${revocation.left.description}`,
              cause: revocation.left.cause
            })
          }
        })
      )

    const renewRevoke = (current: Credentials): Effect.Effect<void, RenewalFailed> =>
      withPolicy(strategy.revoke(current), () => Effect.void).pipe(
        Effect.mapError((error) =>
          error._tag === "RenewalFailed" ? error : new RenewalFailed({
            reason: isTransient(error) ? "Transient" : "Unexpected",
            description: error.message,
            cause: error._tag === "LoginRequired" ? undefined : error
          })
        )
      )

    return Renewer.of({
      key,
      get,
      save,
      hasValid,
      clear,
      changes: state.changes
    })
  })

/**
 * A `Renewer` for one session key; needs a `TokenStore` and a
 * `RenewalStrategy`. Renewals run in the layer's scope, so that a caller's
 * interruption never interrupts a renewal already sent, nor the save of its
 * result.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Renewer, never, TokenStore | RenewalStrategy> =>
  Layer.scoped(Renewer, make(options))
