/**
 * The emulator in a process of its own: serves `Emulator.layerServer` on
 * 127.0.0.1 (an ephemeral port), prints `EMULATOR {"url":...,"clientId":...}`
 * on stdout once it listens, and answers `login` and `counters` requests of
 * its parent over the IPC channel. It stops when the parent disconnects or
 * sends SIGTERM.
 *
 * `--rotation` turns refresh token rotation on (off by default).
 */
import { Emulator } from "@effect-renewal/testing"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"

export interface EmulatorRequest {
  readonly id: number
  readonly op: "login" | "logins" | "counters"
  /** `logins`: how many. */
  readonly count?: number
}

export interface EmulatorReply {
  readonly id: number
  readonly value: unknown
}

const rotation = process.argv.includes("--rotation")

const program = Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  const server = yield* Emulator.EmulatorServer
  const runtime = yield* Effect.runtime<never>()
  process.on("message", (message: EmulatorRequest) => {
    const effect: Effect.Effect<unknown> = message.op === "login"
      ? emulator.login()
      : message.op === "logins"
      ? Effect.forEach(Array.from({ length: message.count ?? 1 }), () => emulator.login())
      : emulator.counters
    Runtime.runPromise(runtime)(effect).then((value) => process.send?.({ id: message.id, value } as EmulatorReply))
  })
  console.log(`EMULATOR ${JSON.stringify({ url: server.url, clientId: emulator.clientId })}`)
  yield* Effect.async<void>((resume) => {
    const stop = () => resume(Effect.void)
    process.once("disconnect", stop)
    process.once("SIGTERM", stop)
  })
}).pipe(
  // id_tokens HS256, as the figures of docs/benchmarks.md were measured: they are
  // about the client, and an RS256 signature per answer would weigh on the server
  Effect.provide(Emulator.layerServer({ rotation, host: "127.0.0.1", idTokenAlgorithm: "HS256" }))
)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
