import { TokenStore } from "@effect-renewal/core/TokenStore"
import { SqlTokenStore } from "@effect-renewal/sql"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Str from "effect/String"
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { backends, credentials, pgUrl, randomPrefix, rawClient, refreshTokenOf, runPg, store } from "./support.js"

const roundTrip = (s: TokenStore.Service) =>
  Effect.gen(function*() {
    yield* s.set("alice", credentials("a"))
    expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-a"))
    yield* s.remove("alice")
    expect(yield* s.get("alice")).toEqual(Option.none())
  })

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`SqlTokenStore tables on ${backend.name}`, () => {
    it.scopedLive("migration runs under @effect/sql's Migrator, for a store built with createTables: false", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const sql = yield* rawClient(db)
        const migrate = Migrator.make({})({
          loader: Migrator.fromRecord({ "1_token_store": SqlTokenStore.migration({ tablePrefix: db.prefix }) }),
          table: `${db.prefix}_migrations`
        })
        const applied = yield* Effect.provideService(migrate, SqlClient.SqlClient, sql)
        expect(applied.map(([id, name]) => [id, name])).toEqual([[1, "token_store"]])
        yield* roundTrip(yield* store(db, { createTables: false }))
      }))

    it.scopedLive("with createTables: false and no tables, operations fail with a StoreError", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db, { createTables: false })
        const error = yield* Effect.flip(s.set("alice", credentials("a")))
        expect(error._tag).toBe("StoreError")
        expect(error.message).not.toContain("refresh-a")
        expect((yield* Effect.flip(s.withLock("alice", Effect.void)))._tag).toBe("StoreError")
      }))

    it.scopedLive("removed entries' rows are swept after tombstoneRetention", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const sql = yield* rawClient(db)
        const a = yield* store(db)
        yield* a.set("alice", credentials("a"))
        yield* a.remove("alice")
        yield* a.set("bob", credentials("b"))
        const count = Effect.map(
          sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${sql(`${db.prefix}_entries`)}`,
          (rows) => Number(rows[0].n)
        )
        expect(yield* count).toBe(2)
        yield* Effect.sleep("20 millis")
        // a store sweeps when it starts
        yield* store(db, { tombstoneRetention: "1 millis" })
        yield* Effect.sleep("200 millis")
        expect(yield* count).toBe(1)
        expect(Option.isSome(yield* a.get("bob"))).toBe(true)
      }))

    it.scopedLive("a table prefix that is not a plain identifier is an InvalidConfiguration", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const error = yield* Layer.build(
          SqlTokenStore.layer({ tablePrefix: "x; DROP TABLE y" }).pipe(Layer.provide(db.client()))
        ).pipe(Effect.flip)
        expect(error._tag).toBe("InvalidConfiguration")
      }))
  })
}

const build = <E>(layer: Layer.Layer<TokenStore, E>) => Effect.map(Layer.build(layer), Context.get(TokenStore))

describe("SqlTokenStore layers with their own client", () => {
  it.scopedLive("over a client that renames columns (transformResultNames / transformQueryNames)", () =>
    Effect.gen(function*() {
      const db = yield* backends[0].database()
      const client = Layer.orDie(SqliteClient.layer({
        filename: db.target.slice("sqlite:".length),
        transformResultNames: Str.snakeToCamel,
        transformQueryNames: Str.camelToSnake
      }))
      const s = yield* build(SqlTokenStore.layer({ tablePrefix: db.prefix }).pipe(Layer.provide(client)))
      yield* roundTrip(s)
      yield* s.withLock("alice", Effect.zipRight(s.get("alice"), s.set("alice", credentials("locked"))))
      yield* s.withLock("alice", s.remove("alice"))
      const seen = yield* Queue.unbounded<void>()
      yield* s.watch!("bob", Queue.offer(seen, undefined))
      yield* (yield* store(db)).set("bob", credentials("b"))
      yield* Effect.timeout(Queue.take(seen), "1 second")
    }))

  it.scopedLive("layerSqlite opens the file, creates the tables and watches", () =>
    Effect.gen(function*() {
      const sqlite = backends[0]
      const db = yield* sqlite.database()
      const s = yield* build(
        SqlTokenStore.layerSqlite({ filename: db.target.slice("sqlite:".length), tablePrefix: db.prefix })
      )
      yield* roundTrip(s)
      expect(typeof s.watch).toBe("function")
    }))

  it.scopedLive("layerSqlite creates a new database file owner-only, and its WAL with it", () =>
    Effect.gen(function*() {
      const directory = mkdtempSync(join(tmpdir(), "effect-renewal-mode-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(directory, { recursive: true, force: true })))
      const filename = join(directory, "tokens.db")
      const s = yield* build(SqlTokenStore.layerSqlite({ filename }))
      yield* roundTrip(s)
      for (const file of [filename, `${filename}-wal`].filter((f) => existsSync(f))) {
        expect({ file, mode: statSync(file).mode & 0o777 }).toEqual({ file, mode: 0o600 })
      }
    }))

  it.scopedLive("layerSqlite: a file that cannot be created is a StoreError (open) naming the path and the OS error", () =>
    Effect.gen(function*() {
      const error = yield* build(SqlTokenStore.layerSqlite({ filename: "/nonexistent-directory/tokens.db" })).pipe(
        Effect.flip
      )
      expect(error._tag).toBe("StoreError")
      if (error._tag !== "StoreError") return
      expect(error.operation).toBe("open")
      expect(error.key).toBe("*")
      expect(error.message).toContain("/nonexistent-directory/tokens.db")
      expect(error.message).toContain("ENOENT")
    }))

  it.scopedLive("layerSqlite: a file that is not a database is a StoreError (open) naming the path and SQLite's error", () =>
    Effect.gen(function*() {
      const directory = mkdtempSync(join(tmpdir(), "effect-renewal-notdb-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(directory, { recursive: true, force: true })))
      const filename = join(directory, "tokens.db")
      writeFileSync(filename, "this is not a database, and it is long enough to have a header".repeat(20))
      const error = yield* build(SqlTokenStore.layerSqlite({ filename })).pipe(Effect.flip)
      expect(error._tag).toBe("StoreError")
      if (error._tag !== "StoreError") return
      expect(error.operation).toBe("open")
      expect(error.message).toContain(filename)
      expect(error.message).toContain("SQLITE_NOTADB")
    }))

  it.scopedLive("tables that cannot be created: a StoreError (open), not a write of key \"*\"", () =>
    Effect.gen(function*() {
      const db = yield* backends[0].database()
      const filename = db.target.slice("sqlite:".length)
      // an empty database file, opened read-only
      yield* Effect.scoped(Layer.build(db.client()))
      const readOnly = Layer.orDie(SqliteClient.layer({ filename, readonly: true }))
      const error = yield* build(SqlTokenStore.layer({ tablePrefix: db.prefix }).pipe(Layer.provide(readOnly))).pipe(
        Effect.flip
      )
      expect(error._tag).toBe("StoreError")
      if (error._tag !== "StoreError") return
      expect(error.operation).toBe("open")
      expect(error.message).toContain("creating the tables")
    }))

  it.scopedLive.skipIf(!runPg)("layerPgConfig reads a redacted URL from Config", () =>
    Effect.gen(function*() {
      const db = yield* backends[1].database(randomPrefix())
      const s = yield* build(
        SqlTokenStore.layerPgConfig({ url: Config.redacted("DATABASE_URL") }, { tablePrefix: db.prefix })
      ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", pgUrl]]))))
      yield* roundTrip(s)
      expect(typeof s.watch).toBe("function")
    }))

  it.scopedLive("layerPg: a database that cannot be reached is a StoreError that does not show the URL", () =>
    Effect.gen(function*() {
      const error = yield* build(
        SqlTokenStore.layerPg({ url: Redacted.make("postgres://someone:hunter2@127.0.0.1:1/none") })
      ).pipe(Effect.flip)
      expect(error._tag).toBe("StoreError")
      expect(String(error)).not.toContain("hunter2")
      expect(JSON.stringify(error)).not.toContain("hunter2")
      if (error._tag !== "StoreError") return
      // what failed, where and why: the host, port, user and database, and the OS error
      expect(error.operation).toBe("open")
      expect(error.message).toContain("postgres://someone@127.0.0.1:1/none")
      expect(error.message).toContain("ECONNREFUSED")
    }))
})
