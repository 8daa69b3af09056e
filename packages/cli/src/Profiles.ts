/**
 * The profiles: for each name, the settings of a login (issuer, client id,
 * scope, audience), kept in `config.json` in the config directory. No
 * secret is kept there: the credentials are in the encrypted store, under
 * the profile's name as session key.
 *
 * The file is `{"version":1,"profiles":{"<name>":{"issuer":...,"clientId":...,"scope":...}}}`,
 * written whole and atomically (a temporary file renamed over it), under
 * the lock file `config.json.lock` (created exclusively; a lock whose
 * process is gone, or older than 30 seconds, is broken), so that two
 * `login`s at once, to different profiles, both keep theirs. A file that
 * cannot be read is an error, never silently replaced.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import * as path from "node:path"
import { ConfigFileError } from "./CliError.js"
import * as Lockfile from "./internal/lockfile.js"

/**
 * The settings of one profile.
 *
 * @since 0.1.0
 * @category models
 */
export class Profile extends Schema.Class<Profile>("@effect-renewal/cli/Profile")({
  /** The issuer URL the client was discovered from. */
  issuer: Schema.NonEmptyString,
  clientId: Schema.NonEmptyString,
  /** The scope of the login, which renewals ask for. */
  scope: Schema.String,
  audience: Schema.optionalWith(Schema.String, { exact: true }),
  /**
   * `true` after a `login --dpop`: a later `login` to the same issuer and
   * client binds its tokens to a new DPoP key too, unless `--no-dpop`. The
   * renewals need no setting: the key is in the stored credentials.
   */
  dpop: Schema.optionalWith(Schema.Boolean, { exact: true })
}) {}

/**
 * The profiles file.
 *
 * @since 0.1.0
 * @category models
 */
export const ProfilesFile = Schema.Struct({
  version: Schema.Literal(1),
  profiles: Schema.Record({ key: Schema.String, value: Profile })
})

/**
 * The profile of a command that names none.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultProfile = "default"

/**
 * The path of the profiles file in a config directory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const filePath = (configDir: string): string => path.join(configDir, "config.json")

const Json = Schema.parseJson(ProfilesFile)
const decode = Schema.decodeUnknown(Json)
const encode = Schema.encode(Schema.parseJson(ProfilesFile, { space: 2 }))

/**
 * Every profile of a config directory; none when the file does not exist.
 *
 * @since 0.1.0
 * @category reading
 */
export const readAll = (
  configDir: string
): Effect.Effect<Readonly<Record<string, Profile>>, ConfigFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = filePath(configDir)
    const text = yield* fs.readFileString(file).pipe(
      Effect.map(Option.some),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "NotFound",
        () => Effect.succeed(Option.none<string>())
      ),
      Effect.mapError((error) => new ConfigFileError({ path: file, description: `cannot be read: ${error.message}` }))
    )
    if (Option.isNone(text)) return {}
    const parsed = yield* decode(text.value).pipe(
      Effect.mapError((error) =>
        new ConfigFileError({
          path: file,
          description: `is not a profiles file: ${ParseResult.TreeFormatter.formatErrorSync(error).split("\n")[0]}`
        })
      )
    )
    return parsed.profiles
  })

/**
 * One profile, `None` when it has no settings.
 *
 * @since 0.1.0
 * @category reading
 */
export const get = (
  configDir: string,
  name: string
): Effect.Effect<Option.Option<Profile>, ConfigFileError, FileSystem.FileSystem> =>
  Effect.map(
    readAll(configDir),
    (profiles) => Object.hasOwn(profiles, name) ? Option.some(profiles[name]) : Option.none()
  )

/**
 * Saves one profile's settings, keeping the others; creates the directory
 * (owner-only) when missing. The file is read, changed and replaced under
 * its lock file: `options.wait` bounds the wait for another process's
 * (default 10 seconds), after which it fails with a `ConfigFileError`.
 *
 * @since 0.1.0
 * @category writing
 */
export const put = (
  configDir: string,
  name: string,
  profile: Profile,
  options?: { readonly wait?: Duration.DurationInput | undefined }
): Effect.Effect<void, ConfigFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = filePath(configDir)
    const ioError = (error: { readonly message: string }) =>
      new ConfigFileError({ path: file, description: `cannot be written: ${error.message}` })
    yield* fs.makeDirectory(configDir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(ioError))
    const update = Effect.gen(function*() {
      const profiles = yield* readAll(configDir)
      const text = yield* encode({ version: 1, profiles: { ...profiles, [name]: profile } }).pipe(
        Effect.mapError((error) => ioError({ message: error.message }))
      )
      const temporary = `${file}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`
      yield* fs.writeFileString(temporary, `${text}\n`, { mode: 0o600, flag: "wx" }).pipe(
        Effect.zipRight(fs.rename(temporary, file)),
        Effect.mapError(ioError),
        Effect.tapError(() => Effect.ignore(fs.remove(temporary)))
      )
    })
    yield* Lockfile.withLock(`${file}.lock`, update, { wait: options?.wait }).pipe(
      Effect.catchTag("LockError", (error) => Effect.fail(ioError({ message: error.description })))
    )
  })
