// Many processes, one session: real Node processes (not fibers) share one
// SQL store, SQLite and PostgreSQL, and renew against the emulator on
// loopback with rotation, reuse detection and no reuse interval. A second
// request with one refresh token would revoke the family: these tests count
// that none is made.
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Fleet from "../src/processes/Fleet.js"
import { storeLayer, type StoreSpec } from "../src/processes/protocol.js"
import * as Postgres from "./support/postgres.js"

const lifetime = Duration.seconds(2)

const emulatorLayer = Emulator.layerServer({
  rotation: true,
  reuseInterval: 0,
  accessTokenLifetime: lifetime
})

const prefix = () => `er_fleet_${process.pid}_${Math.random().toString(36).slice(2, 8)}`

const sqlite = (): StoreSpec & { readonly cleanup: () => void } => {
  const directory = mkdtempSync(join(tmpdir(), "effect-renewal-fleet-"))
  return {
    kind: "sqlite",
    filename: join(directory, "tokens.db"),
    tablePrefix: prefix(),
    cleanup: () => rmSync(directory, { recursive: true, force: true })
  }
}

const pg = (): StoreSpec & { readonly cleanup: () => void } => ({
  kind: "pg",
  url: Postgres.url,
  tablePrefix: prefix(),
  cleanup: () => {}
})

const counters = Effect.flatMap(Emulator.Emulator, (emulator) => emulator.counters)

// Logs a user in, saves the login in the shared store, starts the fleet.
const setUp = (spec: StoreSpec, processes: number) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const server = yield* Emulator.EmulatorServer
    const codecKey = yield* TokenCodec.generateKey
    const key = "shared-session"
    const context = yield* Layer.build(storeLayer(spec, codecKey))
    const store = Layer.succeedContext(context)
    const login = yield* Fixtures.login()
    yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.set(key, login)).pipe(Effect.provide(store))
    const workers = yield* Fleet.spawn(processes, {
      emulatorUrl: server.url,
      clientId: emulator.clientId,
      key,
      store: spec,
      codecKey: Redacted.value(codecKey)
    })
    return { login, workers }
  })

const untilExpired = (expiresAt: DateTime.Utc) =>
  Effect.flatMap(
    DateTime.now,
    (now) =>
      Effect.sleep(Duration.millis(Math.max(0, DateTime.toEpochMillis(expiresAt) - DateTime.toEpochMillis(now)) + 50))
  )

// Every process calls `get` around each expiry, at the same moment.
const expiries = (spec: StoreSpec) =>
  Effect.gen(function*() {
    const { login, workers } = yield* setUp(spec, 4)
    const before = yield* counters
    let expiresAt = login.expiresAt
    const rounds = 3
    const tokens = new Set<string>()
    for (let round = 1; round <= rounds; round++) {
      yield* untilExpired(expiresAt)
      const answers = yield* Effect.forEach(workers, (worker) => worker.get(25), { concurrency: "unbounded" })
      const seen = new Set(answers.flatMap((answer) => answer.fingerprints))
      expect(answers.flatMap((answer) => answer.failures)).toEqual([])
      // every process got the same access token
      expect(seen.size).toBe(1)
      tokens.add([...seen][0]!)
      // exactly one token request for this expiry
      expect((yield* counters).requests.token - before.requests.token).toBe(round)
      expiresAt = DateTime.unsafeMake(DateTime.toEpochMillis(yield* DateTime.now) + Duration.toMillis(lifetime))
    }
    expect(tokens.size).toBe(rounds)
    const after = yield* counters
    expect(after.reuseDetections - before.reuseDetections).toBe(0)
    expect(after.revokedFamilies - before.revokedFamilies).toBe(0)
  })

// A process killed while it holds the lock with its request in flight (the
// server has not answered it): the waiting processes go on within 5 seconds
// and renew with the refresh token the killed one never got to use.
const killedHolder = (spec: StoreSpec) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const { login, workers } = yield* setUp(spec, 3)
    const [holder, ...waiters] = workers
    const before = yield* counters
    yield* untilExpired(login.expiresAt)
    yield* emulator.faultOn("token", Emulator.Fault.hang())
    yield* holder!.send(1)
    // the holder's request has reached the server: it holds the lock
    yield* Effect.repeat(counters, {
      until: (c) => c.requests.token > before.requests.token,
      schedule: Schedule.spaced("20 millis")
    }).pipe(Effect.timeout("30 seconds"))
    const answers = yield* Effect.forEach(waiters, (worker) => worker.send(1))
    yield* Effect.sleep("300 millis") // the waiters are waiting for the lock
    const killedAt = performance.now()
    yield* holder!.kill("SIGKILL")
    const got = yield* Effect.all(answers, { concurrency: "unbounded" })
    const waited = performance.now() - killedAt
    expect(got.flatMap((answer) => answer.failures)).toEqual([])
    expect(new Set(got.flatMap((answer) => answer.fingerprints)).size).toBe(1)
    expect(waited).toBeLessThan(5000)
    const after = yield* counters
    // the hung request, and one renewal by a waiter
    expect(after.requests.token - before.requests.token).toBe(2)
    expect(after.revokedFamilies - before.revokedFamilies).toBe(0)
    expect(after.reuseDetections - before.reuseDetections).toBe(0)
  })

const run = (
  make: () => StoreSpec & { readonly cleanup: () => void },
  test: (spec: StoreSpec) => Effect.Effect<void, unknown, Emulator.Emulator | Emulator.EmulatorServer | Scope.Scope>
) =>
  Effect.suspend(() => {
    const spec = make()
    return test(spec).pipe(Effect.scoped, Effect.provide(emulatorLayer), Effect.ensuring(Effect.sync(spec.cleanup)))
  })

describe("many processes over one SQLite file", () => {
  it.live(
    "one token request per expiry, the same access token everywhere, no family revoked",
    () => run(sqlite, expiries),
    120_000
  )

  it.live(
    "a holder killed with its request in flight: the others go on within 5 s, nothing lost",
    () => run(sqlite, killedHolder),
    120_000
  )
})

describe.skipIf(Postgres.skip)("many processes over one PostgreSQL database", () => {
  it.live(
    "one token request per expiry, the same access token everywhere, no family revoked",
    () => run(pg, expiries),
    120_000
  )

  it.live(
    "a holder killed with its request in flight: the others go on within 5 s, nothing lost",
    () => run(pg, killedHolder),
    120_000
  )
})
