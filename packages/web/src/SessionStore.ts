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
 * - `SqlSessionStore.layer` (its own module, `@effect-renewal/web/SqlSessionStore`,
 *   since it needs `@effect/sql`): a table on a `SqlClient` (SQLite,
 *   PostgreSQL); for many instances: the sweep and an atomic `replace` across
 *   them.
 *
 * The session key is derived from the cookie's session id (a SHA-256 hash):
 * someone who reads this store, or the `TokenStore`, learns no cookie.
 *
 * @since 0.5.0
 */
import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as internal from "./internal/sessionStore.js"

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
