/**
 * The entry of the published bundle: `Cli.run` on Node.js, its exit code the
 * process's. Only what every command needs is provided up front: no
 * `NodeContext` (its command executor loads `node:child_process`), and the
 * terminal on first use.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cli from "../Cli.js"
import * as Terminal from "./terminal.js"

Cli.run(process.argv).pipe(
  Effect.provide([NodeFileSystem.layer, NodePath.layer, Terminal.layer, FetchHttpClient.layer]),
  (program) =>
    NodeRuntime.runMain(program, {
      disableErrorReporting: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : 130)
    })
)
