/**
 * Re-encryption of the file store: every entry moves to the keyring's
 * current key, one at a time, under the store's lock, atomically; an
 * interrupted run leaves every entry readable and a second run finishes; a
 * renewal during the run is never replaced by a stale copy; an entry it
 * cannot open is reported and left alone, named by its file, never by its
 * session key.
 */
import { InvalidConfiguration } from "@effect-renewal/core/AuthError"
import { Credentials } from "@effect-renewal/core/Credentials"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, describe, layer } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Equal from "effect/Equal"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const credentials = (n: number) =>
  new Credentials({
    accessToken: Redacted.make(`access-${n}`),
    refreshToken: Redacted.make(`refresh-${n}`),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(1_700_000_000_000 + n * 1000)
  })

const rawKey = () => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
const [k0, k1, k2] = [rawKey(), rawKey(), rawKey()]
const entry = (id: string, key: string) => ({ id, key: Redacted.make<string | Uint8Array>(key) })
const ringK1 = { current: "k1", keys: [entry("k1", k1)] }
const ringK2 = { current: "k2", keys: [entry("k1", k1), entry("k2", k2)] }
const onlyK2 = { current: "k2", keys: [entry("k2", k2)] }

const directory = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "reencrypt-" }))

const storeWith = (dir: string, codec: TokenCodec.TokenCodec.Service) =>
  Effect.provideService(TokenStore.makeFileSystem({ directory: dir }), TokenCodec.TokenCodec, codec)

const contents = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = (yield* fs.readDirectory(dir)).sort()
    return yield* Effect.forEach(names, (name) =>
      Effect.map(fs.readFileString(path.join(dir, name)), (text) => ({ name, text })))
  })

const keys = Array.from(
  { length: 40 },
  (_, i) => i % 4 === 3 ? TokenStore.derivedKey(`user${i}`, "orders") : `user${i}`
)

const seed = (dir: string) =>
  Effect.gen(function*() {
    const store = yield* storeWith(dir, yield* TokenCodec.encrypted(ringK1))
    yield* Effect.forEach(keys, (key, i) => store.set(key, credentials(i)), { discard: true })
  })

/** Every entry reads with `codec`, as it was written. */
const assertAllRead = (dir: string, codec: TokenCodec.TokenCodec.Service) =>
  Effect.gen(function*() {
    const store = yield* storeWith(dir, codec)
    for (const [i, key] of keys.entries()) {
      const read = yield* store.get(key)
      assert.isTrue(Option.isSome(read) && Equal.equals(read.value, credentials(i)), `entry ${i}`)
    }
  })

