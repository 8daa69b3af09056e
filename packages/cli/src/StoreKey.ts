/**
 * The key that encrypts the credential store (AES-256-GCM, through
 * `TokenCodec.encrypted`): `EFFECT_RENEWAL_STORE_KEY` when set, else the key
 * file `store.key` beside the database, generated on first use.
 *
 * The key file is JSON, ready for a keyring:
 * `{"version":1,"current":"<id>","keys":[{"id":"<id>","key":"<base64url of 32 bytes>"}]}`;
 * the `current` key encrypts. It is created owner-only (0600, in a 0700
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

/**
 * The key file's content.
 *
 * @since 0.1.0
 * @category models
 */
export const KeyFile = Schema.Struct({
  version: Schema.Literal(1),
  current: Schema.NonEmptyString,
  keys: Schema.NonEmptyArray(Schema.Struct({ id: Schema.NonEmptyString, key: Schema.Redacted(Base64UrlKey) }))
}).pipe(
  Schema.filter((file) => file.keys.some((entry) => entry.id === file.current) || "the current key is not in keys")
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
): Effect.Effect<Option.Option<Redacted.Redacted<string>>, KeyFileError, FileSystem.FileSystem> =>
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
    const current = parsed.right.keys.find((entry) => entry.id === parsed.right.current)!
    return Option.some(current.key)
  })

/**
 * A fresh key file's content: one key, `current`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (): { readonly text: string; readonly key: Redacted.Redacted<string> } => {
  const key = Encoding.encodeBase64Url(crypto.randomBytes(KeyBytes))
  const id = `k-${new Date().toISOString().slice(0, 10)}-${crypto.randomBytes(4).toString("hex")}`
  return { text: `${JSON.stringify({ version: 1, current: id, keys: [{ id, key }] })}\n`, key: Redacted.make(key) }
}

/**
 * The current key of the key file in `stateDir`, made on first use (see the
 * module's description). The directory is made owner-only when missing.
 *
 * @example
 * ```ts
 * import * as StoreKey from "@effect-renewal/cli/StoreKey"
 * import * as TokenCodec from "@effect-renewal/core/TokenCodec"
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import * as Effect from "effect/Effect"
 *
 * const codec = StoreKey.load("/home/ada/.local/state/effect-renewal").pipe(
 *   Effect.flatMap(TokenCodec.encrypted),
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (
  stateDir: string
): Effect.Effect<Redacted.Redacted<string>, KeyFileError, FileSystem.FileSystem> =>
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
    const linked = yield* fs.link(temporary, file).pipe(
      Effect.as(true),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists",
        () => Effect.succeed(false)
      ),
      Effect.mapError(io),
      Effect.ensuring(Effect.ignore(fs.remove(temporary)))
    )
    if (linked) return fresh.key
    const winner = yield* readExisting(file)
    return yield* Option.match(winner, {
      onNone: () => Effect.fail(io({ message: "it vanished while it was being created" })),
      onSome: Effect.succeed
    })
  })
