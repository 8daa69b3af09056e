/**
 * `pnpm bench`: figures, not assertions. Prints a Markdown report; with
 * `--write` also writes it to docs/benchmarks.md. With `--profile`, instead
 * prints where a renewal's time goes (`node --cpu-prof` of the in-process
 * renewal) and what a built Renewer's bytes are (heap snapshots); not part of
 * the report.
 *
 * The benchmarks run on compiled output: this script bundles `sections.ts`,
 * `emulator.ts` and `memory.ts` with esbuild into `dist/`, then runs each
 * benchmark in a fresh `node` process of its own.
 */
import * as esbuild from "esbuild"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { cliSection } from "./cli.js"
import { dpopSection } from "./dpop.js"
import type { Mode } from "./memory.js"
import type { CostKey, InProcessKey, SectionResult, Sections } from "./sections.js"
import { pairedDifference } from "./stats.js"
import * as Web from "./web.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const dist = path.join(here, "../dist")

const lines: Array<string> = []
const say = (line = "") => {
  lines.push(line)
  console.log(line)
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

// --- build ---------------------------------------------------------------------

const bundle = async () => {
  await esbuild.build({
    entryPoints: {
      sections: path.join(here, "sections.ts"),
      emulator: path.join(here, "emulator.ts"),
      memory: path.join(here, "memory.ts")
    },
    outdir: dist,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // resolved from packages/bench/node_modules at run time
    external: ["google-auth-library", "undici", "esbuild"],
    // a native module: not bundled, imported from where it is installed
    plugins: [{
      name: "native",
      setup: (build) =>
        build.onResolve({ filter: /^better-sqlite3$/ }, (args) => ({
          path: createRequire(path.join(args.resolveDir, "index.js")).resolve(args.path),
          external: true
        }))
    }],
    // for CommonJS code inside the ESM bundle
    banner: {
      js:
        "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
    },
    logLevel: "warning"
  })
}

// --- run -----------------------------------------------------------------------

// What went wrong in a benchmark's process after it printed its figures (a
// scope that never finished closing, say): reported beside them.
const warnings: Array<string> = []

const run = (script: string, args: ReadonlyArray<string>, nodeArgs: ReadonlyArray<string> = []): unknown => {
  const child = spawnSync(process.execPath, [...nodeArgs, path.join(dist, script), ...args], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024
  })
  const line = child.stdout.split("\n").find((l) => l.startsWith("RESULT "))
  if (line === undefined) {
    throw new Error(`benchmark ${script} ${args.join(" ")} failed (exit ${child.status}): ${child.stderr}`)
  }
  if (child.status !== 0) {
    const what = child.stderr.trim().split("\n").at(-1) ?? ""
    warnings.push(
      `\`${[script, ...args].join(" ")}\` ended with ${
        child.status === null ? `signal ${child.signal}` : `exit code ${child.status}`
      } after its figures: ${what}`
    )
    console.error(`warning: ${warnings.at(-1)}`)
  }
  return JSON.parse(line.slice("RESULT ".length))
}

const runSection = <K extends keyof Sections>(name: K, nodeArgs: ReadonlyArray<string> = []): SectionResult<K> =>
  run("sections.mjs", [`--section=${name}`], nodeArgs) as SectionResult<K>

// --- report --------------------------------------------------------------------

