/**
 * The `effect-renewal` command as an `@effect/cli` `Command` tree: `login`,
 * `token`, `header`, `status`, `logout`, `fetch` and `store rotate-key`, each with the options
 * every command takes (`--profile`, `--config-dir`, `--state-dir`,
 * `--store`, `--verbose`). {@link run} runs it on a command line and answers
 * the exit code; the published bundle is `run` on Node.js.
 *
 * Everything a command prints for a script (a token, a header, a status, a
 * body) goes to stdout; the rest (the login's instructions, a failure, the
 * library's logs with `--verbose`) to stderr, one line per failure, never a
 * token.
 *
 * @example
 * ```ts
 * import * as Cli from "@effect-renewal/cli/Cli"
 * import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
 * import * as NodeContext from "@effect/platform-node/NodeContext"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import * as Effect from "effect/Effect"
 *
 * // the command embedded in a program of your own: `my-tool token --profile ci`
 * export const main = (argv: ReadonlyArray<string>) =>
 *   Cli.run(argv).pipe(
 *     Effect.flatMap((code) => Effect.sync(() => { process.exitCode = code })),
 *     Effect.provide([NodeContext.layer, FetchHttpClient.layer]),
 *     NodeRuntime.runMain
 *   )
 * ```
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { ExitCode, exitCodeOf } from "./CliError.js"
import * as Commands from "./internal/commands.js"
import * as Durations from "./internal/duration.js"
import { ExitWith } from "./internal/exit.js"
import type * as Session from "./internal/session.js"
import { defaultProfile } from "./Profiles.js"

/**
 * The version `--version` prints.
 *
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

// --- options every command takes ------------------------------------------------

const common = {
  profile: Options.text("profile").pipe(
    Options.withDescription(
      "The profile: its settings and credentials are kept under this name (default: $EFFECT_RENEWAL_PROFILE, else default)"
    ),
    Options.withFallbackConfig(Config.string("EFFECT_RENEWAL_PROFILE").pipe(Config.withDefault(defaultProfile)))
  ),
  configDir: Options.directory("config-dir").pipe(
    Options.withDescription(
      "Where the profiles are kept (default: $EFFECT_RENEWAL_CONFIG_DIR, else $XDG_CONFIG_HOME/effect-renewal)"
    ),
    Options.optional
  ),
  stateDir: Options.directory("state-dir").pipe(
    Options.withDescription(
      "Where the credentials and their key are kept (default: $EFFECT_RENEWAL_STATE_DIR, else $XDG_STATE_HOME/effect-renewal)"
    ),
    Options.optional
  ),
  store: Options.redacted("store").pipe(
    Options.withDescription(
      "A postgres:// URL: keep the credentials in PostgreSQL, shared by many machines (default: $EFFECT_RENEWAL_STORE, else SQLite in the state directory)"
    ),
    Options.optional
  ),
  verbose: Options.boolean("verbose").pipe(
    Options.withAlias("v"),
    Options.withDescription("Show the library's logs (renewals, attempts, lock waits) and full errors on stderr")
  )
} as const

const duration = (name: string) =>
  Options.text(name).pipe(
    Options.mapEffect((text) =>
      Either.match(Durations.parse(text), {
        onLeft: (problem) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name}: ${problem}`))),
        onRight: Effect.succeed
      })
    )
  )

const tokenOptions = {
  audience: Options.text("audience").pipe(
    Options.withDescription("The API the token is for: API credentials, kept apart from the login's"),
    Options.optional
  ),
  scope: Options.text("scope").pipe(
    Options.withDescription("The scope to ask for (default: the login's)"),
    Options.optional
  ),
  minTtl: duration("min-ttl").pipe(
    Options.withDescription("How long the token must stay valid at least, e.g. 30s, 5m, 1h; renewed otherwise"),
    Options.optional
  ),
  force: Options.boolean("force").pipe(Options.withDescription("Renew the token even if it is still valid")),
  json: Options.boolean("json").pipe(
    Options.withDescription("Print {access_token, token_type, expires_at, expires_in, scope} as JSON")
  )
} as const

// --- failures ------------------------------------------------------------------

const loginHint = (profile: string) =>
  `effect-renewal login${profile === defaultProfile ? "" : ` --profile ${profile}`}`

const messageOf = (error: unknown, profile: string): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const tagged = error as { readonly _tag?: unknown; readonly reason?: unknown; readonly message?: unknown }
  const message = typeof tagged.message === "string" && tagged.message !== "" ? tagged.message : String(tagged._tag)
  if (tagged._tag === "LoginRequired") {
    return tagged.reason === "NoCredentials"
      ? `not logged in (profile "${profile}"): run ${loginHint(profile)}`
      : `${message}. Log in again: ${loginHint(profile)}`
  }
  if (tagged._tag === "RenewalFailed" && tagged.reason === "TtlUnreachable") {
    return `${message} (ask for a shorter --min-ttl)`
  }
  return message
}

/**
 * Prints one line for a failure (the whole cause with `--verbose`) and ends
 * with its exit code; an interruption (Ctrl-C) is 130.
 */
