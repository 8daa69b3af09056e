/**
 * The `SessionStore` on an `@effect/sql` `SqlClient` (SQLite, PostgreSQL, or
 * any dialect that has `ON CONFLICT` and `RETURNING`): one table, a row per
 * session key, with a version that every write bumps. `replace` is a
 * compare-and-set on that version, atomic across every instance on the
 * database; `entries` lists the rows for the sweep.
 *
 * Only `SqlSessionStore` imports this module: `@effect/sql` is an optional
 * peer of the package, and `SessionStore` (in the index) loads without it.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as SessionStore from "../SessionStore.js"
import { SessionRecord, SessionStoreError } from "../SessionStore.js"
import { sameRecord } from "./sessionStore.js"

/** @internal */
export const defaultTable = "effect_renewal_web_sessions"

const tablePattern = /^[a-z_][a-z0-9_]{0,62}$/

const failure = (operation: SessionStoreError["operation"], description: string) =>
  new SessionStoreError({ operation, description })

// SQLite: `SQLITE_BUSY` / `SQLITE_LOCKED` past the connection's busy timeout (another instance writing).
const isBusy = (error: SqlError): boolean => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

/**
 * Creates the table when missing. On PostgreSQL, concurrent `CREATE TABLE IF
 * NOT EXISTS` of one name can fail on `pg_type_typname_nsp_index`: the
 * statements run in a transaction holding an advisory lock. On SQLite they
 * wait for each other (busy timeout), retried if that runs out.
 */
const createTable = (sql: SqlClient.SqlClient, table: string): Effect.Effect<void, SqlError> => {
  const create = Effect.zipRight(
    sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
        session_key TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        version BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
    sql`CREATE INDEX IF NOT EXISTS ${sql(`${table}_expires_at`)} ON ${sql(table)} (expires_at)`
  )
  return sql.onDialectOrElse({
    pg: () =>
      sql.withTransaction(
        Effect.zipRight(
          sql`SELECT pg_advisory_xact_lock(hashtext(${"@effect-renewal/web/SessionStore"}))`,
          create
        )
      ),
    orElse: () =>
      create.pipe(
        Effect.retry({
          while: isBusy,
          schedule: Schedule.spaced("50 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(20)))
        })
      )
  })
}

interface Row {
  readonly record: string
  readonly version: number | string | bigint
  readonly expires_at: number | string | bigint
}

/** @internal */
export const makeSql = (
  options?: { readonly table?: string | undefined }
): Effect.Effect<SessionStore.SessionStore.Service, SessionStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const table = options?.table ?? defaultTable
    if (!tablePattern.test(table)) {
      return yield* failure(
        "open",
        `the table name ${JSON.stringify(table.slice(0, 64))} is not one of lower-case letters, digits and _`
      )
    }
    const sql = yield* SqlClient.SqlClient
    yield* createTable(sql, table).pipe(
      // the database's reason, for the operator (a CREATE TABLE carries no session)
      Effect.tapError((error) => Effect.logWarning("web session table not created", error.message)),
      Effect.mapError(() => failure("open", `the table ${table} could not be created`))
    )

    // made when first used: the public module, which defines `SessionRecord`, imports this one
    const Json = Schema.parseJson(SessionRecord)
    const decode = Schema.decodeUnknownOption(Json)
    const encode = (operation: SessionStoreError["operation"], record: SessionRecord) =>
      Effect.mapError(Schema.encode(Json)(record), () => failure(operation, "the session record could not be encoded"))
    const expiry = (now: number, timeToLive: Duration.DurationInput) =>
      now + Duration.toMillis(Duration.decode(timeToLive))

    const read = (operation: SessionStoreError["operation"], key: string) =>
      Effect.mapError(
        sql<Row>`SELECT record, version, expires_at FROM ${sql(table)} WHERE session_key = ${key}`,
        () => failure(operation, "the session store could not be read")
      ).pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    // only the row read: a write since (a new login's, a touch) stays
    const removeVersion = (operation: SessionStoreError["operation"], key: string, version: Row["version"]) =>
      Effect.mapError(
        sql`DELETE FROM ${sql(table)} WHERE session_key = ${key} AND version = ${Number(version)}`,
        () => failure(operation, "an expired session could not be removed")
      ).pipe(Effect.asVoid)

    // the record of a row that is still a session; an unreadable or expired one is removed
    const live = (operation: SessionStoreError["operation"], key: string, row: Option.Option<Row>) =>
      Effect.gen(function*() {
        if (Option.isNone(row)) return Option.none()
        const record = decode(row.value.record)
        const now = yield* Clock.currentTimeMillis
        if (Option.isNone(record) || Number(row.value.expires_at) <= now) {
          yield* removeVersion(operation, key, row.value.version)
          return Option.none()
        }
        return Option.some({ record: record.value, version: Number(row.value.version) })
      })

    const service: SessionStore.SessionStore.Service = {
      get: (key) =>
        read("get", key).pipe(
          Effect.flatMap((row) => live("get", key, row)),
          Effect.map(Option.map((found) => found.record))
        ),
      set: (key, record, timeToLive) =>
        Effect.gen(function*() {
          const value = yield* encode("set", record)
          const expiresAt = expiry(yield* Clock.currentTimeMillis, timeToLive)
          yield* Effect.mapError(
            sql`INSERT INTO ${sql(table)} (session_key, record, version, expires_at)
              VALUES (${key}, ${value}, ${1}, ${expiresAt})
              ON CONFLICT (session_key) DO UPDATE SET record = excluded.record,
                version = ${sql(table)}.version + 1, expires_at = excluded.expires_at`,
            () => failure("set", "the session could not be saved")
          ).pipe(Effect.asVoid)
        }),
      remove: (key) =>
        Effect.mapError(
          sql`DELETE FROM ${sql(table)} WHERE session_key = ${key}`,
          () => failure("remove", "the session could not be removed")
        ).pipe(Effect.asVoid),
      // compare-and-set on the version read: atomic across instances
      replace: (key, expected, record, timeToLive) =>
        Effect.gen(function*() {
          const found = yield* Effect.flatMap(read("replace", key), (row) => live("replace", key, row))
          if (Option.isNone(found) || !sameRecord(found.value.record, expected)) return false
          const value = yield* encode("replace", record)
          const expiresAt = expiry(yield* Clock.currentTimeMillis, timeToLive)
          const updated = yield* Effect.mapError(
            sql<{ readonly version: unknown }>`UPDATE ${sql(table)}
              SET record = ${value}, version = version + 1, expires_at = ${expiresAt}
              WHERE session_key = ${key} AND version = ${found.value.version}
              RETURNING version`,
            () => failure("replace", "the session could not be saved")
          )
          return updated.length === 1
        }),
      // every row, expired or not (the sweep ends the lapsed ones); one that does not decode is no session
      entries: Effect.mapError(
        sql<{ readonly session_key: string; readonly record: string }>`SELECT session_key, record FROM ${sql(table)}`,
        () => failure("entries", "the session store could not be listed")
      ).pipe(
        Effect.map((rows) =>
          rows.flatMap((row) => {
            const record = decode(row.record)
            return Option.isSome(record) ? [[row.session_key, record.value] as const] : []
          })
        )
      )
    }
    return service
  })
