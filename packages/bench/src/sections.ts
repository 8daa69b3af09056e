/**
 * The benchmarks themselves. `main.ts` bundles this file with esbuild and runs
 * each section in a fresh `node` process of its own
 * (`node dist/sections.mjs --section=<name>`); a section prints one line
 * `RESULT <json>`.
 */
import {
  AuthenticationClient,
  Credentials,
  RenewalStrategy,
  Renewer,
  Sessions,
  TokenCodec,
  TokenStore
} from "@effect-renewal/core"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { OAuth2Client } from "google-auth-library"
import { fork } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { Agent, request as undiciRequest } from "undici"
import * as Fleet from "../../demo/src/processes/Fleet.js"
import { storeLayer, type StoreSpec } from "../../demo/src/processes/protocol.js"
import type { EmulatorReply, EmulatorRequest } from "./emulator.js"
import { median, roundRobin, summarize, type Summary } from "./stats.js"

const here = path.dirname(fileURLToPath(import.meta.url))

// What is running, for the report of a hang; `progress` is called at every
// round. A section that makes no progress for `limitMillis` is ended with
// that report (the close of its scope gets 15 s).
let where = "the start"
let lastProgress = Date.now()
let limitMillis = 120_000
const progress = (at: string) => {
  where = at
  lastProgress = Date.now()
}

// ns per call of `n` sequential `yield*`s of `make()` in one fiber
const nsPerCall = <A, E>(make: () => Effect.Effect<A, E>, n: number) =>
  Effect.gen(function*() {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) yield* make()
    return Number(process.hrtime.bigint() - start) / n
  })

// --- the emulator in a process of its own -------------------------------------

class EmulatorProcess extends Context.Tag("@effect-renewal/bench/EmulatorProcess")<EmulatorProcess, {
  readonly url: string
  readonly clientId: string
  /** A fresh login at the emulator, as the library holds it. */
  readonly login: Effect.Effect<Credentials.Credentials>
  /** The token requests the emulator has received so far. */
  readonly tokenRequests: Effect.Effect<number>
  /** `count` fresh logins, as the library holds them. */
  readonly logins: (count: number) => Effect.Effect<ReadonlyArray<Credentials.Credentials>>
  /** The emulator's counters. */
  readonly counters: Effect.Effect<Emulator.Counters>
}>() {}

const decodeTokenResponse = Schema.decodeUnknown(Credentials.TokenResponse)

// Starts `dist/emulator.mjs` (serving `Emulator.layerServer` on 127.0.0.1),
// reads the URL it prints, and kills it when the scope closes.
const layerEmulatorProcess = (options: { readonly rotation: boolean }) =>
  Layer.scoped(
    EmulatorProcess,
    Effect.gen(function*() {
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          fork(path.join(here, "emulator.mjs"), options.rotation ? ["--rotation"] : [], {
            execArgv: [],
            stdio: ["ignore", "pipe", "inherit", "ipc"]
          })
        ),
        (child) =>
          Effect.async<void>((resume) => {
            if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
            child.once("exit", () => resume(Effect.void))
            child.kill("SIGTERM")
          })
      )
      const ready = yield* Effect.async<{ readonly url: string; readonly clientId: string }>((resume) => {
        const lines = readline.createInterface({ input: child.stdout! })
        lines.on("line", (line) => {
          if (line.startsWith("EMULATOR ")) resume(Effect.succeed(JSON.parse(line.slice("EMULATOR ".length))))
        })
        child.once("exit", (code) => resume(Effect.die(new Error(`the emulator exited (${code})`))))
      })
      let next = 0
      const pending = new Map<number, (value: unknown) => void>()
      child.on("message", (reply: EmulatorReply) => pending.get(reply.id)?.(reply.value))
      const ask = (op: EmulatorRequest["op"], count?: number) =>
        Effect.async<unknown>((resume) => {
          const id = next++
          pending.set(id, (value) => {
            pending.delete(id)
            resume(Effect.succeed(value))
          })
          child.send({ id, op, ...(count === undefined ? {} : { count }) } satisfies EmulatorRequest)
        })
      return {
        ...ready,
        login: ask("login").pipe(
          Effect.flatMap(decodeTokenResponse),
          Effect.flatMap(Credentials.fromTokenResponse),
          Effect.orDie
        ),
        tokenRequests: Effect.map(ask("counters"), (counters) => (counters as Emulator.Counters).requests.token),
        logins: (count: number) =>
          ask("logins", count).pipe(
            Effect.flatMap((bodies) =>
              Effect.forEach(
                bodies as ReadonlyArray<unknown>,
                (body) => Effect.flatMap(decodeTokenResponse(body), Credentials.fromTokenResponse)
              )
            ),
            Effect.orDie
          ),
        counters: Effect.map(ask("counters"), (counters) => counters as Emulator.Counters)
      }
    })
  )

