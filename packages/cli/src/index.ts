/**
 * `effect-renewal` on the command line: log in to any OpenID provider, then
 * print valid access tokens for scripts, renewed once for any number of
 * concurrent calls.
 *
 * @since 0.1.0
 */

/**
 * The `@effect/cli` command tree and `run`.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"

/**
 * The command's own errors and exit codes.
 *
 * @since 0.1.0
 */
export * as CliError from "./CliError.js"

/**
 * Where the profiles, the credentials and the key are kept.
 *
 * @since 0.1.0
 */
export * as Paths from "./Paths.js"

/**
 * The profiles: the settings of each login, no secret.
 *
 * @since 0.1.0
 */
export * as Profiles from "./Profiles.js"

/**
 * The key that encrypts the credential store, and its key file.
 *
 * @since 0.1.0
 */
export * as StoreKey from "./StoreKey.js"
