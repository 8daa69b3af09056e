import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { scrubCause } from "./redaction.js"
import type { Tables } from "./schema.js"

/**
 * Change notification: who watches which session, and the one background
 * fiber per store that learns of other writers' changes (SQLite: a poller
 * over the `revision` column; PostgreSQL: `LISTEN` on the store's channel).
 *
 * @internal
 */

/** @internal */
export interface Watchers {
  /** Registers `onChange` for `session` until the scope closes. */
  readonly add: (session: string, onChange: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  readonly notify: (sessions: Iterable<string>) => Effect.Effect<void>
  readonly notifyAll: Effect.Effect<void>
}

/**
 * Watchers by session key: a `Map` of `Set`s, no fiber per watcher. The
 * `onChange` effects run one after the other on the notifying fiber; a
 * failure or defect of one is logged and does not stop the others.
 *
 * @internal
 */
export const makeWatchers = (): Watchers => {
  const bySession = new Map<string, Set<Effect.Effect<void>>>()

  const run = (effects: ReadonlyArray<Effect.Effect<void>>): Effect.Effect<void> =>
    Effect.forEach(
      effects,
      (effect) =>
        Effect.catchAllCause(
          effect,
          (cause) => Effect.logDebug("SqlTokenStore: a change watcher failed", scrubCause(cause))
        ),
      { discard: true }
    )

  return {
    add: (session, onChange) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          // one entry per registration, even for an effect registered twice
          const entry = Effect.suspend(() => onChange)
          let set = bySession.get(session)
          if (set === undefined) {
            set = new Set()
            bySession.set(session, set)
          }
          set.add(entry)
          return entry
        }),
        (entry) =>
          Effect.sync(() => {
            const set = bySession.get(session)
            if (set?.delete(entry) && set.size === 0) bySession.delete(session)
          })
      ).pipe(Effect.asVoid),
    notify: (sessions) =>
      Effect.suspend(() => {
        const effects: Array<Effect.Effect<void>> = []
        for (const session of new Set(sessions)) {
          const set = bySession.get(session)
          if (set !== undefined) effects.push(...set)
        }
        return run(effects)
      }),
    notifyAll: Effect.suspend(() => {
      const effects: Array<Effect.Effect<void>> = []
      for (const set of bySession.values()) effects.push(...set)
      return run(effects)
    })
  }
}

/**
 * A source of changes: `start` runs for the life of the store (forked in its
 * scope by the first `watch`) and completes `ready` once changes committed
 * after that point are sure to be reported.
 *
 * @internal
 */
export type Source = (watchers: Watchers, ready: Deferred.Deferred<void>) => Effect.Effect<never>

/**
 * SQLite: every write sets `revision` to the table's largest plus one, in
 * the writing statement; SQLite serialises writers, so revisions follow
 * commit order and a poller that remembers the largest it saw misses
 * nothing. One indexed query per `interval`.
 *
 * @internal
 */
export const sqlitePoller =
  (sql: SqlClient.SqlClient, t: Tables, interval: Duration.Duration): Source => (watchers, ready) => {
    const entries = sql(t.entries)
    let cursor: number | undefined = undefined
    // the first baseline read failed: changes before the late one were missed
    let late = false
    const pollOnce: Effect.Effect<void, SqlError> = Effect.gen(function*() {
      if (cursor === undefined) {
        const rows = yield* sql<{ readonly revision: number | bigint | string }>`
        SELECT COALESCE(MAX(revision), 0) AS revision FROM ${entries}`
        cursor = Number(rows[0]?.revision ?? 0)
        if (late) yield* watchers.notifyAll
        return
      }
      while (true) {
        const rows: ReadonlyArray<{ readonly session_key: string; readonly revision: number | bigint | string }> =
          yield* sql<{ readonly session_key: string; readonly revision: number | bigint | string }>`
        SELECT session_key, revision FROM ${entries} WHERE revision > ${cursor}
        ORDER BY revision LIMIT 1000`
        if (rows.length === 0) return
        cursor = Number(rows[rows.length - 1].revision)
        yield* watchers.notify(rows.map((row) => row.session_key))
        if (rows.length < 1000) return
      }
    })
    // the rows name session keys: not for `@effect/sql`'s spans (a span
    // every `interval` would say nothing anyway)
    const poll = Effect.withTracerEnabled(pollOnce, false)
    return Effect.gen(function*() {
      if ((yield* Effect.either(poll))._tag === "Left") late = true
      yield* Deferred.succeed(ready, undefined)
      return yield* Effect.sleep(interval).pipe(
        Effect.zipRight(poll),
        Effect.catchAllCause((cause) => Effect.logDebug("SqlTokenStore: polling for changes failed", cause)),
        Effect.forever
      )
    })
  }

