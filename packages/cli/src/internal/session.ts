import type { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import * as Renewer from "@effect-renewal/core/Renewer"
import type { TokenStore } from "@effect-renewal/core/TokenStore"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { type ConfigFileError, type KeyFileError, ProfileNotFound, type UsageError } from "../CliError.js"
import * as Paths from "../Paths.js"
import * as Profiles from "../Profiles.js"
import * as Store from "./store.js"
import * as Strategy from "./strategy.js"

/** The options every command takes. */
export interface Common {
  readonly profile: string
  readonly configDir: Option.Option<string>
  readonly stateDir: Option.Option<string>
  readonly store: Option.Option<Redacted.Redacted<string>>
  readonly verbose: boolean
}

/** Where things are, for one command. */
export interface Where {
  readonly paths: Paths.Paths
  readonly location: Store.Location
}

export const where = (common: Common): Effect.Effect<Where, ConfigError.ConfigError | UsageError> =>
  Effect.gen(function*() {
    const paths = yield* Paths.resolve(common)
    const location = yield* Store.locate(common.store, paths.stateDir)
    return { paths, location }
  })

/** The profile's settings; `ProfileNotFound` when nobody logged in with it. */
export const profile = (
  common: Common,
  where: Where
): Effect.Effect<Profiles.Profile, ConfigFileError | ProfileNotFound, FileSystem.FileSystem> =>
  Effect.flatMap(
    Profiles.get(where.paths.configDir, common.profile),
    Option.match({
      onNone: () => Effect.fail(new ProfileNotFound({ profile: common.profile })),
      onSome: Effect.succeed
    })
  )

/** The encrypted store of the command. */
export const store = (
  where: Where
): Layer.Layer<TokenStore, StoreError | InvalidConfiguration | KeyFileError | UsageError, FileSystem.FileSystem> =>
  Store.layer(where.location, where.paths.stateDir)

/** The profile's `Renewer` (its name is the session key), with the store beside it. */
export const renewer = (
  common: Common,
  where: Where,
  settings: Profiles.Profile
): Layer.Layer<
  Renewer.Renewer | TokenStore,
  StoreError | InvalidConfiguration | KeyFileError | UsageError,
  FileSystem.FileSystem | HttpClient.HttpClient
> =>
  Renewer.layer({ key: common.profile }).pipe(
    Layer.provide(Strategy.layer(settings)),
    Layer.provideMerge(store(where))
  )
