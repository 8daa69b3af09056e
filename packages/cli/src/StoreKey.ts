/**
 * The key that encrypts the credential store (AES-256-GCM, through
 * `TokenCodec.encrypted`): `EFFECT_RENEWAL_STORE_KEY` when set, else the key
 * file `store.key` beside the database, generated on first use.
 *
 * The key file is JSON, a keyring:
 * `{"version":1,"current":"<id>","keys":[{"id":"<id>","key":"<base64url of 32 bytes>"}]}`;
 * the `current` key encrypts, every key of the file decrypts the entries it
 * wrote (`TokenCodec.encrypted` with the {@link keyringOf} the file), and
 * the first key also reads the `v1` entries of the single-key form, which
 * the command wrote before it used keyrings. `effect-renewal store
 * rotate-key` adds a key and makes it current. It is created owner-only (0600, in a 0700
 * directory), atomically: written to a temporary file, then linked to its
 * name, which fails if another process created it first (that one's key is
 * then used). An existing key file is never overwritten: one readable by
 * others, in a directory others may write to, or that is not a key file is
 * a `KeyFileError`, since a new key would make every stored credential
 * unreadable.
 *
 * What it protects: a copy of the database (a backup, a synced folder)
 * without the key file. Not an attacker who can read the user's files.
 *
 * @since 0.1.0
 */
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import * as path from "node:path"
import { KeyFileError } from "./CliError.js"

const KeyBytes = 32

const Base64UrlKey = Schema.String.pipe(
  Schema.filter((text) => {
    const bytes = Encoding.decodeBase64Url(text)
    return Either.isRight(bytes) && bytes.right.byteLength === KeyBytes &&
        Encoding.encodeBase64Url(bytes.right) === text || "a base64url string of 32 bytes"
  })
)

// the codec's own rule for key ids (1 to 32 of A-Z a-z 0-9 _ -: never a key)
const KeyId = Schema.String.pipe(
  Schema.filter((id) => TokenCodec.isKeyId(id) || "a key id: 1 to 32 of A-Z a-z 0-9 _ -")
)

/**
 * The key file's content.
 *
 * @since 0.1.0
 * @category models
 */
export const KeyFile = Schema.Struct({
  version: Schema.Literal(1),
  current: Schema.NonEmptyString,
  keys: Schema.NonEmptyArray(Schema.Struct({ id: KeyId, key: Schema.Redacted(Base64UrlKey) }))
}).pipe(
  Schema.filter((file) => file.keys.some((entry) => entry.id === file.current) || "the current key is not in keys"),
  Schema.filter((file) => new Set(file.keys.map((entry) => entry.id)).size === file.keys.length || "duplicate key ids")
)

/**
 * The path of the key file in a state directory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const filePath = (stateDir: string): string => path.join(stateDir, "store.key")

const decodeFile = Schema.decodeUnknownEither(Schema.parseJson(KeyFile))

const isPosix = process.platform !== "win32"
const mode = (info: FileSystem.File.Info) => info.mode & 0o777
const octal = (bits: number) => `0${bits.toString(8)}`

/**
 * Makes the state directory (owner-only) when missing, and refuses one that
 * others may write to (they could swap the key file or the database).
 *
 * @since 0.1.0
 * @category constructors
 */
export const ensureDirectory = (
  directory: string
): Effect.Effect<void, KeyFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const io = (error: { readonly message: string }) =>
      new KeyFileError({ path: directory, reason: "Io", description: `cannot be created: ${error.message}` })
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(io))
    if (!isPosix) return
    const info = yield* fs.stat(directory).pipe(Effect.mapError(io))
    if ((mode(info) & 0o022) !== 0) {
      return yield* new KeyFileError({
        path: directory,
        reason: "Permissions",
        description: `is a directory others may write to (mode ${octal(mode(info))}): run chmod 700 ${directory}`
      })
    }
  })

const readExisting = (
  file: string
): Effect.Effect<Option.Option<typeof KeyFile.Type>, KeyFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(
      Effect.map(Option.some),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "NotFound",
        () => Effect.succeed(Option.none())
      ),
      Effect.mapError((error) =>
        new KeyFileError({ path: file, reason: "Io", description: `cannot be read: ${error.message}` })
      )
    )
    if (Option.isNone(info)) return Option.none()
    if (info.value.type !== "File") {
      return yield* new KeyFileError({ path: file, reason: "Content", description: "is not a regular file" })
    }
    if (isPosix) {
      const uid = typeof process.getuid === "function" ? process.getuid() : undefined
      if ((mode(info.value) & 0o077) !== 0) {
        return yield* new KeyFileError({
          path: file,
          reason: "Permissions",
          description: `is readable or writable by others (mode ${octal(mode(info.value))}): run chmod 600 ${file}`
        })
      }
      if (uid !== undefined && Option.isSome(info.value.uid) && info.value.uid.value !== uid) {
        return yield* new KeyFileError({
          path: file,
          reason: "Permissions",
          description: `belongs to another user (uid ${info.value.uid.value})`
        })
      }
    }
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) =>
        new KeyFileError({ path: file, reason: "Io", description: `cannot be read: ${error.message}` })
      )
    )
    // the parse error names the failing path, never the values
    const parsed = decodeFile(text)
    if (Either.isLeft(parsed)) {
      return yield* new KeyFileError({
        path: file,
        reason: "Content",
        description:
          "is not a key file (expected {\"version\":1,\"current\":\"<id>\",\"keys\":[{\"id\":\"<id>\",\"key\":\"<base64url of 32 bytes>\"}]}); it was left as is"
      })
    }
    return Option.some(parsed.right)
  })

