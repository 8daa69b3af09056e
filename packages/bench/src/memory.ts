/**
 * Bytes per built `Renewer`, on compiled output: `main.ts` bundles this file
 * with esbuild and runs it as `node --expose-gc dist/memory.mjs [--mode=...]`.
 *
 * Builds N `Renewer.layer({ key })` instances, each with `Layer.buildWithScope`
 * into a scope of its own, over one shared memory `TokenStore` (one per trial)
 * and one strategy double; each saves one `Credentials` (the same object for all, so
 * that the credentials themselves are not counted) and does one `get()`.
 * With `--mode=make`, `Renewer.make` runs in a scope of its own, without
 * the layer machinery; `--mode=scope` builds nothing but the scope.
 * With `--mode=subscribed`, each also has one fiber draining its `changes`;
 * with `--mode=layer`, a trivial `Layer.succeed` is built the same way instead
 * (what `Layer.buildWithScope` and the scope cost by themselves).
 * Heap used is read after forced garbage collections before and after; the
 * store holds every key before the first reading, so its entries are not
 * counted either. No scope is closed. Prints `RESULT <json>`.
 *
 * With `--mode=sessions-active`, one `Sessions` (per trial) over a store that
 * holds every key before the reading does one `get(key)` per key: bytes per
 * session with a live renewer (kept: `idleTimeToLive` 1 hour). With
 * `--mode=sessions-idle`, one `Sessions` over an empty store `save`s each key
 * (one shared `Credentials`), and the reading is taken after every renewer
 * was released (`idleTimeToLive` 10 ms): bytes per idle session, the store's
 * entry for it included.
 *
 * With `--snapshots=<dir>`, writes a heap snapshot before and after instead
 * (for `pnpm bench --profile`, which tells what the bytes are).
 */
import { Credentials, RenewalStrategy, Renewer, Sessions, TokenStore } from "@effect-renewal/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import * as v8 from "node:v8"
import { median } from "./stats.js"

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const n = Number(option("n") ?? 2_000)
/** What is measured: see `build` below. */
export type Mode =
  | "renewer"
  | "subscribed"
  | "layer"
  | "make"
  | "scope"
  | "scopedLayer"
  | "sessions-idle"
  | "sessions-active"
const mode = (option("mode") ?? "renewer") as Mode
const snapshots = option("snapshots")
const trials = 3

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

