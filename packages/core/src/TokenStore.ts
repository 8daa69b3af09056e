/**
 * Where credentials are kept, by session key.
 *
 * - {@link layerMemory}: in the process, gone when it exits.
 * - {@link layerFileSystem}: one owner-only file per session key, written
 *   atomically, over `@effect/platform`'s `FileSystem`. It writes through the
 *   `TokenCodec` in context: plain JSON by default, encrypted with
 *   `TokenCodec.layerEncrypted`.
 *
 * The SQL store (cross-process lock) lives in `@effect-renewal/sql`.
 *
 * @example
 * ```ts
 * import { NodeFileSystem, NodePath } from "@effect/platform-node"
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as Layer from "effect/Layer"
 *
 * const Store = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
 *   Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { StoreError } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import * as FileStore from "./internal/fileStore.js"
import * as KeyedLock from "./internal/keyedLock.js"
import * as StoreKeys from "./internal/storeKeys.js"

/**
 * A store of credentials keyed by a session key.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@effect-renewal/core/TokenStore")<TokenStore, TokenStore.Service>() {}

/**
 * The types of the {@link TokenStore} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace TokenStore {
  /**
   * What a store does, for a session key. The `Renewer` is its usual client;
   * a store of your own implements this interface (see `docs/storage.md`).
   *
   * @example
   * ```ts
   * import * as TokenStore from "@effect-renewal/core/TokenStore"
   * import * as Effect from "effect/Effect"
   * import * as Option from "effect/Option"
   *
   * // Who is logged in? Read the store directly, outside any Renewer.
   * const isStored = (key: string) =>
   *   Effect.flatMap(TokenStore.TokenStore, (store) => Effect.map(store.get(key), Option.isSome))
   *
   * // A read and a write that no one else sharing the store interleaves with.
   * const copy = (from: string, to: string) =>
   *   Effect.flatMap(TokenStore.TokenStore, (store) =>
   *     store.withLock(
   *       from,
   *       Effect.flatMap(store.get(from), Option.match({
   *         onNone: () => Effect.void,
   *         onSome: (credentials) => store.set(to, credentials)
   *       }))
   *     ))
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * The credentials stored under `key`, `Option.none()` when there are none.
     */
    readonly get: (key: string) => Effect.Effect<Option.Option<Credentials>, StoreError>
    /**
     * Stores `credentials` under `key`, replacing what was there.
     */
    readonly set: (key: string, credentials: Credentials) => Effect.Effect<void, StoreError>
    /**
     * Removes what is stored under `key`, and under every key derived from it
     * (see {@link derivedKey}); removing a missing entry succeeds.
     */
    readonly remove: (key: string) => Effect.Effect<void, StoreError>
    /**
     * Runs `effect` exclusively for `key`: no other `withLock` section for the
     * same key, among everyone sharing the store, runs at the same time.
     * Other keys are not blocked. The lock is released however `effect` ends,
     * including by interruption (also while waiting for the lock).
     *
     * Not reentrant: do not nest `withLock` for the same key.
     */
    readonly withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreError, R>
    /**
     * For a store shared with other processes or instances: runs `onChange`
     * after the entry under `key` (or one derived from it) may have been
     * changed or removed by someone else, within the store's bounded
     * staleness, until the scope closes. A `Renewer` registers here, so that
     * its `get` and `changes` see another process's renewal or logout without
     * reading the store on every call. Stores that only this process uses
     * need not implement it.
     *
     * @since 0.3.0
     */
    readonly watch?:
      | ((key: string, onChange: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>)
      | undefined
  }
}

/**
 * The key of an entry that belongs to a session: the `Renewer` keeps the API
 * credentials of a session (another audience or scope) under
 * `derivedKey(sessionKey, name)`, so that they survive a restart and are
 * shared like the session's own entry, and `remove(sessionKey)` removes them
 * with it. A session key must not contain U+0000, which separates the two
 * parts.
 *
 * @example
 * ```ts
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 *
 * const key = TokenStore.derivedKey("alice", "orders")
 * console.log(key === "alice") // false
 * console.log(TokenStore.sessionKeyOf(key)) // "alice"
 * console.log(TokenStore.sessionKeyOf("alice")) // "alice"
 * ```
 *
 * @since 0.2.0
 * @category keys
 */
export const derivedKey: (sessionKey: string, name: string) => string = StoreKeys.derivedKey

/**
 * The session key an entry's key belongs to: the key itself, or the session
 * key of a {@link derivedKey}.
 *
 * @since 0.2.0
 * @category keys
 */
export const sessionKeyOf: (key: string) => string = StoreKeys.sessionKeyOf

