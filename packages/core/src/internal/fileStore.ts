import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import type { InvalidConfiguration } from "../AuthError.js"
import { StoreError } from "../AuthError.js"
import type { Credentials } from "../Credentials.js"
import { TokenCodec } from "../TokenCodec.js"
import type { FileSystemOptions, TokenStore } from "../TokenStore.js"
import * as KeyedLock from "./keyedLock.js"
import * as Reencrypt from "./reencrypt.js"
import { isNotFound, platformErrorToStoreError } from "./storeErrors.js"
import { separator, sessionKeyOf } from "./storeKeys.js"

/**
 * The file-system store: see `TokenStore.makeFileSystem` for what it
 * guarantees.
 *
 * @internal
 */

/**
 * File-store locks are process-wide, per entry: two stores built over the
 * same directory in one process exclude each other too.
 */
const fileLocks = globalValue(Symbol.for("@effect-renewal/core/TokenStore/fileLocks"), KeyedLock.unsafeMake)

const utf8 = new TextEncoder()

const randomSuffix = (): string => Encoding.encodeHex(globalThis.crypto.getRandomValues(new Uint8Array(8)))

/** @internal */
export const make = (
  options: FileSystemOptions
): Effect.Effect<TokenStore.Service, StoreError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const codec = yield* TokenCodec
    const directory = path.resolve(options.directory)

    yield* ensureDirectory(fs, directory)
    yield* removeStaleTemporaryFiles(fs, path, directory)

    const fileOf = (operation: StoreError["operation"], key: string): Effect.Effect<string, StoreError> => {
      const session = sessionKeyOf(key)
      return session === key
        ? Effect.map(sha256Hex(operation, key), (hash) => path.join(directory, `${hash}.token`))
        : Effect.zipWith(
          sha256Hex(operation, session),
          sha256Hex(operation, key),
          (prefix, hash) => path.join(directory, `${prefix}.${hash}.token`)
        )
    }

    const get = (key: string): Effect.Effect<Option.Option<Credentials>, StoreError> =>
      fileOf("get", key).pipe(
        Effect.flatMap((file) =>
          fs.readFileString(file).pipe(
            Effect.asSome,
            Effect.catchIf(isNotFound, () => Effect.succeedNone),
            Effect.mapError(platformErrorToStoreError("get", key))
          )
        ),
        Effect.flatMap((stored: Option.Option<string>) =>
          Option.match(stored, {
            onNone: () => Effect.succeedNone,
            onSome: (contents) => Effect.asSome(codec.decode(key, contents))
          })
        )
      )

    const writeAtomically = (key: string, file: string, contents: string): Effect.Effect<void, StoreError> => {
      const temporary = `${file}.${randomSuffix()}.tmp`
      return Effect.scoped(
        Effect.gen(function*() {
          const handle = yield* fs.open(temporary, { flag: "wx", mode: 0o600 })
          yield* handle.writeAll(utf8.encode(contents))
          yield* handle.sync
        })
      ).pipe(
        Effect.zipRight(fs.rename(temporary, file)),
        Effect.onError(() => Effect.ignore(fs.remove(temporary, { force: true }))),
        Effect.mapError(platformErrorToStoreError("set", key)),
        // Make the rename itself durable where the platform allows it.
        Effect.zipLeft(syncDirectory(fs, directory))
      )
    }

    const set = (key: string, credentials: Credentials): Effect.Effect<void, StoreError> =>
      Effect.gen(function*() {
        const file = yield* fileOf("set", key)
        const contents = yield* codec.encode(key, credentials)
        yield* writeAtomically(key, file, contents)
      })

    const removeFile = (key: string) => (file: string) =>
      fs.remove(file).pipe(
        Effect.catchIf(isNotFound, () => Effect.void),
        Effect.mapError(platformErrorToStoreError("remove", key))
      )

    // A session's own entry goes last: a failure part-way leaves it, and a
    // later `remove` finds what is left.
    const remove = (key: string): Effect.Effect<void, StoreError> =>
      sessionKeyOf(key) !== key
        ? Effect.flatMap(fileOf("remove", key), removeFile(key))
        : Effect.gen(function*() {
          const prefix = `${yield* sha256Hex("remove", key)}.`
          const names = yield* fs.readDirectory(directory).pipe(
            Effect.mapError(platformErrorToStoreError("remove", key))
          )
          // derived entries, and temporary files a crashed write left (they
          // may hold a refresh token in plain text with the json codec)
          for (const name of names) {
            if (name.startsWith(prefix) && (name.endsWith(".token") || isTemporary(name))) {
              yield* removeFile(key)(path.join(directory, name))
            }
          }
          yield* Effect.flatMap(fileOf("remove", key), removeFile(key))
        })

    // One lock per entry, keyed by (directory, store key): the entry file is
    // a function of both.
    const withLock = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> =>
      fileLocks.withLock(`${directory}${separator}${key}`, effect)

    const readEntry = (file: string): Effect.Effect<Option.Option<string>, StoreError> =>
      fs.readFileString(file).pipe(
        Effect.asSome,
        Effect.catchIf(isNotFound, () => Effect.succeedNone),
        Effect.mapError(platformErrorToStoreError("get", "*"))
      )

    // One entry: learn its store key from the entry (outside the lock: the
    // lock is by key), then, under the lock of its session (the one the
    // Renewer writes a session's entry and its API credentials under: an
    // entry's own lock would not exclude a renewal of API credentials),
    // write the re-encrypted copy
    // only if the entry is still what was read; if it changed meanwhile (a
    // renewal), re-encrypt what is there now (usually already current).
    // The locked section is uninterruptible: a rename either happened or
    // not, the temporary file never outlives it.
    const reencryptFile = (
      reencode: NonNullable<TokenCodec.Service["reencrypt"]>,
      file: string,
      known: string | undefined
    ): Effect.Effect<Reencrypt.Outcome, StoreError> =>
      Effect.gen(function*() {
        const before = yield* readEntry(file)
        if (Option.isNone(before)) return "gone"
        const first = yield* reencode(before.value, known)
        if (first._tag === "Current") return "current"
        const key = first.key
        if ((yield* fileOf("get", key)) !== file) {
          return yield* new StoreError({
            operation: "decode",
            key,
            description: "the entry is in another entry's file (moved or copied there): not rewritten"
          })
        }
        return yield* withLock(
          sessionKeyOf(key),
          Effect.uninterruptible(Effect.gen(function*() {
            const now = yield* readEntry(file)
            if (Option.isNone(now)) return "gone" as const
            let next = first.stored
            if (now.value !== before.value) {
              const again = yield* reencode(now.value, key)
              if (again._tag === "Current") return "current" as const
              next = again.stored
            }
            yield* writeAtomically(key, file, next)
            return "rewritten" as const
          }))
        )
      })

    const reencrypt = (
      options?: TokenStore.ReencryptOptions
    ): Effect.Effect<TokenStore.ReencryptSummary, StoreError | InvalidConfiguration> =>
      Effect.gen(function*() {
        const reencode = yield* Reencrypt.codecOf(codec)
        // the files of the keys given, for the entries that do not name their key
        const known = new Map<string, string>()
        for (const key of options?.keys ?? []) known.set(yield* fileOf("get", key), key)
        const names = yield* fs.readDirectory(directory).pipe(Effect.mapError(platformErrorToStoreError("get", "*")))
        const tally = Reencrypt.tally()
        for (const name of names.filter((name) => name.endsWith(".token")).sort()) {
          const file = path.join(directory, name)
          tally.add(name, yield* Effect.either(reencryptFile(reencode, file, known.get(file))))
        }
        return tally.summary()
      })

    const service: TokenStore.Service = { get, set, remove, withLock, reencrypt }
    return service
  })