const settle = async () => {
  for (let i = 0; i < 6; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const main = async () => {
  const credentials = new Credentials.Credentials({
    accessToken: Redacted.make("shared-access-token"),
    refreshToken: Redacted.make("shared-refresh-token"),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000)
  })
  const strategy = RenewalStrategy.RenewalStrategy.of({
    renew: () => Effect.succeed(credentials),
    revoke: () => Effect.void
  })
  // One memory store shared by the Renewers of the warm-up, one by those of
  // each trial (no Renewer is ever released, and a store's `remove` scans all
  // of its entries: one store for all would make the run slow, not the
  // figures different). A store holds the keys of its Renewers before the
  // reading.
  const sharedStore = (keys: ReadonlyArray<string>) => {
    const store = Effect.runSync(TokenStore.makeMemory)
    for (const key of keys) Effect.runSync(store.set(key, credentials))
    return Layer.succeedContext(
      Context.make(TokenStore.TokenStore, store).pipe(Context.add(RenewalStrategy.RenewalStrategy, strategy))
    )
  }
  const keysOf = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`)

  const trivial = Renewer.Renewer.of({
    key: "trivial",
    get: () => Effect.succeed(credentials),
    save: () => Effect.void,
    hasValid: () => Effect.succeed(true),
    clear: () => Effect.void,
    changes: Stream.empty
  })
  const build = (key: string, shared: Layer.Layer<TokenStore.TokenStore | RenewalStrategy.RenewalStrategy>) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      if (mode === "layer") {
        const context = yield* Layer.buildWithScope(Layer.succeed(Renewer.Renewer, trivial), scope)
        return { scope, renewer: Context.get(context, Renewer.Renewer) }
      }
      if (mode === "scope") return { scope, renewer: trivial }
      if (mode === "scopedLayer") {
        // the same layer shape as `Renewer.layer`, around a trivial service
        const layer = Layer.scoped(Renewer.Renewer, Effect.succeed(trivial)).pipe(Layer.provide(shared))
        const context = yield* Layer.buildWithScope(layer, scope)
        return { scope, renewer: Context.get(context, Renewer.Renewer) }
      }
      if (mode === "make") {
        // the Renewer alone: `Renewer.make` in a scope of its own, no layer machinery
        const renewer = yield* Renewer.make({ key }).pipe(Scope.extend(scope), Effect.provide(shared))
        yield* renewer.save(credentials)
        yield* renewer.get()
        return { scope, renewer }
      }
      const context = yield* Layer.buildWithScope(Renewer.layer({ key }).pipe(Layer.provide(shared)), scope)
      const renewer = Context.get(context, Renewer.Renewer)
      yield* renewer.save(credentials)
      yield* renewer.get()
      if (mode === "subscribed") yield* Effect.forkIn(Stream.runDrain(renewer.changes), scope)
      return { scope, renewer }
    })

  if (mode === "sessions-idle" || mode === "sessions-active") return await sessionsFigures(credentials, strategy)

  // Every Renewer stays built until the process ends (no scope is closed:
  // what closing costs is not measured here, and a trial's reading covers the
  // N Renewers it adds). Slots allocated before the first reading: holding
  // them costs nothing new.
  const warmup = 200
  const built: Array<{ readonly scope: Scope.Scope; readonly renewer: Renewer.Renewer.Service } | null> = new Array(
    warmup + (trials + 1) * n
  ).fill(null)
  let next = 0
  // the store is filled now, the Renewers built when the returned function runs
  const prepare = (keys: ReadonlyArray<string>) => {
    const shared = sharedStore(keys)
    return async () => {
      for (const key of keys) {
        built[next++] = await Effect.runPromise(build(key, shared))
        lastProgress = Date.now()
      }
    }
  }

  // warm-up: every code path has run and every lazy module-level value exists
  await prepare(keysOf(warmup, "warmup"))()

  if (snapshots !== undefined) {
    const buildThem = prepare(keysOf(n, "snapshot"))
    await settle()
    const before = v8.writeHeapSnapshot(path.join(snapshots, "before.heapsnapshot"))
    await buildThem()
    await settle()
    const after = v8.writeHeapSnapshot(path.join(snapshots, "after.heapsnapshot"))
    return { n, mode, before, after }
  }

  const perRenewer: Array<number> = []
  for (let trial = 0; trial < trials; trial++) {
    const buildThem = prepare(keysOf(n, `trial${trial}`))
    await settle()
    const before = process.memoryUsage().heapUsed
    await buildThem()
    await settle()
    const after = process.memoryUsage().heapUsed
    perRenewer.push((after - before) / n)
  }
  return { n, mode, trials: perRenewer, bytes: median(perRenewer) }
}

const sessionsFigures = async (
  credentials: Credentials.Credentials,
  strategy: RenewalStrategy.RenewalStrategy.Service
) => {
  const active = mode === "sessions-active"
  const kept: Array<unknown> = []
  const trial = async (prefix: string, count: number) => {
    const store = Effect.runSync(TokenStore.makeMemory)
    const keys = Array.from({ length: count }, (_, i) => `${prefix}-${i}`)
    if (active) { for (const key of keys) Effect.runSync(store.set(key, credentials)) }
    const scope = Effect.runSync(Scope.make())
    const sessions = await Effect.runPromise(
      Sessions.make({ idleTimeToLive: active ? "1 hour" : "10 millis" }).pipe(
        Scope.extend(scope),
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(RenewalStrategy.RenewalStrategy, strategy)
      )
    )
    kept.push(store, scope, sessions)
    return async () => {
      for (const key of keys) {
        await Effect.runPromise(active ? sessions.get(key) : sessions.save(key, credentials))
        lastProgress = Date.now()
      }
      // idle: every renewer released
      if (!active) await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  await (await trial("warmup", 200))()
  const perSession: Array<number> = []
  for (let t = 0; t < trials; t++) {
    const run = await trial(`trial${t}`, n)
    await settle()
    const before = process.memoryUsage().heapUsed
    await run()
    await settle()
    const after = process.memoryUsage().heapUsed
    perSession.push((after - before) / n)
  }
  return { n, mode, trials: perSession, bytes: median(perSession) }
}

// a build that never finishes is reported, not waited for
let lastProgress = Date.now()
setInterval(() => {
  if (Date.now() - lastProgress < 60_000) return
  console.error("memory: building a Renewer made no progress for 60 s")
  process.exit(1)
}, 1_000).unref()

main().then(
  (result) => {
    console.log(`RESULT ${JSON.stringify(result)}`)
    // the Renewers' scopes stay open: nothing to wait for
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
