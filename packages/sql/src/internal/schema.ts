import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/**
 * The tables of the SQL token store, and the dialect-specific fragments the
 * statements share.
 *
 * @internal
 */

/** @internal */
export type Dialect = "sqlite" | "pg"

/** @internal */
export interface Tables {
  readonly entries: string
  readonly locks: string
  /** PostgreSQL: the `LISTEN` channel of changes. */
  readonly channel: string
}

/** @internal */
export const defaultPrefix = "effect_renewal"

const prefixPattern = /^[a-z_][a-z0-9_]{0,39}$/

/** @internal */
export const isValidPrefix = (prefix: string): boolean => prefixPattern.test(prefix)

/** @internal */
export const tables = (prefix: string): Tables => ({
  entries: `${prefix}_entries`,
  locks: `${prefix}_locks`,
  channel: `${prefix}_changes`
})

/** @internal */
export const dialectOf = (sql: SqlClient.SqlClient): Dialect | undefined =>
  sql.onDialectOrElse({
    sqlite: (): Dialect | undefined => "sqlite",
    pg: (): Dialect | undefined => "pg",
    orElse: (): Dialect | undefined => undefined
  })

/**
 * The database's clock in milliseconds since the epoch: every lease is timed
 * by one clock, whatever the processes' clocks say.
 *
 * @internal
 */
export const now = (sql: SqlClient.SqlClient, dialect: Dialect): Statement.Fragment =>
  sql.literal(
    dialect === "pg"
      ? "(extract(epoch from clock_timestamp()) * 1000)::bigint"
      : "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
  )

const liveClock = Clock.make()

/**
 * `effect` on the live clock, whatever `Clock` the application provides (a
 * `TestClock` in its tests): what the store times by the database (a lease's
 * heartbeat, the watch's probes and polls, the sweeper) runs in real time,
 * like the database.
 *
 * @internal
 */
export const onDatabaseTime = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withClock(effect, liveClock)

/**
 * The statements that create the tables when missing.
 *
 * - `<prefix>_entries`: one row per entry key, `(session_key, sub_key)`, the
 *   key split at its first U+0000 (PostgreSQL `TEXT` cannot hold it); `value`
 *   is the codec's string, `NULL` once removed (a tombstone, so that a
 *   removal bumps the version and, on SQLite, is seen by the change poller);
 *   `version` counts writes; SQLite's `revision` orders all writes of the
 *   table (the change poller's cursor).
 * - `<prefix>_locks`: one row per held lock: `owner` (random, per
 *   acquisition) and `expires_at` (the database's clock, milliseconds).
 *
 * @internal
 */
const statements = (sql: SqlClient.SqlClient, dialect: Dialect, t: Tables): ReadonlyArray<Statement.Statement<{}>> =>
  dialect === "pg"
    ? [
      sql`CREATE TABLE IF NOT EXISTS ${sql(t.entries)} (
        session_key TEXT NOT NULL,
        sub_key TEXT NOT NULL,
        value TEXT,
        version BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (session_key, sub_key)
      )`,
      sql`CREATE TABLE IF NOT EXISTS ${sql(t.locks)} (
        lock_key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`
    ]
    : [
      sql`CREATE TABLE IF NOT EXISTS ${sql(t.entries)} (
        session_key TEXT NOT NULL,
        sub_key TEXT NOT NULL,
        value TEXT,
        version INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (session_key, sub_key)
      )`,
      sql`CREATE INDEX IF NOT EXISTS ${sql(`${t.entries}_revision`)} ON ${sql(t.entries)} (revision)`,
      sql`CREATE TABLE IF NOT EXISTS ${sql(t.locks)} (
        lock_key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      )`
    ]

// SQLite: `SQLITE_BUSY` / `SQLITE_LOCKED` past the connection's busy timeout.
const isBusy = (error: SqlError): boolean => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

/**
 * Creates the tables when missing. Safe when many processes run it at once
 * on a fresh database: on PostgreSQL, concurrent `CREATE TABLE IF NOT EXISTS`
 * of one name can fail on `pg_type_typname_nsp_index`, so the statements run
 * in a transaction holding a transaction-level advisory lock; on SQLite they
 * wait for each other through the busy timeout, and are retried if that runs
 * out.
 *
 * @internal
 */
export const createTables = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  t: Tables
): Effect.Effect<void, SqlError> =>
  dialect === "pg"
    ? sql.withTransaction(
      Effect.zipRight(
        sql`SELECT pg_advisory_xact_lock(hashtext(${"@effect-renewal/sql/schema"}))`,
        Effect.forEach(statements(sql, dialect, t), (statement) => statement, { discard: true })
      )
    )
    : Effect.forEach(statements(sql, dialect, t), (statement) => statement, { discard: true }).pipe(
      Effect.retry({
        while: isBusy,
        schedule: Schedule.spaced("50 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(20)))
      })
    )
