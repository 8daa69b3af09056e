/**
 * Whatever a row of the entries table holds (written by another program, a
 * restore, a bug), the store answers with the entry or a typed `StoreError`,
 * never a defect; and compare-and-set stays exact for every version a
 * `BIGINT`/`INTEGER` column can hold. The hostile rows are written with raw
 * SQL through the same database.
 */
import * as Credentials from "@effect-renewal/core/Credentials"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { TokenStore } from "@effect-renewal/core/TokenStore"
import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type { Database } from "./support.js"
import { backends, credentials, rawClient, refreshTokenOf, store } from "./support.js"

const int64Max = "9223372036854775807"
const encryptionKey = Redacted.make("0123456789abcdef0123456789abcdef0123456789a")
const aboveSafe = "9007199254740993" // 2^53 + 1: a `Number` reads it as 2^53

/** A typed StoreError, never a defect. */
const expectStoreError = (exit: Exit.Exit<unknown, unknown>, operations: ReadonlyArray<string>) => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isSuccess(exit)) return
  expect(Cause.isDie(exit.cause)).toBe(false)
  const failure = Cause.failureOption(exit.cause)
  expect(Option.isSome(failure)).toBe(true)
  const error = Option.getOrThrow(failure) as { readonly _tag: string; readonly operation: string }
  expect(error._tag).toBe("StoreError")
  expect(operations).toContain(error.operation)
}

const versionOf = (sql: SqlClient.SqlClient, db: Database, key: string) =>
  Effect.map(
    sql<{ readonly version: string }>`SELECT CAST(version AS TEXT) AS version FROM ${
      sql(`${db.prefix}_entries`)
    } WHERE session_key = ${key} AND sub_key = ''`,
    (rows) => rows[0]?.version
  )

const setVersion = (sql: SqlClient.SqlClient, db: Database, key: string, version: string) =>
  sql`UPDATE ${sql(`${db.prefix}_entries`)} SET version = CAST(${version} AS BIGINT) WHERE session_key = ${key}`

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`SqlTokenStore over hostile rows on ${backend.name}`, () => {
    it.scopedLive("a huge value that is not an entry is a StoreError (decode)", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db)
        const sql = yield* rawClient(db)
        yield* s.set("alice", credentials("a"))
        yield* sql`UPDATE ${sql(`${db.prefix}_entries`)} SET value = ${"x".repeat(4_000_000)}`
        expectStoreError(yield* Effect.exit(s.get("alice")), ["decode"])
      }))

    it.scopedLive("a negative version is read, compared and replaced by a positive one", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db)
        const sql = yield* rawClient(db)
        yield* s.set("alice", credentials("a"))
        yield* setVersion(sql, db, "alice", "-1")
        yield* s.withLock("alice", Effect.zipRight(s.get("alice"), s.set("alice", credentials("b"))))
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-b"))
        expect(Number(yield* versionOf(sql, db, "alice"))).toBeGreaterThan(0)
      }))

    it.scopedLive("a version above 2^53 is compared exactly: a locked write succeeds, a stale one is refused", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db)
        const other = yield* store(db)
        const sql = yield* rawClient(db)
        yield* s.set("alice", credentials("a"))
        yield* setVersion(sql, db, "alice", aboveSafe)
        yield* s.withLock("alice", Effect.zipRight(s.get("alice"), s.set("alice", credentials("b"))))
        expect(yield* versionOf(sql, db, "alice")).toBe("9007199254740994")
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-b"))
        // the row changed (by 1, invisible to a `Number`) since the holder read it
        const stale = yield* Effect.exit(s.withLock(
          "alice",
          Effect.gen(function*() {
            yield* s.get("alice")
            yield* other.set("alice", credentials("c"))
            yield* s.set("alice", credentials("d"))
          })
        ))
        expectStoreError(stale, ["set"])
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-c"))
      }))

    it.scopedLive("at the int64 maximum, writes succeed (locked or not): the version restarts, watchers hear it, compare-and-set holds", () =>
      Effect.gen(function*() {
        const db = yield* backend.database()
        const s = yield* store(db, { changePollInterval: "20 millis" })
        const other = yield* store(db, { changePollInterval: "20 millis" })
        const sql = yield* rawClient(db)
        const heard = yield* Queue.unbounded<void>()
        yield* other.set("alice", credentials("a"))
        yield* other.watch!("alice", Queue.offer(heard, undefined))
        yield* setVersion(sql, db, "alice", int64Max)
        // a rotated refresh token saved under the lock
        yield* s.withLock("alice", Effect.zipRight(s.get("alice"), s.set("alice", credentials("b", "rotated"))))
        expect(Option.map(yield* other.get("alice"), refreshTokenOf)).toEqual(Option.some("rotated"))
        yield* Queue.take(heard)
        const restarted = BigInt((yield* versionOf(sql, db, "alice"))!)
        expect(restarted > 0n && restarted < 10n).toBe(true)
        // not locked
        yield* setVersion(sql, db, "alice", int64Max)
        yield* s.set("alice", credentials("c"))
        expect(Option.map(yield* other.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-c"))
        // a holder that read the maximum, then someone else wrote (the counter restarted)
        yield* setVersion(sql, db, "alice", int64Max)
        const stale = yield* Effect.exit(s.withLock(
          "alice",
          Effect.gen(function*() {
            yield* s.get("alice")
            yield* other.set("alice", credentials("d"))
            yield* s.set("alice", credentials("e"))
          })
        ))
        expectStoreError(stale, ["set"])
        // and a removal at the maximum
        yield* setVersion(sql, db, "alice", int64Max)
        yield* s.withLock("alice", Effect.zipRight(s.get("alice"), s.remove("alice")))
        expect(yield* other.get("alice")).toEqual(Option.none())
      }))
  })
}

