/**
 * What the `Renewer` tells a tracer and the metrics, collected the way an
 * application collects them: through `@effect/opentelemetry` into the
 * OpenTelemetry SDK's in-memory exporters, with a Renewer on the in-memory
 * emulator. Span names, parent-child links, the joined flag and its link,
 * the metrics' names and values; and no token, secret or session key in any
 * attribute, event, link or status message.
 */
import {
  AuthenticationClient,
  AuthError,
  type Credentials,
  RenewalMetrics,
  RenewalStrategy,
  Renewer,
  TokenStore
} from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { describe, expect, it } from "@effect/vitest"
import type { Attributes } from "@opentelemetry/api"
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { forms } from "./support/secrets.js"

const SESSION_KEY = "alice@example.com/session-Vq7Zr2Lk"
const CLIENT_SECRET = "cs+Hb4/Nx8=Tw3&Jq6?Pm"

// -----------------------------------------------------------------------------
// The stack, and what is collected from it
// -----------------------------------------------------------------------------

const collector = () => {
  const spans = new InMemorySpanExporter()
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // exports only when flushed
  const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 3_600_000 })
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "effect-renewal-test" },
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader
  }))
  /** The value of each exported series now: `name{tag=value,...}`; a histogram by its count. */
  const metricValues = Effect.promise(async () => {
    await reader.forceFlush()
    const values = new Map<string, number>()
    for (const resource of metrics.getMetrics().slice(-1)) {
      for (const scope of resource.scopeMetrics) {
        for (const metric of scope.metrics) {
          for (const point of metric.dataPoints) {
            const tags = Object.entries(point.attributes).map(([k, v]) => `${k}=${String(v)}`).sort().join(",")
            const value = metric.dataPointType === DataPointType.HISTOGRAM
              ? (point.value as { count: number }).count
              : point.value as number
            values.set(`${metric.descriptor.name}{${tags}}`, value)
          }
        }
      }
    }
    metrics.reset()
    return values
  })
  return { spans, layer, metricValues }
}

/** What moved between two readings of the metrics (the registry is the process's). */
const moved = (before: Map<string, number>, after: Map<string, number>) => {
  const changes: Record<string, number> = {}
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0)
    if (delta !== 0 && key.startsWith("effect_renewal_")) changes[key] = delta
  }
  return changes
}

const stack = (store: Layer.Layer<TokenStore.TokenStore> = TokenStore.layerMemory) =>
  Renewer.layer({ key: SESSION_KEY }).pipe(
    Layer.provideMerge(RenewalStrategy.refreshToken),
    Layer.provideMerge(store),
    Layer.provideMerge(
      Layer.unwrapEffect(Effect.map(Emulator.Emulator, (emulator) =>
        AuthenticationClient.layer({
          domain: Fixtures.memoryDomain,
          clientId: emulator.clientId,
          clientSecret: Redacted.make(CLIENT_SECRET)
        }))).pipe(Layer.orDie)
    ),
    Layer.provideMerge(Emulator.layerMemory({ clientSecret: CLIENT_SECRET }))
  )

const loggedIn = Effect.gen(function*() {
  const credentials = yield* Fixtures.login()
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
  return credentials
})

const stored = Effect.flatMap(TokenStore.TokenStore, (store) => store.get(SESSION_KEY))

// -----------------------------------------------------------------------------
// Reading spans
// -----------------------------------------------------------------------------

const idOf = (span: ReadableSpan) => span.spanContext().spanId
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId
const named = (spans: ReadonlyArray<ReadableSpan>, name: string) => spans.filter((span) => span.name === name)
const only = (spans: ReadonlyArray<ReadableSpan>, name: string) => {
  const found = named(spans, name)
  expect(found.map((span) => span.name)).toEqual([name])
  return found[0]!
}

/** FNV-1a 64 of the UTF-8 bytes, in hex: written again here, from its definition. */
const fnv1a64 = (text: string) => {
  let hash = 14695981039346656037n
  for (const byte of Buffer.from(text, "utf8")) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 1099511628211n)
  return hash.toString(16).padStart(16, "0")
}

const tokensOf = (credentials: Credentials.Credentials | undefined): ReadonlyArray<string> =>
  credentials === undefined ? [] : [credentials.accessToken, credentials.refreshToken, credentials.idToken].flatMap(
    (token) => token === undefined ? [] : [Redacted.value(token)]
  )