// The whole stack, talking to the emulator process over loopback.
const loopbackStack = (
  emulator: Context.Tag.Service<EmulatorProcess>,
  httpClient: Layer.Layer<HttpClient.HttpClient>
) =>
  Renewer.layer().pipe(
    Layer.provideMerge(RenewalStrategy.refreshToken),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(
      AuthenticationClient.layer({ domain: emulator.url, clientId: emulator.clientId }).pipe(Layer.orDie)
    ),
    Layer.provideMerge(httpClient)
  )

const expire = (credentials: Credentials.Credentials) =>
  new Credentials.Credentials({ ...credentials, expiresAt: DateTime.unsafeMake(0) })

// --- hot path ------------------------------------------------------------------

const hot = Effect.gen(function*() {
  const context = yield* Layer.build(
    Renewer.layer().pipe(
      Layer.provide(TokenStore.layerMemory),
      Layer.provide(Fixtures.strategyFrom((current) => Effect.succeed(current)))
    )
  )
  const renewer = Context.get(context, Renewer.Renewer)
  const credentials = yield* Fixtures.credentials({ refreshToken: "r", ttl: "1 hour" })
  yield* renewer.save(credentials)
  const ref = yield* Ref.make(yield* renewer.get())
  const floor = () => Effect.zipRight(Ref.get(ref), Clock.currentTimeMillis)
  // the least any cache can do: one prebuilt effect, one Date.now() check
  const cached = { exp: Date.now() + 3_600_000 }
  const success = Effect.succeed(credentials)
  const other = Effect.die("expired")
  const suspended = Effect.suspend(() => cached.exp > Date.now() ? success : other)
  const peer = new OAuth2Client()
  peer.setCredentials({ access_token: "peer-access-token", expiry_date: Date.now() + 3_600_000 })
  const peerCall = () => Effect.promise(() => peer.getAccessToken())

  const variants: ReadonlyArray<{ readonly make: () => Effect.Effect<unknown, unknown>; readonly calls: number }> = [
    { make: () => renewer.get(), calls: 500_000 },
    { make: () => suspended, calls: 500_000 },
    { make: floor, calls: 500_000 },
    { make: peerCall, calls: 100_000 }
  ]
  const rounds = 9
  const samples = variants.map(() => [] as Array<number>)
  for (let round = 0; round < rounds; round++) {
    for (const k of roundRobin(round, variants.length)) {
      progress(`round ${round + 1}, variant ${k + 1}`)
      const { calls, make } = variants[k]!
      yield* nsPerCall(make, calls / 5) // warm-up before every measured round
      samples[k]!.push(yield* nsPerCall(make, calls))
    }
  }
  const [renewerNs, suspendNs, floorNs, peerNs] = samples.map(median)
  return { rounds, renewer: renewerNs!, suspend: suspendNs!, floor: floorNs!, peer: peerNs! }
})

// --- single flight ---------------------------------------------------------------

