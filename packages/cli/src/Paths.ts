/**
 * Where the command keeps things: the profiles (settings only) in the config
 * directory, the credential store and its key in the state directory, as the
 * XDG Base Directory specification says.
 *
 * - config: `--config-dir`, else `EFFECT_RENEWAL_CONFIG_DIR`, else
 *   `$XDG_CONFIG_HOME/effect-renewal`, else `~/.config/effect-renewal`;
 * - state: `--state-dir`, else `EFFECT_RENEWAL_STATE_DIR`, else
 *   `$XDG_STATE_HOME/effect-renewal`, else `~/.local/state/effect-renewal`.
 *
 * A relative `XDG_*` value is ignored, as the specification says.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as os from "node:os"
import * as path from "node:path"

/**
 * The two directories.
 *
 * @since 0.1.0
 * @category models
 */
export interface Paths {
  readonly configDir: string
  readonly stateDir: string
}

const home: Config.Config<string> = Config.string("HOME").pipe(
  Config.orElse(() => Config.sync(() => os.homedir()))
)

// an XDG base directory: absolute, else the default under the home directory
const xdg = (name: string, fallback: string): Config.Config<string> =>
  Config.option(Config.string(name)).pipe(
    Config.zipWith(home, (value, home) =>
      Option.match(Option.filter(value, path.isAbsolute), {
        onNone: () => path.join(home, fallback, "effect-renewal"),
        onSome: (base) => path.join(base, "effect-renewal")
      }))
  )

/**
 * The config directory from the environment (`EFFECT_RENEWAL_CONFIG_DIR`,
 * `XDG_CONFIG_HOME`, `HOME`).
 *
 * @since 0.1.0
 * @category config
 */
export const configDir: Config.Config<string> = Config.string("EFFECT_RENEWAL_CONFIG_DIR").pipe(
  Config.orElse(() => xdg("XDG_CONFIG_HOME", ".config"))
)

/**
 * The state directory from the environment (`EFFECT_RENEWAL_STATE_DIR`,
 * `XDG_STATE_HOME`, `HOME`).
 *
 * @since 0.1.0
 * @category config
 */
export const stateDir: Config.Config<string> = Config.string("EFFECT_RENEWAL_STATE_DIR").pipe(
  Config.orElse(() => xdg("XDG_STATE_HOME", path.join(".local", "state")))
)

/**
 * Both directories: the flags when given, else the environment's. Relative
 * paths are made absolute against the working directory.
 *
 * @example
 * ```ts
 * import * as Paths from "@effect-renewal/cli/Paths"
 * import * as ConfigProvider from "effect/ConfigProvider"
 * import * as Effect from "effect/Effect"
 * import * as Option from "effect/Option"
 *
 * const paths = Paths.resolve({ configDir: Option.none(), stateDir: Option.none() }).pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["HOME", "/home/ada"]])))
 * )
 * // { configDir: "/home/ada/.config/effect-renewal", stateDir: "/home/ada/.local/state/effect-renewal" }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (flags: {
  readonly configDir: Option.Option<string>
  readonly stateDir: Option.Option<string>
}): Effect.Effect<Paths, ConfigError.ConfigError> =>
  Effect.all({
    configDir: Option.match(flags.configDir, { onNone: () => configDir, onSome: Effect.succeed }),
    stateDir: Option.match(flags.stateDir, { onNone: () => stateDir, onSome: Effect.succeed })
  }).pipe(Effect.map(({ configDir, stateDir }) => ({
    configDir: path.resolve(configDir),
    stateDir: path.resolve(stateDir)
  })))
