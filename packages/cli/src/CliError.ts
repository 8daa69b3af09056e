/**
 * The errors of the command line itself (the library's own, `LoginRequired`,
 * `RenewalFailed`, `StoreError`, `LoginFailed`, pass through unchanged), and
 * the exit code each failure ends the command with.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The profiles file cannot be read or written, or does not hold what it
 * should. Nothing is overwritten: fix or remove the file.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigFileError extends Data.TaggedError("ConfigFileError")<{
  readonly path: string
  readonly description: string
}> {
  /**
   * One line: the file and what is wrong with it.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `the profiles file ${this.path} ${this.description}`
  }
}

/**
 * The key file of the credential store is unusable: wrong permissions, a
 * content that is not a key file, a directory others may write to, or it
 * could not be created. It is never overwritten: a new key would make every
 * stored credential unreadable.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyFileError extends Data.TaggedError("KeyFileError")<{
  readonly path: string
  readonly reason: "Permissions" | "Content" | "Io"
  readonly description: string
}> {
  /**
   * One line: the file and what is wrong with it (never the key).
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `the key file ${this.path} ${this.description}`
  }
}

/**
 * The profile has no settings: nobody logged in with it (exit code 4).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProfileNotFound extends Data.TaggedError("ProfileNotFound")<{
  readonly profile: string
}> {
  /**
   * One line, with what to run.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `not logged in: the profile "${this.profile}" has no settings; run: effect-renewal login --issuer URL --client-id ID${
      this.profile === "default" ? "" : ` --profile ${this.profile}`
    }`
  }
}

/**
 * A value given on the command line is unusable (exit code 2).
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly description: string
}> {
  /**
   * The description.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return this.description
  }
}

/**
 * `fetch` got an answer with a status of 400 or more (exit code 1; the
 * body was printed).
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpStatusError extends Data.TaggedError("HttpStatusError")<{
  readonly status: number
  readonly method: string
  readonly url: string
}> {
  /**
   * One line: the method, URL (without its query) and status.
   *
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.method} ${this.url} answered ${this.status}`
  }
}

/**
 * The exit codes, as `gh` uses them: `0` success, `1` a failure (network,
 * server, store, after the library's retries), `2` a usage error, `4` login
 * required (the person must run `effect-renewal login`), `130` interrupted.
 *
 * @since 0.1.0
 * @category constants
 */
export const ExitCode = {
  Success: 0,
  Failure: 1,
  Usage: 2,
  LoginRequired: 4,
  Interrupted: 130
} as const

/**
 * The exit code of a failure, by its `_tag`: `LoginRequired` and
 * `ProfileNotFound` are 4, `UsageError` and `@effect/cli`'s
 * `ValidationError`s are 2, anything else is 1.
 *
 * @since 0.1.0
 * @category exit codes
 */
export const exitCodeOf = (error: unknown): number => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? error._tag : undefined
  switch (tag) {
    case "LoginRequired":
    case "ProfileNotFound":
      return ExitCode.LoginRequired
    case "UsageError":
      return ExitCode.Usage
    default:
      return isValidationError(error) ? ExitCode.Usage : ExitCode.Failure
  }
}

const validationTags = new Set([
  "CommandMismatch",
  "CorrectedFlag",
  "HelpRequested",
  "InvalidArgument",
  "InvalidValue",
  "MissingValue",
  "MissingFlag",
  "MultipleValuesDetected",
  "MissingSubcommand",
  "NoBuiltInMatch",
  "UnclusteredFlag"
])

const isValidationError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && validationTags.has(String(error._tag)) &&
  "error" in error