describe("SqlTokenStore over hostile rows on sqlite (any type in any column)", () => {
  const sqlite = backends.find((backend) => backend.name === "sqlite")!

  const hostileValues: ReadonlyArray<readonly [string, string]> = [
    ["a BLOB", "X'7b22612233'"],
    ["an INTEGER", "42"],
    ["a REAL", "1.5"],
    ["an empty BLOB", "X''"]
  ]
  const codecs = [["json", undefined], ["encrypted", TokenCodec.layerEncrypted(encryptionKey)]] as const
  for (const [name, literal] of hostileValues) {
    for (const [codecName, codec] of codecs) {
      it.scopedLive(`a value that is ${name} (${codecName}): get, hasValid and the Renewer's get fail with a StoreError`, () =>
        Effect.gen(function*() {
          const db = yield* sqlite.database()
          const s = yield* store(db, {}, codec)
          const sql = yield* rawClient(db)
          yield* s.set("alice", credentials("a"))
          yield* sql`UPDATE ${sql(`${db.prefix}_entries`)} SET value = ${sql.literal(literal)}`
          expectStoreError(yield* Effect.exit(s.get("alice")), ["decode", "get"])
          const renewer = yield* Layer.build(
            Renewer.layer({ key: "alice" }).pipe(
              Layer.provide(Layer.succeed(TokenStore, s)),
              Layer.provide(Layer.succeed(
                RenewalStrategy.RenewalStrategy,
                RenewalStrategy.RenewalStrategy.of({
                  renew: () =>
                    Effect.succeed(
                      new Credentials.Credentials({
                        accessToken: Redacted.make("x"),
                        tokenType: "Bearer",
                        expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000)
                      })
                    ),
                  revoke: () => Effect.void
                })
              ))
            )
          ).pipe(Effect.map(Context.get(Renewer.Renewer)))
          expectStoreError(yield* Effect.exit(renewer.get()), ["decode", "get"])
          expectStoreError(yield* Effect.exit(renewer.hasValid()), ["decode", "get"])
        }))
    }
  }

  const hostileVersions: ReadonlyArray<readonly [string, string]> = [
    ["TEXT", "'abc'"],
    ["a REAL", "1.5"],
    ["a REAL beyond int64", "1e30"],
    ["a BLOB", "X'01'"]
  ]
  for (const [name, literal] of hostileVersions) {
    it.scopedLive(`a version that is ${name}: a StoreError, and a write replaces it`, () =>
      Effect.gen(function*() {
        const db = yield* sqlite.database()
        const s = yield* store(db)
        const sql = yield* rawClient(db)
        yield* s.set("alice", credentials("a"))
        yield* sql`UPDATE ${sql(`${db.prefix}_entries`)} SET version = ${sql.literal(literal)}`
        expectStoreError(yield* Effect.exit(s.get("alice")), ["get"])
        expectStoreError(yield* Effect.exit(s.withLock("alice", s.get("alice"))), ["get"])
        yield* s.set("alice", credentials("b"))
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-b"))
        yield* s.withLock("alice", Effect.zipRight(s.get("alice"), s.set("alice", credentials("c"))))
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-c"))
      }))
  }
})
