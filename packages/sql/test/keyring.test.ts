/**
 * Keys at rest on the SQL store: re-encryption with the keyring's current
 * key (complete, interrupted then resumed, a concurrent renewal in another
 * client kept, an unknown key id reported), and hashed session keys (no
 * session key in any column of any row nor in a NOTIFY payload, watchers
 * still hear, a mismatched mode refused).
 */
import { InvalidConfiguration, StoreError } from "@effect-renewal/core/AuthError"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { derivedKey, reencrypt, TokenStore } from "@effect-renewal/core/TokenStore"
import { SqlTokenStore } from "@effect-renewal/sql"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  impostorOfAliceApi,
  noSessionTouchesAnother,
  savingAliceKeepsAliceX,
  scenario,
  type StoreKind
} from "../../core/test/support/sessionKeys.js"
import type { Database } from "./support.js"
import { backends, credentials, pgUrl, rawClient, refreshTokenOf } from "./support.js"

const rawKey = () => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
const [k0, k1, k2] = [rawKey(), rawKey(), rawKey()]
const entry = (id: string, key: string) => ({ id, key: Redacted.make<string | Uint8Array>(key) })
const ringK1 = TokenCodec.encrypted({ current: "k1", keys: [entry("k1", k1)] })
const ringK2 = TokenCodec.encrypted({ current: "k2", keys: [entry("k1", k1), entry("k2", k2)], legacy: "k1" })
const onlyK2 = TokenCodec.encrypted({ current: "k2", keys: [entry("k2", k2)] })
const hashKey = Redacted.make<string | Uint8Array>(rawKey())

const prefix = () => `keyring_${Math.random().toString(36).slice(2, 10)}`

/** A store over a new client of `db`, with `codec`. */
const storeWith = (
  db: Database,
  codec: TokenCodec.TokenCodec.Service,
  options: SqlTokenStore.Options = {}
): Effect.Effect<TokenStore.Service, StoreError | InvalidConfiguration, Scope.Scope> =>
  Layer.build(
    SqlTokenStore.layer({ tablePrefix: db.prefix, ...options }).pipe(
      Layer.provide(db.client()),
      Layer.provide(Layer.succeed(TokenCodec.TokenCodec, codec))
    )
  ).pipe(Effect.map(Context.get(TokenStore)))

const keys = Array.from({ length: 30 }, (_, i) => i % 3 === 2 ? derivedKey(`user${i}`, "orders") : `user${i}`)

const seed = (db: Database, options: SqlTokenStore.Options = {}) =>
  Effect.gen(function*() {
    const s = yield* storeWith(db, yield* ringK1, options)
    yield* Effect.forEach(keys, (key) => s.set(key, credentials(key)), { discard: true })
  })

const assertAllRead = (db: Database, codec: TokenCodec.TokenCodec.Service, options: SqlTokenStore.Options = {}) =>
  Effect.gen(function*() {
    const s = yield* storeWith(db, codec, options)
    for (const key of keys) {
      expect(Option.map(yield* s.get(key), refreshTokenOf)).toEqual(Option.some(`refresh-${key}`))
    }
  })

const values = (sql: SqlClient.SqlClient, db: Database) =>
  Effect.map(
    sql<{ readonly value: string | null }>`SELECT value FROM ${sql(`${db.prefix}_entries`)}`,
    (rows) => rows.map((row) => row.value)
  )

/** Every column of every row of the store's tables, as text. */
const everyCell = (sql: SqlClient.SqlClient, db: Database) =>
  Effect.map(
    Effect.forEach(
      ["entries", "locks", "meta"],
      (table) => sql<Record<string, unknown>>`SELECT * FROM ${sql(`${db.prefix}_${table}`)}`
    ),
    (tables) => tables.flat().flatMap((row) => Object.values(row).map(String))
  )

