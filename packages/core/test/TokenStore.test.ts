import { StoreError } from "@effect-renewal/core/AuthError"
import { Credentials } from "@effect-renewal/core/Credentials"
import * as KeyedLock from "@effect-renewal/core/internal/keyedLock"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, describe, it, layer, type Vitest } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

const ACCESS = "access-SECRET-51c0de"
const REFRESH = "refresh-SECRET-9a7e44"

const makeCredentials = (n: number) =>
  new Credentials({
    accessToken: Redacted.make(`${ACCESS}-${n}`),
    refreshToken: Redacted.make(`${REFRESH}-${n}`),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(1_700_000_000_000 + n * 1000),
    scope: "openid offline_access"
  })

const one = makeCredentials(1)
const two = makeCredentials(2)

const assertSome = (actual: Option.Option<Credentials>, expected: Credentials) => {
  assert.isTrue(Option.isSome(actual), "expected stored credentials")
  assert.isTrue(Equal.equals(Option.getOrThrow(actual), expected), "stored credentials differ")
}

const assertNoSecret = (error: unknown) => {
  for (const text of [error instanceof Error ? error.message : "", String(error), JSON.stringify(error)]) {
    assert.notInclude(text, ACCESS)
    assert.notInclude(text, REFRESH)
  }
}

/** Runs `effect`, asserts it failed with a `StoreError` (a Fail, not a defect) and returns it. */
const expectStoreError = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
    assert.isFalse(Cause.isDie(exit.cause), "expected a failure, got a defect")
    const error = Option.getOrThrow(Cause.failureOption(exit.cause))
    assert.instanceOf(error, StoreError)
    assertNoSecret(error)
    return error as StoreError
  })

/** Lets other fibers run until they block. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

/**
 * The behaviour every store shares. `makeStore` builds a fresh, empty store.
 */