const flight = Effect.gen(function*() {
  const emulator = Context.get(yield* Layer.build(layerEmulatorProcess({ rotation: true })), EmulatorProcess)
  const context = yield* Layer.build(loopbackStack(emulator, NodeHttpClient.layerUndici))
  const renewer = Context.get(context, Renewer.Renewer)
  const store = Context.get(context, TokenStore.TokenStore)
  yield* renewer.save(yield* emulator.login)
  const callers = 10_000
  const rounds: Array<{ requests: number; ms: number; distinct: number }> = []
  // a warm-up renewal: the connection and the code paths are warm for the first round
  yield* renewer.get({ forceRefresh: true })
  for (let round = 0; round < 5; round++) {
    progress(`round ${round + 1}`)
    const current = Option.getOrThrow(yield* store.get("default"))
    yield* renewer.save(expire(current))
    const before = yield* emulator.tokenRequests
    const start = performance.now()
    const all = yield* Effect.all(Array.from({ length: callers }, () => renewer.get()), { concurrency: "unbounded" })
    const ms = performance.now() - start
    const requests = (yield* emulator.tokenRequests) - before
    rounds.push({ requests, ms, distinct: new Set(all.map((c) => Redacted.value(c.accessToken))).size })
  }
  // the floor: the same number of fibers awaiting one Deferred, no renewal at all
  const floor: Array<number> = []
  for (let round = 0; round < 5; round++) {
    progress(`floor, round ${round + 1}`)
    const done = yield* Deferred.make<void>()
    const start = performance.now()
    yield* Effect.all([
      Effect.all(Array.from({ length: callers }, () => Deferred.await(done)), { concurrency: "unbounded" }),
      Deferred.succeed(done, void 0)
    ], { concurrency: "unbounded" })
    floor.push(performance.now() - start)
  }
  return { callers, rounds, floor: median(floor) }
})

// --- renewal cost over loopback ------------------------------------------------

export type CostKey =
  | "bareUndici"
  | "bareFetch"
  | "httpUndici"
  | "httpFetch"
  | "authUndici"
  | "authFetch"
  | "stackUndici"
  | "stackFetch"

interface Variant {
  readonly key: CostKey
  readonly name: string
  /** Runs `n` calls one after the other and returns the milliseconds of each. */
  readonly batch: (n: number) => Effect.Effect<Array<number>>
}

// Each call timed on its own, in the variant's natural environment: a plain
// async loop for the bare clients, one fiber for the Effect ones.
const timePromise = (call: () => Promise<unknown>) => (n: number) =>
  Effect.promise(async () => {
    const out = new Array<number>(n)
    for (let i = 0; i < n; i++) {
      const start = performance.now()
      await call()
      out[i] = performance.now() - start
    }
    return out
  })

const timeEffect = (call: () => Effect.Effect<unknown, unknown>) => (n: number) =>
  Effect.gen(function*() {
    const out = new Array<number>(n)
    for (let i = 0; i < n; i++) {
      const start = performance.now()
      yield* call()
      out[i] = performance.now() - start
    }
    return out
  }).pipe(Effect.orDie)

