import * as StoreKey from "@effect-renewal/cli/StoreKey"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as FileCodec from "../src/internal/fileCodec.js"
import * as Harness from "./support/harness.js"

const clientId = "cli-rotate"

const tempHome = () => Harness.tempHome("rotate")

const run = Harness.run

const Env = Layer.merge(NodeContext.layer, Emulator.layerMemory({ clientId, devicePollingInterval: "1 second" }))

const login = (dirs: ReadonlyArray<string>) =>
  Effect.map(Harness.login({ clientId, dirs, user: { username: "ada" } }), (ran) => expect(ran.code).toBe(0))

/** Runs `statement` on the SQLite store of `stateDir`, as it is on the disk. */
const sql = <A>(stateDir: string, statement: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, statement).pipe(
    Effect.provide(SqliteClient.layer({ filename: path.join(stateDir, "credentials.db") })),
    Effect.orDie
  )

/** The raw rows of the SQLite store. */
const rows = (stateDir: string) =>
  sql(stateDir, (sql) =>
    sql<{ session_key: string; sub_key: string; value: string }>`
      SELECT session_key, sub_key, value FROM effect_renewal_entries WHERE value IS NOT NULL`).pipe(
      // every test has entries: `every` over none would prove nothing
      Effect.filterOrDie((rows) => rows.length > 0, () => new Error("the store has no entry"))
    )

const keyFile = (stateDir: string) =>
  JSON.parse(fs.readFileSync(StoreKey.filePath(stateDir), "utf8")) as {
    current: string
    keys: Array<{ id: string; key: string }>
  }

const summary =
  /^effect-renewal: key (\S+) is current; (\d+) entr(?:y|ies) rewritten, (\d+) already current, (\d+) failed; /