const contract = <R>(
  it: Vitest.MethodsNonLive<R>,
  makeStore: Effect.Effect<TokenStore.TokenStore.Service, unknown, R | Scope.Scope>
) => {
  const scoped = it.scoped

  scoped("get, set, remove round-trip", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      assert.isTrue(Option.isNone(yield* store.get("k")))
      yield* store.set("k", one)
      assertSome(yield* store.get("k"), one)
      yield* store.set("k", two)
      assertSome(yield* store.get("k"), two)
      yield* store.remove("k")
      assert.isTrue(Option.isNone(yield* store.get("k")))
      // Removing a missing entry succeeds.
      yield* store.remove("k")
      yield* store.remove("never-set")
    }))

  scoped("removing a session removes the entries derived from it, and only those", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const api = TokenStore.derivedKey("alice", "api:orders")
      yield* store.set("alice", one)
      yield* store.set(api, two)
      yield* store.set("alice2", one)
      yield* store.set(TokenStore.derivedKey("alice2", "api:orders"), one)
      assertSome(yield* store.get(api), two)
      assert.strictEqual(TokenStore.sessionKeyOf(api), "alice")
      // a derived entry alone
      yield* store.remove(api)
      assert.isTrue(Option.isNone(yield* store.get(api)))
      assertSome(yield* store.get("alice"), one)
      yield* store.set(api, two)
      yield* store.remove("alice")
      assert.isTrue(Option.isNone(yield* store.get("alice")))
      assert.isTrue(Option.isNone(yield* store.get(api)))
      // another session whose key starts the same is untouched
      assertSome(yield* store.get("alice2"), one)
      assertSome(yield* store.get(TokenStore.derivedKey("alice2", "api:orders")), one)
    }))

  scoped("keys are isolated", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      yield* store.set("alice", one)
      yield* store.set("bob", two)
      assertSome(yield* store.get("alice"), one)
      assertSome(yield* store.get("bob"), two)
      yield* store.remove("alice")
      assert.isTrue(Option.isNone(yield* store.get("alice")))
      assertSome(yield* store.get("bob"), two)
    }))

  scoped("withLock: a second section for the key waits for the first", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const log: Array<string> = []
      const firstEntered = yield* Deferred.make<void>()
      const releaseFirst = yield* Deferred.make<void>()
      const first = yield* Effect.fork(store.withLock(
        "k",
        Effect.gen(function*() {
          log.push("first:start")
          yield* Deferred.succeed(firstEntered, undefined)
          yield* Deferred.await(releaseFirst)
          log.push("first:end")
        })
      ))
      yield* Deferred.await(firstEntered)
      const second = yield* Effect.fork(store.withLock("k", Effect.sync(() => log.push("second"))))
      yield* settle
      assert.deepStrictEqual(log, ["first:start"], "the second section ran while the first held the lock")
      yield* Deferred.succeed(releaseFirst, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.deepStrictEqual(log, ["first:start", "first:end", "second"])
    }))

  scoped("withLock: sections for one key never overlap", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      let active = 0
      let maxActive = 0
      let runs = 0
      const section = Effect.gen(function*() {
        active++
        maxActive = Math.max(maxActive, active)
        yield* settle
        runs++
        active--
      })
      yield* Effect.forEach(Array.from({ length: 20 }), () => store.withLock("k", section), {
        concurrency: "unbounded",
        discard: true
      })
      assert.strictEqual(runs, 20)
      assert.strictEqual(maxActive, 1)
    }))

  scoped("withLock: other keys are not blocked", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const entered = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        store.withLock("k", Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(never))))
      )
      yield* Deferred.await(entered)
      // Would hang (and time out) if "other" were blocked by "k".
      assert.strictEqual(yield* store.withLock("other", Effect.succeed(42)), 42)
      yield* Fiber.interrupt(holder)
    }))

  scoped("withLock: released on failure and defect", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const failed = yield* Effect.exit(store.withLock("k", Effect.fail("boom" as const)))
      assert.deepStrictEqual(failed, Exit.fail("boom"))
      const died = yield* Effect.exit(store.withLock("k", Effect.dieMessage("bug")))
      assert.isTrue(Exit.isFailure(died))
      assert.strictEqual(yield* store.withLock("k", Effect.succeed("free")), "free")
    }))

  scoped("withLock: released on interruption, of the holder and of a waiter", () =>
    Effect.gen(function*() {
      const store = yield* makeStore
      const entered = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        store.withLock("k", Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(never))))
      )
      yield* Deferred.await(entered)
      const waiter = yield* Effect.fork(store.withLock("k", Effect.succeed("waiter")))
      const interruptedWaiter = yield* Effect.fork(store.withLock("k", Effect.succeed("interrupted")))
      yield* settle
      // Interrupting a fiber that is waiting for the lock does not take or leak a permit.
      yield* Fiber.interrupt(interruptedWaiter)
      // Interrupting the holder releases the lock.
      yield* Fiber.interrupt(holder)
      assert.strictEqual(yield* Fiber.join(waiter), "waiter")
      assert.strictEqual(yield* store.withLock("k", Effect.succeed("after")), "after")
    }))
}

describe("keyedLock", () => {
  it.effect("forgets keys nobody holds or waits for", () =>
    Effect.gen(function*() {
      const lock = yield* KeyedLock.make
      yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => `key-${i}`),
        (key) => lock.withLock(key, Effect.void),
        { concurrency: 10, discard: true }
      )
      assert.strictEqual(lock.size(), 0)

      const entered = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        lock.withLock("k", Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(never))))
      )
      yield* Deferred.await(entered)
      const waiter = yield* Effect.fork(lock.withLock("k", Effect.void))
      yield* settle
      assert.strictEqual(lock.size(), 1)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(lock.size(), 1)
      yield* Fiber.interrupt(holder)
      assert.strictEqual(lock.size(), 0)
      yield* Effect.exit(lock.withLock("k", Effect.fail("boom")))
      assert.strictEqual(lock.size(), 0)
    }))

  it.effect("waiters interrupted while the lock passes never keep it: first come, first served, and then free", () =>
    Effect.gen(function*() {
      const lock = yield* KeyedLock.make
      for (let round = 0; round < 20; round++) {
        const ran: Array<number> = []
        let inside = 0
        const section = (i: number) =>
          lock.withLock(
            "k",
            Effect.suspend(() => {
              inside++
              assert.strictEqual(inside, 1, "two sections overlapped")
              ran.push(i)
              return Effect.ensuring(Effect.yieldNow(), Effect.sync(() => inside--))
            })
          )
        const fibers = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => Effect.fork(section(i)))
        // interrupt some waiters at different moments, while the lock is passed along
        yield* Effect.repeatN(Effect.yieldNow(), round % 5)
        yield* Effect.forEach(fibers.filter((_, i) => i % 3 === round % 3), Fiber.interruptFork, { discard: true })
        yield* Effect.forEach(fibers, Fiber.await, { discard: true })
        assert.deepStrictEqual(ran, [...ran].sort((a, b) => a - b), "not first come, first served")
        assert.strictEqual(lock.size(), 0)
        assert.strictEqual(yield* lock.withLock("k", Effect.succeed("free")), "free")
      }
    }))
})