const report = async () => {
  const cpu = os.cpus()[0]?.model.trim() ?? "unknown CPU"
  say("# Benchmarks")
  say()
  say(
    `Run on ${
      new Date().toISOString().slice(0, 10)
    }: ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.arch()}.`
  )
  say(
    "Each benchmark runs in a fresh process, on compiled output (an esbuild bundle of the sources, run by plain `node`). Where an emulator is involved, it runs in a process of its own, reached over loopback HTTP."
  )
  say("Figures, not assertions: `pnpm bench` prints them; nothing in the test suite is timed.")
  say()

  // hot path
  const hot = runSection("hot")
  say("## Hot path: `yield* renewer.get()` on valid credentials, one fiber")
  say()
  say(
    `What a caller pays when the credentials are valid: no I/O, no lock. Median of ${hot.rounds} rounds of 500,000 sequential calls in one fiber (100,000 for the peer), round robin, each round after a warm-up of a fifth of its calls.`
  )
  say()
  say("| what | ns per call | vs floor |")
  say("| --- | ---: | ---: |")
  say(`| \`renewer.get()\` | ${fmt(hot.renewer, 1)} | ${fmt(hot.renewer / hot.floor, 2)}x |`)
  say(
    `| a prebuilt \`Effect.suspend\` doing one \`Date.now()\` check | ${fmt(hot.suspend, 1)} | ${
      fmt(hot.suspend / hot.floor, 2)
    }x |`
  )
  say(`| floor: \`Ref.get\` + \`Clock.currentTimeMillis\` | ${fmt(hot.floor, 1)} | 1.00x |`)
  say(
    `| peer: google-auth-library \`getAccessToken()\` via \`Effect.promise\` | ${fmt(hot.peer, 1)} | ${
      fmt(hot.peer / hot.floor, 2)
    }x |`
  )
  say()
  say(
    `\`renewer.get()\` takes ${
      fmt(hot.renewer / hot.suspend, 2)
    }x the prebuilt \`Effect.suspend\` (target: at most 1.2x), ${
      fmt(hot.renewer / hot.floor, 2)
    }x the floor (target: at most 0.5x), and is ${
      fmt(hot.peer / hot.renewer, 1)
    }x faster than the peer (target: at least 3x).`
  )
  say()

  // renewal cost
  const cost = runSection("cost")
  const c = Object.fromEntries(cost.variants.map((v) => [v.key, v])) as Record<CostKey, (typeof cost.variants)[number]>
  say("## Renewal cost over loopback HTTP")
  say()
  say(
    `What one renewal costs end to end, against the emulator in a process of its own (\`POST /oauth/token\`, refresh token grant, no rotation: every variant sends the same request to the same endpoint). Each call is timed on its own; ${cost.rounds} rounds, round robin between the variants, each round a warm-up of ${cost.warmup} calls then ${cost.perRound} timed ones (${
      fmt(cost.rounds * cost.perRound)
    } timed calls of each). The bare clients keep their connections alive (an undici \`Agent\` of its own; \`fetch\`'s global pool). The whole stack is \`renewer.get({ forceRefresh: true })\` over \`TokenStore.layerMemory\` and \`RenewalStrategy.refreshToken\`: lock, store read, the request through \`AuthenticationClient\`, Schema decoding, merge, store write, publication of the change.`
  )
  say()
  say("| what | median ms | p90 ms | median vs bare `undici.request` |")
  say("| --- | ---: | ---: | ---: |")
  const bare = c.bareUndici.median
  for (const v of cost.variants) {
    say(`| ${v.name} | ${fmt(v.median, 3)} | ${fmt(v.p90, 3)} | ${fmt(v.median / bare, 2)}x |`)
  }
  say()
  say(
    "Per `HttpClient`: the whole stack against the bare client and against the `HttpClient` alone (ratios of the medians above); the `AuthenticationClient`'s own cost (`renewAuth` − `HttpClient` + `JSON.parse`: building the form, reading the body, Schema decoding, error checks) and the Renewer's own cost per renewal (whole stack − `renewAuth`: same run, same endpoint, same `HttpClient`), each the median over the rounds of the difference between the two rounds' medians (paired by round, so that load from outside the benchmark cancels out)."
  )
  say()
  say(
    "| `HttpClient` | whole stack / bare `undici.request` | whole stack / `HttpClient` alone | AuthenticationClient's own ms | Renewer's own ms (target: at most 0.1) |"
  )
  say("| --- | ---: | ---: | ---: | ---: |")
  const own = (a: CostKey, b: CostKey) => pairedDifference(c[a].rounds, c[b].rounds)
  const clients = [["Undici", "NodeHttpClient.layerUndici"], ["Fetch", "FetchHttpClient"]] as const
  for (const [client, label] of clients) {
    const stack = c[`stack${client}`].median
    const http = c[`http${client}`].median
    say(
      `| ${label} | ${fmt(stack / bare, 2)}x | ${fmt(stack / http, 2)}x | ${
        fmt(own(`auth${client}`, `http${client}`), 3)
      } | ${fmt(own(`stack${client}`, `auth${client}`), 3)} |`
    )
  }
  say()
  say(
    `The Renewer's own cost per renewal over loopback: ${
      clients.map(([client, label]) => `${fmt(own(`stack${client}`, `auth${client}`), 3)} ms with \`${label}\``).join(
        ", "
      )
    } (target: at most 0.1 ms).`
  )
  say()

  // in process
  const inProcess = runSection("inProcess")
  const ip = Object.fromEntries(inProcess.variants.map((v) => [v.key, v])) as Record<
    InProcessKey,
    (typeof inProcess.variants)[number]
  >
  say("## The Renewer's own cost per renewal, in process")
  say()
  say(
    `Where the Renewer's own cost goes, without network noise: a \`RenewalStrategy\` double that answers after one \`setImmediate\` hop (\`Effect.async\`), \`renewer.get({ forceRefresh: true })\` against calling that strategy's \`renew\` directly. Between them, for attribution, the building blocks of such an engine put together by hand, one more per row (they are not the Renewer's code; the last two rows are two ways of watching the attempt's time). Median and p90 of ${inProcess.rounds} rounds of ${
      fmt(inProcess.calls)
    } sequential calls in one fiber, round robin, each round after a warm-up.`
  )
  say()
  say("| what | µs per call (median) | p90 | minus the direct `renew`, µs (paired by round) |")
  say("| --- | ---: | ---: | ---: |")
  const minusDirect = (v: (typeof inProcess.variants)[number]) => pairedDifference(v.rounds, ip.direct.rounds)
  for (const v of inProcess.variants) {
    say(`| ${v.name} | ${fmt(v.median, 2)} | ${fmt(v.p90, 2)} | ${fmt(minusDirect(v), 2)} |`)
  }
  say()
  say(
    `The Renewer's own cost per renewal, in process: ${
      fmt(minusDirect(ip.renewer), 1)
    } µs (\`renewer.get({ forceRefresh: true })\` − the strategy's \`renew\`, the median over the rounds of the difference; target: at most 100 µs).`
  )
  say()

  // memory
  const memory = (mode: MemoryResult["mode"]) => run("memory.mjs", [`--mode=${mode}`], ["--expose-gc"]) as MemoryResult
  const renewerBytes = memory("renewer")
  const subscribedBytes = memory("subscribed")
  const shapeBytes = memory("scopedLayer")
  const makeBytes = memory("make")
  const scopeBytes = memory("scope")
  say("## Memory per `Renewer`")
  say()
  say(
    `Heap retained per \`Renewer\`: ${
      fmt(renewerBytes.n)
    } instances, each in a scope of its own (kept open), over one shared memory \`TokenStore\` and one strategy double, each with one saved \`Credentials\` and one \`get()\` done. The credentials are one shared object and the store holds every key before the first reading, so neither is counted. \`heapUsed\` after forced garbage collections (\`node --expose-gc\`), after − before, divided by the count; median of ${renewerBytes.trials.length} trials in one process, on the compiled bundle.`
  )
  say()
  say("| what | bytes per instance (median) | trials |")
  say("| --- | ---: | --- |")
  for (
    const [m, label] of [
      [makeBytes, "`Renewer.make` in a scope: the Renewer itself (`changes` subscribed by nobody)"],
      [scopeBytes, "for scale: the scope alone"],
      [renewerBytes, "`Renewer.layer(...)` built with `Layer.buildWithScope`"],
      [subscribedBytes, "`Renewer.layer(...)`, one fiber per Renewer draining `changes`"],
      [
        shapeBytes,
        "for scale: the same layer shape (`Layer.scoped` + `Layer.provide`, `Layer.buildWithScope`) around a trivial service"
      ]
    ] as const
  ) {
    say(`| ${label} | ${fmt(m.bytes)} | ${m.trials.map((t) => fmt(t)).join(", ")} |`)
  }
  say()
  say(
    `The Renewer's own memory: ${
      fmt((makeBytes.bytes - scopeBytes.bytes) / 1024, 1)
    } KB (\`Renewer.make\` minus its scope; target: at most 6 KB). Built as a layer it retains ${
      fmt(renewerBytes.bytes / 1024, 1)
    } KB, of which ${
      fmt(shapeBytes.bytes / 1024, 1)
    } KB are Effect's own layer machinery (the same layer shape around a trivial service costs that much): build many renewers inside one layer, not one layer each.`
  )
  say()

  // single flight
  const flight = runSection("flight")
  say(`## Single flight: ${fmt(flight.callers)} concurrent \`get\`s on expired credentials, loopback emulator`)
  say()
  say(
    "That concurrent callers share one renewal: the token requests the emulator (in a process of its own, with rotation) received per round, the access tokens the callers got, and the time until all of them had credentials."
  )
  say()
  say("| round | token requests | distinct access tokens handed out | ms until all have credentials |")
  say("| ---: | ---: | ---: | ---: |")
  flight.rounds.forEach((r, i) => say(`| ${i + 1} | ${r.requests} | ${r.distinct} | ${fmt(r.ms, 1)} |`))
  say()
  say(
    `For scale: ${fmt(flight.callers)} fibers that only await one \`Deferred\` (\`Effect.all\`, unbounded) take ${
      fmt(flight.floor, 1)
    } ms here (median of 5): most of the time above is the cost of starting and resuming that many fibers.`
  )
  say()

  // keyed storm
  const storm = runSection("storm")
  say(
    `## Many users: ${fmt(storm.sessions)} sessions expiring together, \`Sessions\` against the emulator's raw capacity`
  )
  say()
  say(
    `${
      fmt(storm.sessions)
    } sessions, saved with expired credentials in a memory store, then \`sessions.get(key)\` for all of them at once (\`maxConcurrentRenewals: ${storm.bound}\`, \`NodeHttpClient.layerUndici\`): renewals per second until all have credentials. Against the emulator's raw capacity in the same run: ${
      fmt(storm.sessions)
    } refresh-token requests sent by a bare undici client with the same concurrency (${storm.bound}), one fresh refresh token each. The emulator runs in a process of its own, with rotation; ${storm.rounds} rounds, round robin, medians.`
  )
  say()
  say("| what | per second (median) | ms per round |")
  say("| --- | ---: | --- |")
  say(
    `| raw: bare undici, ${storm.bound} at a time | ${fmt(storm.rawPerSecond)} | ${
      storm.rawMs.map((m) => fmt(m)).join(", ")
    } |`
  )
  say(
    `| \`Sessions\`: renewals, at most ${storm.bound} at a time | ${fmt(storm.sessionsPerSecond)} | ${
      storm.keyedMs.map((m) => fmt(m)).join(", ")
    } |`
  )
  say()
  say(
    `\`Sessions\` renews at ${
      fmt(100 * storm.sessionsPerSecond / storm.rawPerSecond)
    } % of the emulator's raw capacity (target: at least 80 %). The emulator counted ${
      fmt(storm.requestsLastRound)
    } token requests in the last round (one per session). (It answers one request at a time, so its in-flight count cannot show the bound here: \`Sessions.test.ts\` and the demo's story of 1,000 users give it a latency and show that exactly \`maxConcurrentRenewals\` requests overlap.)`
  )
  say()
  const idle = memory("sessions-idle")
  const active = memory("sessions-active")
  say(
    `Heap per session (\`Sessions\`, compiled bundle, credentials excluded, medians of ${idle.trials.length} trials): ${
      fmt(idle.bytes)
    } bytes per idle session (its renewer released; target: at most 2 KB), ${
      fmt(active.bytes)
    } bytes per session with a live renewer (target: at most 6 KB).`
  )
  say()

  // cross-process contention
  const contention = runSection("contention")
  say(
    `## Many processes: ${contention.processes} processes x ${
      fmt(contention.callsEach)
    } \`get\`s at each expiry, one session in the SQL store`
  )
  say()
  say(
    `${contention.processes} Node processes (each a \`Renewer\` over \`SqlTokenStore\`, encrypted) share one session; just after each expiry each process makes ${
      fmt(contention.callsEach)
    } concurrent \`get\`s. The emulator (rotation, reuse detection, no reuse interval) runs in the benchmark's own process; the store's lock is what keeps the renewals to one per expiry. Time: from sending the gets until every process has answered all of them.`
  )
  say()
  say("| store | expiry | token requests | distinct access tokens | failed gets | ms until all are served |")
  say("| --- | ---: | ---: | ---: | ---: | ---: |")
  for (const result of contention.results) {
    if (result.skipped !== undefined) {
      say(`| ${result.store} | - | - | - | - | skipped: ${result.skipped} |`)
      continue
    }
    result.rounds.forEach((r, i) =>
      say(`| ${result.store} | ${i + 1} | ${r.requests} | ${r.distinct} | ${r.failures} | ${fmt(r.ms, 1)} |`)
    )
  }
  say()
  say(
    `Refresh-token reuse detected by the emulator: ${
      contention.results.map((r) => `${r.reuse} with ${r.store}`).join(", ")
    }.`
  )
  say()

  for (const line of await cliSection()) say(line)
  for (const line of await dpopSection()) say(line)
  for (const line of Web.lines()) say(line)

  if (warnings.length > 0) {
    say("## Warnings")
    say()
    for (const w of warnings) say(`- ${w}`)
    say()
  }

  if (process.argv.includes("--write")) {
    fs.writeFileSync(path.join(here, "../../../docs/benchmarks.md"), lines.join("\n") + "\n")
  }
}

