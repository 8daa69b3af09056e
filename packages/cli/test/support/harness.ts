import * as Cli from "@effect-renewal/cli/Cli"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Output from "./console.js"

/** A fresh home for one test: its root, state folder and the `--config-dir`/`--state-dir` flags. */
export const tempHome = (name: string) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `effect-renewal-cli-${name}-`))
  const stateDir = path.join(root, "state")
  return { root, stateDir, dirs: ["--config-dir", path.join(root, "config"), "--state-dir", stateDir] }
}

/** Runs the command with the network of the environment (the emulator in memory); answers its code and output. */
export const run = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const output = Output.capture()
    const code = yield* Cli.run(["node", "effect-renewal", ...args]).pipe(Effect.withConsole(output.console))
    return { code, stdout: output.stdout.join("\n"), stderr: output.stderr.join("\n") }
  })

/**
 * `login` (device flow) against the emulator in memory, with extra `flags`: the
 * code read from the captured stderr, approved as `user`, awaited.
 */
export const login = (options: {
  readonly clientId: string
  readonly dirs: ReadonlyArray<string>
  readonly user: Emulator.Emulator.Approval
  readonly flags?: ReadonlyArray<string>
}) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const output = Output.capture()
    const fiber = yield* Cli.run([
      "node",
      "effect-renewal",
      "login",
      "--issuer",
      emulator.issuer,
      "--client-id",
      options.clientId,
      ...(options.flags ?? []),
      ...options.dirs
    ]).pipe(Effect.withConsole(output.console), Effect.fork)
    let code: string | undefined
    while (code === undefined) {
      yield* Effect.sleep("50 millis")
      code = /enter the code: ([A-Z]{4}-[A-Z]{4})/.exec(output.stderr.join("\n"))?.[1]
    }
    yield* emulator.approveDevice(code, options.user)
    const exit = yield* Fiber.join(fiber)
    return { code: exit, stdout: output.stdout.join("\n"), stderr: output.stderr.join("\n") }
  })
