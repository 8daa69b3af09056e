import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { classify, isRetryable, RenewalFailed, type RenewerError, type StoreError } from "../AuthError.js"
import type { Credentials } from "../Credentials.js"
import { RenewalPolicy } from "../RenewalPolicy.js"
import { RenewalStrategy } from "../RenewalStrategy.js"
import type * as Renewer from "../Renewer.js"
import { TokenStore } from "../TokenStore.js"
import * as Durations from "./durations.js"
import * as Knowledge from "./knowledge.js"
import * as Logs from "./logs.js"
import * as MinTtl from "./minTtl.js"
import * as Policy from "./policy.js"
import * as RefreshAhead from "./refreshAhead.js"
import * as Renewal from "./renewal.js"
import * as Scope_ from "./scope.js"
import * as SingleFlight from "./singleFlight.js"
import * as StoreKeys from "./storeKeys.js"
import * as Timers from "./timers.js"
import * as Tracing from "./tracing.js"

const liveClock = Clock.make()

const invalid = (description: string) => new RenewalFailed({ reason: "InvalidRequest", description })

const shutdown = () =>
  new RenewalFailed({ reason: "Shutdown", description: "the Renewer's scope was closed: no renewal can run" })

/** A `minTtl` option in millis, or why it cannot be used. @internal */
export const decodeMinTtl = (input: unknown, name = "minTtl"): number | RenewalFailed => {
  const millis = Durations.decode(input, name)
  return typeof millis === "number" ? millis : invalid(millis)
}

/**
 * What `Sessions` gives the renewers it makes, beyond the public options.
 *
 * @internal
 */
export interface Internals {
  /** Wraps the requests of each renewal (bounds them across keys). */
  readonly gate?: Renewal.Gate | undefined
}