const cost = Effect.gen(function*() {
  const emulator = Context.get(yield* Layer.build(layerEmulatorProcess({ rotation: false })), EmulatorProcess)
  const login = yield* emulator.login
  const stacks = {
    Undici: yield* Layer.build(loopbackStack(emulator, NodeHttpClient.layerUndici)),
    Fetch: yield* Layer.build(loopbackStack(emulator, FetchHttpClient.layer))
  }
  for (const context of Object.values(stacks)) yield* Context.get(context, Renewer.Renewer).save(login)

  const url = `${emulator.url}/oauth/token`
  const form = new URLSearchParams({
    grant_type: "refresh_token",
    client_id: emulator.clientId,
    refresh_token: Redacted.value(login.refreshToken!)
  }).toString()
  const headers = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" }
  // a kept-alive pool of its own, like NodeHttpClient.layerUndici's
  const agent = yield* Effect.acquireRelease(
    Effect.sync(() => new Agent()),
    (agent) => Effect.promise(() => agent.close())
  )
  const request = HttpClientRequest.post(url).pipe(
    HttpClientRequest.acceptJson,
    HttpClientRequest.bodyText(form, "application/x-www-form-urlencoded")
  )
  const force = { forceRefresh: true } as const

  const variants: Array<Variant> = [
    {
      key: "bareUndici",
      name: "bare `undici.request` + `JSON.parse`",
      batch: timePromise(async () => {
        const response = await undiciRequest(url, { dispatcher: agent, method: "POST", headers, body: form })
        return JSON.parse(await response.body.text()) as unknown
      })
    },
    {
      key: "bareFetch",
      name: "bare global `fetch` + `JSON.parse`",
      batch: timePromise(async () => {
        const response = await fetch(url, { method: "POST", headers, body: form })
        return JSON.parse(await response.text()) as unknown
      })
    }
  ]
  for (const [client, context] of Object.entries(stacks)) {
    const http = Context.get(context, HttpClient.HttpClient)
    const auth = Context.get(context, AuthenticationClient.AuthenticationClient)
    const renewer = Context.get(context, Renewer.Renewer)
    const label = client === "Undici" ? "NodeHttpClient.layerUndici" : "FetchHttpClient"
    variants.push(
      {
        key: `http${client}` as CostKey,
        name: `\`HttpClient\` (${label}) + \`JSON.parse\``,
        batch: timeEffect(() =>
          Effect.flatMap(http.execute(request), (response) => Effect.map(response.text, (text) => JSON.parse(text)))
        )
      },
      {
        key: `auth${client}` as CostKey,
        name: `\`AuthenticationClient.renewAuth\` (${label})`,
        batch: timeEffect(() => auth.renewAuth(login.refreshToken!))
      },
      {
        key: `stack${client}` as CostKey,
        name: `whole stack: \`renewer.get({ forceRefresh: true })\` (${label})`,
        batch: timeEffect(() => renewer.get(force))
      }
    )
  }

  const rounds = 40
  const warmup = 15
  const perRound = 50
  const samples = variants.map(() => [] as Array<number>)
  // each variant's median in each round, in round order: for differences paired by round
  const roundMedians = variants.map(() => [] as Array<number>)
  for (let round = 0; round < rounds; round++) {
    for (const k of roundRobin(round, variants.length)) {
      progress(`round ${round + 1}, ${variants[k]!.key}`)
      yield* variants[k]!.batch(warmup) // warm-up before every measured round
      const measured = yield* variants[k]!.batch(perRound)
      samples[k]!.push(...measured)
      roundMedians[k]!.push(median(measured))
    }
  }
  return {
    rounds,
    warmup,
    perRound,
    variants: variants.map((v, k) => ({ ...summarize(v.name, samples[k]!), key: v.key, rounds: roundMedians[k]! }))
  }
})

// --- in process: where the Renewer's own cost goes -------------------------------

// A strategy double that answers after one `setImmediate` hop, like an I/O
// callback would; the renewed credentials carry no refresh token (the current
// one is kept), and are one shared object.
const inProcessSetup = Effect.gen(function*() {
  const fresh = new Credentials.Credentials({
    accessToken: Redacted.make("fresh-access-token"),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000)
  })
  const hop = Effect.async<Credentials.Credentials>((resume) => {
    setImmediate(() => resume(Effect.succeed(fresh)))
  })
  const strategy = RenewalStrategy.RenewalStrategy.of({ renew: () => hop, revoke: () => Effect.void })
  const context = yield* Layer.build(
    Renewer.layer().pipe(
      Layer.provideMerge(Layer.succeed(RenewalStrategy.RenewalStrategy, strategy)),
      Layer.provideMerge(TokenStore.layerMemory)
    )
  )
  const renewer = Context.get(context, Renewer.Renewer)
  const store = Context.get(context, TokenStore.TokenStore)
  const login = yield* Fixtures.credentials({ refreshToken: "r", ttl: "1 hour" })
  yield* renewer.save(login)
  return { renewer, store, strategy, login }
})

export type InProcessKey = "direct" | "locked" | "flight" | "publish" | "plainTimer" | "timerFiber" | "renewer"

