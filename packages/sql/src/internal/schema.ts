import { StoreError } from "@effect-renewal/core/AuthError"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { fromSqlError } from "./errors.js"

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
  /** What the store records about itself: how it keeps session keys. */
  readonly meta: string
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
  meta: `${prefix}_meta`,
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
 * - `<prefix>_meta`: `(name, value)`; the row `session_keys` says how the
 *   tables hold session keys (`clear`, or `hmac-sha256:<fingerprint>`).
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
      )`,
      sql`CREATE TABLE IF NOT EXISTS ${sql(t.meta)} (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
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
      )`,
      sql`CREATE TABLE IF NOT EXISTS ${sql(t.meta)} (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
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

const modeRow = "session_keys"

const describeMode = (mode: string): string =>
  mode === "clear" ? "session keys in clear" : `session keys hashed (${mode})`

/**
 * Records how this store keeps session keys (`keys.mode`) in the meta table,
 * or checks that the tables were written the same way: a store must not read
 * or write tables of the other mode (or of another HMAC key), where it would
 * find nothing and write beside them. Tables created before the meta table
 * existed hold session keys in clear: a store in clear mode opens them even
 * without a meta table (an application's own migrations), a store in hashed
 * mode needs one, and new tables.
 *
 * @internal
 */
export const checkMode = (
  sql: SqlClient.SqlClient,
  t: Tables,
  keys: { readonly mode: string; readonly hashed: boolean }
): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const open = (description: string) => new StoreError({ operation: "open", key: "*", description })
    const read = sql<{ readonly value: unknown }>`SELECT value FROM ${sql(t.meta)} WHERE name = ${modeRow}`
    const first = yield* Effect.either(read)
    if (first._tag === "Left") {
      if (!keys.hashed) return
      return yield* open(
        `the table ${t.meta} could not be read: hashed session keys need it (create the tables with this version, or run SqlTokenStore.migration() again)`
      )
    }
    let rows = first.right
    if (rows.length === 0) {
      if (keys.hashed) {
        const any = yield* Effect.mapError(
          sql`SELECT 1 AS one FROM ${sql(t.entries)} LIMIT 1`,
          fromSqlError("open", "*", "reading the entries")
        )
        if (any.length > 0) {
          return yield* open(
            `the table ${t.entries} holds entries written with session keys in clear: hashed session keys need tables of their own (another tablePrefix)`
          )
        }
      }
      yield* Effect.mapError(
        sql`INSERT INTO ${sql(t.meta)} (name, value) VALUES (${modeRow}, ${keys.mode}) ON CONFLICT (name) DO NOTHING`,
        fromSqlError("open", "*", "recording how session keys are kept")
      )
      rows = yield* Effect.mapError(read, fromSqlError("open", "*", "reading how session keys are kept"))
    }
    const recorded = rows[0]?.value
    if (recorded !== keys.mode) {
      const shown = typeof recorded === "string" && /^(clear|hmac-sha256:[0-9a-f]{16})$/.test(recorded)
        ? describeMode(recorded)
        : "an unknown mode"
      return yield* open(
        `the tables ${t.entries} hold ${shown}, and this store is configured with ${
          describeMode(keys.mode)
        }: refused (a store must not read or write tables of another mode or hash key)`
      )
    }
  })