interface MemoryResult {
  readonly n: number
  readonly mode: Mode
  readonly trials: ReadonlyArray<number>
  readonly bytes: number
}

// --- profile -------------------------------------------------------------------

interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
    readonly children?: ReadonlyArray<number>
  }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const shortPath = (p: string) => p.replace(/^.*node_modules\//, "").replace(/^(\.\.\/)+/, "").replace(/^file:\/\//, "")

const top = (m: Map<string, number>, total: number, count: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, count).map(([k, v]) => `${fmt((v / total) * 100, 1).padStart(5)}%  ${k}`)

// Runs the in-process renewal under `node --cpu-prof`; prints self time by
// module of the original sources (esbuild marks where each module starts in
// the bundle with a `// path` comment), self time by function, and inclusive
// time by function (each function counted once per sample).
const cpuProfile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-profile-"))
  const result = runSection("profile", ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=100"])
  const file = fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))!
  const profile = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as CpuProfile
  fs.rmSync(dir, { recursive: true, force: true })

  const markers: Array<{ line: number; module: string }> = []
  fs.readFileSync(path.join(dist, "sections.mjs"), "utf8").split("\n").forEach((text, line) => {
    const match = /^\/\/ (\S+\.(?:[cm]?js|ts))$/.exec(text)
    if (match) markers.push({ line, module: shortPath(match[1]!) })
  })
  const moduleAt = (url: string, line: number) => {
    if (!url.endsWith("sections.mjs")) return url === "" ? "(native)" : shortPath(url)
    let found = "(bundle)"
    let lo = 0
    let hi = markers.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (markers[mid]!.line <= line) {
        found = markers[mid]!.module
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const label = (id: number) => {
    const frame = byId.get(id)!.callFrame
    return { fn: `${frame.functionName || "(anonymous)"}  ${moduleAt(frame.url, frame.lineNumber)}`, frame }
  }
  const selfByModule = new Map<string, number>()
  const selfByFunction = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    total += dt
    const { fn, frame } = label(id)
    const module = moduleAt(frame.url, frame.lineNumber)
    selfByModule.set(module, (selfByModule.get(module) ?? 0) + dt)
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + dt)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { fn: outer } = label(at)
      if (seen.has(outer)) continue
      seen.add(outer)
      inclusive.set(outer, (inclusive.get(outer) ?? 0) + dt)
    }
  })
  console.log(
    `## CPU: renewer.get({ forceRefresh: true }) over a one-hop strategy double\n\n${fmt(result.calls)} calls, ${
      fmt(result.usPerCall, 2)
    } µs per call under the profiler (100 µs sampling)`
  )
  console.log("\nself time by module:")
  top(selfByModule, total, 25).forEach((l) => console.log(l))
  console.log("\nself time by function:")
  top(selfByFunction, total, 40).forEach((l) => console.log(l))
  console.log("\ninclusive time by function:")
  top(inclusive, total, 60).forEach((l) => console.log(l))
}

