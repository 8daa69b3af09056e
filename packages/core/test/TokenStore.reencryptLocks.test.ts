/**
 * The file store's re-encryption rewrites a derived entry (API credentials)
 * under the lock of its session, the one the Renewer writes that entry under
 * (`store.withLock(sessionKey, ...)`, renewer.ts): locked by the entry's own
 * key, the two would not exclude each other, and a stale re-encrypted copy
 * could replace API credentials renewed meanwhile.
 */
import { Credentials } from "@effect-renewal/core/Credentials"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, layer } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Equal from "effect/Equal"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestServices from "effect/TestServices"

const credentials = (n: number) =>
  new Credentials({
    accessToken: Redacted.make(`access-${n}`),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(1_700_000_000_000 + n * 1000)
  })

const rawKey = () => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32)))
const [k1, k2] = [rawKey(), rawKey()]
const entry = (id: string, key: string) => ({ id, key: Redacted.make<string | Uint8Array>(key) })

layer(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))("file store reencrypt vs derived entries", (it) => {
  it.scoped("API credentials renewed under the session's lock are not replaced by a stale re-encrypted copy", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "keyring-reencrypt-" })
      const session = "alice"
      const api = TokenStore.derivedKey(session, "orders")
      const storeWith = (codec: TokenCodec.TokenCodec.Service, files: FileSystem.FileSystem) =>
        TokenStore.makeFileSystem({ directory: dir }).pipe(
          Effect.provideService(TokenCodec.TokenCodec, codec),
          Effect.provideService(FileSystem.FileSystem, files)
        )
      const old = yield* storeWith(yield* TokenCodec.encrypted({ current: "k1", keys: [entry("k1", k1)] }), fs)
      yield* old.set(api, credentials(1))
      const [apiFile] = (yield* fs.readDirectory(dir)).filter((name) => name.endsWith(".token"))
      yield* old.set(session, credentials(0))

      // the re-encryption's file system pauses just before it renames over the API entry
      const atRename = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const paused: FileSystem.FileSystem = {
        ...fs,
        rename: (from, to) =>
          to === path.join(dir, apiFile)
            ? Effect.zipRight(
              Deferred.succeed(atRename, undefined),
              Effect.zipRight(Deferred.await(gate), fs.rename(from, to))
            )
            : fs.rename(from, to)
      }
      const ring = yield* TokenCodec.encrypted({ current: "k2", keys: [entry("k1", k1), entry("k2", k2)] })
      const rotating = yield* storeWith(ring, paused)
      const app = yield* storeWith(ring, fs)
      const run = yield* Effect.fork(rotating.reencrypt!())
      yield* Deferred.await(atRename)
      // meanwhile the Renewer renews the API credentials, under the session's lock, as renewal.ts does:
      // it must wait for the re-encryption's write
      const renewal = yield* Effect.fork(app.withLock(session, app.set(api, credentials(2))))
      const early = yield* TestServices.provideLive(
        Fiber.await(renewal).pipe(Effect.timeout("300 millis"), Effect.option)
      )
      assert.isTrue(Option.isNone(early), "the renewal wrote while the re-encryption was about to write")
      yield* Deferred.succeed(gate, undefined)
      const summary = yield* Fiber.join(run)
      yield* Fiber.join(renewal)
      assert.deepStrictEqual(summary.failed, [])
      const read = yield* app.get(api)
      assert.isTrue(
        Option.isSome(read) && Equal.equals(read.value, credentials(2)),
        "the renewed API credentials were replaced by a stale copy"
      )
    }))
})