const report = (cause: Cause.Cause<unknown>, options: Session.Common): Effect.Effect<never, ExitWith> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.fail(new ExitWith({ code: ExitCode.Interrupted }))
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && failure.value instanceof ExitWith) return Effect.fail(failure.value)
  const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  const code = Option.isSome(failure) ? exitCodeOf(error) : ExitCode.Failure
  const line = Option.isSome(failure)
    ? `effect-renewal: ${messageOf(error, options.profile)}`
    : `effect-renewal: internal error: ${messageOf(error, options.profile)}`
  return Console.error(options.verbose ? `${line}\n${Cause.pretty(cause)}` : line).pipe(
    Effect.zipRight(Effect.fail(new ExitWith({ code })))
  )
}

/**
 * A command's body with its logs (none, or Debug and up on stderr with
 * `--verbose`) and its failures reported.
 */
const handle = <E, R>(options: Session.Common, body: Effect.Effect<void, E, R>): Effect.Effect<void, ExitWith, R> =>
  body.pipe(
    Effect.catchAllCause((cause) => report(cause, options)),
    Logger.withMinimumLogLevel(options.verbose ? LogLevel.Debug : LogLevel.None),
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
  )

// --- commands ------------------------------------------------------------------

/**
 * `effect-renewal login`.
 *
 * @since 0.1.0
 * @category commands
 */
export const login = Command.make(
  "login",
  {
    ...common,
    issuer: Options.text("issuer").pipe(
      Options.withDescription("The provider's issuer URL (its discovery document is read from it)"),
      Options.optional
    ),
    clientId: Options.text("client-id").pipe(
      Options.withDescription("The client id of this tool at the provider"),
      Options.optional
    ),
    scope: Options.text("scope").pipe(
      Options.withDescription("The scope of the login (default: openid offline_access)"),
      Options.optional
    ),
    audience: Options.text("audience").pipe(Options.withDescription("The API the tokens are for"), Options.optional),
    browser: Options.boolean("browser").pipe(
      Options.withDescription("Log in through the system browser (loopback redirect) instead of the device flow")
    ),
    dpop: Options.boolean("dpop").pipe(
      Options.withDescription(
        "Bind the tokens to a new DPoP key (RFC 9449), kept with the credentials; later logins of the profile do too"
      )
    ),
    noDpop: Options.boolean("no-dpop").pipe(
      Options.withDescription("Do not bind the tokens to a DPoP key, even though the profile's last login did")
    )
  },
  (options) =>
    handle(options, Effect.flatMap(Effect.promise(() => import("./internal/login.js")), (m) => m.run(options, options)))
).pipe(Command.withDescription("Log in (device flow, or --browser), save the profile and its credentials"))

/**
 * `effect-renewal token`.
 *
 * @since 0.1.0
 * @category commands
 */
export const token = Command.make(
  "token",
  { ...common, ...tokenOptions },
  (options) => handle(options, Commands.token(options, options, "token"))
).pipe(Command.withDescription("Print a valid access token on stdout, renewed when needed"))

/**
 * `effect-renewal header`.
 *
 * @since 0.1.0
 * @category commands
 */
export const header = Command.make(
  "header",
  {
    ...common,
    ...tokenOptions,
    url: Options.text("url").pipe(
      Options.withDescription(
        "The URL the request goes to: with DPoP-bound tokens, a \"DPoP: <proof>\" line for it follows (required then)"
      ),
      Options.optional
    ),
    method: Options.text("method").pipe(
      Options.withAlias("X"),
      Options.withDescription("The method of that request (for the DPoP proof)"),
      Options.withDefault("GET")
    ),
    nonce: Options.text("nonce").pipe(
      Options.withDescription("The DPoP-Nonce the server gave, to put in the proof"),
      Options.optional
    )
  },
  (options) =>
    handle(
      options,
      Commands.token(options, options, { url: options.url, method: options.method, nonce: options.nonce })
    )
).pipe(
  Command.withDescription(
    "Print \"Authorization: <type> <token>\" on stdout; with DPoP-bound tokens, and a \"DPoP: <proof>\" line for --url"
  )
)

/**
 * `effect-renewal status`.
 *
 * @since 0.1.0
 * @category commands
 */
export const status = Command.make(
  "status",
  { ...common, json: Options.boolean("json").pipe(Options.withDescription("Print the status as JSON")) },
  (options) => handle(options, Commands.status(options, options))
).pipe(Command.withDescription("Say who is logged in, with what scope, until when (never a token); exit 4 if nobody"))

/**
 * `effect-renewal logout`.
 *
 * @since 0.1.0
 * @category commands
 */