layer(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))("TokenStore.reencrypt (file store)", (it) => {
  it.scoped("moves every entry to the current key, after which the old key can be retired", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      yield* seed(dir)
      const store = yield* storeWith(dir, yield* TokenCodec.encrypted(ringK2))
      const summary = yield* Effect.provideService(TokenStore.reencrypt(), TokenStore.TokenStore, store)
      assert.deepStrictEqual(summary, { rewritten: keys.length, current: 0, failed: [] })
      for (const { text } of yield* contents(dir)) assert.isTrue(text.startsWith("v2.k2."))
      yield* assertAllRead(dir, yield* TokenCodec.encrypted(onlyK2))
      // a second run has nothing to do
      assert.deepStrictEqual(yield* store.reencrypt!(), { rewritten: 0, current: keys.length, failed: [] })
    }))

  it.scoped("interrupted mid-way: every entry still reads, no temporary file is left, and a new run completes", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      yield* seed(dir)
      const ring = yield* TokenCodec.encrypted(ringK2)
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
      const store = yield* storeWith(dir, counting)
      const fiber = yield* Effect.fork(store.reencrypt!())
      yield* Deferred.await(tenth)
      yield* Fiber.interrupt(fiber)
      const files = yield* contents(dir)
      assert.isTrue(files.every(({ name }) => name.endsWith(".token")), "a temporary file was left")
      const moved = files.filter(({ text }) => text.startsWith("v2.k2.")).length
      assert.isTrue(moved >= 9 && moved < keys.length, `moved ${moved}`)
      yield* assertAllRead(dir, ring)
      const summary = yield* store.reencrypt!()
      assert.deepStrictEqual(summary, { rewritten: keys.length - moved, current: moved, failed: [] })
      yield* assertAllRead(dir, yield* TokenCodec.encrypted(onlyK2))
    }))

  it.scoped("a renewal written while the run waits for the entry's lock is kept, not replaced by a stale copy", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      yield* seed(dir)
      const ring = yield* TokenCodec.encrypted(ringK2)
      const target = keys[0]
      const firstRead = yield* Deferred.make<void>()
      const observed: TokenCodec.TokenCodec.Service = {
        ...ring,
        reencrypt: (stored, key) =>
          Effect.tap(
            ring.reencrypt!(stored, key),
            (result) =>
              key === undefined && result._tag === "Rewritten" && result.key === target
                ? Deferred.succeed(firstRead, undefined)
                : Effect.void
          )
      }
      const store = yield* storeWith(dir, observed)
      const renewed = credentials(1000)
      // (the run reads the entries in the order of their file names: the
      // target is not the first)
      // a renewal holds the entry's lock; it writes once the run has read the entry
      const holding = yield* Deferred.make<void>()
      const renewal = yield* Effect.fork(store.withLock(
        target,
        Effect.zipRight(
          Deferred.succeed(holding, undefined),
          Effect.zipRight(Deferred.await(firstRead), store.set(target, renewed))
        )
      ))
      yield* Deferred.await(holding)
      const summary = yield* store.reencrypt!()
      yield* Fiber.join(renewal)
      assert.strictEqual(summary.failed.length, 0)
      assert.strictEqual(summary.rewritten + summary.current, keys.length)
      const read = yield* store.get(target)
      assert.isTrue(Option.isSome(read) && Equal.equals(read.value, renewed), "the renewal was overwritten")
      yield* Effect.forEach(
        keys.slice(1),
        (key, i) =>
          Effect.map(
            store.get(key),
            (read) => assert.isTrue(Option.isSome(read) && Equal.equals(read.value, credentials(i + 1)))
          )
      )
    }))

  it.scoped("an entry whose key the keyring lacks, or a v1 entry, is reported and left as it is", () =>
    Effect.gen(function*() {
      const dir = yield* directory
      yield* seed(dir)
      yield* (yield* storeWith(dir, yield* TokenCodec.encrypted({ current: "k0", keys: [entry("k0", k0)] }))).set(
        "carol",
        credentials(7)
      )
      yield* (yield* storeWith(dir, yield* TokenCodec.encrypted(Redacted.make(k1)))).set("dave", credentials(8))
      const before = yield* contents(dir)
      const ring = yield* TokenCodec.encrypted({ ...ringK2, legacy: "k1" })
      const summary = yield* (yield* storeWith(dir, ring)).reencrypt!()
      assert.strictEqual(summary.rewritten, keys.length)
      assert.strictEqual(summary.failed.length, 2)
      const messages = summary.failed.map(({ error }) => error.message).join("\n")
      assert.include(messages, `"k0"`)
      assert.include(messages, "v1 entry")
      for (const key of [k0, k1, k2, "carol", "dave"]) assert.notInclude(messages, key)
      for (const { entry } of summary.failed) assert.match(entry, /^[0-9a-f]{64}\.token$/)
      // left byte for byte as they were
      const after = yield* contents(dir)
      for (const { entry: name } of summary.failed) {
        assert.strictEqual(after.find((f) => f.name === name)?.text, before.find((f) => f.name === name)?.text)
      }
      // dave's v1 entry still reads with the legacy key, and moves when its key is given
      const store = yield* storeWith(dir, ring)
      assert.isTrue(Option.isSome(yield* store.get("dave")))
      const given = yield* store.reencrypt!({ keys: [TokenStore.entryKey("dave"), "nobody"] })
      assert.strictEqual(given.rewritten, 1)
      assert.strictEqual(given.failed.length, 1)
      assert.include(given.failed[0].error.message, `"k0"`)
      const dave = yield* (yield* storeWith(dir, yield* TokenCodec.encrypted(onlyK2))).get("dave")
      assert.isTrue(Option.isSome(dave) && Equal.equals(dave.value, credentials(8)))
    }))

  it.scoped("a failure is named by its file, never by the session key learnt from the entry (or given)", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* directory
      const email = "alice.liddell@example.com"
      const old = yield* storeWith(dir, yield* TokenCodec.encrypted(ringK1))
      yield* old.set(email, credentials(1))
      const [aliceFile] = (yield* fs.readDirectory(dir)).filter((name) => name.endsWith(".token"))
      yield* old.set("bob", credentials(2))
      // an operator restores alice's file under bob's name (or an attacker copies it there)
      const bobFile = (yield* fs.readDirectory(dir)).find((name) => name.endsWith(".token") && name !== aliceFile)!
      yield* fs.writeFileString(path.join(dir, bobFile), yield* fs.readFileString(path.join(dir, aliceFile)))
      // and a v1 entry, under a key the keyring lacks, whose store key is given
      const mallory = "mallory@example.com"
      yield* (yield* storeWith(dir, yield* TokenCodec.encrypted(Redacted.make(k0)))).set(mallory, credentials(3))
      const ring = yield* TokenCodec.encrypted({ ...ringK2, legacy: "k1" })
      const summary = yield* (yield* storeWith(dir, ring)).reencrypt!({ keys: [TokenStore.entryKey(mallory)] })
      assert.strictEqual(summary.rewritten, 1)
      assert.strictEqual(summary.failed.length, 2)
      assert.include(summary.failed.map(({ error }) => error.description).join("\n"), "moved or copied")
      for (const { entry, error } of summary.failed) {
        assert.match(entry, /^[0-9a-f]{64}\.token$/)
        assert.strictEqual(error.key, entry)
        for (const text of [error.key, error.message, String(error), JSON.stringify(error)]) {
          assert.notInclude(text, email)
          assert.notInclude(text, mallory)
        }
      }
    }))

  describe("refusals", () => {
    it.scoped("a store whose codec has no keys, or the memory store, refuses with InvalidConfiguration", () =>
      Effect.gen(function*() {
        const dir = yield* directory
        const plain = yield* TokenStore.makeFileSystem({ directory: dir })
        const error = yield* Effect.flip(plain.reencrypt!())
        assert.instanceOf(error, InvalidConfiguration)
        const memory = yield* Effect.flip(Effect.provide(TokenStore.reencrypt(), TokenStore.layerMemory))
        assert.instanceOf(memory, InvalidConfiguration)
      }))
  })
})
