/**
 * A `TokenStore` over `@effect/sql`'s `SqlClient`, shared safely by many
 * processes: SQLite (one machine) or PostgreSQL (many).
 *
 * - `withLock` is a per-key lock across processes: a lease row per key,
 *   timed by the database's clock, kept alive by a heartbeat, free again
 *   within `lockLease` (3 seconds by default) of its holder's death or hang.
 * - Inside `withLock`, `set` and `remove` are compare-and-set: a holder that
 *   lost its lease and whose entry someone else has since written gets a
 *   `StoreError` and the newer entry stays.
 * - `watch` tells a `Renewer` of other processes' writes: SQLite polls (every
 *   250 ms by default), PostgreSQL uses `LISTEN`/`NOTIFY`.
 * - Entries are written through the `TokenCodec` in context, so
 *   `TokenCodec.layerEncrypted` encrypts them in the table.
 *
 * @example
 * ```ts
 * import { SqlTokenStore } from "@effect-renewal/sql"
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // an application that has no SqlClient
 * const Store = SqlTokenStore.layerPgConfig({ url: Config.redacted("DATABASE_URL") }).pipe(
 *   Layer.provide(TokenCodec.layerEncryptedConfig())
 * )
 * ```
 *
 * @since 0.3.0
 */
import type { StoreError } from "@effect-renewal/core/AuthError"
import { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import { TokenStore } from "@effect-renewal/core/TokenStore"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Drivers from "./internal/drivers.js"
import * as Schema from "./internal/schema.js"
import * as Store from "./internal/store.js"

/**
 * The options of a SQL store; every one has a default.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /**
   * The tables are `<prefix>_entries`, `<prefix>_locks` and `<prefix>_meta`
   * (PostgreSQL notifies on the channel `<prefix>_changes`). Lower-case letters, digits
   * and `_`, at most 40 characters. Default `effect_renewal`.
   */
  readonly tablePrefix?: string | undefined
  /**
   * Create the tables when missing, when the store is built (default). Set
   * `false` when they are created by {@link migration} in the application's
   * migrations.
   */
  readonly createTables?: boolean | undefined
  /**
   * How long a lock outlives its holder's last heartbeat (one every third of
   * it): the longest a crashed, killed or hung holder keeps others waiting.
   * Default 3 seconds.
   */
  readonly lockLease?: Duration.DurationInput | undefined
  /**
   * How long `withLock` waits for a lock before failing with a `StoreError`
   * (operation `"lock"`). Default: the `deadline` of the `RenewalPolicy` in
   * force when `withLock` runs.
   */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** The first delay between two attempts to take a busy lock (jittered). Default 10 ms. */
  readonly lockPollMin?: Duration.DurationInput | undefined
  /** The longest delay between two attempts to take a busy lock. Default 100 ms. */
  readonly lockPollMax?: Duration.DurationInput | undefined
  /**
   * SQLite: how often the store looks for other processes' changes while
   * something watches. Default 250 ms.
   */
  readonly changePollInterval?: Duration.DurationInput | undefined
  /**
   * PostgreSQL: how often the store checks that its `LISTEN` connection
   * still delivers (it listens again, and notifies every watcher, when it
   * does not). Default 5 seconds.
   */
  readonly listenProbeInterval?: Duration.DurationInput | undefined
  /**
   * How long a removed entry's row (without its value) is kept, so that its
   * version keeps counting and pollers see the removal. Default 1 hour.
   */
  readonly tombstoneRetention?: Duration.DurationInput | undefined
  /**
   * Hashed session keys: the tables (entries, locks) and the `NOTIFY`
   * payloads hold only HMAC-SHA-256 values of session keys (and of the keys
   * derived from them) under this secret key, never the keys themselves
   * (often user ids or e-mail addresses). 32 bytes, or a base64/base64url
   * string of 32 bytes (`TokenCodec.generateKey` makes one); keep it apart
   * from the codec's keys. Needs an encrypting `TokenCodec`. The tables
   * record the mode (and a fingerprint of the key): a store opened with
   * another mode or key is refused (`StoreError`, operation `"open"`), so
   * hashed mode starts with tables of its own (a new `tablePrefix`).
   * See `docs/security.md`.
   *
   * @since 0.5.0
   */
  readonly hashSessionKeys?: Redacted.Redacted<string | Uint8Array> | undefined
}

