import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { type RenewerError, StoreError } from "../AuthError.js"
import type { Credentials } from "../Credentials.js"
import type { TokenStore } from "../TokenStore.js"
import * as Metrics from "./metrics.js"
import type { Watch } from "./policy.js"

/**
 * What the `Renewer` tells a tracer and the metrics, in one place: the spans
 * of the slow path of `get`, of each renewal, of the wait for the store's
 * lock and of each store operation; the metrics of `./metrics.ts`. The hot
 * path (credentials known and valid) records nothing.
 *
 * A span never holds a token, a secret or the session key: a session is named
 * by {@link sessionHash}, and a span that ends with a `StoreError` ends with a
 * copy of it whose `key` is that name (its message would show the key).
 *
 * @internal
 */

/** Span names. @internal */
export const spanNames = {
  get: "effect-renewal.get",
  renewal: "effect-renewal.renewal",
  lock: "effect-renewal.lock",
  storeGet: "effect-renewal.store.get",
  storeSet: "effect-renewal.store.set",
  storeRemove: "effect-renewal.store.remove"
} as const

/** Span attribute keys. @internal */
export const attributes = {
  session: "effect-renewal.session",
  joined: "effect-renewal.joined",
  forceRefresh: "effect-renewal.force_refresh",
  target: "effect-renewal.target",
  entry: "effect-renewal.entry",
  attempts: "effect-renewal.attempts",
  outcome: "effect-renewal.outcome",
  reason: "effect-renewal.reason",
  strategy: "effect-renewal.strategy"
} as const

/**
 * Names a session in spans without showing its key: FNV-1a 64 of the key's
 * UTF-8 bytes, in 16 hex digits. Not a secret: a key that can be guessed (an
 * e-mail address) can be found by trying candidates; it tells sessions apart.
 *
 * @internal
 */
export const sessionHash = (key: string): string => {
  // in four 16-bit limbs, low first: the prime is 2^40 + 0x1b3
  let h0 = 0x2325, h1 = 0x8422, h2 = 0x9ce4, h3 = 0xcbf2
  for (const byte of new TextEncoder().encode(key)) {
    h0 ^= byte
    const t0 = h0 * 0x1b3
    const t1 = h1 * 0x1b3 + (t0 >>> 16)
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16)
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)
    h0 = t0 & 0xffff
    h1 = t1 & 0xffff
    h2 = t2 & 0xffff
    h3 = t3 & 0xffff
  }
  return [h3, h2, h1, h0].map((limb) => limb.toString(16).padStart(4, "0")).join("")
}

/**
 * How a renewal ended, as the `outcome` attribute and metric tag (with the
 * error's `reason`, when it has one): `success` (credentials renewed and
 * saved), `already_valid` (no request: the store held credentials that meet
 * the request, renewed by another renewer or process), the error's tag,
 * `interrupted` (the Renewer's scope closed) or `defect`.
 *
 * @internal
 */
export const outcomeOf = (
  exit: Exit.Exit<unknown, RenewerError>,
  attempts: number
): { readonly outcome: string; readonly reason: string | undefined } => {
  if (Exit.isSuccess(exit)) return { outcome: attempts === 0 ? "already_valid" : "success", reason: undefined }
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    const error = failure.value
    return { outcome: error._tag, reason: error._tag === "StoreError" ? undefined : error.reason }
  }
  return { outcome: Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "defect", reason: undefined }
}

/** What a renewal's span is kept in, for the callers who join it to link to. @internal */
export interface Spanned {
  span: Tracer.Span | undefined
}

const storeErrorsByOperation = new Map<string, Metric.Metric.Counter<number>>()
const countStoreErrors = (cause: Cause.Cause<unknown>): Effect.Effect<void> | undefined => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None" || !(failure.value instanceof StoreError)) return undefined
  const { operation } = failure.value
  let counter = storeErrorsByOperation.get(operation)
  if (counter === undefined) {
    counter = Metric.tagged(Metrics.storeErrors, "operation", operation)
    storeErrorsByOperation.set(operation, counter)
  }
  return Metric.increment(counter)
}

// tagged once per outcome and reason seen
const renewalMetrics = new Map<string, readonly [Metric.Metric.Counter<number>, Metric.Metric.Histogram<number>]>()
const renewalMetricsFor = (outcome: string, reason: string | undefined) => {
  const name = `${outcome}/${reason ?? ""}`
  let found = renewalMetrics.get(name)
  if (found === undefined) {
    const tag = MetricLabel.make("outcome", outcome)
    found = [
      Metric.taggedWithLabels(
        Metrics.renewals,
        reason === undefined ? [tag] : [tag, MetricLabel.make("reason", reason)]
      ),
      Metric.taggedWithLabels(Metrics.renewalDuration, [tag])
    ]
    renewalMetrics.set(name, found)
  }
  return found
}