// ---------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------

/**
 * A store in memory: it keeps the `Credentials` objects themselves (no codec)
 * and locks in-process, per store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<TokenStore.Service> = Effect.gen(function*() {
  // plain maps, every operation O(1): the entries, and the keys derived from
  // each session key (so that removing a session does not scan every entry)
  const entries = new Map<string, Credentials>()
  const derived = new Map<string, Set<string>>()
  const lock = yield* KeyedLock.make
  return TokenStore.of({
    get: (key) => Effect.sync(() => Option.fromNullable(entries.get(key))),
    set: (key, credentials) =>
      Effect.sync(() => {
        entries.set(key, credentials)
        const session = StoreKeys.sessionKeyOf(key)
        if (session === key) return
        const keys = derived.get(session)
        if (keys === undefined) derived.set(session, new Set([key]))
        else keys.add(key)
      }),
    remove: (key) =>
      Effect.sync(() => {
        entries.delete(key)
        const session = StoreKeys.sessionKeyOf(key)
        if (session !== key) {
          const keys = derived.get(session)
          if (keys?.delete(key) && keys.size === 0) derived.delete(session)
          return
        }
        const keys = derived.get(key)
        if (keys === undefined) return
        for (const each of keys) entries.delete(each)
        derived.delete(key)
      }),
    withLock: lock.withLock
  })
})

/**
 * Provides a fresh {@link makeMemory} store: credentials live as long as the
 * layer, and only this process sees them.
 *
 * @example
 * ```ts
 * import * as Credentials from "@effect-renewal/core/Credentials"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as DateTime from "effect/DateTime"
 * import * as Effect from "effect/Effect"
 * import * as Option from "effect/Option"
 * import * as Redacted from "effect/Redacted"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.TokenStore
 *   const credentials = new Credentials.Credentials({
 *     accessToken: Redacted.make("an-access-token"),
 *     tokenType: "Bearer",
 *     expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00Z")
 *   })
 *   yield* store.set("alice", credentials)
 *   console.log(Option.isSome(yield* store.get("alice"))) // true
 *   yield* store.remove("alice")
 *   console.log(Option.isSome(yield* store.get("alice"))) // false
 * }).pipe(Effect.provide(TokenStore.layerMemory))
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory)

// ---------------------------------------------------------------------------
// file system
// ---------------------------------------------------------------------------

/**
 * The options of the file-system store.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileSystemOptions {
  /**
   * The directory of the entries. Created (with its parents) with mode
   * `0o700` when missing; an existing directory keeps its mode.
   */
  readonly directory: string
}

/**
 * A store with one file per session key in `options.directory`.
 *
 * - The file name is the SHA-256 of the session key in hex plus `.token`: a
 *   key never acts as a path (`../x`, `/etc/x` stay inside the directory).
 *   An entry derived from a session (see {@link derivedKey}) is
 *   `<session hash>.<SHA-256 of its key>.token`, so that removing the session
 *   finds it.
 * - Entries are owner-only (`0o600`) and written atomically: to a temporary
 *   file in the same directory (`0o600`), synced, then renamed over the
 *   entry. A crash or a failure mid-write leaves the previous entry intact
 *   (at worst a stray `*.tmp` file, which is never read).
 * - Entries go through the `TokenCodec` in context when the store is built
 *   (`TokenCodec.json` by default).
 * - A missing file is `Option.none()`; an unreadable or corrupt one is a
 *   `StoreError`.
 * - `withLock` is in-process (shared by all file stores of the process over
 *   the same directory), not across processes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFileSystem: (
  options: FileSystemOptions
) => Effect.Effect<TokenStore.Service, StoreError, FileSystem.FileSystem | Path.Path> = FileStore.make

/**
 * Provides a {@link makeFileSystem} store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem = (
  options: FileSystemOptions
): Layer.Layer<TokenStore, StoreError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(TokenStore, makeFileSystem(options))

/**
 * Provides a {@link makeFileSystem} store configured from `Config`.
 *
 * @example
 * ```ts
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as NodePath from "@effect/platform-node/NodePath"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // the directory from TOKEN_DIR, `.tokens` when it is not set
 * const Store = TokenStore.layerFileSystemConfig({
 *   directory: Config.string("TOKEN_DIR").pipe(Config.withDefault(".tokens"))
 * }).pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer]))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystemConfig = (
  options: Config.Config.Wrap<FileSystemOptions>
): Layer.Layer<TokenStore, StoreError | ConfigError.ConfigError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(TokenStore, Effect.flatMap(Config.unwrap(options), makeFileSystem))