for (const modeName of ["clear", "hashed"] as const) {
  const options: SqlTokenStore.Options = modeName === "hashed" ? { hashSessionKeys: hashKey } : {}
  for (const backend of backends) {
    describe.skipIf(!backend.enabled)(
      `SqlTokenStore re-encryption on ${backend.name}, session keys ${modeName}`,
      () => {
        it.scopedLive("moves every entry to the current key, after which the old key can be retired", () =>
          Effect.gen(function*() {
            const db = yield* backend.database(prefix())
            yield* seed(db, options)
            const s = yield* storeWith(db, yield* ringK2, options)
            const summary = yield* Effect.provideService(reencrypt(), TokenStore, s)
            expect(summary).toEqual({ rewritten: keys.length, current: 0, failed: [] })
            const sql = yield* rawClient(db)
            for (const value of yield* values(sql, db)) expect(value?.startsWith("v2.k2.")).toBe(true)
            yield* assertAllRead(db, yield* onlyK2, options)
            expect(yield* s.reencrypt!()).toEqual({ rewritten: 0, current: keys.length, failed: [] })
          }))

        it.scopedLive("interrupted mid-way: every entry still reads, and a new run completes", () =>
          Effect.gen(function*() {
            const db = yield* backend.database(prefix())
            yield* seed(db, options)
            const ring = yield* ringK2
            const tenth = yield* Deferred.make<void>()
            let calls = 0
            const counting: TokenCodec.TokenCodec.Service = {
              ...ring,
              reencrypt: (stored, key) =>
                Effect.tap(
                  ring.reencrypt!(stored, key),
                  () => ++calls === 10 ? Deferred.succeed(tenth, undefined) : Effect.void
                )
            }
            const s = yield* storeWith(db, counting, options)
            const fiber = yield* Effect.fork(s.reencrypt!())
            yield* Deferred.await(tenth)
            yield* Fiber.interrupt(fiber)
            const sql = yield* rawClient(db)
            const moved = (yield* values(sql, db)).filter((value) => value?.startsWith("v2.k2.")).length
            expect(moved).toBeGreaterThanOrEqual(8)
            expect(moved).toBeLessThan(keys.length)
            yield* assertAllRead(db, ring, options)
            // (a lock taken by an attempt the interruption cut short is left to
            // expire with its lease: the next run waits for it)
            expect(yield* s.reencrypt!()).toEqual({ rewritten: keys.length - moved, current: moved, failed: [] })
            yield* assertAllRead(db, yield* onlyK2, options)
          }))

        it.scopedLive("a renewal by another client while the run waits for the entry's lock is kept", () =>
          Effect.gen(function*() {
            const db = yield* backend.database(prefix())
            yield* seed(db, options)
            const ring = yield* ringK2
            const target = keys[4]
            const readTarget = yield* Deferred.make<void>()
            const observed: TokenCodec.TokenCodec.Service = {
              ...ring,
              reencrypt: (stored, key) =>
                Effect.tap(
                  ring.reencrypt!(stored, key),
                  (result) =>
                    result._tag === "Rewritten" && result.key === target
                      ? Deferred.succeed(readTarget, undefined)
                      : Effect.void
                )
            }
            const s = yield* storeWith(db, observed, options)
            // another process renews: it holds the lock, and writes once the run has read the entry
            const other = yield* storeWith(db, ring, options)
            const holding = yield* Deferred.make<void>()
            const renewal = yield* Effect.fork(other.withLock(
              target,
              Effect.zipRight(
                Deferred.succeed(holding, undefined),
                Effect.zipRight(Deferred.await(readTarget), other.set(target, credentials("renewed")))
              )
            ))
            yield* Deferred.await(holding)
            const summary = yield* s.reencrypt!()
            yield* Fiber.join(renewal)
            expect(summary.failed).toEqual([])
            expect(summary.rewritten + summary.current).toBe(keys.length)
            expect(Option.map(yield* s.get(target), refreshTokenOf)).toEqual(Option.some("refresh-renewed"))
            for (
              const key of keys.filter((key) => key !== target)
            ) {
              expect(Option.map(yield* s.get(key), refreshTokenOf)).toEqual(Option.some(`refresh-${key}`))
            }
          }))

        it.scopedLive("API credentials wait for the session's lock, the one a renewal writes them under", () =>
          Effect.gen(function*() {
            const db = yield* backend.database(prefix())
            yield* seed(db, options)
            const ring = yield* ringK2
            const target = keys[2] // derivedKey("user2", "orders")
            let before: string | undefined = undefined
            const readTarget = yield* Deferred.make<void>()
            const observed: TokenCodec.TokenCodec.Service = {
              ...ring,
              reencrypt: (stored, key) =>
                Effect.tap(ring.reencrypt!(stored, key), (result) => {
                  if (result._tag !== "Rewritten" || result.key !== target) return Effect.void
                  before = stored
                  return Deferred.succeed(readTarget, undefined)
                })
            }
            const s = yield* storeWith(db, observed, options)
            // another process renews the session's API credentials under the session's lock, as the Renewer does
            const other = yield* storeWith(db, ring, options)
            const holding = yield* Deferred.make<void>()
            const sql = yield* rawClient(db)
            const renewal = yield* Effect.fork(other.withLock(
              "user2",
              Effect.gen(function*() {
                yield* Deferred.succeed(holding, undefined)
                yield* Deferred.await(readTarget)
                yield* Effect.sleep("300 millis")
                // the run has not written the entry while the session's lock is held
                expect(yield* values(sql, db)).toContain(before)
                yield* other.set(target, credentials("renewed"))
              })
            ))
            yield* Deferred.await(holding)
            const summary = yield* s.reencrypt!()
            yield* Fiber.join(renewal)
            expect(summary.failed).toEqual([])
            expect(summary.rewritten + summary.current).toBe(keys.length)
            expect(Option.map(yield* s.get(target), refreshTokenOf)).toEqual(Option.some("refresh-renewed"))
          }))

        it.scopedLive("an entry whose key id the keyring lacks is reported, named without its session key, and kept", () =>
          Effect.gen(function*() {
            const db = yield* backend.database(prefix())
            yield* seed(db, options)
            const k0Codec = yield* TokenCodec.encrypted({ current: "k0", keys: [entry("k0", k0)] })
            yield* (yield* storeWith(db, k0Codec, options)).set("carol@example.com", credentials("carol"))
            const s = yield* storeWith(db, yield* ringK2, options)
            const summary = yield* s.reencrypt!()
            expect(summary.rewritten).toBe(keys.length)
            expect(summary.failed).toHaveLength(1)
            const [failure] = summary.failed
            expect(failure.error).toBeInstanceOf(StoreError)
            expect(failure.error.message).toContain(`"k0"`)
            expect(failure.entry).not.toContain("carol")
            for (const key of [k0, k1, k2]) expect(JSON.stringify(summary)).not.toContain(key)
            // kept: it still reads with its key
            const carol = yield* (yield* storeWith(db, k0Codec, options)).get("carol@example.com")
            expect(Option.map(carol, refreshTokenOf)).toEqual(Option.some("refresh-carol"))
          }))
      }
    )
  }
}

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`SqlTokenStore on ${backend.name}: re-encryption of v1 entries`, () => {
    it.scopedLive("in clear mode, v1 entries of the single-key codec move to the keyring's current key", () =>
      Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        const single = yield* storeWith(db, yield* TokenCodec.encrypted(Redacted.make(k1)))
        yield* Effect.forEach(keys, (key) => single.set(key, credentials(key)), { discard: true })
        const summary = yield* (yield* storeWith(db, yield* ringK2)).reencrypt!()
        expect(summary).toEqual({ rewritten: keys.length, current: 0, failed: [] })
        yield* assertAllRead(db, yield* onlyK2)
      }))

    it.scopedLive("in hashed mode, v1 entries are reported, and move when their keys are given", () =>
      Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        const options = { hashSessionKeys: hashKey }
        const single = yield* storeWith(db, yield* TokenCodec.encrypted(Redacted.make(k1)), options)
        yield* Effect.forEach(keys, (key) => single.set(key, credentials(key)), { discard: true })
        const s = yield* storeWith(db, yield* ringK2, options)
        const reported = yield* s.reencrypt!()
        expect(reported.rewritten).toBe(0)
        expect(reported.failed).toHaveLength(keys.length)
        expect(reported.failed[0].error.message).toContain("v1 entry")
        const given = yield* s.reencrypt!({ keys: [...keys, "nobody"] })
        expect(given).toEqual({ rewritten: keys.length, current: 0, failed: [] })
        yield* assertAllRead(db, yield* onlyK2, options)
      }))

    it.scopedLive("a store whose codec has no keys refuses with InvalidConfiguration", () =>
      Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        const s = yield* storeWith(db, TokenCodec.json)
        expect(yield* Effect.flip(s.reencrypt!())).toBeInstanceOf(InvalidConfiguration)
      }))
  })

  describe.skipIf(!backend.enabled)(`SqlTokenStore on ${backend.name}: hashed session keys`, () => {
    const email = "alice.liddell@example.com"
    const api = derivedKey(email, "orders-api")
    const nested = `${api}\u0000refresh-scope`
    const hashed = { hashSessionKeys: hashKey }

    it.scopedLive("no session key, nor a derived key's name, in any column of any row", () =>
      Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        const s = yield* storeWith(db, yield* ringK2, hashed)
        yield* s.set(email, credentials("a"))
        yield* s.set(api, credentials("api"))
        yield* s.set(nested, credentials("nested"))
        yield* s.set("bob", credentials("b"))
        yield* s.remove("bob")
        const sql = yield* rawClient(db)
        const scan = Effect.gen(function*() {
          const cells = yield* everyCell(sql, db)
          expect(cells.length).toBeGreaterThan(10)
          for (const cell of cells) {
            for (const clear of ["alice", "liddell", "example.com", "orders-api", "refresh-scope", "bob"]) {
              expect(cell).not.toContain(clear)
            }
          }
        })
        yield* scan
        // while locks are held (their rows name lock keys)
        yield* s.withLock(email, s.withLock(api, scan))
        // and it all reads back, derived entries removed with their session
        expect(Option.map(yield* s.get(nested), refreshTokenOf)).toEqual(Option.some("refresh-nested"))
        yield* s.remove(api)
        expect(yield* s.get(nested)).toEqual(Option.none())
        expect(Option.map(yield* s.get(email), refreshTokenOf)).toEqual(Option.some("refresh-a"))
        yield* s.set(api, credentials("api"))
        yield* s.remove(email)
        expect(yield* s.get(api)).toEqual(Option.none())
      }))

    it.scopedLive("watchers in another client still hear of changes", () =>
      Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        const codec = yield* ringK2
        const a = yield* storeWith(db, codec, hashed)
        const b = yield* storeWith(db, codec, hashed)
        const heard = yield* Queue.unbounded<string>()
        yield* a.watch!(email, Queue.offer(heard, email))
        yield* a.watch!("bob", Queue.offer(heard, "bob"))
        yield* b.set(api, credentials("api"))
        expect(yield* Queue.take(heard).pipe(Effect.timeout("5 seconds"))).toBe(email)
        yield* b.remove(email)
        expect(yield* Queue.take(heard).pipe(Effect.timeout("5 seconds"))).toBe(email)
        expect(yield* Queue.size(heard)).toBe(0)
      }))

    it.scopedLive("a store of another mode or hash key is refused; hashed mode refuses tables with clear keys and the json codec", () =>
      Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        const codec = yield* ringK2
        yield* (yield* storeWith(db, codec, hashed)).set(email, credentials("a"))
        const open = (options: SqlTokenStore.Options) => Effect.flip(storeWith(db, codec, options))
        const clearOverHashed = yield* open({})
        expect(clearOverHashed).toBeInstanceOf(StoreError)
        expect((clearOverHashed as StoreError).operation).toBe("open")
        expect(clearOverHashed.message).toContain("hashed")
        const otherKey = yield* open({ hashSessionKeys: Redacted.make(rawKey()) })
        expect((otherKey as StoreError).operation).toBe("open")
        expect(otherKey.message).not.toContain(Redacted.value(hashKey) as string)

        const clearDb = yield* backend.database(prefix())
        yield* (yield* storeWith(clearDb, codec)).set(email, credentials("a"))
        const hashedOverClear = yield* Effect.flip(storeWith(clearDb, codec, hashed))
        expect((hashedOverClear as StoreError).operation).toBe("open")

        const freshDb = yield* backend.database(prefix())
        expect(yield* Effect.flip(storeWith(freshDb, TokenCodec.json, hashed))).toBeInstanceOf(InvalidConfiguration)
        expect(yield* Effect.flip(storeWith(freshDb, codec, { hashSessionKeys: Redacted.make("short") })))
          .toBeInstanceOf(InvalidConfiguration)
      }))

    const kind: StoreKind = {
      name: `${backend.name} hashed`,
      make: Effect.gen(function*() {
        const db = yield* backend.database(prefix())
        return { store: yield* storeWith(db, yield* ringK2, hashed) }
      }).pipe(Effect.orDie)
    }
    it.scopedLive("session key scenarios hold in hashed mode: alice and alice\\u0000x apart", () =>
      savingAliceKeepsAliceX(kind))
    it.scopedLive("session key scenarios hold in hashed mode: an impostor of alice's API entry", () =>
      impostorOfAliceApi(kind))
    it.live.prop(
      "session key scenarios hold in hashed mode: no operation on one session touches another's entries",
      [scenario],
      ([[sessions, operations]]) => noSessionTouchesAnother(kind, sessions, operations),
      { fastCheck: { numRuns: 10 } }
    )
  })
}