/** Every text a span shows: its name, attributes, events, links and status. */
const textsOf = (span: ReadableSpan): ReadonlyArray<string> => {
  const ofAttributes = (attributes: Attributes | undefined) =>
    Object.entries(attributes ?? {}).flatMap(([key, value]) => [key, JSON.stringify(value) ?? ""])
  return [
    span.name,
    ...ofAttributes(span.attributes),
    ...span.events.flatMap((event) => [event.name, ...ofAttributes(event.attributes)]),
    ...span.links.flatMap((link) => ofAttributes(link.attributes)),
    span.status.message ?? ""
  ]
}

const expectNoSecret = (spans: ReadonlyArray<ReadableSpan>, secrets: ReadonlyArray<string>) => {
  expect(secrets.length).toBeGreaterThan(0)
  for (const span of spans) {
    for (const text of textsOf(span)) {
      for (const secret of secrets) {
        for (const form of forms(secret)) {
          if (text.includes(form)) expect.fail(`span "${span.name}": "${form.slice(0, 6)}…" in ${text.slice(0, 300)}`)
        }
      }
    }
  }
}

const sessionAttribute = { "effect-renewal.session": fnv1a64(SESSION_KEY) }

// -----------------------------------------------------------------------------

describe("Renewer tracing and metrics", () => {
  it("the session's name is FNV-1a 64 of the key (checked against the reference values)", () => {
    expect(fnv1a64("")).toBe("cbf29ce484222325")
    expect(fnv1a64("a")).toBe("af63dc4c8601ec8c")
    expect(fnv1a64("foobar")).toBe("85944171f73967e8")
    expect(fnv1a64("default")).toBe("ebada5168620c5fe") // as docs/observability.md says
  })

  it.effect("two concurrent gets at expiry: one renewal under the leading get, one join linked to it", () => {
    const { layer, metricValues, spans } = collector()
    return Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      yield* TestClock.adjust("2 hours")
      spans.reset()
      const before = yield* metricValues
      const joinsBefore = (yield* Metric.value(RenewalMetrics.joins)).count

      const [first, second] = yield* Effect.all([
        Effect.withSpan(renewer.get(), "caller-1"),
        Effect.withSpan(renewer.get(), "caller-2")
      ], { concurrency: "unbounded" })
      expect(Redacted.value(first.accessToken)).toBe(Redacted.value(second.accessToken))

      const finished = spans.getFinishedSpans()
      const gets = named(finished, "effect-renewal.get")
      expect(gets).toHaveLength(2)
      const leader = gets.find((span) => span.attributes["effect-renewal.joined"] === false)!
      const joiner = gets.find((span) => span.attributes["effect-renewal.joined"] === true)!
      expect(leader).toBeDefined()
      expect(joiner).toBeDefined()
      // each get under its caller's span
      const callers = new Map(finished.filter((s) => s.name.startsWith("caller-")).map((s) => [idOf(s), s.name]))
      expect(new Set(gets.map((span) => callers.get(parentOf(span)!)))).toEqual(new Set(["caller-1", "caller-2"]))
      expect(leader.attributes).toMatchObject({ ...sessionAttribute, "effect-renewal.force_refresh": false })

      // the renewal under the get that led it; the joiner links to it
      const renewal = only(finished, "effect-renewal.renewal")
      expect(parentOf(renewal)).toBe(idOf(leader))
      expect(renewal.attributes).toMatchObject({
        ...sessionAttribute,
        "effect-renewal.outcome": "success",
        "effect-renewal.attempts": 1,
        "effect-renewal.target": "login",
        "effect-renewal.force_refresh": false,
        "effect-renewal.strategy": "refresh_token"
      })
      expect(renewal.attributes["effect-renewal.reason"]).toBeUndefined()
      expect(joiner.links.map((link) => link.context.spanId)).toEqual([idOf(renewal)])
      expect(leader.links).toEqual([])

      // the wait for the lock, the store's operations and the request, under the renewal
      const lock = only(finished, "effect-renewal.lock")
      expect(parentOf(lock)).toBe(idOf(renewal))
      expect(lock.attributes).toMatchObject({ ...sessionAttribute, "effect-renewal.entry": "login" })
      const storeOps = finished.filter((span) => span.name.startsWith("effect-renewal.store."))
      expect(storeOps.map((span) => span.name)).toEqual(["effect-renewal.store.get", "effect-renewal.store.set"])
      for (const span of storeOps) expect(parentOf(span)).toBe(idOf(renewal))
      const http = only(finished, "http.client POST")
      expect(parentOf(http)).toBe(idOf(renewal))
      // everything in one trace
      expect(new Set(finished.map((span) => span.spanContext().traceId)).size).toBe(2) // one per caller
      expect(renewal.spanContext().traceId).toBe(leader.spanContext().traceId)

      // one renewal, one join, one lock wait; nothing failed
      expect(moved(before, yield* metricValues)).toEqual({
        "effect_renewal_renewals{outcome=success}": 1,
        "effect_renewal_renewal_duration_seconds{outcome=success}": 1,
        "effect_renewal_joins{}": 1,
        "effect_renewal_lock_wait_seconds{}": 1
      })
      // the same metric, read through the public module
      expect((yield* Metric.value(RenewalMetrics.joins)).count - joinsBefore).toBe(1)

      const renewed = Option.getOrUndefined(yield* stored)
      expect(tokensOf(renewed)).toHaveLength(3)
      expectNoSecret(finished, [...tokensOf(login), ...tokensOf(renewed), CLIENT_SECRET, SESSION_KEY])
    }).pipe(Effect.provide(Layer.merge(stack(), layer)))
  })

  it.effect("save and clear: the lock's span and the store's operations under the caller's span", () => {
    const { layer, spans } = collector()
    const store = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (memory) =>
        TokenStore.TokenStore.of({
          ...memory,
          withLock: (key, effect) =>
            Effect.zipRight(Effect.withSpan(Effect.void, "store's lock query"), memory.withLock(key, effect))
        }))
    )
    return Effect.gen(function*() {
      const login = yield* Fixtures.login()
      const renewer = yield* Renewer.Renewer
      spans.reset()
      yield* Effect.withSpan(renewer.save(login), "caller")
      const finished = spans.getFinishedSpans()
      const caller = only(finished, "caller")
      const lock = only(finished, "effect-renewal.lock")
      expect(lock.attributes).toMatchObject({ ...sessionAttribute, "effect-renewal.entry": "login" })
      // the store's own spans beside the lock's (a leaf), everything under the caller
      for (
        const name of [
          "effect-renewal.lock",
          "store's lock query",
          "effect-renewal.store.remove",
          "effect-renewal.store.set"
        ]
      ) {
        expect(parentOf(only(finished, name))).toBe(idOf(caller))
      }
      // without a span around it, they are roots
      spans.reset()
      yield* renewer.clear()
      for (const span of spans.getFinishedSpans()) expect(parentOf(span)).toBeUndefined()
      expect(named(spans.getFinishedSpans(), "effect-renewal.store.remove")).toHaveLength(1)
    }).pipe(Effect.provide(Layer.merge(stack(store), layer)))
  })

  it.effect("without a tracer, no span is made (the renewal runs under the caller's span); metrics are recorded", () => {
    const seen: Array<string | undefined> = []
    const strategy = Fixtures.strategyFrom((current) =>
      Effect.map(Effect.option(Effect.currentSpan), (span) => {
        seen.push(Option.getOrUndefined(span)?.name)
        return current
      })
    )
    const successes = Metric.tagged(RenewalMetrics.renewals, "outcome", "success")
    return Effect.gen(function*() {
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(yield* Fixtures.credentials({ refreshToken: "r" }))
      const before = (yield* Metric.value(successes)).count
      const waits = (yield* Metric.value(RenewalMetrics.lockWait)).count
      yield* Effect.withSpan(renewer.get({ forceRefresh: true }), "caller")
      // Effect's built-in tracer: the strategy sees the caller's span, no span of the Renewer
      expect(seen).toEqual(["caller"])
      expect((yield* Metric.value(successes)).count - before).toBe(1)
      expect((yield* Metric.value(RenewalMetrics.lockWait)).count - waits).toBe(1)
    }).pipe(Effect.provide(
      Renewer.layer({ key: SESSION_KEY }).pipe(
        Layer.provideMerge(strategy),
        Layer.provideMerge(TokenStore.layerMemory)
      )
    ))
  })

  it.effect("a get answered from memory makes no span and updates no metric", () => {
    const { layer, metricValues, spans } = collector()
    return Effect.gen(function*() {
      yield* loggedIn
      const renewer = yield* Renewer.Renewer
      spans.reset()
      const before = yield* metricValues
      for (let i = 0; i < 10; i++) yield* renewer.get()
      yield* renewer.get({ minTtl: "1 minute" })
      expect(spans.getFinishedSpans()).toEqual([])
      expect(moved(before, yield* metricValues)).toEqual({})
    }).pipe(Effect.provide(Layer.merge(stack(), layer)))
  })

  it.effect("a rejected refresh token: LoginRequired on the spans and counters, the refresh token dropped", () => {
    const { layer, metricValues, spans } = collector()
    return Effect.gen(function*() {
      const login = yield* loggedIn
      const emulator = yield* Emulator.Emulator
      yield* emulator.revokeFamilyOf(Redacted.value(login.refreshToken!))
      const renewer = yield* Renewer.Renewer
      yield* TestClock.adjust("2 hours")
      spans.reset()
      const before = yield* metricValues

      const error = yield* Effect.flip(renewer.get())
      expect(error._tag === "LoginRequired" && error.reason).toBe("RefreshTokenRejected")
      expect(Option.getOrThrow(yield* stored).refreshToken).toBeUndefined()

      const finished = spans.getFinishedSpans()
      const get = only(finished, "effect-renewal.get")
      expect(get.status.code).toBe(2) // ERROR
      expect(get.status.message).toContain("invalid_grant")
      const renewal = only(finished, "effect-renewal.renewal")
      expect(parentOf(renewal)).toBe(idOf(get))
      expect(renewal.attributes).toMatchObject({
        "effect-renewal.outcome": "LoginRequired",
        "effect-renewal.reason": "RefreshTokenRejected",
        "effect-renewal.attempts": 1
      })
      // read, re-read after the rejection, then the write without the refresh token
      expect(
        finished.filter((span) => span.name.startsWith("effect-renewal.store.")).map((span) => span.name)
      ).toEqual(["effect-renewal.store.get", "effect-renewal.store.get", "effect-renewal.store.set"])

      expect(moved(before, yield* metricValues)).toEqual({
        "effect_renewal_renewals{outcome=LoginRequired,reason=RefreshTokenRejected}": 1,
        "effect_renewal_renewal_duration_seconds{outcome=LoginRequired}": 1,
        "effect_renewal_refresh_tokens_dropped{}": 1,
        "effect_renewal_lock_wait_seconds{}": 1
      })
      expectNoSecret(finished, [...tokensOf(login), CLIENT_SECRET, SESSION_KEY])
    }).pipe(Effect.provide(Layer.merge(stack(), layer)))
  })

  it.effect("a store that cannot write: StoreError on the spans without the session key, counted by operation", () => {
    const { layer, metricValues, spans } = collector()
    let failing = false
    const store = Layer.effect(
      TokenStore.TokenStore,
      Effect.map(TokenStore.makeMemory, (memory) =>
        TokenStore.TokenStore.of({
          ...memory,
          set: (key, credentials) =>
            failing
              ? Effect.fail(new AuthError.StoreError({ operation: "set", key, description: "disk full" }))
              : memory.set(key, credentials)
        }))
    )
    return Effect.gen(function*() {
      const login = yield* loggedIn
      const renewer = yield* Renewer.Renewer
      failing = true
      yield* TestClock.adjust("2 hours")
      spans.reset()
      const before = yield* metricValues

      const error = yield* Effect.flip(renewer.get())
      // the caller's error names the key; the spans do not
      expect(error._tag === "StoreError" && error.key).toBe(SESSION_KEY)
      const finished = spans.getFinishedSpans()
      const renewal = only(finished, "effect-renewal.renewal")
      expect(renewal.attributes["effect-renewal.outcome"]).toBe("StoreError")
      for (const name of ["effect-renewal.get", "effect-renewal.renewal", "effect-renewal.store.set"]) {
        expect(only(finished, name).status.message).toBe(
          `Token store set failed for "<session ${fnv1a64(SESSION_KEY)}>": disk full`
        )
      }
      expect(moved(before, yield* metricValues)).toEqual({
        "effect_renewal_renewals{outcome=StoreError}": 1,
        "effect_renewal_renewal_duration_seconds{outcome=StoreError}": 1,
        "effect_renewal_store_errors{operation=set}": 1,
        "effect_renewal_lock_wait_seconds{}": 1
      })
      expectNoSecret(finished, [...tokensOf(login), CLIENT_SECRET, SESSION_KEY])
    }).pipe(Effect.provide(Layer.merge(stack(store), layer)))
  })
})
