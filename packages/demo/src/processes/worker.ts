/**
 * One process of a fleet (see `Fleet.ts`): a `Renewer` for one session over
 * the SQL store the whole fleet shares, against the emulator on loopback.
 * It reads commands from stdin, one JSON object per line, and answers each
 * on stdout, one JSON object per line. It never prints a token: only
 * fingerprints.
 *
 * Environment: `FLEET_SPEC`, the JSON of a `Fleet.WorkerSpec`.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createInterface } from "node:readline"
import { policy } from "../Stage.js"
import { fingerprint } from "../TokenLedger.js"
import { type Command, type Reply, storeLayer, type WorkerSpec } from "./protocol.js"

const spec: WorkerSpec = JSON.parse(process.env["FLEET_SPEC"] ?? "{}")

const reply = (message: Reply) => Effect.sync(() => process.stdout.write(`${JSON.stringify(message)}\n`))

const commands: Stream.Stream<Command> = Stream.async<Command>((emit) => {
  const lines = createInterface({ input: process.stdin })
  lines.on("line", (line) => {
    if (line.trim() !== "") void emit.single(JSON.parse(line) as Command)
  })
  lines.on("close", () => void emit.end())
})

const serve = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  yield* reply({ id: 0, type: "ready", pid: process.pid })
  yield* Stream.runForEach(Stream.takeWhile(commands, (command) => command.type !== "exit"), (command) => {
    switch (command.type) {
      case "get":
        return Effect.gen(function*() {
          const started = performance.now()
          const results = yield* Effect.forEach(
            Array.from({ length: command.count }),
            () => Effect.either(renewer.get()),
            { concurrency: "unbounded" }
          )
          const fingerprints = new Set<string>()
          const failures = new Set<string>()
          for (const result of results) {
            if (result._tag === "Right") fingerprints.add(fingerprint(result.right.accessToken))
            else {
              const error = result.left
              failures.add("reason" in error ? `${error._tag}(${error.reason})` : error._tag)
            }
          }
          yield* reply({
            id: command.id,
            type: "got",
            fingerprints: [...fingerprints],
            failures: [...failures],
            millis: performance.now() - started
          })
        }).pipe(Effect.fork)
    }
  })
})

const Client = AuthenticationClient.layer({ domain: spec.emulatorUrl, clientId: spec.clientId }).pipe(
  Layer.provide(FetchHttpClient.layer)
)

serve.pipe(
  Effect.provide(
    Renewer.layer({ key: spec.key }).pipe(
      Layer.provide(RenewalStrategy.refreshToken),
      Layer.provide(Client),
      Layer.provide(storeLayer(spec.store, Redacted.make(spec.codecKey)))
    )
  ),
  Effect.provide(policy),
  Effect.scoped,
  Effect.catchAllCause((cause) =>
    Effect.sync(() => {
      process.stderr.write(`worker ${process.pid} failed: ${cause}\n`)
      process.exitCode = 1
    })
  ),
  Effect.runPromise
)