interface HeapSnapshot {
  readonly snapshot: {
    readonly meta: { readonly node_fields: ReadonlyArray<string>; readonly node_types: [ReadonlyArray<string>] }
  }
  readonly nodes: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
}

// Heap snapshots before and after building N Renewers (`memory.mjs
// --snapshots`): the difference by V8 node type and name, per Renewer.
// ("system / Context" is a closure's captured scope, not an Effect Context.)
const heapBreakdown = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-heap-"))
  const n = 1_000
  run("memory.mjs", [`--n=${n}`, `--snapshots=${dir}`], ["--expose-gc"])
  const count = (file: string) => {
    const snapshot = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as HeapSnapshot
    const fields = snapshot.snapshot.meta.node_fields
    const types = snapshot.snapshot.meta.node_types[0]
    const [type, name, size, width] = [
      fields.indexOf("type"),
      fields.indexOf("name"),
      fields.indexOf("self_size"),
      fields.length
    ]
    const totals = new Map<string, { count: number; bytes: number }>()
    for (let i = 0; i < snapshot.nodes.length; i += width) {
      const t = types[snapshot.nodes[i + type]!]!
      const k = `${t}: ${
        t.includes("string")
          ? "(strings)"
          : t === "number"
          ? "(numbers)"
          : snapshot.strings[snapshot.nodes[i + name]!]!.slice(0, 60)
      }`
      const entry = totals.get(k) ?? { count: 0, bytes: 0 }
      entry.count++
      entry.bytes += snapshot.nodes[i + size]!
      totals.set(k, entry)
    }
    return totals
  }
  const before = count("before.heapsnapshot")
  const after = count("after.heapsnapshot")
  fs.rmSync(dir, { recursive: true, force: true })
  const rows = [...after].map(([k, a]) => {
    const b = before.get(k) ?? { count: 0, bytes: 0 }
    return { k, count: (a.count - b.count) / n, bytes: (a.bytes - b.bytes) / n }
  }).sort((x, y) => y.bytes - x.bytes)
  console.log(
    `\n## Memory: what a built Renewer retains (heap snapshots around ${fmt(n)} built as in the benchmark)\n\ntotal ${
      fmt(rows.reduce((acc, r) => acc + r.bytes, 0))
    } bytes per Renewer (shallow sizes, the layer machinery included)\n\n bytes  count  V8 type: name`
  )
  for (const r of rows.slice(0, 40)) {
    console.log(`${fmt(r.bytes).padStart(6)} ${fmt(r.count, 1).padStart(6)}  ${r.k}`)
  }
}

const main = async () => {
  await bundle()
  if (process.argv.includes("--profile")) {
    cpuProfile()
    heapBreakdown()
  } else await report()
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
