/**
 * The platform's `Terminal` for `@effect/cli`, loaded when a prompt first
 * needs it (`--wizard`): `NodeTerminal` brings `node:readline`, which a
 * command that prompts for nothing should not pay for at start-up.
 */
import type * as PlatformError from "@effect/platform/Error"
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const node = Effect.flatMap(
  Effect.promise(() => import("@effect/platform-node/NodeTerminal")),
  (module) => module.make()
)

export const layer: Layer.Layer<Terminal.Terminal> = Layer.succeed(
  Terminal.Terminal,
  Terminal.Terminal.of({
    columns: Effect.sync(() => process.stdout.columns ?? 80),
    rows: Effect.sync(() => process.stdout.rows ?? 24),
    isTTY: Effect.sync(() => process.stdout.isTTY === true),
    readInput: Effect.flatMap(node, (terminal) => terminal.readInput),
    readLine: Effect.scoped(Effect.flatMap(node, (terminal) => terminal.readLine)),
    display: (text: string): Effect.Effect<void, PlatformError.PlatformError> =>
      Effect.scoped(Effect.flatMap(node, (terminal) => terminal.display(text)))
  })
)
