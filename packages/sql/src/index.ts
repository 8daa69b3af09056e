/**
 * A token store for effect-renewal on `@effect/sql`: SQLite or PostgreSQL,
 * with a per-key lock across processes, compare-and-set writes and change
 * notification.
 *
 * @since 0.3.0
 */

/**
 * A `TokenStore` over `@effect/sql`'s `SqlClient` (SQLite, PostgreSQL): a
 * per-key lock across processes, compare-and-set writes inside it, and
 * change notification for the `Renewer`.
 *
 * @since 0.3.0
 */
export * as SqlTokenStore from "./SqlTokenStore.js"