/** @internal */
export const make = (options: Renewer.Options = {}, internals?: Internals) =>
  Effect.gen(function*() {
    const sessionKey = options.key ?? "default"
    // the store key of the session's own entry: every store operation below
    // goes by it, and the API credentials' keys derive from it
    const key = StoreKeys.entryKey(sessionKey)
    const shared = yield* TokenStore
    const strategy = yield* RenewalStrategy
    const policy = yield* RenewalPolicy
    // an unusable default minTtl fails every `get` with a typed error
    const configured = decodeMinTtl(options.minTtl ?? policy.minTtl, "the Renewer's minTtl")
    const defaultMinTtl = typeof configured === "number" ? configured : 0
    // refresh ahead and stale-if-error: unusable settings fail every `get` too
    const ahead = options.refreshAhead === undefined ? undefined : decodeRefreshAhead(options.refreshAhead)
    const staleSetting = options.staleIfError === undefined ? 0 : decodeMinTtl(options.staleIfError, "staleIfError")
    const badSetting = [configured, ahead, staleSetting].find((setting) => setting instanceof RenewalFailed)
    const misconfigured = badSetting === undefined ? undefined : Effect.fail(badSetting)
    const defaultStale = typeof staleSetting === "number" ? staleSetting : 0
    // captured once, so that the hot path reads time synchronously (under a
    // TestClock, the TestClock)
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    // the store in spans: every operation this renewer makes goes through it
    const tracing = new Tracing.Tracing(key, Tracing.sessionHash(key), now, strategy.name)
    const store = tracing.store(shared)
    // Renewals and their timers run in a scope of their own, made with the
    // first renewal and closed by the finalizer below, after a request
    // already sent has had its chance to finish.
    // (Once closed, what asks for it gets a closed one: nothing runs.)
    let renewals: Scope.CloseableScope | undefined
    let closed = false
    const renewalsScope: Effect.Effect<Scope.Scope> = Effect.suspend(() =>
      renewals !== undefined
        ? Effect.succeed(renewals)
        : closed
        ? Effect.tap(Scope.make(), (made) => Scope.close(made, Exit.void))
        : Effect.map(Scope.make(), (made) => renewals ??= made)
    )

    // A store shared with other processes says when one of them changed the
    // entry: nothing known is handed out before the store is read again, and
    // `changes` subscribers hear of it at once. Registered before the first
    // read, so that no change between the two goes unseen.
    let knowledge: Knowledge.Knowledge | undefined
    let changedEarly = false
    if (shared.watch !== undefined) {
      yield* shared.watch(
        key,
        Effect.suspend(() => {
          if (knowledge === undefined) {
            changedEarly = true
            return Effect.void
          }
          knowledge.invalidate()
          return knowledge.watched() ? Effect.asVoid(peek) : Effect.void
        })
      )
    }

    // what the store held when the layer was built (a store that cannot be
    // read now is read again by the first `get`)
    const initial = yield* Effect.orElseSucceed(store.get(key), () => Option.none<Credentials>())
    // the default minTtl is bounded by the lifetime, one given is not (see MinTtl.required)
    const bounded = options.minTtl === undefined
    knowledge = Knowledge.make(initial, defaultMinTtl, now, bounded)
    if (changedEarly) knowledge.invalidate()
    const flights = SingleFlight.make<Credentials, RenewerError>(renewalsScope, shutdown)
    const revocations = SingleFlight.make<void, RenewalFailed>(renewalsScope, shutdown)
    const runner = Policy.make(policy, clock, Timers.make(clock, renewalsScope))
    const renewal = Renewal.make({
      key,
      store,
      strategy,
      knowledge,
      runner,
      clock,
      closing: () => flights.closed() ? shutdown() : undefined,
      gate: internals?.gate
    })

    // A read of the store without the lock; what it finds is taken only if
    // nothing was learnt meanwhile (a write, or another change notified).
    const peek: Effect.Effect<Option.Option<Credentials> | undefined> = Effect.suspend(() => {
      const before = knowledge.version()
      return Effect.match(store.get(key), {
        onFailure: () => undefined,
        onSuccess: (stored) => {
          if (knowledge.version() !== before) return undefined
          knowledge.observe(stored)
          return stored
        }
      })
    })

    // Closing: callers get `Shutdown` at once; a request already sent may
    // finish (for at most `attemptTimeout`) and its answer is saved; then the
    // renewals' scope closes and `changes` ends. The bound is counted on the
    // Clock and in real time, whichever ends first: under a TestClock nobody
    // advances the clock while a test's scope closes.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        const running = Effect.zip(flights.close(), revocations.close())
        return Effect.zipRight(
          renewals === undefined ? Effect.void : Effect.zipRight(
            // finalizers run uninterruptibly: the race's losers must be interruptible
            Effect.interruptible(
              Effect.raceAll([running, clock.sleep(policy.attemptTimeout), liveClock.sleep(policy.attemptTimeout)])
            ),
            Scope.close(renewals, Exit.void)
          ),
          knowledge.close
        )
      })
    )

    const flightKey = (request: Renewal.Request) =>
      request.audience === undefined && request.scope === undefined
        ? ""
        : JSON.stringify([request.audience ?? null, request.scope === undefined ? null : Scope_.key(request.scope)])

    // A renewal's callers are watched from the start (the wait for the lock
    // counts towards their deadline); the renewal runs inside the lock, in a
    // span of its own under the span of the caller that started it.
    const lead = (request: Renewal.Request, flight: string, span: Tracer.Span | undefined) =>
      flights.start(flight, (started) =>
        Effect.flatMap(
          runner.watch((error) => started.release(Exit.fail(error))),
          (watch) =>
            Effect.zipRight(
              Logs.onFlightFiber(tracing.session),
              tracing.renewal(
                span,
                started,
                request.forceRefresh,
                watch,
                Effect.ensuring(
                  knowledge.stale()
                    ? Effect.flatMap(peek, (stored) => {
                      const found = stored === undefined ? undefined : known(request, Option.getOrUndefined(stored))
                      return found ?? store.withLock(key, renewal.renew(request, watch))
                    })
                    : store.withLock(key, renewal.renew(request, watch)),
                  Effect.sync(watch.stop)
                ),
                (outcome, reason) => Logs.renewalEnded(outcome, reason, watch, now)
              )
            )
        ))

    // What is known that meets `request` now, given the login's credentials.
    const knownFor = (request: Renewal.Request, login: Credentials | undefined): Credentials | undefined => {
      if (login === undefined) return undefined
      const to = Renewal.target(request, login.scope)
      return to.name === undefined ? login : knowledge.api(to.name)
    }
    const known = (request: Renewal.Request, login: Credentials | undefined) => {
      const found = knownFor(request, login)
      return found !== undefined && Renewal.satisfies(found, request, now(), issuedFor(request, login))
        ? Effect.succeed(found)
        : undefined
    }
    // the lifetime credentials for the request's target were last issued with
    const issuedFor = (request: Renewal.Request, login: Credentials | undefined) =>
      knowledge.issued(Renewal.target(request, login?.scope).name ?? "")

    // Joins a renewal in flight for the same target (a forced refresh only a
    // forced one). If its outcome does not meet this caller's minTtl, this
    // caller tries once more, through a shared flight again: no caller gets
    // credentials that do not satisfy its request.
    const slow = (
      request: Renewal.Request,
      fallback: boolean,
      span: Tracer.Span | undefined
    ): Effect.Effect<Credentials, RenewerError> =>
      Effect.suspend(() => {
        const base = flightKey(request)
        const forced = flights.current(`${base}!`)
        const current = request.forceRefresh ? forced : flights.current(base) ?? forced
        if (current === undefined) {
          return lead(request, request.forceRefresh ? `${base}!` : base, span)
        }
        const again = () => fallback ? slow({ ...request, forceRefresh: false }, false, span) : undefined
        return Effect.matchEffect(tracing.join(span, current), {
          onSuccess: (credentials) =>
            Renewal.satisfies(
                credentials,
                { ...request, forceRefresh: false },
                now(),
                issuedFor(request, knowledge.login())
              )
              ? Effect.succeed(credentials)
              : again() ?? Effect.fail(Renewal.ttlUnreachable(
                Renewal.lifetimeLeft(credentials, now()),
                MinTtl.required(request.minTtl, request.bounded, issuedFor(request, knowledge.login())),
                "no renewal was attempted"
              )),
          onFailure: (error) =>
            error._tag === "RenewalFailed" && error.reason === "TtlUnreachable"
              ? again() ?? Effect.fail(error)
              : Effect.fail(error)
        })
      })

    const defaultRequest: Renewal.Request = {
      audience: undefined,
      scope: undefined,
      minTtl: defaultMinTtl,
      bounded,
      forceRefresh: false,
      parameters: undefined
    }
    // Stale-if-error: after a transient failure, what is known for the
    // request's target, if it has not expired and went stale (expiry minus
    // minTtl) less than `bound` ago.
    // Never for a forced refresh: it asks for other credentials than these
    // (e.g. after an API rejected them).
    const orStale = (request: Renewal.Request, bound: number, effect: Effect.Effect<Credentials, RenewerError>) =>
      bound <= 0 || request.forceRefresh ? effect : Effect.catchIf(effect, isRetryable, (error) => {
        // what the store says may have changed (a logout elsewhere) is never handed out
        const found = knowledge.stale() ? undefined : knownFor(request, knowledge.login())
        if (found === undefined) return Effect.fail(error)
        const expiresAt = DateTime.toEpochMillis(found.expiresAt)
        const at = now()
        const minTtl = MinTtl.required(request.minTtl, request.bounded, issuedFor(request, knowledge.login()))
        return at < expiresAt && at < expiresAt - minTtl + bound
          ? Effect.as(Logs.staleServed(tracing.session, error, found, at), found)
          : Effect.fail(error)
      })

    // the hot path: one synchronous check of a plain reference (no span, no
    // metric); the slow path in a span
    const getDefault = misconfigured ??
      knowledge.hot(
        tracing.get(false, (span) => orStale(defaultRequest, defaultStale, slow(defaultRequest, true, span)))
      )

    const get = (getOptions?: Renewer.GetOptions): Effect.Effect<Credentials, RenewerError> => {
      if (
        getOptions === undefined ||
        (getOptions.minTtl === undefined && getOptions.scope === undefined && getOptions.audience === undefined &&
          getOptions.forceRefresh !== true && getOptions.parameters === undefined &&
          getOptions.staleIfError === undefined)
      ) {
        return getDefault
      }
      if (misconfigured !== undefined) return misconfigured
      const minTtl = getOptions.minTtl === undefined ? defaultMinTtl : decodeMinTtl(getOptions.minTtl)
      if (typeof minTtl !== "number") return Effect.fail(minTtl)
      const stale = getOptions.staleIfError === undefined
        ? defaultStale
        : decodeMinTtl(getOptions.staleIfError, "staleIfError")
      if (typeof stale !== "number") return Effect.fail(stale)
      const request: Renewal.Request = {
        audience: getOptions.audience,
        scope: getOptions.scope,
        minTtl,
        bounded: bounded && getOptions.minTtl === undefined,
        forceRefresh: getOptions.forceRefresh === true,
        parameters: getOptions.parameters
      }
      return Effect.suspend(() =>
        (knowledge.stale() ? undefined : known(request, knowledge.login())) ??
          tracing.get(request.forceRefresh, (span) => orStale(request, stale, slow(request, true, span)))
      )
    }

    // The write and what the renewer knows of it go together: an interrupted
    // caller cannot leave the hot path serving what the store no longer holds.
    // A new login replaces the session's API credentials too; if it cannot be
    // written after they were removed, the renewer knows the store is empty.
    const save = (credentials: Credentials): Effect.Effect<void, StoreError> =>
      store.withLock(
        key,
        Effect.uninterruptible(
          Effect.zipRight(
            store.remove(key),
            store.set(key, credentials).pipe(
              Effect.tapError(() => Effect.sync(() => knowledge.reset(undefined))),
              Effect.zipRight(Effect.sync(() => knowledge.reset(credentials)))
            )
          )
        )
      )

    const hasValid = (minTtl?: Duration.DurationInput): Effect.Effect<boolean, StoreError | RenewalFailed> =>
      Effect.gen(function*() {
        // an unusable minTtl fails as `get` does, before anything is read
        const millis = minTtl === undefined ? defaultMinTtl : decodeMinTtl(minTtl)
        if (typeof millis !== "number") return yield* millis
        // read without the lock: a renewal may finish meanwhile
        const before = knowledge.version()
        const stored = yield* store.get(key)
        if (knowledge.version() === before) knowledge.observe(stored)
        if (Option.isNone(stored)) return false
        if (stored.value.refreshToken !== undefined) return true
        return Renewal.satisfies(
          stored.value,
          { ...defaultRequest, minTtl: millis, bounded: bounded && minTtl === undefined },
          now(),
          knowledge.issued("")
        )
      })

    // Revocation runs under the policy like a renewal: on a fiber of its own
    // in the renewals' scope (the policy may abandon it, never the caller's
    // fiber), its caller released at the deadline at the latest.
    const revoke = (current: Credentials): Effect.Effect<void, RenewalFailed> =>
      revocations.start("revoke", (started) =>
        Effect.flatMap(
          runner.watch((error) => started.release(Exit.fail(error))),
          (watch) =>
            Effect.ensuring(
              Effect.uninterruptible(runner.run(strategy.revoke(current), watch)),
              Effect.sync(watch.stop)
            )
        ).pipe(
          Effect.mapError((error) =>
            error._tag === "RenewalFailed" ? error : new RenewalFailed({
              reason: classify(error) === "Transient" ? "Transient" : "Unexpected",
              description: error.message,
              cause: error
            })
          )
        ))

    const clear = (clearOptions?: Renewer.ClearOptions): Effect.Effect<void, RenewerError> =>
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
                Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: revoke }))
              )
            )
            : undefined
          yield* Effect.uninterruptible(
            Effect.zipRight(store.remove(key), Effect.sync(() => knowledge.reset(undefined)))
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

    const service: Renewer.Renewer.Service = {
      key: sessionKey,
      get,
      save,
      hasValid,
      clear,
      // built when first asked for
      get changes() {
        return knowledge.changes
      }
    }
    // refresh ahead: one fiber in the renewer's scope, interrupted first when
    // it closes
    if (ahead !== undefined && !(ahead instanceof RenewalFailed)) {
      yield* Effect.forkScoped(RefreshAhead.run(service, ahead))
    }
    return service
  })

const decodeRefreshAhead = (options: Renewer.RefreshAheadOptions): RefreshAhead.Settings | RenewalFailed => {
  const lead = decodeMinTtl(options.lead, "refreshAhead.lead")
  if (typeof lead !== "number") return lead
  const jitter = options.jitter === undefined ? 0 : decodeMinTtl(options.jitter, "refreshAhead.jitter")
  if (typeof jitter !== "number") return jitter
  const retryInterval = options.retryInterval === undefined
    ? 30_000
    : decodeMinTtl(options.retryInterval, "refreshAhead.retryInterval")
  if (typeof retryInterval !== "number") return retryInterval
  if (retryInterval <= 0) return invalid("refreshAhead.retryInterval must be more than zero")
  return { lead, jitter, retryInterval }
}
