import { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import type { Credentials } from "@effect-renewal/core/Credentials"
import { RenewalPolicy } from "@effect-renewal/core/RenewalPolicy"
import { json, TokenCodec } from "@effect-renewal/core/TokenCodec"
import type { TokenStore } from "@effect-renewal/core/TokenStore"
import { sessionKeyOf } from "@effect-renewal/core/TokenStore"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Options } from "../SqlTokenStore.js"
import * as Changes from "./changes.js"
import { fromSqlError } from "./errors.js"
import type { Location } from "./keys.js"
import * as Keys from "./keys.js"
import { derivedPrefix } from "./keys.js"
import * as Lease from "./lease.js"
import { traced } from "./redaction.js"
import * as Reencrypt from "./reencrypt.js"
import type { Version } from "./rows.js"
import { nextVersion, parseVersion, unreadableValue, versionText, versionValue } from "./rows.js"
import * as Schema from "./schema.js"

/**
 * The SQL token store: see `SqlTokenStore.make` for what it guarantees.
 *
 * @internal
 */

/** @internal */
export const defaults = {
  lockLease: Duration.seconds(3),
  lockPollMin: Duration.millis(10),
  lockPollMax: Duration.millis(100),
  changePollInterval: Duration.millis(250),
  listenProbeInterval: Duration.seconds(5),
  tombstoneRetention: Duration.hours(1)
} as const

const versionKey = (location: Location): string => `${location.session}\u0000${location.sub}`

const rejected = (operation: StoreError["operation"], key: string, held: Lease.Held) =>
  new StoreError({
    operation,
    key,
    description: held.takenOver
      ? "the lock was taken over (this holder's lease expired and another holder took the lock): not written"
      : "the entry changed since this lock holder read it, or this holder's lease expired: not written"
  })

const badVersion = (key: string) =>
  new StoreError({
    operation: "get",
    key,
    description:
      "the entry's version is not a 64-bit integer: the row was not written by this store (a write replaces it)"
  })

/** @internal */
export const configuration = (options: Options) => {
  const prefix = options.tablePrefix ?? Schema.defaultPrefix
  if (!Schema.isValidPrefix(prefix)) {
    return Effect.fail(
      new InvalidConfiguration({
        description: "SqlTokenStore tablePrefix must match /^[a-z_][a-z0-9_]{0,39}$/"
      })
    )
  }
  return Effect.succeed(Schema.tables(prefix))
}