/**
 * A fresh key: a new id (`k-<date>-<8 hex digits>`, which
 * `TokenCodec.isKeyId` accepts) and 32 random bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey = (): { readonly id: string; readonly key: Redacted.Redacted<string> } => ({
  id: `k-${new Date().toISOString().slice(0, 10)}-${crypto.randomBytes(4).toString("hex")}`,
  key: Redacted.make(Encoding.encodeBase64Url(crypto.randomBytes(KeyBytes)))
})

const encodeFile = Schema.encodeSync(KeyFile)

/**
 * The text of a key file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const format = (file: typeof KeyFile.Type): string => `${JSON.stringify(encodeFile(file))}\n`

/**
 * A fresh key file's content: one key, `current`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (): { readonly text: string; readonly key: Redacted.Redacted<string> } => {
  const { id, key } = generateKey()
  return { text: format({ version: 1, current: id, keys: [{ id, key }] }), key }
}

/**
 * The keyring of a key file, for `TokenCodec.encrypted`: every key, the
 * file's `current`, and its first key as `legacy` (it reads the `v1`
 * entries the single-key form wrote).
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyringOf = (file: typeof KeyFile.Type): TokenCodec.Keyring => ({
  current: file.current,
  keys: file.keys,
  legacy: file.keys[0].id
})

/**
 * The key file of `stateDir` as it is, `None` when there is none (checked
 * as {@link load} checks it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = (
  stateDir: string
): Effect.Effect<Option.Option<typeof KeyFile.Type>, KeyFileError, FileSystem.FileSystem> =>
  readExisting(filePath(stateDir))

/**
 * Replaces the key file of `stateDir` atomically: written to a temporary
 * file (0600), flushed to the disk, renamed over it. A reader sees the old
 * file or the new one, whole. The caller makes sure no key still needed is
 * left out (`effect-renewal store rotate-key` does so under a lock file).
 *
 * @since 0.1.0
 * @category constructors
 */
export const write = (
  stateDir: string,
  file: typeof KeyFile.Type
): Effect.Effect<void, KeyFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const target = filePath(stateDir)
    const temporary = `${target}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`
    const io = (error: { readonly message: string }) =>
      new KeyFileError({ path: target, reason: "Io", description: `cannot be written: ${error.message}` })
    yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(temporary, { flag: "wx", mode: 0o600 })
      yield* handle.writeAll(new TextEncoder().encode(format(file)))
      yield* handle.sync
    })).pipe(
      Effect.zipRight(fs.rename(temporary, target)),
      Effect.mapError(io),
      Effect.tapError(() => Effect.ignore(fs.remove(temporary)))
    )
  })

/**
 * The key file of `stateDir`, made on first use (see the module's
 * description). The directory is made owner-only when missing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadFile = (
  stateDir: string
): Effect.Effect<typeof KeyFile.Type, KeyFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = filePath(stateDir)
    yield* ensureDirectory(stateDir)
    const existing = yield* readExisting(file)
    if (Option.isSome(existing)) return existing.value
    const fresh = generate()
    const temporary = `${file}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`
    const io = (error: { readonly message: string }) =>
      new KeyFileError({ path: file, reason: "Io", description: `cannot be created: ${error.message}` })
    yield* fs.writeFileString(temporary, fresh.text, { mode: 0o600, flag: "wx" }).pipe(Effect.mapError(io))
    // link, not rename: it fails when the name exists, so that a key another
    // process made meanwhile is kept, and used
    yield* fs.link(temporary, file).pipe(
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists",
        () => Effect.void
      ),
      Effect.mapError(io),
      Effect.ensuring(Effect.ignore(fs.remove(temporary)))
    )
    const winner = yield* readExisting(file)
    return yield* Option.match(winner, {
      onNone: () => Effect.fail(io({ message: "it vanished while it was being created" })),
      onSome: Effect.succeed
    })
  })

/**
 * The keyring of the key file in `stateDir` ({@link keyringOf}), the file
 * made on first use.
 *
 * @example
 * ```ts
 * import * as StoreKey from "@effect-renewal/cli/StoreKey"
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as Effect from "effect/Effect"
 *
 * const codec = StoreKey.loadKeyring("/home/ada/.local/state/effect-renewal").pipe(
 *   Effect.flatMap(TokenCodec.encrypted),
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadKeyring = (
  stateDir: string
): Effect.Effect<TokenCodec.Keyring, KeyFileError, FileSystem.FileSystem> => Effect.map(loadFile(stateDir), keyringOf)

/**
 * The current key of the key file in `stateDir`, made on first use (the
 * key of the single-key codec the command used before keyrings).
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (
  stateDir: string
): Effect.Effect<Redacted.Redacted<string>, KeyFileError, FileSystem.FileSystem> =>
  Effect.map(loadFile(stateDir), (file) => file.keys.find((entry) => entry.id === file.current)!.key)