/**
 * The tracing of one `Renewer` (one session key). Its state is the key, the
 * name of the session and the clock; the methods live on the prototype.
 *
 * @internal
 */
export class Tracing {
  constructor(
    private readonly key: string,
    readonly session: string,
    readonly now: () => number,
    private readonly strategy: string | undefined
  ) {}

  /** The exit a span ends with: a `StoreError` names the session by its hash, and carries no credentials. */
  scrub<A, E>(exit: Exit.Exit<A, E>): Exit.Exit<A, E> {
    if (Exit.isSuccess(exit) || Option.isNone(Cause.find(exit.cause, storeFailure))) return exit
    // what a `StoreError` in a span says instead of the key
    const label = `<session ${this.session}>`
    return Exit.failCause(Cause.map(exit.cause, (error) =>
      error instanceof StoreError
        ? new StoreError({
          operation: error.operation,
          key: error.key === this.key ? label : `${label} (API credentials)`,
          description: error.description
        }) as E
        : error))
  }

  /**
   * `f` in a span named `name` (a child of `options.parent`, else of the
   * current span). The spans `f` opens are not its children: installing a
   * span as the parent copies the context, which only a renewal pays for.
   * Ended by `useSpan`, except on a `StoreError`: then with the scrubbed exit.
   *
   * Under Effect's built-in tracer (no tracer provided: its spans go nowhere)
   * no span is made and `f` gets `undefined`: the slow path then costs what
   * it cost before tracing.
   */
  span<A, E, R>(
    name: string,
    options: Tracer.SpanOptions,
    f: (span: Tracer.Span | undefined) => Effect.Effect<A, E, R>,
    onFailure?: (cause: Cause.Cause<E>) => Effect.Effect<void> | undefined
  ): Effect.Effect<A, E, R> {
    return Effect.withFiberRuntime((fiber) => {
      if (Context.get(fiber.currentDefaultServices, Tracer.Tracer) === nativeTracer) {
        return onFailure === undefined
          ? f(undefined)
          : Effect.tapErrorCause(f(undefined), (cause) => onFailure(cause) ?? Effect.void)
      }
      return Effect.useSpan(name, options, (span) =>
        Effect.tapErrorCause(f(span), (cause) => {
          const scrubbed = Option.isSome(Cause.find(cause, storeFailure))
            ? this.end(span, Exit.failCause(cause))
            : undefined
          const more = onFailure?.(cause)
          return scrubbed === undefined
            ? more ?? Effect.void
            : more === undefined
            ? scrubbed
            : Effect.zipRight(scrubbed, more)
        }))
    })
  }

  /** Ends `span` with the scrubbed `exit`, unless it has ended. */
  end(span: Tracer.Span, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.withFiberRuntime((fiber) => {
      if (span.status._tag !== "Ended") {
        const time = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
          ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos()
          : 0n
        span.end(time, this.scrub(exit))
      }
      return Effect.void
    })
  }

