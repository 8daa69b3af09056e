/**
 * The entry of the published bundle: `Cli.run` on Node.js, its exit code the
 * process's.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "../Cli.js"

Cli.run(process.argv).pipe(
  Effect.provide([NodeContext.layer, FetchHttpClient.layer]),
  (program) =>
    NodeRuntime.runMain(program, {
      disableErrorReporting: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : 130)
    })
)