/** @internal */
export const make = (
  options: Options = {}
): Effect.Effect<TokenStore.Service, StoreError | InvalidConfiguration, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    // the application's name transforms (camelCase results) must not
    // rename the store's columns
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const codec = yield* TokenCodec
    const scope = yield* Effect.scope
    const t = yield* configuration(options)
    const dialect = Schema.dialectOf(sql)
    if (dialect === undefined) {
      return yield* new InvalidConfiguration({ description: "SqlTokenStore supports SQLite and PostgreSQL only" })
    }
    const keys = options.hashSessionKeys === undefined ? Keys.clear : yield* Keys.hashed(options.hashSessionKeys)
    if (keys.hashed && codec === json) {
      return yield* new InvalidConfiguration({
        description:
          "SqlTokenStore hashSessionKeys needs an encrypting TokenCodec (TokenCodec.layerEncrypted): with the json codec the entries keep the tokens, and the id_token's claims (an e-mail address), in clear"
      })
    }
    if (options.createTables !== false) {
      yield* Effect.mapError(Schema.createTables(sql, dialect, t), fromSqlError("open", "*", "creating the tables"))
    }
    yield* Schema.checkMode(sql, t, keys)
    const { locationOf, lockKeyOf } = keys

    const lease = Duration.decode(options.lockLease ?? defaults.lockLease)
    const leases = Lease.make(sql, dialect, t, {
      lease,
      heartbeat: Duration.millis(Math.max(1, Duration.toMillis(lease) / 3)),
      minBackoff: Duration.decode(options.lockPollMin ?? defaults.lockPollMin),
      maxBackoff: Duration.decode(options.lockPollMax ?? defaults.lockPollMax)
    })
    const lockTimeout = options.lockTimeout === undefined ? undefined : Duration.decode(options.lockTimeout)

    // The locks this fiber holds, by lock key.
    const heldRef = FiberRef.unsafeMake<ReadonlyMap<string, Lease.Held>>(new Map())

    // the version a write under `held` returned: what its next write compares
    const remember = (held: Lease.Held, location: Location, raw: unknown): void => {
      const written = parseVersion(raw)
      if (written === undefined) held.versions.delete(versionKey(location))
      else held.versions.set(versionKey(location), written)
    }

    const heldFor = (key: string): Effect.Effect<Lease.Held | undefined> =>
      Effect.map(FiberRef.get(heldRef), (held) => held.get(lockKeyOf(key)) ?? held.get(lockKeyOf(sessionKeyOf(key))))

    const entries = sql(t.entries)
    const locks = sql(t.locks)
    const now = Schema.now(sql, dialect)
    const pg = dialect === "pg"
    const bumped = nextVersion(sql, dialect, "e.version")
    const version = versionText(sql, "version")
    const nextRevision = pg
      ? sql.literal("")
      : sql`, revision = (SELECT COALESCE(MAX(revision), 0) + 1 FROM ${entries})`
    const revisionColumn = sql.literal(pg ? "" : ", revision")
    const revisionValue = pg ? sql.literal("") : sql`, (SELECT COALESCE(MAX(revision), 0) + 1 FROM ${entries})`

    const leaseHeld = (held: Lease.Held): Statement.Fragment =>
      sql`EXISTS (SELECT 1 FROM ${locks} WHERE lock_key = ${held.lockKey} AND owner = ${held.owner}
        AND expires_at > ${now})`

    // PostgreSQL: the writing statement notifies the session key, delivered
    // when it commits. `write` returns `session_key`; the statement's result
    // (recorded by `@effect/sql`'s span) is only `columns`.
    const notifying = <A extends object>(write: Statement.Statement<A>, columns: string): Statement.Statement<A> =>
      pg
        ? sql<A>`WITH w AS (${write}) SELECT ${
          sql.literal(columns)
        }, pg_notify(${t.channel}, ${Changes.sessionPayloadPrefix} || session_key) AS notified FROM w`
        : write

    const get = (key: string): Effect.Effect<Option.Option<Credentials>, StoreError> =>
      Effect.gen(function*() {
        const location = locationOf(key)
        // any type in any column: a row may have been written by another program
        const rows = yield* sql<{ readonly value: unknown; readonly version: unknown }>`
          SELECT value, ${version} AS version FROM ${entries}
          WHERE session_key = ${location.session} AND sub_key = ${location.sub}`.pipe(
          Effect.mapError(fromSqlError("get", key)),
          // `@effect/sql`'s span would end with the rows in its exit: the
          // entry, tokens in plain text with the json codec
          Effect.withTracerEnabled(false)
        )
        const held = yield* heldFor(key)
        if (rows.length === 0) {
          if (held !== undefined) held.versions.set(versionKey(location), 0n)
          return Option.none()
        }
        const read = parseVersion(rows[0].version)
        if (read === undefined) return yield* badVersion(key)
        if (held !== undefined) held.versions.set(versionKey(location), read)
        const value = rows[0].value
        if (value === null || value === undefined) return Option.none()
        const unreadable = unreadableValue(value)
        if (unreadable !== undefined) {
          return yield* new StoreError({ operation: "decode", key, description: unreadable })
        }
        return Option.some(
          yield* codec.decode(key, value as string).pipe(
            // a codec of the application's that throws on bytes it did not write
            Effect.catchAllDefect(() =>
              new StoreError({ operation: "decode", key, description: "the codec failed on the stored entry" })
            )
          )
        )
      }).pipe((effect) => traced("SqlTokenStore.get", key, effect))

    const set = (key: string, credentials: Credentials): Effect.Effect<void, StoreError> =>
      Effect.gen(function*() {
        const location = locationOf(key)
        const value = yield* codec.encode(key, credentials)
        const held = yield* heldFor(key)
        // Inside `withLock`, compare-and-set: written only while this
        // holder's lease is valid and the entry is still at the version it
        // read or wrote (a missing row: nobody wrote it since).
        const expected = held === undefined ? undefined : held.versions.get(versionKey(location))
        const guard = held === undefined ? sql.literal("1 = 1") : leaseHeld(held)
        const check = expected === undefined
          ? sql.literal("")
          : sql`WHERE e.version = ${versionValue(sql, dialect, expected)}`
        // (SQLite parses `INSERT ... SELECT ... ON CONFLICT` only with a `WHERE`)
        const rows = yield* notifying(
          sql<{ readonly version: unknown }>`
            INSERT INTO ${entries} AS e (session_key, sub_key, value, version, updated_at${revisionColumn})
            SELECT CAST(${location.session} AS TEXT), CAST(${location.sub} AS TEXT), CAST(${value} AS TEXT), 1,
              ${now}${revisionValue}
            WHERE ${guard}
            ON CONFLICT (session_key, sub_key) DO UPDATE SET value = excluded.value,
              version = ${bumped}, updated_at = excluded.updated_at${nextRevision}
            ${check}
            RETURNING ${version} AS version${sql.literal(pg ? ", session_key" : "")}`,
          "version"
        ).pipe(Effect.mapError(fromSqlError("set", key)))
        if (held === undefined) return
        if (rows.length !== 1) return yield* rejected("set", key, held)
        remember(held, location, rows[0].version)
      }).pipe((effect) => traced("SqlTokenStore.set", key, effect))

    const remove = (key: string): Effect.Effect<void, StoreError> =>
      Effect.gen(function*() {
        const location = locationOf(key)
        const prefix = derivedPrefix(location)
        // the session's entries, or a derived entry and those derived from it
        const which = location.sub === ""
          ? sql`e.session_key = ${location.session}`
          : sql`e.session_key = ${location.session}
              AND (e.sub_key = ${location.sub} OR substr(e.sub_key, 1, length(CAST(${prefix} AS TEXT))) = ${prefix})`
        const held = yield* heldFor(key)
        const expected = held === undefined ? undefined : held.versions.get(versionKey(location))
        const guard = held === undefined
          ? sql.literal("")
          : expected === undefined
          ? sql`AND ${leaseHeld(held)}`
          : sql`AND ${leaseHeld(held)} AND COALESCE((SELECT x.version FROM ${entries} x
              WHERE x.session_key = ${location.session} AND x.sub_key = ${location.sub}), 0) = ${
            versionValue(sql, dialect, expected)
          }`
        const update = notifying(
          sql<{ readonly sub_key: string; readonly version: unknown }>`
            UPDATE ${entries} AS e SET value = NULL, version = ${bumped}, updated_at = ${now}${nextRevision}
            WHERE ${which} ${guard}
            RETURNING sub_key, ${version} AS version${sql.literal(pg ? ", session_key" : "")}`,
          "sub_key, version"
        ).pipe(
          // the rows name the entries' keys (`sub_key`): not for a span
          Effect.withTracerEnabled(false)
        )
        // PostgreSQL (READ COMMITTED) evaluates the guard's subqueries on the
        // statement's snapshot, not on a row changed meanwhile: the entry's
        // row is locked first, so that the UPDATE's snapshot holds its latest
        // version. (SQLite runs one writer at a time.)
        const rows = yield* (held === undefined || !pg ? update : sql.withTransaction(Effect.zipRight(
          sql`SELECT 1 FROM ${entries} WHERE session_key = ${location.session} AND sub_key = ${location.sub} FOR UPDATE`,
          update
        ))).pipe(Effect.mapError(fromSqlError("remove", key)))
        if (held === undefined) return
        for (const row of rows) remember(held, { session: location.session, sub: row.sub_key }, row.version)
        if (rows.length > 0) {
          // only derived entries existed: the entry itself is known to be absent
          if (!rows.some((row) => row.sub_key === location.sub)) held.versions.set(versionKey(location), 0n)
          return
        }
        // Nothing removed: nothing to remove, or refused?
        const state = yield* sql<{ readonly held: unknown; readonly version: unknown }>`
          SELECT CASE WHEN ${leaseHeld(held)} THEN 1 ELSE 0 END AS held,
            CAST(COALESCE((SELECT x.version FROM ${entries} x
              WHERE x.session_key = ${location.session} AND x.sub_key = ${location.sub}), 0) AS TEXT) AS version`.pipe(
          Effect.mapError(fromSqlError("remove", key))
        )
        const current: Version | undefined = parseVersion(state[0]?.version ?? "0")
        if (Number(state[0]?.held ?? 0) !== 1 || (expected !== undefined && expected !== current)) {
          return yield* rejected("remove", key, held)
        }
        if (current !== undefined) held.versions.set(versionKey(location), current)
      }).pipe((effect) => traced("SqlTokenStore.remove", key, effect))

    const withLock = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const timeout = lockTimeout ?? (yield* RenewalPolicy).deadline
          const held = yield* leases.acquire(key, lockKeyOf(key), timeout, restore)
          const heartbeat = yield* Effect.fork(Effect.interruptible(leases.keepAlive(key, held)))
          return yield* restore(
            Effect.locallyWith(effect, heldRef, (current) => new Map(current).set(held.lockKey, held))
          ).pipe(Effect.ensuring(Effect.zipRight(Fiber.interrupt(heartbeat), leases.release(held))))
        })
      )

    // Tombstones (removed entries) and the rows of locks whose holders died
    // are deleted once they are old; on SQLite never the row with the
    // largest revision (the next revision is computed from it).
    const retention = Math.round(Duration.toMillis(options.tombstoneRetention ?? defaults.tombstoneRetention))
    const sweep = Effect.zipRight(
      sql`DELETE FROM ${entries} WHERE value IS NULL AND updated_at < ${now} - ${retention}${
        pg ? sql.literal("") : sql` AND revision < (SELECT MAX(revision) FROM ${entries})`
      }`,
      sql`DELETE FROM ${locks} WHERE expires_at < ${now} - ${retention}`
    ).pipe(
      Effect.catchAllCause((cause) => Effect.logDebug("SqlTokenStore: sweeping old rows failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(60_000, retention / 4))))
    )
    yield* Effect.forkIn(Effect.interruptible(Schema.onDatabaseTime(sweep)), scope)

    const watchers = Changes.makeWatchers()
    const listener = pg ? yield* Effect.serviceOption(Changes.PgListener) : Option.none()
    const source: Changes.Source | undefined = !pg
      ? Changes.sqlitePoller(sql, t, Duration.decode(options.changePollInterval ?? defaults.changePollInterval))
      : Option.isSome(listener)
      ? Changes.pgListener(
        sql,
        listener.value,
        t,
        Duration.decode(options.listenProbeInterval ?? defaults.listenProbeInterval)
      )
      : undefined
    // the watch's probes and polls follow the database's time: under a
    // `TestClock` the first `watch` would wait for ever for a LISTEN's probe
    const start = source === undefined
      ? undefined
      : Changes.makeStarter((watchers, ready) => Schema.onDatabaseTime(source(watchers, ready)), watchers, scope)

    // For re-encryption (`./reencrypt.ts`): the rows with a value, a page
    // at a time in key order; and one row rewritten under its session's lock
    // (the one the Renewer writes a session's entry and its API credentials
    // under; in hashed mode, that of the session's HMAC),
    // only at the version read under that lock and while the lease holds
    // (compare-and-set), without notifying (the credentials did not change).
    const rows: Reencrypt.Rows = {
      page: (after) =>
        sql<{ readonly session_key: string; readonly sub_key: string; readonly value: unknown }>`
          SELECT session_key, sub_key, value FROM ${entries}
          WHERE value IS NOT NULL${
          after === undefined
            ? sql.literal("")
            : sql` AND (session_key > ${after.session} OR (session_key = ${after.session} AND sub_key > ${after.sub}))`
        }
          ORDER BY session_key, sub_key LIMIT ${Reencrypt.pageSize}`.pipe(
          Effect.map((page) => page.map((row) => ({ session: row.session_key, sub: row.sub_key, value: row.value }))),
          Effect.mapError(fromSqlError("get", "*", "listing the entries")),
          Effect.withTracerEnabled(false)
        ),
      rewrite: (key, location, next) =>
        withLock(
          sessionKeyOf(key),
          Effect.uninterruptible(Effect.gen(function*() {
            const held = (yield* heldFor(key))!
            const found = yield* sql<{ readonly value: unknown; readonly version: unknown }>`
              SELECT value, ${version} AS version FROM ${entries}
              WHERE session_key = ${location.session} AND sub_key = ${location.sub}`.pipe(
              Effect.mapError(fromSqlError("get", key)),
              Effect.withTracerEnabled(false)
            )
            const stored = found[0]?.value
            if (typeof stored !== "string") return "gone" as const
            const read = parseVersion(found[0].version)
            if (read === undefined) return yield* badVersion(key)
            const value = yield* next(stored)
            if (Option.isNone(value)) return "unchanged" as const
            const written = yield* sql`
              UPDATE ${entries} AS e SET value = ${value.value}, version = ${bumped}, updated_at = ${now}
              WHERE session_key = ${location.session} AND sub_key = ${location.sub}
                AND e.version = ${versionValue(sql, dialect, read)} AND ${leaseHeld(held)}
              RETURNING ${version} AS version`.pipe(
              Effect.mapError(fromSqlError("set", key)),
              Effect.withTracerEnabled(false)
            )
            if (written.length !== 1) return yield* rejected("set", key, held)
            return "written" as const
          }))
        )
    }

    const service: TokenStore.Service = {
      get,
      set,
      remove,
      withLock,
      watch: start === undefined
        ? undefined
        : (key, onChange) => Effect.zipRight(start, watchers.add(locationOf(sessionKeyOf(key)).session, onChange)),
      reencrypt: (options) => Reencrypt.run(rows, keys, codec, options)
    }
    return service
  })
