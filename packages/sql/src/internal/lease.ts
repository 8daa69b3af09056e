import { StoreError } from "@effect-renewal/core/AuthError"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { fromSqlError } from "./errors.js"
import { annotateSession, traced } from "./redaction.js"
import type { Version } from "./rows.js"
import type { Dialect, Tables } from "./schema.js"
import { now, onDatabaseTime } from "./schema.js"

/**
 * Leases of the lock table: one row per held lock, taken with one atomic
 * upsert that succeeds only when the row is missing or its lease expired,
 * kept alive by a heartbeat, deleted on release. Expiry is computed by the
 * database's clock. A holder that dies stops its heartbeat: its row expires
 * `lease` after the last beat, and the next waiter's upsert takes it. The
 * heartbeat follows the database's time (the live clock), whatever `Clock`
 * the application runs under: the lease expires in real time.
 *
 * Logs (annotated with the session's hash, never a key): a wait for a busy
 * lock at `Debug`, a lock taken over from a holder whose lease expired and a
 * holder that finds its own lock taken over at `Warning`.
 *
 * @internal
 */

/** @internal */
export interface LeaseSettings {
  readonly lease: Duration.Duration
  readonly heartbeat: Duration.Duration
  readonly minBackoff: Duration.Duration
  readonly maxBackoff: Duration.Duration
}

/**
 * A held lock: the state `withLock` hands to the store's writes (through a
 * `FiberRef`, so that fibers forked inside the section share it).
 *
 * @internal
 */
export interface Held {
  readonly lockKey: string
  /** Random, per acquisition: a lease taken over by someone else has another owner. */
  readonly owner: string
  /**
   * Set once a heartbeat finds the lock row no longer this holder's: its
   * lease expired and another holder took the lock over (or the expired row
   * was swept). Only says why the holder's writes are refused: they check
   * the lease themselves (a lease can also expire between two beats).
   */
  takenOver: boolean
  /** The version of each entry (by location) last read or written under this lock; `0n`: no row. */
  readonly versions: Map<string, Version>
}

const randomOwner = (): string => Encoding.encodeHex(globalThis.crypto.getRandomValues(new Uint8Array(16)))

