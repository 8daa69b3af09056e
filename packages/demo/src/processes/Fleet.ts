/**
 * A fleet of real Node processes sharing one session through one SQL store:
 * each runs `worker.ts` (a `Renewer` over the shared store, against the
 * emulator on loopback) and is driven over its stdin and stdout. Used by the
 * demo, the cross-process tests and the benchmarks.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as esbuild from "esbuild"
import { type ChildProcess, spawn as spawnProcess } from "node:child_process"
import { rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { Command, Reply, WorkerSpec } from "./protocol.js"

export class FleetError extends Data.TaggedError("FleetError")<{ readonly message: string }> {}

/** What the gets of one command returned. */
export interface Got {
  readonly fingerprints: ReadonlyArray<string>
  readonly failures: ReadonlyArray<string>
  readonly millis: number
}

export interface Worker {
  readonly pid: number
  /** `count` concurrent `get`s in the worker. */
  readonly get: (count: number) => Effect.Effect<Got, FleetError>
  /** Sends the command without waiting for its answer: await the result to get it. */
  readonly send: (count: number) => Effect.Effect<Effect.Effect<Got, FleetError>>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Completes when the process has exited. */
  readonly exited: Effect.Effect<number | null>
}

const here = dirname(fileURLToPath(import.meta.url))
/** The worker's source: `worker.ts` beside this module (a bundle of this module names it). */
const defaultWorkerEntry = join(here, "worker.ts")

/** How long a worker may take to start. */
const startTimeout = Duration.seconds(60)

// The worker, bundled once per process with esbuild: a worker then starts in
// a fraction of the time (and CPU) that compiling its sources would take.
const bundled = new Map<string, Promise<string>>()
const workerBundle = (entry: string): Effect.Effect<string, FleetError> =>
  Effect.tryPromise({
    try: () => {
      const known = bundled.get(entry)
      if (known !== undefined) return known
      const outfile = join(tmpdir(), `effect-renewal-fleet-${process.pid}-${bundled.size}.mjs`)
      const building = buildWorker(entry, outfile)
      bundled.set(entry, building)
      return building
    },
    catch: (error) => new FleetError({ message: `the worker could not be bundled: ${String(error)}` })
  })

const buildWorker = (entry: string, outfile: string): Promise<string> =>
  esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // a native module: not bundled, imported from where it is installed
    plugins: [{
      name: "native",
      setup: (build) =>
        build.onResolve({ filter: /^better-sqlite3$/ }, (args) => ({
          path: createRequire(join(args.resolveDir, "index.js")).resolve(args.path),
          external: true
        }))
    }],
    banner: {
      js:
        "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
    },
    logLevel: "error"
  }).then(() => {
    process.once("exit", () => rmSync(outfile, { force: true }))
    return outfile
  })

const startWorker = (spec: WorkerSpec, entry: string): Effect.Effect<Worker, FleetError, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<number, FleetError>()
    const exited = yield* Deferred.make<number | null>()
    const pending = new Map<number, Deferred.Deferred<Got, FleetError>>()
    let next = 1
    let stderr = ""

    const workerFile = yield* workerBundle(entry)
    const child: ChildProcess = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawnProcess(process.execPath, [workerFile], {
          env: { ...process.env, FLEET_SPEC: JSON.stringify(spec) },
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.gen(function*() {
          if (child.exitCode === null && child.signalCode === null) {
            child.stdin?.end()
            child.kill("SIGKILL")
          }
          yield* Deferred.await(exited)
        })
    )
    const fail = (message: string) => {
      const error = new FleetError({ message: `${message}${stderr === "" ? "" : `: ${stderr.trim().slice(-500)}`}` })
      Deferred.unsafeDone(ready, Effect.fail(error))
      for (const waiting of pending.values()) Deferred.unsafeDone(waiting, Effect.fail(error))
      pending.clear()
    }
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    child.on("exit", (code, signal) => {
      fail(`worker ${child.pid} exited (${signal ?? code})`)
      Deferred.unsafeDone(exited, Effect.succeed(code))
    })
    child.on("error", (error) => fail(`worker could not run: ${error.message}`))
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let message: Reply
      try {
        message = JSON.parse(line) as Reply
      } catch {
        return
      }
      if (message.type === "ready") return Deferred.unsafeDone(ready, Effect.succeed(message.pid))
      const waiting = pending.get(message.id)
      pending.delete(message.id)
      if (waiting !== undefined) {
        Deferred.unsafeDone(
          waiting,
          Effect.succeed({ fingerprints: message.fingerprints, failures: message.failures, millis: message.millis })
        )
      }
    })

    const pid = yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({
        duration: startTimeout,
        onTimeout: () => new FleetError({ message: `a worker did not start within ${Duration.format(startTimeout)}` })
      })
    )

    const write = (command: Command) => Effect.sync(() => child.stdin?.write(`${JSON.stringify(command)}\n`))
    const send = (count: number) =>
      Effect.gen(function*() {
        const id = next++
        const answer = yield* Deferred.make<Got, FleetError>()
        pending.set(id, answer)
        yield* write({ id, type: "get", count })
        return Deferred.await(answer)
      })
    return {
      pid,
      send,
      get: (count) => Effect.flatten(send(count)),
      kill: (signal) => Effect.sync(() => void child.kill(signal)),
      exited: Deferred.await(exited)
    }
  })

/**
 * Starts `processes` workers (in parallel), stopped when the scope closes.
 * `workerEntry`: the worker's source, when this module runs from a bundle.
 */
export const spawn = (
  processes: number,
  spec: WorkerSpec,
  workerEntry: string = defaultWorkerEntry
): Effect.Effect<ReadonlyArray<Worker>, FleetError, Scope.Scope> =>
  Effect.forEach(Array.from({ length: processes }), () => startWorker(spec, workerEntry), {
    concurrency: "unbounded"
  })