const inProcess = Effect.gen(function*() {
  const { login, renewer, store, strategy } = yield* inProcessSetup
  const scope = yield* Effect.scope
  const force = { forceRefresh: true } as const
  // every field given (a variable, not a literal: it fits older signatures too)
  const noScope = { scope: undefined, audience: undefined, parameters: undefined }

  // The same building blocks put together by hand, one more at a time, on a
  // key of their own: what each costs, for attribution (not the Renewer's code).
  const key = "by-hand"
  yield* store.set(key, login)
  const lockedWith = (
    attempt: (renew: Effect.Effect<Credentials.Credentials, unknown>) => Effect.Effect<Credentials.Credentials, unknown>
  ) =>
    store.withLock(
      key,
      Effect.flatMap(store.get(key), (stored) => {
        const current = Option.getOrThrow(stored)
        return Effect.flatMap(attempt(strategy.renew(current, noScope)), (renewed) => {
          const next = Credentials.merge(current, renewed)
          return Effect.as(store.set(key, next), next)
        })
      })
    ).pipe(Effect.orDie)
  const inFlight = (work: Effect.Effect<Credentials.Credentials>) =>
    Effect.suspend(() => {
      const deferred = Deferred.unsafeMake<Credentials.Credentials>(FiberId.none)
      return Effect.zipRight(Effect.forkIn(Effect.intoDeferred(work, deferred), scope), Deferred.await(deferred))
    })
  const state = yield* SubscriptionRef.make(Option.some(login))
  const published = (work: Effect.Effect<Credentials.Credentials>) =>
    Effect.tap(work, (next) => SubscriptionRef.set(state, Option.some(next)))
  // a plain timer around the attempt, cleared when it ends
  const plainTimer = <A, E>(attempt: Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      const timer = setTimeout(() => {}, 10_000)
      return Effect.ensuring(attempt, Effect.sync(() => clearTimeout(timer)))
    })
  // the attempt in a fiber of its own, watched by a sleeping fiber that is
  // interrupted when the attempt ends
  const timerFiber = <A, E>(attempt: Effect.Effect<A, E>) =>
    Effect.flatMap(Effect.fork(attempt), (request) =>
      Effect.flatMap(
        Effect.fork(Effect.zipRight(Effect.sleep("10 seconds"), Fiber.interrupt(request))),
        (watchdog) =>
          Effect.flatMap(Fiber.await(request), (exit) => {
            watchdog.unsafeInterruptAsFork(FiberId.none)
            return exit
          })
      ))
  const locked = lockedWith((attempt) => attempt)
  const flown = inFlight(locked)
  const withPublish = inFlight(published(locked))
  const withPlainTimer = inFlight(published(lockedWith(plainTimer)))
  const withTimerFiber = inFlight(published(lockedWith(timerFiber)))

  const variants: ReadonlyArray<
    { readonly key: InProcessKey; readonly name: string; readonly make: () => Effect.Effect<unknown, unknown> }
  > = [
    {
      key: "direct",
      name: "the strategy's `renew` called directly (one `setImmediate` hop)",
      make: () => strategy.renew(login, noScope)
    },
    {
      key: "locked",
      name: "by hand: `renew` inside `store.withLock`, with `store.get`, `Credentials.merge`, `store.set`",
      make: () => locked
    },
    {
      key: "flight",
      name: "by hand: the above, forked into a scope and awaited through a `Deferred` (a single flight)",
      make: () => flown
    },
    {
      key: "publish",
      name: "by hand: the above + `SubscriptionRef.set` of the result (nobody subscribed)",
      make: () => withPublish
    },
    {
      key: "plainTimer",
      name: "by hand: the above + a plain `setTimeout` around `renew`, cleared when it ends",
      make: () => withPlainTimer
    },
    {
      key: "timerFiber",
      name:
        "by hand: instead of that timer, `renew` in a fiber of its own watched by a sleeping fiber, interrupted when it ends",
      make: () => withTimerFiber
    },
    { key: "renewer", name: "`renewer.get({ forceRefresh: true })`", make: () => renewer.get(force) }
  ]
  const rounds = 15
  const calls = 1_000
  const samples = variants.map(() => [] as Array<number>)
  for (let round = 0; round < rounds; round++) {
    for (const k of roundRobin(round, variants.length)) {
      progress(`round ${round + 1}, ${variants[k]!.key}`)
      yield* nsPerCall(variants[k]!.make, 200) // warm-up before every measured round
      samples[k]!.push((yield* nsPerCall(variants[k]!.make, calls)) / 1000)
    }
  }
  return {
    rounds,
    calls,
    // samples are in round order: for differences paired by round
    variants: variants.map((v, k) => ({ ...summarize(v.name, samples[k]!), key: v.key, rounds: samples[k]! }))
  }
})

