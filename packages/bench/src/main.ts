/**
 * `pnpm bench`: figures, not assertions. Prints a Markdown report; with
 * `--write` also writes it to docs/benchmarks.md.
 */
import { AuthenticationClient, Credentials, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import { OAuth2Client } from "google-auth-library"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const lines: Array<string> = []
const say = (line = "") => {
  lines.push(line)
  console.log(line)
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

// ns per call of `n` sequential `yield*`s of `make()` in one fiber
const nsPerCall = <A, E>(make: () => Effect.Effect<A, E>, n: number) =>
  Effect.gen(function*() {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) yield* make()
    return Number(process.hrtime.bigint() - start) / n
  })

// --- 1. hot path -------------------------------------------------------------

const hotPath = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(yield* Fixtures.credentials({ refreshToken: "r", ttl: "1 hour" }))
  const ref = yield* Ref.make(yield* renewer.get())
  const floor = () => Effect.zipRight(Ref.get(ref), Clock.currentTimeMillis)
  const peer = new OAuth2Client()
  peer.setCredentials({ access_token: "peer-access-token", expiry_date: Date.now() + 3_600_000 })
  const peerCall = () => Effect.promise(() => peer.getAccessToken())

  const rounds = 9
  const results = { renewer: [] as Array<number>, floor: [] as Array<number>, peer: [] as Array<number> }
  // warm-up
  yield* nsPerCall(() => renewer.get(), 200_000)
  yield* nsPerCall(floor, 200_000)
  yield* nsPerCall(peerCall, 50_000)
  for (let round = 0; round < rounds; round++) {
    results.renewer.push(yield* nsPerCall(() => renewer.get(), 500_000))
    results.floor.push(yield* nsPerCall(floor, 500_000))
    results.peer.push(yield* nsPerCall(peerCall, 100_000))
  }
  return { renewer: median(results.renewer), floor: median(results.floor), peer: median(results.peer), rounds }
}).pipe(
  Effect.provide(
    Renewer.layer().pipe(
      Layer.provide(TokenStore.layerMemory),
      Layer.provide(Fixtures.strategyFrom((current) => Effect.succeed(current)))
    )
  )
)

// --- the stack over loopback ---------------------------------------------------

const loopbackStack = (
  options: Emulator.Emulator.ServerOptions,
  httpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici
) =>
  Renewer.layer().pipe(
    Layer.provideMerge(RenewalStrategy.refreshToken),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(
      Layer.unwrapEffect(
        Effect.gen(function*() {
          const server = yield* Emulator.EmulatorServer
          const emulator = yield* Emulator.Emulator
          return AuthenticationClient.layer({ domain: server.url, clientId: emulator.clientId })
        })
      ).pipe(Layer.orDie)
    ),
    Layer.provideMerge(httpClient),
    Layer.provideMerge(Emulator.layerServer(options))
  )

const expire = (credentials: Credentials.Credentials) =>
  new Credentials.Credentials({ ...credentials, expiresAt: DateTime.unsafeMake(0) })

// --- 2. single flight --------------------------------------------------------

const singleFlight = Effect.gen(function*() {
  const renewer = yield* Renewer.Renewer
  const store = yield* TokenStore.TokenStore
  const emulator = yield* Emulator.Emulator
  yield* renewer.save(yield* Fixtures.login())
  const callers = 10_000
  const rounds: Array<{ requests: number; ms: number; distinct: number }> = []
  for (let round = 0; round < 5; round++) {
    const current = Option.getOrThrow(yield* store.get("default"))
    yield* renewer.save(expire(current))
    const before = (yield* emulator.counters).requests.token
    const start = performance.now()
    const all = yield* Effect.all(Array.from({ length: callers }, () => renewer.get()), { concurrency: "unbounded" })
    const ms = performance.now() - start
    const requests = (yield* emulator.counters).requests.token - before
    rounds.push({ requests, ms, distinct: new Set(all.map((c) => Redacted.value(c.accessToken))).size })
  }
  // the floor: the same number of fibers awaiting one Deferred, no renewal at all
  const floor: Array<number> = []
  for (let round = 0; round < 5; round++) {
    const done = yield* Deferred.make<void>()
    const start = performance.now()
    yield* Effect.all([
      Effect.all(Array.from({ length: callers }, () => Deferred.await(done)), { concurrency: "unbounded" }),
      Deferred.succeed(done, void 0)
    ], { concurrency: "unbounded" })
    floor.push(performance.now() - start)
  }
  return { callers, rounds, floor: median(floor) }
}).pipe(Effect.provide(loopbackStack({ rotation: true })))

// --- 3. renewal cost ---------------------------------------------------------