/** @internal */
export interface Leases {
  /**
   * Waits for the lock of `lockKey`, polling with jittered backoff, at most
   * `timeout`. Each attempt runs uninterruptibly (an attempt that succeeded
   * is never lost); `restore` makes the waits between them interruptible.
   */
  readonly acquire: (
    key: string,
    lockKey: string,
    timeout: Duration.Duration,
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<Held, StoreError>
  /** Renews the lease of `key`'s lock every `heartbeat`, until interrupted or the lock is taken over. */
  readonly keepAlive: (key: string, held: Held) => Effect.Effect<void>
  /** Deletes the lease if it is still this holder's. Never fails. */
  readonly release: (held: Held) => Effect.Effect<void>
}

/** @internal */
export const make = (sql: SqlClient.SqlClient, dialect: Dialect, t: Tables, settings: LeaseSettings): Leases => {
  const locks = sql(t.locks)
  const leaseMillis = Math.max(1, Math.round(Duration.toMillis(settings.lease)))
  const minBackoff = Duration.toMillis(settings.minBackoff)
  const maxBackoff = Math.max(minBackoff, Duration.toMillis(settings.maxBackoff))

  // The lock is free (no row: `owner`), or its lease expired (the row is
  // taken over: `takenOwner`, so that the taker knows), or busy (no row
  // returned).
  const attempt = (lockKey: string, owner: string, takenOwner: string) =>
    sql<{ readonly owner: string }>`
      INSERT INTO ${locks} AS l (lock_key, owner, expires_at)
      VALUES (${lockKey}, ${owner}, ${now(sql, dialect)} + ${leaseMillis})
      ON CONFLICT (lock_key) DO UPDATE SET owner = ${takenOwner}, expires_at = excluded.expires_at
      WHERE l.expires_at <= ${now(sql, dialect)}
      RETURNING owner`.pipe(
      Effect.map((rows): "free" | "taken over" | "busy" =>
        rows.length !== 1
          ? "busy"
          : rows[0].owner === owner
          ? "free"
          : rows[0].owner === takenOwner
          ? "taken over"
          : "busy"
      )
    )

  const acquire: Leases["acquire"] = (key, lockKey, timeout, restore) =>
    Effect.gen(function*() {
      const owner = randomOwner()
      const takenOwner = `${owner}:taken-over`
      const start = yield* Clock.currentTimeMillis
      const limit = Duration.toMillis(timeout)
      let backoff = minBackoff
      let attempts = 0
      const timedOut = (elapsed: number, what: string) =>
        new StoreError({ operation: "lock", key, description: `timed out after ${Math.round(elapsed)}ms ${what}` })
      while (true) {
        // a database that does not answer is waited for no longer than the
        // rest of the timeout (an attempt that took the lease unbeknownst to
        // us leaves a lease that expires on its own: nobody renews it). The
        // attempt runs on a fiber of its own, which must not fail: a failed
        // fiber is logged, with its error ("Fiber terminated with an
        // unhandled error"), and this one would name the key.
        const left = Math.max(1, limit - ((yield* Clock.currentTimeMillis) - start))
        const answer = yield* restore(
          Effect.either(attempt(lockKey, owner, takenOwner)).pipe(
            Effect.timeoutFail({
              duration: Duration.millis(left),
              onTimeout: () => timedOut(limit, "waiting for the database to answer")
            })
          )
        )
        if (Either.isLeft(answer)) return yield* fromSqlError("lock", key)(answer.left)
        attempts++
        const taken = answer.right
        if (taken !== "busy") {
          const waited = (yield* Clock.currentTimeMillis) - start
          if (taken === "taken over") {
            yield* Effect.logWarning(
              "SqlTokenStore: took over a lock whose holder's lease had expired (the holder died, hung or lost the database)"
            ).pipe(Effect.annotateLogs({ "effect-renewal.waited_ms": waited }))
          } else if (attempts > 1) {
            yield* Effect.logDebug("SqlTokenStore: took a lock after waiting for it").pipe(
              Effect.annotateLogs({ "effect-renewal.waited_ms": waited, "effect-renewal.attempts": attempts })
            )
          }
          return { lockKey, owner: taken === "free" ? owner : takenOwner, takenOver: false, versions: new Map() }
        }
        if (attempts === 1) yield* Effect.logDebug("SqlTokenStore: the lock is held by another holder: waiting")
        const elapsed = (yield* Clock.currentTimeMillis) - start
        if (elapsed >= limit) {
          yield* Effect.logDebug("SqlTokenStore: gave up waiting for a lock").pipe(
            Effect.annotateLogs({ "effect-renewal.waited_ms": elapsed, "effect-renewal.attempts": attempts })
          )
          return yield* timedOut(elapsed, "waiting for the lock held by another holder")
        }
        // jitter between 50% and 100%, so that waiters do not poll in step
        const delay = Math.min(backoff * (0.5 + Math.random() / 2), limit - elapsed)
        yield* restore(Effect.sleep(Duration.millis(Math.max(1, Math.round(delay)))))
        backoff = Math.min(maxBackoff, backoff * 2)
      }
    }).pipe(annotateSession(key), (effect) => traced("SqlTokenStore.acquireLock", key, effect))

  const beat = (held: Held) =>
    sql<{ readonly owner: string }>`
      UPDATE ${locks} SET expires_at = ${now(sql, dialect)} + ${leaseMillis}
      WHERE lock_key = ${held.lockKey} AND owner = ${held.owner}
      RETURNING owner`

  // A failed beat (the database briefly unreachable) is tried again at the
  // next one; a beat that finds the row gone or someone else's marks the
  // lock taken over: the holder's writes will be refused.
  const keepAlive = (key: string, held: Held): Effect.Effect<void> =>
    Effect.sleep(settings.heartbeat).pipe(
      Effect.zipRight(Effect.option(beat(held))),
      Effect.map(Option.match({ onNone: () => true, onSome: (rows) => rows.length === 1 })),
      Effect.repeat({ while: (alive) => alive }),
      Effect.zipRight(Effect.sync(() => {
        held.takenOver = true
      })),
      Effect.zipRight(Effect.logWarning(
        "SqlTokenStore: this holder's lease expired and another holder took its lock over: its writes will be refused"
      )),
      annotateSession(key),
      onDatabaseTime
    )

  // bounded: a database that does not answer leaves a lease that expires
  // (the statement's fiber must not fail: see `acquire`)
  const release = (held: Held): Effect.Effect<void> =>
    Effect.exit(sql`DELETE FROM ${locks} WHERE lock_key = ${held.lockKey} AND owner = ${held.owner}`).pipe(
      Effect.timeoutFail({ duration: Duration.millis(leaseMillis), onTimeout: () => "no answer" as const }),
      Effect.flatMap((exit) => Exit.isSuccess(exit) ? Effect.void : Effect.failCause(exit.cause)),
      Effect.catchAllCause((cause) =>
        Effect.logDebug("SqlTokenStore: could not release a lock; its lease will expire", cause)
      ),
      onDatabaseTime,
      Effect.asVoid
    )

  return { acquire, keepAlive, release }
}
