/**
 * `SqlSessionStore.layer` on SQLite and PostgreSQL (tables `web_sessions_*`,
 * dropped after): the store's contract, `replace` as a compare-and-set across
 * two clients (two instances), concurrent start-up, and the sweep of two
 * `WebAuth` instances sharing the store ending a lapsed session once.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as SessionStore from "@effect-renewal/web/SessionStore"
import * as SqlSessionStore from "@effect-renewal/web/SqlSessionStore"
import * as WebAuth from "@effect-renewal/web/WebAuth"
import * as HttpClient from "@effect/platform/HttpClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { pgUrl, runPg } from "../../sql/test/support.js"
import { BASE, browser, SECRET } from "./support/stack.js"

const record = new SessionStore.SessionRecord({
  subject: "alice",
  claims: { sub: "alice", email: "alice@example.test", nested: { a: [1, 2] } },
  createdAt: 0,
  lastSeenAt: 0
})

const randomName = () => `web_sessions_${Math.random().toString(36).slice(2, 10)}`

interface Database {
  readonly table: string
  /** A new client (its own connections, as another instance's). */
  readonly client: () => Layer.Layer<SqlClient.SqlClient>
}

/** A database for one test, dropped (SQLite: the file; PostgreSQL: the tables) when the scope closes. */
const backends: ReadonlyArray<
  readonly [string, boolean, (table: string) => Effect.Effect<Database, never, Scope.Scope>]
> = [
  ["sqlite", true, (table) =>
    Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-renewal-web-sql-"))),
      (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))
    ).pipe(Effect.map((directory) => ({
      table,
      client: () => Layer.orDie(SqliteClient.layer({ filename: Path.join(directory, "app.db") }))
    })))],
  ["pg", runPg, (table) => {
    const client = () => Layer.orDie(PgClient.layer({ url: Redacted.make(pgUrl) }))
    return Effect.acquireRelease(
      Effect.succeed({ table, client }),
      () =>
        Effect.scoped(Effect.flatMap(Layer.build(client()), (context) => {
          const sql = Context.get(context, SqlClient.SqlClient)
          return sql`DROP TABLE IF EXISTS ${sql(table)}, ${sql(`${table}_tokens_entries`)}, ${
            sql(`${table}_tokens_locks`)
          }, ${sql(`${table}_tokens_meta`)}`
        })).pipe(Effect.orDie)
    )
  }]
]

const storeOf = (database: Database) =>
  Layer.build(SqlSessionStore.layer({ table: database.table }).pipe(Layer.provide(database.client()))).pipe(
    Effect.map(Context.get(SessionStore.SessionStore)),
    Effect.orDie
  )

const rawOf = (database: Database) => Effect.map(Layer.build(database.client()), Context.get(SqlClient.SqlClient))

it("SessionStore and the package's index load without @effect/sql (an optional peer); only SqlSessionStore imports it", () => {
  for (const file of ["../src/SessionStore.ts", "../src/index.ts", "../src/internal/sessionStore.ts"]) {
    const source = Fs.readFileSync(new URL(file, import.meta.url), "utf8")
    expect(source).not.toMatch(/from "@effect\/sql/)
    expect(source).not.toMatch(/from "\.{1,2}\/(SqlSessionStore|internal\/sqlSessionStore|sqlSessionStore)\.js"/)
  }
})

it.effect("a table name that is not an identifier is refused with a SessionStoreError", () =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(
      Layer.build(
        SqlSessionStore.layer({ table: "x; DROP TABLE y" }).pipe(
          Layer.provide(Layer.orDie(SqliteClient.layer({ filename: ":memory:" })))
        )
      )
    )
    expect(error).toBeInstanceOf(SessionStore.SessionStoreError)
    expect(error.operation).toBe("open")
  }).pipe(Effect.scoped))