const isTemporary = (name: string): boolean => /\.token\.[0-9a-f]{16}\.tmp$/.test(name)

/** How old a temporary file must be to be taken for one a crashed write left. */
const staleAfterMillis = 60_000

// A process killed mid-write leaves its temporary file; it may hold a
// refresh token in plain text (json codec). One older than a minute belongs
// to no write in progress: it is removed when the store starts. Failures here
// are not the store's: they are ignored.
const removeStaleTemporaryFiles = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  directory: string
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    for (const name of yield* fs.readDirectory(directory)) {
      if (!isTemporary(name)) continue
      const file = path.join(directory, name)
      const info = yield* fs.stat(file)
      const modified = Option.match(info.mtime, { onNone: () => 0, onSome: (date) => date.getTime() })
      if (now - modified > staleAfterMillis) yield* fs.remove(file)
    }
  }).pipe(Effect.ignore)

const ensureDirectory = (fs: FileSystem.FileSystem, directory: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    if (!(yield* fs.exists(directory))) {
      yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 })
      // `mkdir` applies the umask; make sure the directory is owner-only.
      yield* fs.chmod(directory, 0o700)
    }
    const info = yield* fs.stat(directory)
    if (info.type !== "Directory") {
      return yield* new StoreError({
        operation: "open",
        key: "*",
        description: `token store path is not a directory: ${directory}`
      })
    }
  }).pipe(Effect.catchIf((e) => !(e instanceof StoreError), platformErrorToStoreError("open", "*")))

const syncDirectory = (fs: FileSystem.FileSystem, directory: string): Effect.Effect<void> =>
  Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync)).pipe(
    Effect.ignore
  )

const sha256Hex = (operation: StoreError["operation"], key: string): Effect.Effect<string, StoreError> =>
  Effect.tryPromise({
    try: () => globalThis.crypto.subtle.digest("SHA-256", utf8.encode(key)),
    catch: () => new StoreError({ operation, key, description: "could not derive the entry's file name" })
  }).pipe(Effect.map((digest) => Encoding.encodeHex(new Uint8Array(digest))))
