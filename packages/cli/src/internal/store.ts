import type { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import type { TokenStore } from "@effect-renewal/core/TokenStore"
import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import { type KeyFileError, UsageError } from "../CliError.js"
import * as StoreKey from "../StoreKey.js"
import * as FileCodec from "./fileCodec.js"

/** Where the credentials are: a SQLite file of the state directory, or PostgreSQL. */
export type Location =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Pg"; readonly url: Redacted.Redacted<string> }

/** The SQLite database of a state directory. */
export const databasePath = (stateDir: string): string => path.join(stateDir, "credentials.db")

/** `--store`, else `EFFECT_RENEWAL_STORE`, else the SQLite file of the state directory. */
export const locate = (
  flag: Option.Option<Redacted.Redacted<string>>,
  stateDir: string
): Effect.Effect<Location, UsageError> =>
  Effect.gen(function*() {
    const fromEnv = yield* Effect.orElseSucceed(Config.option(Config.redacted("EFFECT_RENEWAL_STORE")), () =>
      Option.none<Redacted.Redacted<string>>())
    const given = Option.orElse(flag, () =>
      fromEnv)
    if (Option.isNone(given)) return { _tag: "Sqlite", filename: databasePath(stateDir) } as const
    const url = Redacted.value(given.value)
    if (/^postgres(ql)?:\/\//i.test(url)) return { _tag: "Pg", url: given.value } as const
    return yield* new UsageError({
      description:
        "--store takes a postgres:// or postgresql:// URL (without it, the SQLite file of the state directory is used)"
    })
  })

/** Where the store's keys come from: the environment, or the key file. */
export type KeySource =
  | { readonly _tag: "Environment"; readonly keys: Redacted.Redacted<string> | TokenCodec.Keyring }
  | { readonly _tag: "File" }

/**
 * `EFFECT_RENEWAL_STORE_KEYS` (with `_KEY_CURRENT`, optionally `_KEY_LEGACY`:
 * `TokenCodec.keyringConfig`), else `EFFECT_RENEWAL_STORE_KEY`, else the key
 * file of the state directory.
 */
export const keySource: Effect.Effect<KeySource, UsageError> = Effect.gen(function*() {
  const keys = yield* Effect.orElseSucceed(
    Config.option(Config.redacted("EFFECT_RENEWAL_STORE_KEYS")),
    () => Option.none<Redacted.Redacted<string>>()
  )
  if (Option.isSome(keys)) {
    const ring = yield* Effect.mapError(
      TokenCodec.keyringConfig,
      (error) =>
        new UsageError({
          description: `EFFECT_RENEWAL_STORE_KEYS is set but the keyring is unusable: ${
            ConfigError.isConfigError(error) ? String(error).split("\n")[0] : "invalid"
          }`
        })
    )
    return { _tag: "Environment", keys: ring } as const
  }
  const single = yield* Effect.orElseSucceed(
    Config.option(Config.redacted("EFFECT_RENEWAL_STORE_KEY")),
    () => Option.none<Redacted.Redacted<string>>()
  )
  return Option.isSome(single) ? { _tag: "Environment", keys: single.value } as const : { _tag: "File" } as const
})

/** The encrypted store at `location`, with the given keys. */
export const layerWith = (
  location: Location,
  keys: Redacted.Redacted<string> | TokenCodec.Keyring
): Layer.Layer<TokenStore, StoreError | InvalidConfiguration> =>
  storeLayer(location).pipe(Layer.provide(TokenCodec.layerEncrypted(keys)))

const storeLayer = (location: Location) =>
  location._tag === "Sqlite"
    ? SqlTokenStore.layerSqlite({ filename: location.filename })
    : SqlTokenStore.layerPg({ url: location.url, applicationName: "effect-renewal-cli" })

/**
 * The encrypted store at `location`: its keys from the environment, else the
 * key file (a codec that follows a rotation made meanwhile, see `fileCodec`).
 */
export const layer = (
  location: Location,
  stateDir: string
): Layer.Layer<TokenStore, StoreError | InvalidConfiguration | KeyFileError | UsageError, FileSystem.FileSystem> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (location._tag === "Sqlite") yield* StoreKey.ensureDirectory(stateDir)
    const source = yield* keySource
    if (source._tag === "Environment") return layerWith(location, source.keys)
    return storeLayer(location).pipe(Layer.provide(Layer.effect(TokenCodec.TokenCodec, FileCodec.make(stateDir))))
  }))
