/**
 * `pnpm demo`: runs the demo against the emulator on loopback; exits 0 only
 * if every story behaved as described and no token was printed.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Narrator from "./Narrator.js"
import * as Program from "./program.js"

const reason = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.pretty(cause),
    onSome: (error) => error instanceof Program.DemoFailed ? error.message : Cause.pretty(cause)
  })

Program.program.pipe(
  Effect.provide(Program.layer),
  Effect.provide(Narrator.layer()),
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(`\npnpm demo failed: ${reason(cause)}`)
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
