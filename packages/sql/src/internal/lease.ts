import { StoreError } from "@effect-renewal/core/AuthError"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import { fromSqlError } from "./errors.js"
import type { Dialect, Tables } from "./schema.js"
import { now } from "./schema.js"

/**
 * Leases of the lock table: one row per held lock, taken with one atomic
 * upsert that succeeds only when the row is missing or its lease expired,
 * kept alive by a heartbeat, deleted on release. Expiry is computed by the
 * database's clock. A holder that dies stops its heartbeat: its row expires
 * `lease` after the last beat, and the next waiter's upsert takes it.
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
  /** The heartbeat found the lease taken by someone else. */
  lost: boolean
  /** The version of each entry (by location) last read or written under this lock. */
  readonly versions: Map<string, number>
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
  /** Renews the lease every `heartbeat`, until interrupted or the lease is lost. */
  readonly keepAlive: (held: Held) => Effect.Effect<void>
  /** Deletes the lease if it is still this holder's. Never fails. */
  readonly release: (held: Held) => Effect.Effect<void>
}

/** @internal */
export const make = (sql: SqlClient.SqlClient, dialect: Dialect, t: Tables, settings: LeaseSettings): Leases => {
  const locks = sql(t.locks)
  const leaseMillis = Math.max(1, Math.round(Duration.toMillis(settings.lease)))
  const minBackoff = Duration.toMillis(settings.minBackoff)
  const maxBackoff = Math.max(minBackoff, Duration.toMillis(settings.maxBackoff))

  const attempt = (lockKey: string, owner: string) =>
    sql<{ readonly owner: string }>`
      INSERT INTO ${locks} AS l (lock_key, owner, expires_at)
      VALUES (${lockKey}, ${owner}, ${now(sql, dialect)} + ${leaseMillis})
      ON CONFLICT (lock_key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE l.expires_at <= ${now(sql, dialect)}
      RETURNING owner`.pipe(Effect.map((rows) => rows.length === 1 && rows[0].owner === owner))

  const acquire: Leases["acquire"] = (key, lockKey, timeout, restore) =>
    Effect.gen(function*() {
      const owner = randomOwner()
      const start = yield* Clock.currentTimeMillis
      const limit = Duration.toMillis(timeout)
      let backoff = minBackoff
      const timedOut = (elapsed: number, what: string) =>
        new StoreError({ operation: "lock", key, description: `timed out after ${Math.round(elapsed)}ms ${what}` })
      while (true) {
        // a database that does not answer is waited for no longer than the
        // rest of the timeout (an attempt that took the lease unbeknownst to
        // us leaves a lease that expires on its own: nobody renews it)
        const left = Math.max(1, limit - ((yield* Clock.currentTimeMillis) - start))
        const taken = yield* restore(
          Effect.mapError(attempt(lockKey, owner), fromSqlError("lock", key)).pipe(
            Effect.timeoutFail({
              duration: Duration.millis(left),
              onTimeout: () => timedOut(limit, "waiting for the database to answer")
            })
          )
        )
        if (taken) return { lockKey, owner, lost: false, versions: new Map() }
        const elapsed = (yield* Clock.currentTimeMillis) - start
        if (elapsed >= limit) return yield* timedOut(elapsed, "waiting for the lock held by another holder")
        // jitter between 50% and 100%, so that waiters do not poll in step
        const delay = Math.min(backoff * (0.5 + Math.random() / 2), limit - elapsed)
        yield* restore(Effect.sleep(Duration.millis(Math.max(1, Math.round(delay)))))
        backoff = Math.min(maxBackoff, backoff * 2)
      }
    }).pipe(Effect.withSpan("SqlTokenStore.acquireLock"))

  const beat = (held: Held) =>
    sql<{ readonly owner: string }>`
      UPDATE ${locks} SET expires_at = ${now(sql, dialect)} + ${leaseMillis}
      WHERE lock_key = ${held.lockKey} AND owner = ${held.owner}
      RETURNING owner`

  // A failed beat (the database briefly unreachable) is tried again at the
  // next one; a beat that finds the row gone or someone else's marks the
  // lease lost: the holder's writes will be refused.
  const keepAlive = (held: Held): Effect.Effect<void> =>
    Effect.sleep(settings.heartbeat).pipe(
      Effect.zipRight(Effect.option(beat(held))),
      Effect.map(Option.match({ onNone: () => true, onSome: (rows) => rows.length === 1 })),
      Effect.repeat({ while: (alive) => alive }),
      Effect.zipRight(Effect.sync(() => {
        held.lost = true
      }))
    )

  // bounded: a database that does not answer leaves a lease that expires
  const release = (held: Held): Effect.Effect<void> =>
    sql`DELETE FROM ${locks} WHERE lock_key = ${held.lockKey} AND owner = ${held.owner}`.pipe(
      Effect.timeoutFail({ duration: Duration.millis(leaseMillis), onTimeout: () => "no answer" as const }),
      Effect.catchAllCause((cause) =>
        Effect.logDebug("SqlTokenStore: could not release a lock; its lease will expire", cause)
      ),
      Effect.asVoid
    )

  return { acquire, keepAlive, release }
}