describe("TokenStore.memory", () => {
  contract(it, TokenStore.makeMemory)

  it.effect("each layer is a fresh store", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set("k", one)).pipe(
        Effect.provide(TokenStore.layerMemory)
      )
      const after = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("k")).pipe(
        Effect.provide(TokenStore.layerMemory)
      )
      assert.isTrue(Option.isNone(after))
    }))
})

const NodeLayer = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)

/** A fresh directory (not yet created) inside a scoped temporary directory. */
const freshDirectory = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "token-store-" })
  return { root, directory: path.join(root, "nested", "tokens") }
})

const makeFileStore = Effect.flatMap(freshDirectory, ({ directory }) => TokenStore.makeFileSystem({ directory }))

const entryFiles = (directory: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readDirectory(directory)).pipe(
    Effect.map((names) => names.filter((name) => name.endsWith(".token")).sort())
  )

const simulatedError = (method: string) =>
  new PlatformError.SystemError({
    reason: "Unknown",
    module: "FileSystem",
    method,
    description: "simulated failure"
  })

layer(NodeLayer)("TokenStore.fileSystem", (it) => {
  describe("contract (json codec)", () => {
    contract(it, makeFileStore)
  })

  describe("contract (encrypted codec)", () => {
    contract(it, makeFileStore.pipe(Effect.provide(TokenCodec.layerEncrypted(Redacted.make(new Uint8Array(32))))))
  })

  it.scoped("creates the directory 0o700 and owner-only 0o600 entries", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      assert.strictEqual((yield* fs.stat(directory)).mode & 0o777, 0o700)
      yield* store.set("k", one)
      yield* store.set("k", two)
      const files = yield* entryFiles(directory)
      assert.strictEqual(files.length, 1)
      assert.strictEqual((yield* fs.stat(path.join(directory, files[0]))).mode & 0o777, 0o600)
      // Nothing but the entry is left behind.
      assert.deepStrictEqual(yield* fs.readDirectory(directory), files)
    }))

  it.scoped("a directory that cannot be prepared fails the store's making with StoreError open, naming the path", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { root } = yield* freshDirectory
      const file = path.join(root, "a-file")
      yield* fs.writeFileString(file, "")
      const notADirectory = yield* Effect.flip(TokenStore.makeFileSystem({ directory: file }))
      assert.deepStrictEqual([notADirectory.operation, notADirectory.key], ["open", "*"])
      assert.include(notADirectory.description, file)
      // under a file, the directory cannot be created at all
      const underAFile = yield* Effect.flip(TokenStore.makeFileSystem({ directory: path.join(file, "tokens") }))
      assert.deepStrictEqual([underAFile.operation, underAFile.key], ["open", "*"])
    }))

  it.scoped("writes JSON by default, and ciphertext with the encrypted codec", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory, root } = yield* freshDirectory
      const plain = yield* TokenStore.makeFileSystem({ directory })
      yield* plain.set("k", one)
      const [plainFile] = yield* entryFiles(directory)
      const plainContents = yield* fs.readFileString(path.join(directory, plainFile))
      assert.strictEqual(JSON.parse(plainContents).accessToken, `${ACCESS}-1`)

      const key = yield* TokenCodec.generateKey
      const encryptedDirectory = path.join(root, "encrypted")
      const encrypted = yield* TokenStore.makeFileSystem({ directory: encryptedDirectory }).pipe(
        Effect.provide(TokenCodec.layerEncrypted(key))
      )
      yield* encrypted.set("k", one)
      assertSome(yield* encrypted.get("k"), one)
      const [file] = yield* entryFiles(encryptedDirectory)
      const contents = yield* fs.readFileString(path.join(encryptedDirectory, file))
      assert.isTrue(contents.startsWith("v1."))
      assert.throws(() => JSON.parse(contents))
      assert.notInclude(contents, ACCESS)
      assert.notInclude(contents, REFRESH)

      // The plain store cannot read the encrypted entry, nor another key's store.
      const plainOverEncrypted = yield* TokenStore.makeFileSystem({ directory: encryptedDirectory })
      const error = yield* expectStoreError(plainOverEncrypted.get("k"))
      assert.strictEqual(error.operation, "decode")
      const otherKey = yield* TokenStore.makeFileSystem({ directory: encryptedDirectory }).pipe(
        Effect.provide(TokenCodec.layerEncrypted(yield* TokenCodec.generateKey))
      )
      yield* expectStoreError(otherKey.get("k"))
    }))

  it.scoped("a corrupt or empty entry is a StoreError, not a defect, and echoes nothing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      yield* store.set("k", one)
      const [file] = yield* entryFiles(directory)
      for (
        const contents of [
          "",
          "{ not json",
          JSON.stringify({ accessToken: ACCESS, refreshToken: REFRESH, tokenType: "Bearer", expiresAt: "soon" })
        ]
      ) {
        yield* fs.writeFileString(path.join(directory, file), contents)
        const error = yield* expectStoreError(store.get("k"))
        assert.strictEqual(error.operation, "decode")
        assert.strictEqual(error.key, "k")
      }
      // Overwriting a corrupt entry repairs it.
      yield* store.set("k", two)
      assertSome(yield* store.get("k"), two)
    }))

  it.scoped("an unreadable entry is a StoreError", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      yield* store.set("k", one)
      const [file] = yield* entryFiles(directory)
      // A directory where the entry should be: reading it fails (as root too).
      yield* fs.remove(path.join(directory, file))
      yield* fs.makeDirectory(path.join(directory, file))
      const error = yield* expectStoreError(store.get("k"))
      assert.strictEqual(error.operation, "get")
    }))

  it.scoped("a leftover temporary file from a crash is ignored", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      yield* store.set("k", one)
      const [file] = yield* entryFiles(directory)
      const full = yield* fs.readFileString(path.join(directory, file))
      // A write that crashed half-way, before its rename.
      yield* fs.writeFileString(path.join(directory, `${file}.0123456789abcdef.tmp`), full.slice(0, 20), {
        mode: 0o600
      })
      assertSome(yield* store.get("k"), one)
      yield* store.set("k", two)
      assertSome(yield* store.get("k"), two)
    }))

  it.scoped("temporary files a crashed write left are removed: stale ones when the store starts, a session's on remove", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      yield* store.set("k", one)
      yield* store.set("other", two)
      const names = yield* fs.readDirectory(directory)
      const crashed = (file: string, suffix: string) =>
        fs.writeFileString(path.join(directory, `${file}.${suffix}.tmp`), `{"refreshToken":"${REFRESH}"`, {
          mode: 0o600
        })
      for (const [i, file] of names.entries()) yield* crashed(file, `${i}123456789abcdef`)
      const temporary = () => Effect.map(fs.readDirectory(directory), (all) => all.filter((n) => n.endsWith(".tmp")))
      // just written: maybe a write in progress in another store, kept
      yield* TestClock.setTime(Date.now())
      yield* TokenStore.makeFileSystem({ directory })
      assert.strictEqual((yield* temporary()).length, 2)
      // removing a session removes its temporary files, not the others'
      yield* store.remove("k")
      assert.strictEqual((yield* temporary()).length, 1)
      // older than a minute when a store starts: removed
      yield* TestClock.setTime(Date.now() + 120_000)
      yield* TokenStore.makeFileSystem({ directory })
      assert.deepStrictEqual(yield* temporary(), [])
      assertSome(yield* store.get("other"), two)
    }))

  it.scoped("a failed rename leaves the previous entry intact and no temporary file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      yield* store.set("k", one)

      const failingRename = yield* TokenStore.makeFileSystem({ directory }).pipe(
        Effect.provideService(FileSystem.FileSystem, {
          ...fs,
          rename: (from, to) => from.endsWith(".tmp") ? Effect.fail(simulatedError("rename")) : fs.rename(from, to)
        })
      )
      const error = yield* expectStoreError(failingRename.set("k", two))
      assert.strictEqual(error.operation, "set")
      assert.include(error.description, "rename")
      assertSome(yield* store.get("k"), one)
      assertSome(yield* failingRename.get("k"), one)
      assert.deepStrictEqual(yield* fs.readDirectory(directory), yield* entryFiles(directory))
    }))

  it.scoped("a write that fails half-way leaves the previous entry intact", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { directory } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      yield* store.set("k", one)

      const failingWrite = yield* TokenStore.makeFileSystem({ directory }).pipe(
        Effect.provideService(FileSystem.FileSystem, {
          ...fs,
          open: (path, options) =>
            Effect.map(fs.open(path, options), (file): FileSystem.File => ({
              ...file,
              writeAll: (buffer) =>
                file.writeAll(buffer.subarray(0, Math.floor(buffer.length / 2))).pipe(
                  Effect.zipRight(Effect.fail(simulatedError("writeAll")))
                )
            }))
        })
      )
      yield* expectStoreError(failingWrite.set("k", two))
      assertSome(yield* store.get("k"), one)
      assert.deepStrictEqual(yield* fs.readDirectory(directory), yield* entryFiles(directory))

      // A brand-new entry that fails to write does not exist afterwards.
      yield* expectStoreError(failingWrite.set("new", two))
      assert.isTrue(Option.isNone(yield* store.get("new")))
    }))

  it.scoped("keys never escape the directory", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { directory, root } = yield* freshDirectory
      const store = yield* TokenStore.makeFileSystem({ directory })
      const keys = [
        "../escape",
        "../../escape",
        "/etc/passwd",
        "/tmp/x",
        "a/b/c",
        "..",
        ".",
        "",
        "C:\\Windows\\x",
        "..\\..\\x",
        TokenStore.derivedKey("Alice", "api:[\"https://api\",\"openid\"]"),
        "Alice",
        "alice",
        "x".repeat(1000)
      ]
      yield* Effect.forEach(keys, (key, i) => store.set(key, makeCredentials(i)))
      for (const [i, key] of keys.entries()) {
        assertSome(yield* store.get(key), makeCredentials(i))
      }
      const names = yield* fs.readDirectory(directory)
      assert.strictEqual(names.length, keys.length)
      // a derived entry is named after its session too, so that removing the session finds it
      for (const name of names) assert.match(name, /^[0-9a-f]{64}(\.[0-9a-f]{64})?\.token$/)
      assert.deepStrictEqual(yield* fs.readDirectory(root), ["nested"])
      assert.deepStrictEqual(yield* fs.readDirectory(path.join(root, "nested")), ["tokens"])
    }))

  it.scoped("two stores over one directory share entries and locks", () =>
    Effect.gen(function*() {
      const { directory } = yield* freshDirectory
      const a = yield* TokenStore.makeFileSystem({ directory })
      const b = yield* TokenStore.makeFileSystem({ directory })
      yield* a.set("k", one)
      assertSome(yield* b.get("k"), one)

      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const log: Array<string> = []
      const holder = yield* Effect.fork(a.withLock(
        "k",
        Deferred.succeed(entered, undefined).pipe(
          Effect.zipRight(Deferred.await(release)),
          Effect.zipRight(Effect.sync(() => log.push("a")))
        )
      ))
      yield* Deferred.await(entered)
      const waiter = yield* Effect.fork(b.withLock("k", Effect.sync(() => log.push("b"))))
      yield* settle
      assert.deepStrictEqual(log, [])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(waiter)
      assert.deepStrictEqual(log, ["a", "b"])
    }))

  it.scoped("a directory path that is a file is a StoreError", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const root = yield* fs.makeTempDirectoryScoped()
      const file = path.join(root, "file")
      yield* fs.writeFileString(file, "x")
      yield* expectStoreError(TokenStore.makeFileSystem({ directory: file }))
    }))

  it.scoped("layerFileSystem and layerFileSystemConfig provide the store", () =>
    Effect.gen(function*() {
      const { directory } = yield* freshDirectory
      yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set("k", one)).pipe(
        Effect.provide(TokenStore.layerFileSystem({ directory }))
      )
      const fromConfig = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("k")).pipe(
        Effect.provide(
          TokenStore.layerFileSystemConfig({ directory: Config.succeed(directory) })
        )
      )
      assertSome(fromConfig, one)
    }))
})
