/**
 * Where credentials are kept, by store key ({@link entryKey} and
 * {@link derivedKey} of a session key).
 *
 * - {@link layerMemory}: in the process, gone when it exits.
 * - {@link layerFileSystem}: one owner-only file per entry, written
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
import { InvalidConfiguration } from "./AuthError.js"
import type { Credentials } from "./Credentials.js"
import * as FileStore from "./internal/fileStore.js"
import * as KeyedLock from "./internal/keyedLock.js"
import * as StoreKeys from "./internal/storeKeys.js"
import * as Tracing from "./internal/tracing.js"

/**
 * A store of credentials keyed by store keys: {@link entryKey} of a session
 * key for a session's own entry, {@link derivedKey} for the entries derived
 * from it.
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
   * What a store does, by store key. The `Renewer` is its usual client; a
   * store of your own implements this interface (see `docs/storage.md`).
   *
   * Every `key` here is a store key, not a session key: the `Renewer` and
   * `Sessions` turn a session key into one with {@link entryKey} and
   * {@link derivedKey}; a program reading the store directly does the same.
   * A key's session part (see {@link sessionKeyOf}) groups the entries of
   * one session.
   *
   * @example
   * ```ts
   * import * as TokenStore from "@effect-renewal/core/TokenStore"
   * import * as Effect from "effect/Effect"
   * import * as Option from "effect/Option"
   *
   * // Who is logged in? Read the store directly, outside any Renewer.
   * const isStored = (sessionKey: string) =>
   *   Effect.flatMap(TokenStore.TokenStore, (store) =>
   *     Effect.map(store.get(TokenStore.entryKey(sessionKey)), Option.isSome))
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
     * Removes what is stored under `key` and, for a session's own entry,
     * under every key derived from it (every key whose {@link sessionKeyOf}
     * is `key`); removing a missing entry succeeds.
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
    /**
     * For a persistent store written through a codec with keys (the file
     * store and the SQL store): rewrites every entry that is not under the
     * `TokenCodec`'s current key with it, one entry at a time, each under
     * the store's lock for its session (`withLock(sessionKeyOf(key))`, the
     * one the `Renewer` writes the session's entry and its API credentials
     * under) and atomically, so that an old key can be
     * retired. An entry written meanwhile (a renewal) is never replaced by a
     * stale copy; an entry that cannot be re-encrypted (a key id the keyring
     * lacks, a tampered entry) is reported in `failed` and left as it is.
     * Interrupted, it leaves every entry readable; run again, it goes on.
     * An `InvalidConfiguration` when the codec has no keys (`json`). See
     * {@link reencrypt}.
     *
     * @since 0.5.0
     */
    readonly reencrypt?:
      | ((options?: ReencryptOptions) => Effect.Effect<ReencryptSummary, StoreError | InvalidConfiguration>)
      | undefined
  }

  /**
   * The options of a store's `reencrypt`.
   *
   * @since 0.5.0
   * @category models
   */
  export interface ReencryptOptions {
    /**
     * Store keys (`entryKey(sessionKey)`, `derivedKey(sessionKey, name)`)
     * of entries whose key the store cannot learn by itself: `v1` entries
     * (written by the single-key codec, which does not record the store key
     * in the entry) in the file store, whose file names are hashes, and in
     * the SQL store with hashed session keys. Keys of no entry are ignored.
     */
    readonly keys?: Iterable<string> | undefined
  }

  /**
   * What a store's `reencrypt` did.
   *
   * @since 0.5.0
   * @category models
   */
  export interface ReencryptSummary {
    /** Entries rewritten with the current key. */
    readonly rewritten: number
    /** Entries already under the current key (or rewritten by someone else meanwhile). */
    readonly current: number
    /**
     * Entries left as they were, with why: `entry` names the entry without
     * its session key (the file store: its file name; the SQL store: the
     * session's short hash, or its HMAC in hashed mode), and so does its
     * `error` (its `key` is `entry`).
     */
    readonly failed: ReadonlyArray<{ readonly entry: string; readonly error: StoreError }>
  }
}

/**
 * Re-encrypts every entry of the `TokenStore` in context with the current
 * key of its `TokenCodec` keyring (see {@link TokenStore.Service}'s
 * `reencrypt`): the step of a key rotation that lets the old key be retired
 * once `failed` is empty. The file store's locks exclude only within one
 * process: on it, run this in the application's process (on its store), or
 * with the application stopped, never as a separate script against a
 * directory a running application writes (a stale copy could replace a
 * refresh token rotated meanwhile). An `InvalidConfiguration` for a store
 * that cannot (the memory store, which keeps no ciphertext) or whose codec
 * has no keys.
 * `options.keys`: the store keys of `v1` entries the store cannot name
 * (see {@link TokenStore.ReencryptOptions}).
 *
 * @example
 * ```ts
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 * import { NodeFileSystem, NodePath } from "@effect/platform-node"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * // with EFFECT_RENEWAL_STORE_KEYS / _CURRENT naming the new key as current
 * const Store = TokenStore.layerFileSystem({ directory: ".tokens" }).pipe(
 *   Layer.provide([NodeFileSystem.layer, NodePath.layer, TokenCodec.layerEncryptedConfig()])
 * )
 * const rotate = TokenStore.reencrypt().pipe(
 *   Effect.tap(({ current, failed, rewritten }) =>
 *     Effect.log(`${rewritten} rewritten, ${current} already current, ${failed.length} failed`)
 *   ),
 *   Effect.provide(Store)
 * )
 * ```
 *
 * @since 0.5.0
 * @category re-encryption
 */
