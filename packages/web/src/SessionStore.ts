/**
 * Where the web sessions are kept on the server: by session key, the
 * person's subject and id_token claims (as checked at login), when the
 * session started and when it was last used. The credentials themselves are
 * not here: they are in `Sessions` (over its `TokenStore`), under the same
 * session key.
 *
 * - {@link layerMemory}: in the process; for one instance.
 * - {@link layerKeyValueStore}: over `@effect/platform`'s `KeyValueStore`;
 *   every instance that shares the `KeyValueStore` (a shared volume, Redis,
 *   a database table) shares the sessions. No sweep, no atomic `replace`.
 * - {@link layerSql}: a table on `@effect/sql`'s `SqlClient` (SQLite,
 *   PostgreSQL); for many instances: the sweep and an atomic `replace` across
 *   them.
 *
 * The session key is derived from the cookie's session id (a SHA-256 hash):
 * someone who reads this store, or the `TokenStore`, learns no cookie.
 *
 * @since 0.5.0
 */
import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as internal from "./internal/sessionStore.js"
import * as internalSql from "./internal/sqlSessionStore.js"

/**
 * One web session: who (`subject`, the `claims` of the id_token checked at
 * login), since when (`createdAt`) and last used when (`lastSeenAt`), in
 * epoch milliseconds.
 *
 * @since 0.5.0
 * @category models
 */
export class SessionRecord extends Schema.Class<SessionRecord>("@effect-renewal/web/SessionStore/SessionRecord")({
  subject: Schema.String,
  claims: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  createdAt: Schema.Number,
  lastSeenAt: Schema.Number
}) {}

/**
 * The session store could not be used. The message says which operation,
 * never a session key.
 *
 * @since 0.5.0
 * @category errors
 */
export class SessionStoreError extends Data.TaggedError("SessionStoreError")<{
  readonly operation: "open" | "get" | "set" | "remove" | "replace" | "entries"
  readonly description: string
}> {
  /**
   * @since 0.5.0
   */
  override get message(): string {
    return `session store ${this.operation} failed: ${this.description}`
  }
}

/**
 * The tag of the session store.
 *
 * @since 0.5.0
 * @category tags
 */
export class SessionStore extends Context.Tag("@effect-renewal/web/SessionStore")<
  SessionStore,
  SessionStore.Service
>() {}

/**
 * The types of the {@link SessionStore} service.
 *
 * @since 0.5.0
 * @category models
 */
export declare namespace SessionStore {
  /**
   * By session key: read, write (with the time the entry may live), remove.
   * An expired entry reads as absent. `WebAuth` asks for a session's
   * lifetime plus a grace period (a day), so that it still finds a lapsed
   * session and ends it (refresh token revoked, credentials removed).
   *
   * Two optional methods, used when present:
   * - `replace`: writes `record` only if the entry is still there and still
   *   `expected` (same subject, `createdAt`, `lastSeenAt`), atomically for
   *   this store; `false` when it was not. The "last used" write uses it, so
   *   that a request in flight cannot bring back a session a logout just
   *   removed. Without it, a read-compare-write (a narrow window).
   * - `entries`: every entry still held (expired or not). `WebAuth` sweeps
   *   them on its `sweepInterval` and ends the lapsed ones, with no request
   *   needed. Without it, a lapsed session is ended only by its next request
   *   (or, past the grace period, dropped by the store without its refresh
   *   token revoked).
   *
   * @since 0.5.0
   * @category models
   */
  export interface Service {
    readonly get: (key: string) => Effect.Effect<Option.Option<SessionRecord>, SessionStoreError>
    readonly set: (
      key: string,
      record: SessionRecord,
      timeToLive: Duration.DurationInput
    ) => Effect.Effect<void, SessionStoreError>
    readonly remove: (key: string) => Effect.Effect<void, SessionStoreError>
    readonly replace?: (
      key: string,
      expected: SessionRecord,
      record: SessionRecord,
      timeToLive: Duration.DurationInput
    ) => Effect.Effect<boolean, SessionStoreError>
    readonly entries?: Effect.Effect<ReadonlyArray<readonly [string, SessionRecord]>, SessionStoreError>
  }
}

/**
 * Sessions in the process's memory, gone when it exits. Has `replace`
 * (atomic) and `entries` (the sweep ends lapsed sessions).
 *
 * @since 0.5.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SessionStore> = Layer.effect(SessionStore, internal.makeMemory)

/**
 * Sessions in the `KeyValueStore` in context, as JSON under
 * `effect-renewal-web-session:<session key>`.
 *
 * Limits: a `KeyValueStore` cannot list its keys nor compare-and-set, so
 * this store has no `entries` (a lapsed session is ended, its refresh token
 * revoked, at its next request; one never used again stays in both stores
 * until then: remove old entries yourself, e.g. files older than
 * `absoluteLifetime` plus a day) and its `replace` is a read-compare-write
 * (a request and a logout at the same instant may still race, on another
 * instance).
 *
 * @example
 * ```ts
 * import * as SessionStore from "@effect-renewal/web/SessionStore"
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as NodePath from "@effect/platform-node/NodePath"
 * import * as KeyValueStore from "@effect/platform/KeyValueStore"
 * import * as Layer from "effect/Layer"
 *
 * // files on a volume every instance mounts
 * const Store = SessionStore.layerKeyValueStore.pipe(
 *   Layer.provide(KeyValueStore.layerFileSystem("/var/lib/app/sessions")),
 *   Layer.provide([NodeFileSystem.layer, NodePath.layer])
 * )
 * ```
 *
 * @since 0.5.0
 * @category layers
 */
export const layerKeyValueStore: Layer.Layer<SessionStore, never, KeyValueStore.KeyValueStore> = Layer.effect(
  SessionStore,
  internal.makeKeyValueStore
)

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
 * import * as SessionStore from "@effect-renewal/web/SessionStore"
 * import * as PgClient from "@effect/sql-pg/PgClient"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // the credentials and the sessions in one PostgreSQL database, shared by every instance
 * const Database = PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })
 * const Stores = Layer.mergeAll(
 *   SqlTokenStore.layer({ tablePrefix: "app_tokens" }),
 *   SessionStore.layerSql({ table: "app_sessions" })
 * ).pipe(Layer.provide(Database))
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const layerSql = (
  options?: { readonly table?: string | undefined }
): Layer.Layer<SessionStore, SessionStoreError, SqlClient.SqlClient> =>
  Layer.effect(SessionStore, internalSql.makeSql(options))