  /**
   * The slow path of a `get`, given its span: the renewal it starts names it
   * as its parent, and `joined` turns true when the caller joins a renewal in
   * flight.
   */
  get<A, E, R>(
    forceRefresh: boolean,
    f: (span: Tracer.Span | undefined) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> {
    return this.span(spanNames.get, {
      attributes: {
        [attributes.session]: this.session,
        [attributes.joined]: false,
        [attributes.forceRefresh]: forceRefresh
      },
      captureStackTrace: false
    }, f)
  }

  /**
   * A renewal, run on its flight's fiber: its span is a child of the span of
   * the `get` that started it, the parent of the spans of what the renewal
   * does (store, lock, request), and is kept in `flight` for the callers who
   * join. When it ends: the outcome, the attempts the policy made, the
   * metrics, then `ended` (its log line: one `onExit` for both).
   */
  renewal<A, E extends RenewerError>(
    parent: Tracer.Span | undefined,
    flight: Spanned,
    forceRefresh: boolean,
    watch: Watch,
    effect: Effect.Effect<A, E>,
    ended: (outcome: string, reason: string | undefined) => Effect.Effect<void>
  ): Effect.Effect<A, E> {
    return this.span(spanNames.renewal, {
      ...(parent === undefined ? {} : { parent }),
      attributes: {
        [attributes.session]: this.session,
        [attributes.forceRefresh]: forceRefresh,
        ...(this.strategy === undefined ? {} : { [attributes.strategy]: this.strategy })
      },
      captureStackTrace: false
    }, (span) => {
      flight.span = span
      const measured = Effect.onExit(effect, (exit) => {
        const { outcome, reason } = outcomeOf(exit, watch.attempts)
        if (span !== undefined) {
          span.attribute(attributes.outcome, outcome)
          if (reason !== undefined) span.attribute(attributes.reason, reason)
          span.attribute(attributes.attempts, watch.attempts)
        }
        const [count, duration] = renewalMetricsFor(outcome, reason)
        return Effect.zipRight(
          Metric.increment(count),
          Effect.zipRight(
            Metric.update(duration, Math.max(0, this.now() - watch.startedAt) / 1000),
            ended(outcome, reason)
          )
        )
      })
      return span === undefined ? measured : Effect.withParentSpan(measured, span)
    })
  }

  /**
   * The caller of `span` awaits a renewal in flight: counted, its span marked
   * `joined` and linked to the renewal's span (now, or once the renewal's
   * fiber has made it).
   */
  join<A, E>(
    span: Tracer.Span | undefined,
    flight: Spanned & { readonly await: Effect.Effect<A, E> }
  ): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      if (span === undefined) return Effect.zipRight(Metric.increment(Metrics.joins), flight.await)
      span.attribute(attributes.joined, true)
      const known = flight.span
      if (known !== undefined) {
        link(span, known)
        return Effect.zipRight(Metric.increment(Metrics.joins), flight.await)
      }
      return Effect.zipRight(
        Metric.increment(Metrics.joins),
        Effect.ensuring(
          flight.await,
          Effect.sync(() => {
            if (flight.span !== undefined) link(span, flight.span)
          })
        )
      )
    })
  }

  /** The store as the `Renewer` uses it: each operation in a span, failures counted. */
  store(store: TokenStore.Service): TokenStore.Service {
    return new TracedStore(store, this)
  }

  /** The span of a store operation on `key`: the session, and whether the entry is the login's or API credentials (a derived key). */
  entry(key: string): Tracer.SpanOptions {
    return {
      attributes: { [attributes.session]: this.session, [attributes.entry]: key === this.key ? "login" : "api" },
      captureStackTrace: false
    }
  }
}

// what Effect uses when no tracer is provided: its spans go nowhere
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

const link = (from: Tracer.Span, to: Tracer.Span) => from.addLinks([{ _tag: "SpanLink", span: to, attributes: {} }])

const storeFailure = (reason: Cause.Cause<unknown>): Option.Option<true> =>
  reason._tag === "Fail" && reason.error instanceof StoreError ? Option.some(true) : Option.none()

/** Notes the target of a renewal (the login's credentials or API credentials) on its span. @internal */
export const annotateTarget = (api: boolean): Effect.Effect<void> =>
  // not `Effect.annotateCurrentSpan`: with tracing disabled it fails and
  // recovers, and the failure costs an `Error` with its stack
  Effect.map(Effect.serviceOption(Tracer.ParentSpan), (parent) => {
    if (parent._tag === "Some" && parent.value._tag === "Span") {
      parent.value.attribute(attributes.target, api ? "api" : "login")
    }
  })

class TracedStore implements TokenStore.Service {
  constructor(private readonly store: TokenStore.Service, private readonly tracing: Tracing) {}

  get(key: string): Effect.Effect<Option.Option<Credentials>, StoreError> {
    return this.operation(spanNames.storeGet, key, this.store.get(key))
  }

  set(key: string, credentials: Credentials): Effect.Effect<void, StoreError> {
    return this.operation(spanNames.storeSet, key, this.store.set(key, credentials))
  }

  remove(key: string): Effect.Effect<void, StoreError> {
    return this.operation(spanNames.storeRemove, key, this.store.remove(key))
  }

  /**
   * The wait for the lock is a span of its own, ended when the section
   * starts. A failure to take the lock is counted. (Spans the store opens to
   * take its lock are beside it, not under it: making it their parent would
   * copy the context twice per renewal.)
   */
  withLock<A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> {
    const { store, tracing } = this
    return tracing.span(spanNames.lock, tracing.entry(key), (span) => {
      const start = tracing.now()
      let entered = false
      const section = Effect.zipRight(
        Effect.suspend(() => {
          entered = true
          const waited = Metric.update(Metrics.lockWait, Math.max(0, tracing.now() - start) / 1000)
          return span === undefined ? waited : Effect.zipRight(tracing.end(span, Exit.void), waited)
        }),
        effect
      )
      return Effect.tapErrorCause(
        store.withLock(key, section),
        (cause) => entered ? Effect.void : countStoreErrors(cause) ?? Effect.void
      )
    })
  }

  private operation<A>(
    name: string,
    key: string,
    effect: Effect.Effect<A, StoreError>
  ): Effect.Effect<A, StoreError> {
    return this.tracing.span(name, this.tracing.entry(key), () => effect, countStoreErrors)
  }
}

/** @internal */
export const make = (key: string, now: () => number, strategy?: string): Tracing =>
  new Tracing(key, sessionHash(key), now, strategy)