const renewalCost = (httpClient: Layer.Layer<HttpClient.HttpClient>, clientName: string) =>
  Effect.gen(function*() {
    const renewer = yield* Renewer.Renewer
    const client = yield* AuthenticationClient.AuthenticationClient
    const http = yield* HttpClient.HttpClient
    const server = yield* Emulator.EmulatorServer
    const emulator = yield* Emulator.Emulator
    const login = yield* Fixtures.login()
    yield* renewer.save(login)
    const params = {
      grant_type: "refresh_token",
      client_id: emulator.clientId,
      refresh_token: Redacted.value(login.refreshToken!)
    }
    const url = `${server.url}/oauth/token`
    const variants: ReadonlyArray<readonly [string, () => Effect.Effect<unknown, unknown>]> = [
      ["bare `fetch` + `JSON.parse`", () =>
        Effect.promise(async () => {
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
            body: new URLSearchParams(params)
          })
          return JSON.parse(await response.text()) as unknown
        })],
      [
        `\`HttpClient\` (${clientName}) + \`JSON.parse\``,
        () =>
          http.execute(
            HttpClientRequest.post(url).pipe(HttpClientRequest.acceptJson, HttpClientRequest.bodyUrlParams(params))
          )
            .pipe(Effect.flatMap((response) => response.text), Effect.map((text) => JSON.parse(text) as unknown))
      ],
      ["`AuthenticationClient.renewAuth`", () => client.renewAuth(login.refreshToken!)],
      ["whole stack: `renewer.get({ forceRefresh: true })`", () => renewer.get({ forceRefresh: true })]
    ]
    const time = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.map(Effect.timed(effect), ([duration]) => Duration.toMillis(duration))
    const warmup = 100
    const runs = 600
    const samples = variants.map(() => [] as Array<number>)
    for (let i = 0; i < warmup + runs; i++) {
      // round robin, starting from a different variant each time
      for (let j = 0; j < variants.length; j++) {
        const k = (i + j) % variants.length
        const ms = yield* time(variants[k]![1]())
        if (i >= warmup) samples[k]!.push(ms)
      }
    }
    return { runs, clientName, medians: variants.map(([name], k) => ({ name, ms: median(samples[k]!) })) }
  }).pipe(Effect.provide(loopbackStack({ rotation: false }, httpClient)))

// --- report ------------------------------------------------------------------

// Each benchmark runs in a process of its own, so that none inherits the heap
// another left behind.
const sections = {
  hot: hotPath,
  flight: singleFlight,
  cost: renewalCost(NodeHttpClient.layerUndici, "NodeHttpClient.layerUndici"),
  costFetch: renewalCost(FetchHttpClient.layer, "FetchHttpClient")
} as const
type Sections = typeof sections
type Result<K extends keyof Sections> = Effect.Effect.Success<Sections[K]>

const runSection = <K extends keyof Sections>(name: K): Result<K> => {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), `--section=${name}`],
    {
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024
    }
  )
  const line = child.stdout.split("\n").find((l) => l.startsWith("RESULT "))
  if (child.status !== 0 || line === undefined) {
    throw new Error(`benchmark ${name} failed (exit ${child.status}): ${child.stderr}`)
  }
  return JSON.parse(line.slice("RESULT ".length)) as Result<K>
}

const report = () => {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU"
  say("# Benchmarks")
  say()
  say(
    `Run on ${
      new Date().toISOString().slice(0, 10)
    }: ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.arch()}. Each benchmark runs in a fresh process.`
  )
  say("Figures, not assertions: `pnpm bench` prints them; nothing in the test suite is timed.")
  say()

  const hot = runSection("hot")
  say("## Hot path: `yield* renewer.get()` on valid credentials, one fiber")
  say()
  say(`Median of ${hot.rounds} rounds of 500,000 calls (100,000 for the peer), measured side by side in one run.`)
  say()
  say("| what | ns per call | vs floor |")
  say("| --- | ---: | ---: |")
  say(`| \`renewer.get()\` | ${fmt(hot.renewer, 1)} | ${fmt(hot.renewer / hot.floor, 2)}x |`)
  say(`| floor: \`Ref.get\` + \`Clock.currentTimeMillis\` | ${fmt(hot.floor, 1)} | 1.00x |`)
  say(
    `| peer: google-auth-library \`getAccessToken()\` via \`Effect.promise\` | ${fmt(hot.peer, 1)} | ${
      fmt(hot.peer / hot.floor, 2)
    }x |`
  )
  say()
  say(
    `\`renewer.get()\` takes ${fmt(hot.renewer / hot.floor, 2)}x the floor and is ${
      fmt(hot.peer / hot.renewer, 1)
    }x faster than the peer (targets: at most 0.5x the floor, at least 3x faster than the peer).`
  )
  say()

  const flight = runSection("flight")
  say(`## Single flight: ${fmt(flight.callers)} concurrent \`get\`s on expired credentials, loopback emulator`)
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

  say("## Renewal cost over loopback HTTP, against a bare `fetch` + `JSON.parse`")
  say()
  say(
    "The same emulator endpoint (no rotation), median of each after a warm-up, round robin; once with each of `@effect/platform`'s HTTP clients for Node. The stack is `renewer.get({ forceRefresh: true })`: lock, store read, the request through `HttpClient`, Schema decoding, merge, store write, and the watchdog of the attempt timeout and deadline."
  )
  say()
  for (const cost of [runSection("cost"), runSection("costFetch")]) {
    const bare = cost.medians[0]!.ms
    say(`### With \`${cost.clientName}\` (${cost.runs} runs of each)`)
    say()
    say("| what | median ms | vs bare |")
    say("| --- | ---: | ---: |")
    for (const { ms, name } of cost.medians) say(`| ${name} | ${fmt(ms, 3)} | ${fmt(ms / bare, 2)}x |`)
    say()
    say(`Whole stack / bare: ${fmt(cost.medians[cost.medians.length - 1]!.ms / bare, 2)} (target: at most 1.15).`)
    say()
  }

  if (process.argv.includes("--write")) {
    const here = path.dirname(fileURLToPath(import.meta.url))
    fs.writeFileSync(path.join(here, "../../../docs/benchmarks.md"), lines.join("\n") + "\n")
  }
}

const section = process.argv.find((a) => a.startsWith("--section="))?.slice("--section=".length)
if (section === undefined) {
  report()
} else {
  Effect.runPromise(sections[section as keyof Sections] as Effect.Effect<unknown>).then(
    (result) => console.log(`RESULT ${JSON.stringify(result)}`),
    (error) => {
      console.error(error)
      process.exitCode = 1
    }
  )
}