describe("store rotate-key", () => {
  it.live("a new key, every entry under it, the token still works; --retire removes the old key", () =>
    Effect.gen(function*() {
      const { dirs, stateDir } = tempHome()
      yield* login(dirs)
      const first = keyFile(stateDir)
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith(`v2.${first.current}.`))).toBe(true)
      const token = (yield* run(["token", ...dirs])).stdout

      const rotated = yield* run(["store", "rotate-key", ...dirs])
      expect(rotated.code).toBe(0)
      expect(rotated.stdout).toBe("")
      const [, id, rewritten, current, failed] = summary.exec(rotated.stderr)!
      expect([rewritten, current, failed]).toEqual([String((yield* rows(stateDir)).length), "0", "0"])
      expect(TokenCodec.isKeyId(id!)).toBe(true)
      const second = keyFile(stateDir)
      expect(second.current).toBe(id)
      expect(second.keys.map((k) => k.id)).toEqual([first.current, id])
      expect(fs.statSync(StoreKey.filePath(stateDir)).mode & 0o777).toBe(0o600)
      for (const k of second.keys) expect(rotated.stderr).not.toContain(k.key)
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith(`v2.${id}.`))).toBe(true)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })

      const retired = yield* run(["store", "rotate-key", "--retire", ...dirs])
      expect(retired.code).toBe(0)
      expect(retired.stderr).toContain(`old keys removed (${first.current}, ${id})`)
      const third = keyFile(stateDir)
      expect(third.keys).toHaveLength(1)
      expect(third.keys[0]!.id).toBe(third.current)
      expect(JSON.stringify(third)).not.toContain(first.keys[0]!.key)
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith(`v2.${third.current}.`))).toBe(true)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })
      expect(fs.readdirSync(stateDir).sort()).toEqual(["credentials.db", "store.key"])
    }).pipe(Effect.provide(Env)))

  it.live("an entry the single-key form wrote (v1) is read, and moved to the new key", () =>
    Effect.gen(function*() {
      const { dirs, stateDir } = tempHome()
      yield* login(dirs)
      const token = (yield* run(["token", ...dirs])).stdout
      // as the command wrote it before it used keyrings: the single key of the file
      const store = SqlTokenStore.layerSqlite({ filename: path.join(stateDir, "credentials.db") })
      const entry = TokenStore.entryKey("default")
      const credentials = yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.get(entry)).pipe(
        Effect.provide(store.pipe(Layer.provide(TokenCodec.layerEncrypted(yield* StoreKey.loadKeyring(stateDir)))))
      )
      yield* Effect.flatMap(TokenStore.TokenStore, (s) => s.set(entry, Option.getOrThrow(credentials))).pipe(
        Effect.provide(store.pipe(Layer.provide(TokenCodec.layerEncrypted(yield* StoreKey.load(stateDir)))))
      )
      expect((yield* rows(stateDir)).some((row) => row.value.startsWith("v1."))).toBe(true)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })

      const rotated = yield* run(["store", "rotate-key", "--retire", ...dirs])
      expect(rotated.code).toBe(0)
      const id = keyFile(stateDir).current
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith(`v2.${id}.`))).toBe(true)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })
    }).pipe(Effect.provide([Env, NodeContext.layer])))

  it.live("interrupted after the key file was written: nothing lost, a rerun finishes", () =>
    Effect.gen(function*() {
      const { dirs, stateDir } = tempHome()
      yield* login(dirs)
      const token = (yield* run(["token", ...dirs])).stdout
      // what an interrupted run leaves: the new key current, the old kept, no entry moved
      const before = yield* StoreKey.loadFile(stateDir)
      const fresh = StoreKey.generateKey()
      yield* StoreKey.write(stateDir, { version: 1, current: fresh.id, keys: [...before.keys, fresh] })
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith(`v2.${before.current}.`))).toBe(true)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })

      const rerun = yield* run(["store", "rotate-key", ...dirs])
      expect(rerun.code).toBe(0)
      const after = keyFile(stateDir)
      expect(after.keys.map((k) => k.id)).toEqual([before.current, fresh.id, after.current])
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith(`v2.${after.current}.`))).toBe(true)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })
    }).pipe(Effect.provide(Env)))

  it.live("an entry under a key the file lacks: exit 1, reported, --retire keeps the old keys; a rerun finishes", () =>
    Effect.gen(function*() {
      const { dirs, stateDir } = tempHome()
      yield* login(dirs)
      const token = (yield* run(["token", ...dirs])).stdout
      yield* sql(
        stateDir,
        (sql) =>
          sql`INSERT INTO effect_renewal_entries (session_key, sub_key, value, version, revision, updated_at)
          VALUES ('ghost', '', 'v2.gone.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1, 1, 0)`
      )
      const first = keyFile(stateDir)

      const failed = yield* run(["store", "rotate-key", "--retire", ...dirs])
      expect(failed.code).toBe(1)
      const [, id, , , count] = summary.exec(failed.stderr)!
      expect(count).toBe("1")
      expect(failed.stderr).toContain(`old keys kept (${first.current})`)
      expect(keyFile(stateDir).keys.map((k) => k.id)).toEqual([first.current, id])
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })

      yield* sql(stateDir, (sql) => sql`DELETE FROM effect_renewal_entries WHERE session_key = 'ghost'`)
      const rerun = yield* run(["store", "rotate-key", "--retire", ...dirs])
      expect(rerun.code).toBe(0)
      expect(keyFile(stateDir).keys).toHaveLength(1)
      expect(yield* run(["token", ...dirs])).toMatchObject({ code: 0, stdout: token })
    }).pipe(Effect.provide(Env)))

  it.live("a process that started before the rotation follows it: it reads the moved entry, writes under the new key", () =>
    Effect.gen(function*() {
      const { dirs, stateDir } = tempHome()
      yield* login(dirs)
      const token = (yield* run(["token", ...dirs])).stdout
      // a process's codec, made before the rotation (the key file then held one key)
      const codec = yield* FileCodec.make(stateDir)
      const entry = TokenStore.entryKey("default")
      const before = (yield* rows(stateDir)).find((row) => row.sub_key === "")!
      const credentials = yield* codec.decode(entry, before.value)

      expect((yield* run(["store", "rotate-key", "--retire", ...dirs])).code).toBe(0)
      const id = keyFile(stateDir).current
      const moved = (yield* rows(stateDir)).find((row) => row.sub_key === "")!
      expect(moved.value.startsWith(`v2.${id}.`)).toBe(true)
      expect(Redacted.value((yield* codec.decode(entry, moved.value)).accessToken)).toBe(token)
      // its renewal is written under the new key, which the key file holds (the old one is retired)
      const written = yield* codec.encode(entry, credentials)
      expect(written.startsWith(`v2.${id}.`)).toBe(true)
      const fresh = yield* TokenCodec.encrypted(yield* StoreKey.loadKeyring(stateDir))
      expect(Redacted.value((yield* fresh.decode(entry, written)).accessToken)).toBe(token)
    }).pipe(Effect.provide(Env)))

  it.live("keys from the environment are refused (exit 2), with the procedure's pointer; the keyring and single-key variables work", () =>
    Effect.gen(function*() {
      const { dirs, stateDir } = tempHome()
      const key = Redacted.value(yield* TokenCodec.generateKey)
      const single = yield* run(["store", "rotate-key", ...dirs]).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EFFECT_RENEWAL_STORE_KEY", key]])))
      )
      expect(single.code).toBe(2)
      expect(single.stderr).toContain("security.md#key-rotation")
      expect(single.stderr).not.toContain(key)
      expect(fs.existsSync(StoreKey.filePath(stateDir))).toBe(false)

      const ring = ConfigProvider.fromMap(
        new Map([["EFFECT_RENEWAL_STORE_KEYS", `a:${key}`], ["EFFECT_RENEWAL_STORE_KEY_CURRENT", "a"]])
      )
      yield* login(dirs).pipe(Effect.withConfigProvider(ring))
      expect(fs.existsSync(StoreKey.filePath(stateDir))).toBe(false)
      expect((yield* rows(stateDir)).every((row) => row.value.startsWith("v2.a."))).toBe(true)
      expect((yield* run(["token", ...dirs]).pipe(Effect.withConfigProvider(ring))).code).toBe(0)
      expect((yield* run(["store", "rotate-key", ...dirs]).pipe(Effect.withConfigProvider(ring))).code).toBe(2)

      // the single key: the single-key form, as before (v1 entries, which older versions read)
      const other = tempHome()
      const one = ConfigProvider.fromMap(new Map([["EFFECT_RENEWAL_STORE_KEY", key]]))
      yield* login(other.dirs).pipe(Effect.withConfigProvider(one))
      expect(fs.existsSync(StoreKey.filePath(other.stateDir))).toBe(false)
      expect((yield* rows(other.stateDir)).every((row) => row.value.startsWith("v1."))).toBe(true)
      expect((yield* run(["token", ...other.dirs]).pipe(Effect.withConfigProvider(one))).code).toBe(0)
    }).pipe(Effect.provide(Env)))
})