describe.skipIf(!backends[1].enabled)("SqlTokenStore hashed session keys: NOTIFY payloads", () => {
  it.scopedLive("name no session key, and watchers map them back", () =>
    Effect.gen(function*() {
      const db = yield* backends[1].database(prefix())
      const codec = yield* ringK2
      const s = yield* storeWith(db, codec, { hashSessionKeys: hashKey })
      const pg = yield* Effect.map(
        Layer.build(Layer.orDie(PgClient.layer({ url: Redacted.make(pgUrl) }))),
        Context.get(PgClient.PgClient)
      )
      const payloads: Array<string> = []
      yield* Effect.forkScoped(
        Stream.runForEach(pg.listen(`${db.prefix}_changes`), (payload) => Effect.sync(() => payloads.push(payload)))
      )
      // LISTEN is in force once a probe comes back
      yield* pg`SELECT pg_notify(${`${db.prefix}_changes`}, 'test-probe')`.pipe(
        Effect.zipRight(Effect.sleep("50 millis")),
        Effect.repeat({ until: () => payloads.includes("test-probe") }),
        Effect.timeout("5 seconds")
      )
      const email = "bob.builder@example.org"
      yield* s.set(email, credentials("b"))
      yield* s.set(derivedKey(email, "orders-api"), credentials("api"))
      yield* s.remove(email)
      yield* Effect.sleep("300 millis")
      const changes = payloads.filter((payload) => payload !== "test-probe")
      expect(changes.length).toBeGreaterThanOrEqual(3)
      for (const payload of changes) {
        for (const clear of ["bob", "builder", "example.org", "orders-api"]) expect(payload).not.toContain(clear)
      }
    }))
})