/**
 * What the PostgreSQL store needs of `PgClient` (`@effect/sql-pg`), found by
 * its tag's key so that this module never imports the driver.
 *
 * @internal
 */
export interface Listener {
  readonly listen: (channel: string) => Stream.Stream<string, SqlError>
}

/** @internal */
export const PgListener: Context.Tag<Listener, Listener> = Context.GenericTag<Listener>("@effect/sql-pg/PgClient")

/** A payload that names a session key. @internal */
export const sessionPayloadPrefix = "k:"

const probePrefix = "p:"

/**
 * PostgreSQL: writes `pg_notify` the session key in the writing statement
 * (delivered on commit); the store listens on its channel.
 *
 * `PgClient`'s listening connection does not report that it dropped: the
 * stream just stops delivering. So the listener sends itself a probe every
 * `probeInterval` and, when one does not come back in time, listens again
 * (on a new connection) and notifies every watcher once, since changes may
 * have been missed meanwhile.
 *
 * @internal
 */
export const pgListener = (
  sql: SqlClient.SqlClient,
  pg: Listener,
  t: Tables,
  probeInterval: Duration.Duration
): Source =>
(watchers, ready) => {
  const instance = Encoding.encodeHex(globalThis.crypto.getRandomValues(new Uint8Array(8)))
  let sequence = 0
  let received = 0
  const probe = (n: number) => sql`SELECT pg_notify(${t.channel}, ${`${probePrefix}${instance}:${n}`})`

  const onPayload = (payload: string): Effect.Effect<void> => {
    if (payload.startsWith(sessionPayloadPrefix)) {
      return watchers.notify([payload.slice(sessionPayloadPrefix.length)])
    }
    const own = `${probePrefix}${instance}:`
    if (payload.startsWith(own)) {
      received = Math.max(received, Number(payload.slice(own.length)))
    }
    return Effect.void
  }

  // Fails when a probe is not back within `probeInterval`.
  const watchdog = (confirmed: Effect.Effect<void>) =>
    Effect.gen(function*() {
      // LISTEN is in force once one of our own probes comes back: send them
      // until one does (the first may go out before LISTEN).
      const first = sequence + 1
      let waited = 0
      while (received < first) {
        if (waited >= Duration.toMillis(probeInterval)) return yield* Effect.fail("no probe" as const)
        if (waited % 100 === 0) yield* Effect.ignore(probe(++sequence))
        yield* Effect.sleep("10 millis")
        waited += 10
      }
      yield* confirmed
      while (true) {
        const n = ++sequence
        yield* Effect.ignore(probe(n))
        yield* Effect.sleep(probeInterval)
        if (received < n) return yield* Effect.fail("no probe" as const)
      }
    })

  const session = (restarted: boolean) =>
    Effect.raceFirst(
      Stream.runForEach(pg.listen(t.channel), onPayload),
      watchdog(restarted ? watchers.notifyAll : Deferred.succeed(ready, undefined))
    ).pipe(Effect.ignore)

  return Effect.gen(function*() {
    yield* session(false)
    // listening failed or went silent: the first watch must not wait for ever
    yield* Deferred.succeed(ready, undefined)
    return yield* session(true).pipe(
      Effect.zipRight(Effect.sleep(Duration.millis(200 + Math.random() * 800))),
      Effect.forever
    )
  })
}

/**
 * Starts `source` in `scope` the first time it is run; every run waits until
 * the source is ready.
 *
 * @internal
 */
export const makeStarter = (
  source: Source,
  watchers: Watchers,
  scope: Scope.Scope
): Effect.Effect<void> => {
  let started: Deferred.Deferred<void> | undefined = undefined
  return Effect.suspend(() => {
    if (started !== undefined) return Deferred.await(started)
    return Effect.flatMap(Deferred.make<void>(), (ready) => {
      if (started !== undefined) return Deferred.await(started)
      started = ready
      return source(watchers, ready).pipe(
        Effect.interruptible,
        Effect.forkIn(scope),
        Effect.zipRight(Deferred.await(ready))
      )
    })
  })
}