describe.each(backends)("SqlSessionStore.layer on %s", (_, enabled, open) => {
  it.scoped.skipIf(!enabled)("set, get, expiry on the Clock, remove, entries", () =>
    Effect.gen(function*() {
      const database = yield* open(randomName())
      const store = yield* storeOf(database)
      expect(yield* store.get("web:a")).toEqual(Option.none())
      yield* store.set("web:a", record, "1 hour")
      const read = Option.getOrThrow(yield* store.get("web:a"))
      expect(read.claims).toEqual(record.claims)
      expect(read).toBeInstanceOf(SessionStore.SessionRecord)
      yield* store.set("web:b", record, "2 hours")
      expect((yield* store.entries!).map(([key]) => key).sort()).toEqual(["web:a", "web:b"])
      yield* TestClock.adjust("59 minutes")
      expect(Option.isSome(yield* store.get("web:a"))).toBe(true)
      // an expired entry is still listed for the sweep until read
      yield* TestClock.adjust("1 minute")
      expect((yield* store.entries!).map(([key]) => key).sort()).toEqual(["web:a", "web:b"])
      expect(yield* store.get("web:a")).toEqual(Option.none())
      expect((yield* store.entries!).map(([key]) => key)).toEqual(["web:b"])
      yield* store.remove("web:b")
      yield* store.remove("web:b") // idempotent
      expect(yield* store.get("web:b")).toEqual(Option.none())
      expect(yield* store.entries!).toEqual([])
    }))

  it.scoped.skipIf(!enabled)(
    "replace: only over the record expected, never over a removed or changed one",
    () =>
      Effect.gen(function*() {
        const database = yield* open(randomName())
        const store = yield* storeOf(database)
        const touched = new SessionStore.SessionRecord({ ...record, lastSeenAt: 60_000 })
        yield* store.set("web:a", record, "1 hour")
        expect(yield* store.replace!("web:a", record, touched, "1 hour")).toBe(true)
        expect(Option.getOrThrow(yield* store.get("web:a")).lastSeenAt).toBe(60_000)
        expect(yield* store.replace!("web:a", record, touched, "1 hour")).toBe(false)
        yield* store.remove("web:a")
        expect(yield* store.replace!("web:a", touched, touched, "1 hour")).toBe(false)
        expect(yield* store.get("web:a")).toEqual(Option.none())
        // an expired entry is not brought back
        yield* store.set("web:e", record, "1 minute")
        yield* TestClock.adjust("2 minutes")
        expect(yield* store.replace!("web:e", record, touched, "1 hour")).toBe(false)
        expect(yield* store.get("web:e")).toEqual(Option.none())
      })
  )

  it.scoped.skipIf(!enabled)(
    "replace across two clients at once: exactly one wins, every round",
    () =>
      Effect.gen(function*() {
        const database = yield* open(randomName())
        const a = yield* storeOf(database)
        const b = yield* storeOf(database)
        for (let round = 0; round < 15; round++) {
          const key = `web:r${round}`
          yield* a.set(key, record, "1 hour")
          const fromA = new SessionStore.SessionRecord({ ...record, lastSeenAt: 1 })
          const fromB = new SessionStore.SessionRecord({ ...record, lastSeenAt: 2 })
          const [wonA, wonB] = yield* Effect.all(
            [a.replace!(key, record, fromA, "1 hour"), b.replace!(key, record, fromB, "1 hour")],
            { concurrency: "unbounded" }
          )
          expect([wonA, wonB].filter(Boolean)).toHaveLength(1)
          expect(Option.getOrThrow(yield* b.get(key)).lastSeenAt).toBe(wonA ? 1 : 2)
        }
        // a logout on one instance between another's read and write: the write does not bring it back
        yield* a.set("web:x", record, "1 hour")
        const raw = yield* rawOf(database)
        yield* raw`UPDATE ${raw(database.table)} SET version = version + 1 WHERE session_key = ${"web:x"}`
        expect(yield* b.replace!("web:x", record, record, "1 hour")).toBe(true)
        yield* a.remove("web:x")
        expect(yield* b.replace!("web:x", record, record, "1 hour")).toBe(false)
        expect(yield* a.get("web:x")).toEqual(Option.none())
      })
  )

  it.scoped.skipIf(!enabled)(
    "started by four instances at once on a fresh database; a row that does not decode is no session",
    () =>
      Effect.gen(function*() {
        const database = yield* open(randomName())
        const stores = yield* Effect.all([0, 1, 2, 3].map(() => storeOf(database)), { concurrency: "unbounded" })
        yield* stores[0]!.set("web:a", record, "1 hour")
        expect(Option.isSome(yield* stores[3]!.get("web:a"))).toBe(true)
        const raw = yield* rawOf(database)
        yield* raw`INSERT INTO ${raw(database.table)} (session_key, record, version, expires_at)
        VALUES (${"web:bad"}, ${"{not json"}, ${1}, ${Date.now() + 3_600_000})`
        expect((yield* stores[1]!.entries!).map(([key]) => key)).toEqual(["web:a"])
        expect(yield* stores[1]!.get("web:bad")).toEqual(Option.none())
        expect(yield* raw`SELECT 1 FROM ${raw(database.table)} WHERE session_key = ${"web:bad"}`).toEqual([])
      })
  )

  it.scoped.skipIf(!enabled)("errors say which operation, never a session key", () =>
    Effect.gen(function*() {
      const database = yield* open(randomName())
      const store = yield* storeOf(database)
      const raw = yield* rawOf(database)
      yield* raw`DROP TABLE ${raw(database.table)}`
      const key = "web:secret-looking-key"
      const errors = yield* Effect.all([
        Effect.flip(store.get(key)),
        Effect.flip(store.set(key, record, "1 hour")),
        Effect.flip(store.replace!(key, record, record, "1 hour")),
        Effect.flip(store.entries!)
      ])
      expect(errors.map((e) => e.operation)).toEqual(["get", "set", "replace", "entries"])
      for (const error of errors) {
        expect(error).toBeInstanceOf(SessionStore.SessionStoreError)
        expect(`${error.message} ${String(error)} ${JSON.stringify(error)}`).not.toContain("secret-looking")
      }
    }))

  it.scoped.skipIf(!enabled)(
    "two WebAuth instances sweeping one lapsed session: ended once (revoked once, credentials and record gone)",
    () =>
      Effect.gen(function*() {
        const database = yield* open(randomName())
        const emulatorContext = yield* Layer.build(Emulator.layerMemory())
        const emulator = Context.get(emulatorContext, Emulator.Emulator)
        const instance = () =>
          Layer.build(
            WebAuth.layer({ baseUrl: BASE, secrets: [SECRET], idleLifetime: "1 hour", sweepInterval: "1 minute" }).pipe(
              Layer.provideMerge(
                Layer.mergeAll(SqlSessionStore.layer({ table: database.table }), Login.layer(), Sessions.layer())
              ),
              Layer.provideMerge(RenewalStrategy.refreshToken),
              Layer.provideMerge(SqlTokenStore.layer({ tablePrefix: `${database.table}_tokens` })),
              Layer.provideMerge(database.client()),
              Layer.provideMerge(
                Layer.unwrapEffect(Effect.map(
                  Emulator.Emulator,
                  (e) => AuthenticationClient.layerDiscovery({ issuer: e.issuer, clientId: e.clientId })
                ))
              ),
              Layer.provideMerge(Layer.succeed(HttpClient.HttpClient, Emulator.toHttpClient(emulator))),
              Layer.provideMerge(Layer.succeedContext(emulatorContext)),
              Layer.orDie
            )
          )
        const a = yield* instance()
        const b = yield* instance()
        // log in through instance A
        const user = browser()
        yield* user.login("carol").pipe(Effect.provide(a))
        const key = yield* sessionKeyOfJar(user.jar)
        const tokens = Context.get(a, TokenStore.TokenStore)
        const sessions = Context.get(b, SessionStore.SessionStore)
        expect(Option.isSome(yield* sessions.get(key))).toBe(true) // known to B
        const before = (yield* emulator.counters).revokedFamilies
        yield* TestClock.adjust("59 minutes")
        yield* settle
        expect((yield* emulator.counters).revokedFamilies).toBe(before)
        // both sweeps run (once a minute each), at the same moment, on the lapsed session
        yield* TestClock.adjust("2 minutes")
        for (let i = 0; i < 100 && Option.isSome(yield* sessions.get(key)); i++) yield* settle
        yield* settle
        expect((yield* emulator.counters).revokedFamilies).toBe(before + 1)
        // one revocation request: the second sweep, behind the TokenStore's lock, found nothing to revoke
        expect((yield* emulator.requests).filter((request) => request.endpoint === "revoke")).toHaveLength(1)
        expect(Option.isNone(yield* tokens.get(TokenStore.entryKey(key)))).toBe(true)
        expect(Option.isNone(yield* sessions.get(key))).toBe(true)
        expect(yield* Context.get(a, SessionStore.SessionStore).entries!).toEqual([])
      }),
    30_000
  )
})

/** Real time for the sweeps' database work to finish (the TestClock only starts them). */
const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))

const sessionKeyOfJar = (jar: Map<string, string>) =>
  Effect.promise(async () => {
    const id = jar.get("session")!.split(".")[0]!
    const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id))
    return `web:${Encoding.encodeBase64Url(new Uint8Array(hash))}`
  })
