/**
 * What the programs of `.ci/pack-check` share: checks that fail the run, and
 * a runner that prints one line and sets the exit code.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

export class CheckFailed extends Data.TaggedError("CheckFailed")<{ readonly what: string }> {
  override get message(): string {
    return `check failed: ${this.what}`
  }
}

export const check = (ok: boolean, what: string): Effect.Effect<void, CheckFailed> =>
  ok ? Effect.void : Effect.fail(new CheckFailed({ what }))

/** Whether two tokens are the same value, compared without printing them. */
export const sameToken = (
  a: Redacted.Redacted<string> | undefined,
  b: Redacted.Redacted<string> | undefined
): boolean => a === undefined || b === undefined ? a === b : Redacted.value(a) === Redacted.value(b)

/** Runs `program` with a deadline; prints `ok <name>: <summary>` or the failure, and sets the exit code. */
export const run = <E>(name: string, program: Effect.Effect<string, E>): void => {
  Effect.runPromiseExit(program.pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => "timed out" })))
    .then((exit) => {
      if (exit._tag === "Success") {
        console.log(`ok ${name}: ${exit.value}`)
      } else {
        console.error(`FAILED ${name}: ${Cause.pretty(exit.cause)}`)
        process.exitCode = 1
      }
    })
}