// Only `renewer.get({ forceRefresh: true })` over the strategy double, for a
// few seconds: run under `node --cpu-prof` by `pnpm bench --profile`.
const profile = Effect.gen(function*() {
  const { renewer } = yield* inProcessSetup
  const force = { forceRefresh: true } as const
  yield* nsPerCall(() => renewer.get(force), 20_000)
  let calls = 0
  const start = performance.now()
  while (performance.now() - start < 4_000) {
    yield* nsPerCall(() => renewer.get(force), 1_000)
    calls += 1_000
    progress(`${calls} calls`)
  }
  return { calls, usPerCall: (performance.now() - start) * 1000 / calls }
})

// --- keyed storm -----------------------------------------------------------------

// 10,000 sessions expiring together, renewed through `Sessions` with a bound
// on concurrent renewals, against the emulator's raw capacity at the same
// concurrency (bare undici requests, one refresh token each), round robin.
const storm = Effect.gen(function*() {
  const sessionCount = 10_000
  const bound = 16
  const rounds = 3
  const emulator = yield* EmulatorProcess
  const tokenUrl = `${emulator.url}/oauth/token`
  const agent = new Agent({ connections: bound })
  const raw = (logins: ReadonlyArray<Credentials.Credentials>) =>
    Effect.forEach(logins, (login) =>
      Effect.promise(() =>
        undiciRequest(tokenUrl, {
          method: "POST",
          dispatcher: agent,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "refresh_token",
            client_id: emulator.clientId,
            refresh_token: Redacted.value(login.refreshToken!)
          }).toString()
        }).then((response) => response.body.text())
      ), { concurrency: bound, discard: true })

  const keyed = (logins: ReadonlyArray<Credentials.Credentials>) =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const keys = logins.map((_, i) => `user-${i}`)
      yield* Effect.forEach(logins, (login, i) => sessions.save(keys[i]!, expire(login)), { discard: true })
      const start = performance.now()
      yield* Effect.forEach(keys, (key) => sessions.get(key), { concurrency: "unbounded", discard: true })
      return performance.now() - start
    }).pipe(
      Effect.provide(
        Sessions.layer({ maxConcurrentRenewals: bound }).pipe(
          Layer.provide(RenewalStrategy.refreshToken),
          Layer.provide(TokenStore.layerMemory),
          Layer.provide(
            AuthenticationClient.layer({ domain: emulator.url, clientId: emulator.clientId }).pipe(Layer.orDie)
          ),
          Layer.provide(NodeHttpClient.layerUndici)
        )
      ),
      Effect.orDie
    )

  const rawMs: Array<number> = []
  const keyedMs: Array<number> = []
  let requests = 0
  let maxInFlight = 0
  for (let round = 0; round < rounds; round++) {
    for (const k of roundRobin(round, 2)) {
      progress(`round ${round + 1}, ${k === 0 ? "raw" : "sessions"}: logging in`)
      const logins = yield* emulator.logins(sessionCount)
      progress(`round ${round + 1}, ${k === 0 ? "raw" : "sessions"}`)
      if (k === 0) {
        const start = performance.now()
        yield* raw(logins)
        rawMs.push(performance.now() - start)
      } else {
        const before = yield* emulator.counters
        keyedMs.push(yield* keyed(logins))
        const after = yield* emulator.counters
        requests = after.requests.token - before.requests.token
        maxInFlight = Math.max(maxInFlight, after.maxInFlight)
      }
    }
  }
  yield* Effect.promise(() => agent.close())
  const perSecond = (ms: number) => sessionCount / (ms / 1000)
  return {
    sessions: sessionCount,
    bound,
    rounds,
    rawPerSecond: perSecond(median(rawMs)),
    sessionsPerSecond: perSecond(median(keyedMs)),
    rawMs,
    keyedMs,
    requestsLastRound: requests,
    maxInFlight
  }
}).pipe(Effect.provide(layerEmulatorProcess({ rotation: true })))

// --- cross-process contention -----------------------------------------------

