/**
 * The `SessionStore` in a table of an `@effect/sql` `SqlClient` (SQLite,
 * PostgreSQL): the store for many instances, with the sweep of lapsed
 * sessions and an atomic `replace` across them. A module of its own, outside
 * the package's index, because it needs `@effect/sql` (an optional peer of
 * this package): import it as `@effect-renewal/web/SqlSessionStore`.
 *
 * @since 0.5.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Layer from "effect/Layer"
import * as internal from "./internal/sqlSessionStore.js"
import * as SessionStore from "./SessionStore.js"

/**
 * Sessions in a table of the `SqlClient` in context (`@effect/sql`, an
 * optional peer of this package: SQLite, PostgreSQL, any dialect with
 * `ON CONFLICT` and `RETURNING`); every instance on the database shares them.
 * The table (`effect_renewal_web_sessions` unless `table` is given: lower-case
 * letters, digits and `_`) is created when missing, safely when many
 * instances start at once; a row per session key (already a SHA-256 hash of
 * the cookie's id): the record as JSON, a version every write bumps, the
 * expiry.
 *
 * For many instances: `replace` is a compare-and-set on the version
 * (`UPDATE ... WHERE session_key = ? AND version = ?`), atomic across them;
 * `entries` lists the rows, so each instance's sweep ends the lapsed
 * sessions (two instances sweeping one session at once end it once: the
 * `TokenStore`'s per-session lock serializes the revocation, the second
 * finds nothing left to revoke). Fails with a `SessionStoreError`
 * (`operation: "open"`) when the table name is not valid or the table cannot
 * be created.
 *
 * @example
 * ```ts
 * import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
 * import * as SqlSessionStore from "@effect-renewal/web/SqlSessionStore"
 * import * as PgClient from "@effect/sql-pg/PgClient"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // the credentials and the sessions in one PostgreSQL database, shared by every instance
 * const Database = PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })
 * const Stores = Layer.mergeAll(
 *   SqlTokenStore.layer({ tablePrefix: "app_tokens" }),
 *   SqlSessionStore.layer({ table: "app_sessions" })
 * ).pipe(Layer.provide(Database))
 * ```
 *
 * @since 0.5.0
 * @category layers
 */
export const layer = (
  options?: { readonly table?: string | undefined }
): Layer.Layer<SessionStore.SessionStore, SessionStore.SessionStoreError, SqlClient.SqlClient> =>
  Layer.effect(SessionStore.SessionStore, internal.makeSql(options))
