/**
 * Prints the figures of `docs/storage.md` (not a test: no assertion).
 *
 *   cd packages/sql && node --import tsx test/bench/figures.ts
 *
 * For each dialect (PostgreSQL at EFFECT_RENEWAL_PG_URL when reachable):
 * an uncontended `withLock(get + set)`, the handoff from a holder's release
 * to a waiter of another client, 20 keys held 200 ms each at once, and the
 * delay until another client's watcher hears of a write. The figures after
 * a holder's SIGKILL or hang are printed by `processes.test.ts`.
 */
import type { TokenStore } from "@effect-renewal/core/TokenStore"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type { Backend } from "../support.js"
import { backends, credentials, store } from "../support.js"

const now = Effect.sync(() => performance.now())
const quantile = (xs: ReadonlyArray<number>, q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]
const ms = (x: number) => `${x.toFixed(1)} ms`
const summary = (xs: ReadonlyArray<number>) => `median ${ms(quantile(xs, 0.5))}, p95 ${ms(quantile(xs, 0.95))}`

const twentyKeys = (a: TokenStore.Service, b: TokenStore.Service) =>
  Effect.forEach(
    Array.from({ length: 20 }, (_, i) => i),
    (i) => (i % 2 === 0 ? a : b).withLock(`key${i}`, Effect.sleep("200 millis")),
    { concurrency: "unbounded", discard: true }
  )

const measure = (backend: Backend) =>
  Effect.gen(function*() {
    const db = yield* backend.database()
    const a = yield* store(db)
    const b = yield* store(db)
    const creds = credentials("bench")

    const solo: Array<number> = []
    for (let i = 0; i < 100; i++) {
      const start = yield* now
      yield* a.withLock("solo", Effect.zipRight(a.get("solo"), a.set("solo", creds)))
      solo.push((yield* now) - start)
    }

    const handoff: Array<number> = []
    for (let i = 0; i < 20; i++) {
      const locked = yield* Deferred.make<void>()
      let releasedAt = 0
      const holder = yield* a.withLock(
        "handoff",
        Effect.zipRight(Deferred.succeed(locked, undefined), Effect.sleep("150 millis")).pipe(
          Effect.ensuring(Effect.sync(() => (releasedAt = performance.now())))
        )
      ).pipe(Effect.fork)
      yield* Deferred.await(locked)
      const entered = yield* b.withLock("handoff", now)
      yield* Fiber.join(holder)
      handoff.push(entered - releasedAt)
    }

    yield* twentyKeys(a, b) // warms the connection pools
    const start = yield* now
    yield* twentyKeys(a, b)
    const parallel = (yield* now) - start

    const heard = yield* Queue.unbounded<number>()
    yield* a.watch!("watched", Effect.flatMap(now, (at) => Queue.offer(heard, at)))
    const latency: Array<number> = []
    for (let i = 0; i < 20; i++) {
      yield* Effect.sleep(`${Math.round(Math.random() * 100)} millis`)
      const written = yield* now
      yield* b.set("watched", creds)
      latency.push((yield* Queue.take(heard)) - written)
    }

    console.log(`${backend.name}:`)
    console.log(`  withLock(get + set), uncontended: ${summary(solo)}`)
    console.log(`  handoff, release to the waiter's entry: ${summary(handoff)}`)
    console.log(`  20 keys held 200 ms each at once: ${ms(parallel)}`)
    console.log(`  a write heard by another client's watcher: ${summary(latency)}, max ${ms(Math.max(...latency))}`)
  }).pipe(Effect.scoped)

Effect.runPromise(Effect.forEach(backends.filter((backend) => backend.enabled), measure, { discard: true })).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