export const reencrypt = (
  options?: TokenStore.ReencryptOptions
): Effect.Effect<TokenStore.ReencryptSummary, StoreError | InvalidConfiguration, TokenStore> =>
  Effect.flatMap(TokenStore, (store) =>
    store.reencrypt === undefined
      ? Effect.fail(
        new InvalidConfiguration({
          description: "this TokenStore cannot re-encrypt its entries (only the file and SQL stores can)"
        })
      )
      : store.reencrypt(options))

/**
 * The store key of a session's own entry (its login). A session key may be
 * any string: U+0000, which separates a session from the entries derived
 * from it (see {@link derivedKey}), U+0001, the escape, and every lone UTF-16
 * surrogate (which UTF-8 would turn into U+FFFD) are written as U+0001 and
 * the code unit in four lowercase hex digits. Every other character is kept,
 * so a key with none of these is its own store key, as before 0.4.0.
 *
 * Distinct session keys have distinct store keys (and distinct UTF-8 bytes),
 * none of which contains U+0000. The `Renewer` and `Sessions` take session
 * keys and do this themselves; use it to reach a session's entry through
 * the store directly.
 *
 * @example
 * ```ts
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 *
 * console.log(TokenStore.entryKey("alice") === "alice") // true
 * console.log(TokenStore.entryKey("alice\u0000x") === "alice\u00010000x") // true
 * console.log(TokenStore.entryKey("\ud800") === "\u0001d800") // true
 * ```
 *
 * @since 0.4.0
 * @category keys
 */
export const entryKey: (sessionKey: string) => string = StoreKeys.entryKey

/**
 * The store key of an entry that belongs to a session: the `Renewer` keeps
 * the API credentials of a session (another audience or scope) under
 * `derivedKey(sessionKey, name)`, so that they survive a restart and are
 * shared like the session's own entry, and `remove(entryKey(sessionKey))`
 * removes them with it.
 *
 * The key is `entryKey(sessionKey)`, U+0000, then `name` escaped the same
 * way: whatever the two strings hold, no two (session, name) pairs share a
 * store key, and no pair shares one with a session's own entry. Ordinary
 * keys keep the form they had before 0.4.0 (`"alice\u0000orders"`).
 *
 * @example
 * ```ts
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 *
 * const key = TokenStore.derivedKey("alice", "orders")
 * console.log(key === "alice\u0000orders") // true
 * console.log(TokenStore.sessionKeyOf(key) === TokenStore.entryKey("alice")) // true
 *
 * // a session key holding U+0000 cannot pose as alice's entry
 * const other = TokenStore.entryKey("alice\u0000orders")
 * console.log(other === key) // false
 * console.log(TokenStore.sessionKeyOf(other) === other) // true
 * ```
 *
 * @since 0.2.0
 * @category keys
 */
export const derivedKey: (sessionKey: string, name: string) => string = StoreKeys.derivedKey

/**
 * The store key of the session's own entry that a store key belongs to:
 * everything before its first U+0000. For `derivedKey(sessionKey, name)`
 * and for `entryKey(sessionKey)` it is `entryKey(sessionKey)`; a store
 * groups a session's entries by it (and the SQL store keeps it in its own
 * column).
 *
 * @example
 * ```ts
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 *
 * console.log(TokenStore.sessionKeyOf(TokenStore.derivedKey("alice", "orders"))) // "alice"
 * console.log(TokenStore.sessionKeyOf("alice")) // "alice"
 * ```
 *
 * @since 0.2.0
 * @category keys
 */
export const sessionKeyOf: (key: string) => string = StoreKeys.sessionKeyOf

/**
 * The short hash by which spans and log lines name the session of a store
 * key: FNV-1a 64 of its session part ({@link sessionKeyOf}), 16 hex digits.
 * The same for a session's own entry and every entry derived from it, and in
 * every store (the SQL store's spans use it too), so that one session reads
 * alike everywhere. Not a secret: it tells sessions apart, and a key that can
 * be guessed can be checked against it.
 *
 * @example
 * ```ts
 * import * as TokenStore from "@effect-renewal/core/TokenStore"
 *
 * const own = TokenStore.sessionHash(TokenStore.entryKey("alice"))
 * console.log(own === TokenStore.sessionHash(TokenStore.derivedKey("alice", "orders"))) // true
 * console.log(own.length) // 16
 * ```
 *
 * @since 0.4.0
 * @category keys
 */
export const sessionHash = (key: string): string => Tracing.sessionHash(StoreKeys.sessionKeyOf(key))

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
 * A store with one file per entry in `options.directory`.
 *
 * - The file name is the SHA-256 of the store key's UTF-8 bytes in hex plus
 *   `.token`: a key never acts as a path (`../x`, `/etc/x` stay inside the
 *   directory). An entry derived from a session (see {@link derivedKey}) is
 *   `<SHA-256 of its sessionKeyOf>.<SHA-256 of its key>.token`, so that
 *   removing the session finds it.
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
 * - `reencrypt` moves every `v2` entry to the codec's current key (it reads
 *   an entry's store key from the entry). A `v1` entry (single-key codec)
 *   does not record its store key, which the file name only hashes: unless
 *   its key is among `options.keys`, it is reported in `failed`, and moves
 *   to the current key when it is next written (its next renewal).
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
