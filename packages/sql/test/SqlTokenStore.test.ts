import { StoreError } from "@effect-renewal/core/AuthError"
import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import { derivedKey } from "@effect-renewal/core/TokenStore"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import { backends, credentials, rawClient, refreshTokenOf, store } from "./support.js"

const encryptionKey = Redacted.make("0123456789abcdef0123456789abcdef0123456789a")

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`SqlTokenStore on ${backend.name}`, () => {
    const database = Effect.suspend(() => backend.database())

    it.scopedLive("8 clients creating the tables of a fresh database at the same moment all succeed", () =>
      Effect.gen(function*() {
        const db = yield* database
        const stores = yield* Effect.all(Array.from({ length: 8 }, () => store(db)), { concurrency: "unbounded" })
        yield* Effect.forEach(stores, (s, i) => s.set(`user${i}`, credentials(`${i}`)), { concurrency: "unbounded" })
        expect(Option.map(yield* stores[0].get("user7"), refreshTokenOf)).toEqual(Option.some("refresh-7"))
      }))

    it.scopedLive("get, set and remove round-trip; removing a missing entry succeeds", () =>
      Effect.gen(function*() {
        const db = yield* database
        const s = yield* store(db)
        expect(yield* s.get("alice")).toEqual(Option.none())
        yield* s.set("alice", credentials("a1"))
        yield* s.set("bob", credentials("b1"))
        const stored = yield* s.get("alice")
        expect(Option.map(stored, refreshTokenOf)).toEqual(Option.some("refresh-a1"))
        yield* s.set("alice", credentials("a2"))
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-a2"))
        yield* s.remove("alice")
        expect(yield* s.get("alice")).toEqual(Option.none())
        expect(Option.map(yield* s.get("bob"), refreshTokenOf)).toEqual(Option.some("refresh-b1"))
        yield* s.remove("alice")
        yield* s.remove("nobody")
        // written again after a removal
        yield* s.set("alice", credentials("a3"))
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-a3"))
      }))

    it.scopedLive("removing a session removes its derived entries, and only those", () =>
      Effect.gen(function*() {
        const db = yield* database
        const s = yield* store(db)
        const api = derivedKey("alice", "api|read")
        // store keys below a derived key, and with U+0000 and % in the rest
        const nested = `${api}\u0000x`
        const odd = "alice\u0000100%\u0000_"
        const other = derivedKey("alice2", "api|read")
        for (const key of ["alice", api, nested, odd, "alice2", other, "alic"]) {
          yield* s.set(key, credentials(key))
        }
        expect(Option.isSome(yield* s.get(odd))).toBe(true)
        // a derived entry, with those derived from it
        yield* s.remove(api)
        expect(yield* s.get(api)).toEqual(Option.none())
        expect(yield* s.get(nested)).toEqual(Option.none())
        expect(Option.isSome(yield* s.get("alice"))).toBe(true)
        expect(Option.isSome(yield* s.get(odd))).toBe(true)
        // the session with all of its entries
        yield* s.set(api, credentials("api"))
        yield* s.remove("alice")
        for (const key of ["alice", api, odd]) expect(yield* s.get(key)).toEqual(Option.none())
        for (const key of ["alice2", other, "alic"]) expect(Option.isSome(yield* s.get(key))).toBe(true)
      }))

    it.scopedLive("encrypts at rest with TokenCodec.layerEncrypted; a tampered row is a StoreError", () =>
      Effect.gen(function*() {
        const db = yield* database
        const s = yield* store(db, {}, TokenCodec.layerEncrypted(encryptionKey))
        yield* s.set("alice", credentials("secret-a"))
        const sql = yield* rawClient(db)
        const rows = yield* sql<{ readonly value: string }>`SELECT value FROM ${sql(`${db.prefix}_entries`)}`
        expect(rows).toHaveLength(1)
        expect(rows[0].value.startsWith("v1.")).toBe(true)
        expect(rows[0].value).not.toContain("secret-a")
        expect(Option.map(yield* s.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-secret-a"))

        // tampered: one character of the ciphertext changed
        const value = rows[0].value
        const last = value.at(-2) === "A" ? "B" : "A"
        const tampered = `${value.slice(0, -2)}${last}${value.slice(-1)}`
        yield* sql`UPDATE ${sql(`${db.prefix}_entries`)} SET value = ${tampered}`
        const error = yield* Effect.flip(s.get("alice"))
        expect(error).toBeInstanceOf(StoreError)
        expect(error.operation).toBe("decode")

        // with another key
        const other = yield* store(
          db,
          {},
          TokenCodec.layerEncrypted(Redacted.make("ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"))
        )
        yield* s.set("bob", credentials("b"))
        expect((yield* Effect.flip(other.get("bob")))._tag).toBe("StoreError")
        // garbage with the json codec
        const plain = yield* store(db)
        yield* sql`UPDATE ${sql(`${db.prefix}_entries`)} SET value = ${"{not json"} WHERE session_key = ${"bob"}`
        expect((yield* Effect.flip(plain.get("bob")))._tag).toBe("StoreError")
      }))

    it.scopedLive("withLock excludes another client for the same key, not for another key", () =>
      Effect.gen(function*() {
        const db = yield* database
        const a = yield* store(db)
        const b = yield* store(db)
        const aLocked = yield* Deferred.make<void>()
        const aRelease = yield* Deferred.make<void>()
        const events: Array<string> = []
        const holder = yield* a.withLock(
          "alice",
          Effect.zipRight(
            Deferred.succeed(aLocked, undefined),
            Effect.zipRight(Deferred.await(aRelease), Effect.sync(() => events.push("a released")))
          )
        ).pipe(Effect.fork)
        yield* Deferred.await(aLocked)
        const waiter = yield* b.withLock("alice", Effect.sync(() => events.push("b locked"))).pipe(Effect.fork)
        // another key is not blocked
        const start = yield* Clock.currentTimeMillis
        yield* b.withLock("bob", Effect.sync(() => events.push("b locked bob")))
        expect((yield* Clock.currentTimeMillis) - start).toBeLessThan(1000)
        yield* Effect.sleep("300 millis")
        expect(events).toEqual(["b locked bob"])
        expect(waiter.unsafePoll()).toBeNull()
        yield* Deferred.succeed(aRelease, undefined)
        yield* Fiber.join(holder)
        yield* Fiber.join(waiter)
        expect(events).toEqual(["b locked bob", "a released", "b locked"])
      }))

    it.scopedLive("a lock wait longer than lockTimeout, or the policy's deadline, is a StoreError", () =>
      Effect.gen(function*() {
        const db = yield* database
        const a = yield* store(db)
        const b = yield* store(db, { lockTimeout: "200 millis" })
        const locked = yield* Deferred.make<void>()
        yield* a.withLock("alice", Effect.zipRight(Deferred.succeed(locked, undefined), Effect.never)).pipe(
          Effect.forkScoped
        )
        yield* Deferred.await(locked)
        const start = yield* Clock.currentTimeMillis
        const error = yield* Effect.flip(b.withLock("alice", Effect.void))
        expect(error).toBeInstanceOf(StoreError)
        expect(error.operation).toBe("lock")
        expect((yield* Clock.currentTimeMillis) - start).toBeLessThan(2000)

        const c = yield* store(db)
        const viaPolicy = yield* Effect.flip(c.withLock("alice", Effect.void)).pipe(
          Effect.provide(RenewalPolicy.layer({ deadline: "300 millis" }))
        )
        expect(viaPolicy.operation).toBe("lock")
      }))

    it.scopedLive("interrupting a waiter or a holder leaves the lock free", () =>
      Effect.gen(function*() {
        const db = yield* database
        const a = yield* store(db)
        const b = yield* store(db, { lockTimeout: "3 seconds" })
        const locked = yield* Deferred.make<void>()
        const holder = yield* a.withLock("alice", Effect.zipRight(Deferred.succeed(locked, undefined), Effect.never))
          .pipe(Effect.fork)
        yield* Deferred.await(locked)
        const waiter = yield* b.withLock("alice", Effect.void).pipe(Effect.fork)
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(waiter)
        yield* Fiber.interrupt(holder)
        const start = yield* Clock.currentTimeMillis
        yield* b.withLock("alice", Effect.void)
        // released, not expired (the lease is 3 seconds)
        expect((yield* Clock.currentTimeMillis) - start).toBeLessThan(1000)
      }))

    it.scopedLive("compare-and-set: a holder whose lease expired cannot overwrite the next holder's entry", () =>
      Effect.gen(function*() {
        const db = yield* database
        const sql = yield* rawClient(db)
        // a long lease: no heartbeat during the test; the test expires it
        const a = yield* store(db, { lockLease: "60 seconds" })
        const b = yield* store(db, { lockTimeout: "5 seconds" })
        yield* a.set("alice", credentials("v1"))
        const read = yield* Deferred.make<void>()
        const wake = yield* Deferred.make<void>()
        const stale = yield* a.withLock(
          "alice",
          Effect.gen(function*() {
            yield* a.get("alice")
            yield* Deferred.succeed(read, undefined)
            // "hung" here while its lease expires and b renews
            yield* Deferred.await(wake)
            return yield* Effect.exit(a.set("alice", credentials("stale")))
          })
        ).pipe(Effect.fork)
        yield* Deferred.await(read)
        yield* sql`UPDATE ${sql(`${db.prefix}_locks`)} SET expires_at = 0`
        yield* b.withLock("alice", Effect.zipRight(b.get("alice"), b.set("alice", credentials("v2"))))
        yield* Deferred.succeed(wake, undefined)
        const exit = yield* Fiber.join(stale)
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(exit)
        expect(error).toBeInstanceOf(StoreError)
        expect(error.description).toMatch(/taken over|entry changed/)
        expect(Option.map(yield* b.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-v2"))
      }))

    it.scopedLive("a holder whose heartbeat finds its lock taken over is refused, and told so", () =>
      Effect.gen(function*() {
        const db = yield* database
        const sql = yield* rawClient(db)
        // the heartbeat warns when it finds the lock taken over
        const warned = yield* Deferred.make<void>()
        const logger = Logger.make(({ message }) => {
          if (String(message).includes("took its lock over")) Deferred.unsafeDone(warned, Exit.void)
        })
        const a = yield* store(db, { lockLease: "300 millis" })
        yield* a.set("alice", credentials("v1"))
        const error = yield* a.withLock(
          "alice",
          Effect.gen(function*() {
            yield* a.get("alice")
            yield* sql`UPDATE ${sql(`${db.prefix}_locks`)} SET owner = ${"another holder"}`
            yield* Deferred.await(warned)
            return yield* Effect.flip(a.set("alice", credentials("stale")))
          })
        ).pipe(Effect.provide(Logger.add(logger)))
        expect(error.description).toContain("taken over")
        expect(error.operation).toBe("set")
        expect(Option.map(yield* a.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-v1"))
      }))

    it.scopedLive("compare-and-set: a holder cannot overwrite or remove an entry written since it read it", () =>
      Effect.gen(function*() {
        const db = yield* database
        const a = yield* store(db)
        const b = yield* store(db)
        yield* a.set("alice", credentials("v1"))
        const error = yield* a.withLock(
          "alice",
          Effect.gen(function*() {
            yield* a.get("alice")
            // written by someone who does not take the lock
            yield* b.set("alice", credentials("other"))
            const setError = yield* Effect.flip(a.set("alice", credentials("mine")))
            const removeError = yield* Effect.flip(a.remove("alice"))
            return [setError, removeError] as const
          })
        )
        expect(error[0]).toBeInstanceOf(StoreError)
        expect(error[1]).toBeInstanceOf(StoreError)
        expect(Option.map(yield* a.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-other"))

        // a holder's own writes, reads and removals chain
        yield* a.withLock(
          "alice",
          Effect.gen(function*() {
            yield* a.get("alice")
            yield* a.set("alice", credentials("w1"))
            yield* a.set(derivedKey("alice", "api"), credentials("api"))
            yield* a.set("alice", credentials("w2"))
            yield* a.remove("alice")
            yield* a.remove("alice")
            yield* a.set("alice", credentials("w3"))
            yield* a.set(derivedKey("alice", "api"), credentials("api2"))
          })
        )
        expect(Option.map(yield* a.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-w3"))
        expect(Option.map(yield* a.get(derivedKey("alice", "api")), refreshTokenOf)).toEqual(
          Option.some("refresh-api2")
        )
      }))

    it.scopedLive("watch: another client's set and remove are seen within a second", () =>
      Effect.gen(function*() {
        const db = yield* database
        const a = yield* store(db)
        const b = yield* store(db)
        const seen = yield* Queue.unbounded<string>()
        yield* a.watch!("alice", Queue.offer(seen, "alice"))
        yield* a.watch!("bob", Queue.offer(seen, "bob"))
        const within = <A>(effect: Effect.Effect<A>) =>
          Effect.timeoutFail(effect, { duration: "1 second", onTimeout: () => "not seen within 1s" })

        yield* b.set("alice", credentials("b"))
        expect(yield* within(Queue.take(seen))).toBe("alice")
        yield* b.set(derivedKey("alice", "api"), credentials("api"))
        expect(yield* within(Queue.take(seen))).toBe("alice")
        yield* b.remove("alice")
        expect(yield* within(Queue.take(seen))).toBe("alice")
        yield* Effect.sleep("300 millis")
        // bob's watcher heard nothing of alice
        const rest = yield* Queue.takeAll(seen)
        expect([...rest].filter((name) => name === "bob")).toEqual([])
        yield* b.set("bob", credentials("b"))
        expect(yield* within(Queue.take(seen))).toBe("bob")
      }))

    if (backend.name === "pg") {
      it.scopedLive("a database that does not answer the lock's statement is waited for no longer than lockTimeout", () =>
        Effect.gen(function*() {
          const db = yield* database
          const a = yield* store(db, { lockTimeout: "500 millis" })
          const sql = yield* rawClient(db)
          // someone holds the lock table itself: every statement on it waits
          const locked = yield* Deferred.make<void>()
          const other = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
            yield* sql`LOCK TABLE ${sql(`${db.prefix}_locks`)} IN ACCESS EXCLUSIVE MODE`
            yield* Deferred.succeed(locked, undefined)
            yield* Effect.sleep("3 seconds")
          })))
          yield* Deferred.await(locked)
          const result = yield* Effect.either(a.withLock("alice", Effect.void))
          expect(result._tag === "Left" && result.left).toBeInstanceOf(StoreError)
          yield* Fiber.join(other)
        }))

      it.scopedLive("compare-and-set: a remove racing an uncommitted write waits for it, then is refused", () =>
        Effect.gen(function*() {
          const db = yield* database
          const a = yield* store(db)
          const sql = yield* rawClient(db)
          yield* a.set("alice", credentials("v1"))
          const removed = yield* a.withLock(
            "alice",
            Effect.gen(function*() {
              yield* a.get("alice")
              // someone without the lock rotates the entry in a transaction still open
              const updated = yield* Deferred.make<void>()
              const other = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
                yield* sql`UPDATE ${sql(`${db.prefix}_entries`)} SET version = version + 1
                  WHERE session_key = 'alice' AND sub_key = ''`
                yield* Deferred.succeed(updated, undefined)
                yield* Effect.sleep("300 millis")
              })))
              yield* Deferred.await(updated)
              // waits for the row; the version it read is no longer the entry's once the other commits
              const result = yield* Effect.either(a.remove("alice"))
              yield* Fiber.join(other)
              return result
            })
          )
          expect(removed._tag === "Left" && removed.left).toBeInstanceOf(StoreError)
          expect(Option.map(yield* a.get("alice"), refreshTokenOf)).toEqual(Option.some("refresh-v1"))
        }))

      it.scopedLive(
        "watch: when the LISTEN connection drops, every watcher is notified and changes are seen again",
        () =>
          Effect.gen(function*() {
            const db = yield* database
            const sql = yield* rawClient(db)
            const a = yield* store(db, { listenProbeInterval: "300 millis" })
            const b = yield* store(db)
            const seen = yield* Queue.unbounded<string>()
            yield* a.watch!("alice", Queue.offer(seen, "alice"))
            yield* a.watch!("bob", Queue.offer(seen, "bob"))
            const within = <A>(effect: Effect.Effect<A>, duration: Duration.DurationInput) =>
              Effect.timeoutFail(effect, { duration, onTimeout: () => "not seen in time" })
            const terminated = yield* sql<{ readonly pid: number }>`
            SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
            WHERE query LIKE ${`%LISTEN "${db.prefix}_changes"%`} AND pid <> pg_backend_pid()`
            expect(terminated).toHaveLength(1)
            // changes may have been missed: both watchers hear of it
            const notified = [
              yield* within(Queue.take(seen), "3 seconds"),
              yield* within(Queue.take(seen), "1 second")
            ]
            expect(notified.sort()).toEqual(["alice", "bob"])
            yield* b.set("alice", credentials("after"))
            expect(yield* within(Queue.take(seen), "1 second")).toBe("alice")
          })
      )
    }
  })
}