// 4 processes share one session through the SQL store (SQLite, then
// PostgreSQL) and each makes 1,000 concurrent `get`s just after each expiry.
const contention = Effect.gen(function*() {
  const processes = 4
  const callsEach = 1_000
  const rounds = 3
  const lifetime = 2_000
  const pgUrl = process.env["EFFECT_RENEWAL_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
  const workerEntry = path.join(here, "..", "..", "demo", "src", "processes", "worker.ts")
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "bench-contention-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true })))
  const prefix = `bench_${process.pid}`
  const stores: ReadonlyArray<readonly [string, StoreSpec]> = [
    ["SQLite", { kind: "sqlite", filename: path.join(directory, "tokens.db"), tablePrefix: prefix }],
    ["PostgreSQL", { kind: "pg", url: pgUrl, tablePrefix: prefix }]
  ]
  const results: Array<{
    readonly store: string
    readonly rounds: ReadonlyArray<
      { readonly requests: number; readonly distinct: number; readonly failures: number; readonly ms: number }
    >
    readonly reuse: number
    readonly skipped?: string
  }> = []
  for (const [name, spec] of stores) {
    progress(`${name}: starting`)
    const result = yield* Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const server = yield* Emulator.EmulatorServer
      const codecKey = yield* TokenCodec.generateKey
      const store = yield* Layer.build(storeLayer(spec, codecKey))
      const login = yield* Fixtures.login()
      yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.set("shared", login)).pipe(
        Effect.provide(store)
      )
      const workers = yield* Fleet.spawn(processes, {
        emulatorUrl: server.url,
        clientId: emulator.clientId,
        key: "shared",
        store: spec,
        codecKey: Redacted.value(codecKey)
      }, workerEntry)
      const first = yield* emulator.counters
      let expiresAt = DateTime.toEpochMillis(login.expiresAt)
      const measured = []
      for (let round = 0; round < rounds; round++) {
        progress(`${name}: round ${round + 1}`)
        yield* Effect.sleep(Math.max(0, expiresAt - Date.now()) + 20)
        const before = yield* emulator.counters
        const start = performance.now()
        const answers = yield* Effect.forEach(workers, (worker) => worker.get(callsEach), {
          concurrency: "unbounded"
        })
        const ms = performance.now() - start
        const after = yield* emulator.counters
        expiresAt = Date.now() + lifetime
        measured.push({
          requests: after.requests.token - before.requests.token,
          distinct: new Set(answers.flatMap((answer) => answer.fingerprints)).size,
          failures: answers.reduce((n, answer) => n + answer.failures.length, 0),
          ms
        })
      }
      const last = yield* emulator.counters
      return { store: name, rounds: measured, reuse: last.reuseDetections - first.reuseDetections }
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Emulator.layerServer({
          rotation: true,
          reuseInterval: 0,
          accessTokenLifetime: lifetime,
          idTokenAlgorithm: "HS256"
        })
      ),
      Effect.catchAll((error) =>
        Effect.succeed({
          store: name,
          rounds: [],
          reuse: 0,
          skipped: String((error as { message?: string }).message ?? error)
        })
      )
    )
    results.push(result)
  }
  return { processes, callsEach, results }
})

export const sections = { hot, flight, cost, inProcess, profile, storm, contention } as const
export type Sections = typeof sections
export type SectionResult<K extends keyof Sections> = Effect.Effect.Success<Sections[K]>
export type { Summary }

const section = process.argv.find((a) => a.startsWith("--section="))?.slice("--section=".length)
if (section !== undefined) {
  let done = false
  // Node exits when nothing is left to wait for: a fiber that awaits what
  // never comes would otherwise end the section silently.
  process.on("beforeExit", () => {
    if (done) return
    done = true
    console.error(`section ${section} hung at ${where}: the event loop emptied while a fiber was still waiting`)
    process.exitCode = 1
  })
  // The figures are printed before the section's scope (its layers, the
  // emulator process) closes: a close that never ends is reported on its own.
  const measured = Effect.tap(
    sections[section as keyof Sections] as Effect.Effect<unknown, never, Scope.Scope>,
    (result) =>
      Effect.sync(() => {
        console.log(`RESULT ${JSON.stringify(result)}`)
        progress("the end, closing the section's scope (its layers, the emulator process)")
        limitMillis = 15_000
      })
  )
  setInterval(() => {
    if (Date.now() - lastProgress < limitMillis) return
    console.error(`section ${section} hung at ${where}: nothing happened for ${limitMillis / 1000} s`)
    process.exit(1)
  }, 1_000).unref()
  Effect.runPromise(Effect.scoped(measured)).then(
    () => {
      done = true
    },
    (error) => {
      done = true
      console.error(error)
      process.exitCode = 1
    }
  )
}