export const logout = Command.make(
  "logout",
  {
    ...common,
    noRevoke: Options.boolean("no-revoke").pipe(
      Options.withDescription("Do not revoke the refresh token at the provider, only forget it here")
    )
  },
  (options) => handle(options, Commands.logout(options, { revoke: !options.noRevoke }))
).pipe(Command.withDescription("Revoke the refresh token and remove the profile's credentials"))

/**
 * `effect-renewal fetch`.
 *
 * @since 0.1.0
 * @category commands
 */
export const fetch = Command.make(
  "fetch",
  {
    ...common,
    url: Args.text({ name: "URL" }).pipe(Args.withDescription("The URL (https, or http on loopback)")),
    method: Options.text("request").pipe(
      Options.withAlias("X"),
      Options.withDescription("The method"),
      Options.withDefault("GET")
    ),
    headers: Options.text("header").pipe(
      Options.withAlias("H"),
      Options.withDescription("A header, \"Name: value\" (repeatable)"),
      Options.repeated
    ),
    data: Options.text("data").pipe(
      Options.withAlias("d"),
      Options.withDescription("The body (Content-Type: application/json when it is JSON, unless -H says)"),
      Options.optional
    ),
    scope: Options.text("scope").pipe(Options.withDescription("The scope of the token sent"), Options.optional)
  },
  (options) => handle(options, Commands.fetch(options, options))
).pipe(
  Command.withDescription(
    "Send one request with the profile's token (renewed and retried once on a 401); print the body"
  )
)

/**
 * `effect-renewal store rotate-key`.
 *
 * @since 0.1.0
 * @category commands
 */
export const rotateKey = Command.make(
  "rotate-key",
  {
    ...common,
    retire: Options.boolean("retire").pipe(
      Options.withDescription("Then remove the old keys from the key file, if every entry was re-encrypted")
    )
  },
  (options) =>
    handle(
      options,
      Effect.flatMap(Effect.promise(() => import("./internal/rotate.js")), (m) => m.rotateKey(options, options))
    )
).pipe(
  Command.withDescription(
    "Add a new key to the key file, make it current, re-encrypt every stored entry with it (exit 1 if any failed)"
  )
)

/**
 * `effect-renewal store`: the credential store.
 *
 * @since 0.1.0
 * @category commands
 */
export const store = Command.make("store").pipe(
  Command.withDescription("Manage the credential store"),
  Command.withSubcommands([rotateKey])
)

/**
 * The whole tree: `effect-renewal` and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("effect-renewal").pipe(
  Command.withDescription(
    "Keeps you logged in to an OpenID provider and prints valid access tokens for scripts. Exit codes: 0 success, 1 failure, 2 usage, 4 login required."
  ),
  Command.withSubcommands([login, token, header, status, logout, fetch, store])
)

/**
 * What {@link run} needs: the platform (`NodeContext.layer` provides the
 * first three) and an `HttpClient` (`FetchHttpClient.layer`).
 *
 * @since 0.1.0
 * @category models
 */
export type Environment = CliApp.CliApp.Environment | FileSystem.FileSystem | HttpClient.HttpClient

const subcommands = { login, token, header, status, logout, fetch, store } as const

const runOf = (tree: typeof command) => Command.run(tree, { name: "effect-renewal", version })
const cli = runOf(command)

// @effect/cli builds the help of the whole tree on every run, before it
// parses: for a subcommand named first, a tree with that one alone parses the
// same and starts faster (the whole tree for anything else: help, a typo's
// suggestions)
const single = Object.fromEntries(
  Object.entries(subcommands).map(([name, sub]) => [
    name,
    runOf(
      Command.make("effect-renewal").pipe(
        Command.withDescription(
          "Keeps you logged in to an OpenID provider and prints valid access tokens for scripts."
        ),
        Command.withSubcommands([sub as typeof login])
      ) as unknown as typeof command
    )
  ])
) as Readonly<Record<string, typeof cli>>

const pick = (argv: ReadonlyArray<string>) => {
  const name = argv[2]
  return name !== undefined && Object.hasOwn(single, name) ? single[name]! : cli
}

/**
 * Runs the command on `argv` (as `process.argv`: the first two entries are
 * skipped) and answers its exit code (see `CliError.ExitCode`); every failure
 * has been printed on stderr by then.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, Environment> =>
  pick(argv)(argv).pipe(
    Effect.as(ExitCode.Success),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.succeed(ExitCode.Interrupted)
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure)) {
        const error = failure.value
        if (error instanceof ExitWith) return Effect.succeed(error.code)
        // a usage error: @effect/cli has printed it
        if (ValidationError.isValidationError(error)) {
          return Effect.succeed(ValidationError.isHelpRequested(error) ? ExitCode.Success : ExitCode.Usage)
        }
      }
      return Effect.as(
        Console.error(`effect-renewal: internal error: ${String(Cause.squash(cause))}`),
        ExitCode.Failure
      )
    })
  )