/**
 * A store over the `SqlClient` in context (SQLite or PostgreSQL), writing
 * through the `TokenCodec` in context. Creates its tables unless
 * `createTables: false`. Background fibers (the change poller or listener,
 * a sweeper of old rows) live in the scope.
 *
 * - `get`, `set`, `remove`: one statement each. `remove(key)` removes the
 *   entry and every entry derived from it (`TokenStore.derivedKey`). A row
 *   that does not decode (wrong key, tampered) is a `StoreError`.
 * - `withLock(key, effect)`: excludes every other `withLock` for `key` in
 *   every process sharing the tables; other keys are not blocked. Waits at
 *   most `lockTimeout` (default: the `RenewalPolicy` deadline). Not
 *   reentrant.
 * - Inside `withLock`, writes to the key and the keys derived from it are
 *   compare-and-set on the entry's version and the holder's lease.
 * - `watch`: on SQLite, always; on PostgreSQL, when the client is a
 *   `PgClient` (it listens with it).
 * - `reencrypt` (see `TokenStore.reencrypt`): every entry not under the
 *   codec's current key is rewritten with it, one row at a time, under the
 *   row's cross-process lock and compare-and-set on its version: a
 *   concurrent renewal is kept. In clear mode the row names its store key,
 *   so `v1` entries (single-key codec) move too; in hashed mode the store
 *   key is read from the (`v2`) entry.
 * - `hashSessionKeys`: the tables and `NOTIFY` payloads hold HMACs of the
 *   session keys only (see {@link Options}).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<TokenStore.Service, StoreError | InvalidConfiguration, SqlClient.SqlClient | Scope.Scope> =
  Store.make

/**
 * Provides a {@link make} store over the `SqlClient` in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenStore, StoreError | InvalidConfiguration, SqlClient.SqlClient> =>
  Layer.scoped(TokenStore, Store.make(options))

/**
 * {@link layer} with its options read from `Config`, for example the key of
 * hashed session keys from a secret.
 *
 * @example
 * ```ts
 * import { SqlTokenStore } from "@effect-renewal/sql"
 * import * as Config from "effect/Config"
 *
 * const Store = SqlTokenStore.layerConfig({
 *   tablePrefix: Config.string("TOKEN_TABLES").pipe(Config.withDefault("effect_renewal")),
 *   hashSessionKeys: Config.redacted("EFFECT_RENEWAL_SESSION_HASH_KEY")
 * })
 * ```
 *
 * @since 0.5.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<TokenStore, StoreError | InvalidConfiguration | ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(options), layer))

/**
 * The tables of the store, as a migration for `@effect/sql`'s `Migrator`
 * (for an application that builds the store with `createTables: false`):
 * creates them when missing, so it is safe over tables the store created.
 *
 * @example
 * ```ts
 * import { SqlTokenStore } from "@effect-renewal/sql"
 * import * as Migrator from "@effect/sql/Migrator"
 *
 * const migrations = Migrator.fromRecord({ "0001_token_store": SqlTokenStore.migration() })
 * ```
 *
 * @since 0.3.0
 * @category migrations
 */
export const migration = (
  options?: Pick<Options, "tablePrefix">
): Effect.Effect<void, SqlError | InvalidConfiguration, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const tables = yield* Store.configuration(options ?? {})
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const dialect = Schema.dialectOf(sql)
    if (dialect === undefined) {
      return yield* new InvalidConfiguration({ description: "SqlTokenStore supports SQLite and PostgreSQL only" })
    }
    yield* Schema.createTables(sql, dialect, tables)
  })

/**
 * The options of {@link layerSqlite}: the database file, and the store's.
 *
 * @since 0.3.0
 * @category models
 */
export interface SqliteOptions extends Options {
  /** The database file (created when missing). */
  readonly filename: string
}

/**
 * A store on its own SQLite database (`@effect/sql-sqlite-node`, an
 * optional peer dependency, loaded when the layer is built), for an
 * application that has no `SqlClient`. Every process of the machine that
 * opens the same file shares the store and its locks.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<TokenStore, StoreError | InvalidConfiguration> => {
  const { filename, ...rest } = options
  return layer(rest).pipe(Layer.provide(Drivers.sqlite(filename)))
}

/**
 * How {@link layerPg} connects to PostgreSQL.
 *
 * @since 0.3.0
 * @category models
 */
export interface PgConnection {
  /** A `postgres://` URL; it may hold a password, hence `Redacted`. */
  readonly url: Redacted.Redacted
  /** The size of the connection pool (default: the driver's, 10). */
  readonly maxConnections?: number | undefined
  /** Default `effect-renewal`. */
  readonly applicationName?: string | undefined
}

/**
 * The options of {@link layerPg}: the connection, and the store's.
 *
 * @since 0.3.0
 * @category models
 */
export interface PgOptions extends Options, PgConnection {}

/**
 * A store on PostgreSQL with its own connection pool (`@effect/sql-pg`, an
 * optional peer dependency, loaded when the layer is built), for an
 * application that has no `SqlClient`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerPg = (options: PgOptions): Layer.Layer<TokenStore, StoreError | InvalidConfiguration> => {
  const { applicationName, maxConnections, url, ...rest } = options
  return layer(rest).pipe(Layer.provide(Drivers.pg({ url, maxConnections, applicationName })))
}

/**
 * {@link layerPg} with the connection read from `Config`, for example
 * `layerPgConfig({ url: Config.redacted("DATABASE_URL") })`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerPgConfig = (
  config: Config.Config.Wrap<PgConnection>,
  options?: Options
): Layer.Layer<TokenStore, StoreError | InvalidConfiguration | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), (connection) => layerPg({ ...options, ...connection })))
