import * as StoreKey from "@effect-renewal/cli/StoreKey"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Harness from "./support/harness.js"

const clientId = "cli-unit"

const tempHome = () => Harness.tempHome("unit").dirs

const run = Harness.run

const Tenant = Emulator.layerMemory({ clientId, devicePollingInterval: "1 second" })
const Env = Layer.merge(NodeContext.layer, Tenant)

/** `login` in memory: the code read from the captured stderr, approved, awaited. */
const login = (dirs: ReadonlyArray<string>, username: string) =>
  Harness.login({ clientId, dirs, user: { username, email: `${username}@example.org` } })

describe("the commands, with the emulator in memory", () => {
  it.live("login, then token, header, token --json and status --json; no token anywhere but where asked", () =>
    Effect.gen(function*() {
      const dirs = tempHome()
      const loggedIn = yield* login(dirs, "ada")
      expect(loggedIn.code).toBe(0)
      expect(loggedIn.stdout).toBe("")
      expect(loggedIn.stderr).toContain("as ada <ada@example.org>")

      const token = yield* run(["token", ...dirs])
      expect(token).toMatchObject({ code: 0, stderr: "" })
      expect(token.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
      expect(loggedIn.stderr).not.toContain(token.stdout)

      const header = yield* run(["header", ...dirs])
      expect(header.stdout).toBe(`Authorization: Bearer ${token.stdout}`)

      const json = JSON.parse((yield* run(["token", "--json", ...dirs])).stdout)
      expect(json).toMatchObject({ access_token: token.stdout, token_type: "Bearer", scope: "openid offline_access" })
      expect(json.expires_in).toBeGreaterThan(3000)
      expect(new Date(json.expires_at).toISOString()).toBe(json.expires_at)

      const status = yield* run(["status", "--json", ...dirs])
      expect(status.code).toBe(0)
      expect(JSON.parse(status.stdout)).toMatchObject({
        logged_in: true,
        subject: "ada",
        email: "ada@example.org",
        refresh_token: true
      })
      expect(status.stdout).not.toContain(token.stdout)

      const forced = yield* run(["token", "--force", ...dirs])
      expect(forced.code).toBe(0)
      expect(forced.stdout).not.toBe(token.stdout)
    }).pipe(Effect.provide(Env)))

  it.live("API credentials for an audience are another token, the login's stays", () =>
    Effect.gen(function*() {
      const dirs = tempHome()
      expect((yield* login(dirs, "bob")).code).toBe(0)
      const mine = yield* run(["token", ...dirs])
      const api = yield* run(["token", "--audience", "https://orders.example.com", "--scope", "openid", ...dirs])
      expect(api.code).toBe(0)
      expect(api.stdout).not.toBe(mine.stdout)
      const claims = JSON.parse(Buffer.from(api.stdout.split(".")[1]!, "base64url").toString())
      expect(claims.aud).toContain("https://orders.example.com")
      expect((yield* run(["token", ...dirs])).stdout).toBe(mine.stdout)
    }).pipe(Effect.provide(Env)))

  it.live("without a login: exit 4, one line on stderr, nothing on stdout", () =>
    Effect.gen(function*() {
      const ran = yield* run(["token", ...tempHome()])
      expect(ran.code).toBe(4)
      expect(ran.stdout).toBe("")
      expect(ran.stderr.split("\n")).toHaveLength(1)
      expect(ran.stderr).toMatch(/^effect-renewal: not logged in.*effect-renewal login/)
      const status = yield* run(["status", ...tempHome()])
      expect(status.code).toBe(4)
      expect(status.stdout).toContain("Not logged in")
    }).pipe(Effect.provide(Env)))

  it.live("usage errors exit 2: a bad duration, an unknown flag, plain http to a remote host", () =>
    Effect.gen(function*() {
      const dirs = tempHome()
      const duration = yield* run(["token", "--min-ttl", "5 parsecs", ...dirs])
      expect(duration.code).toBe(2)
      expect(duration.stdout).toBe("")
      expect((yield* run(["token", "--no-such-flag", ...dirs])).code).toBe(2)
      const insecure = yield* run(["fetch", ...dirs, "http://api.example.com/orders"])
      expect(insecure.code).toBe(2)
      expect(insecure.stderr).toContain("https only")
    }).pipe(Effect.provide(Env)))

  it.live("logout revokes the refresh token at the provider and forgets the credentials", () =>
    Effect.gen(function*() {
      const dirs = tempHome()
      expect((yield* login(dirs, "cy")).code).toBe(0)
      const emulator = yield* Emulator.Emulator
      const out = yield* run(["logout", ...dirs])
      expect(out.code).toBe(0)
      expect((yield* emulator.counters).requests.revoke).toBe(1)
      expect((yield* run(["token", ...dirs])).code).toBe(4)
      expect((yield* run(["logout", "--no-revoke", ...dirs])).code).toBe(0)
    }).pipe(Effect.provide(Env)))
})

describe("StoreKey: the key file", () => {
  const stateDir = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-cli-key-")), "state")

  it.effect("made on first use, owner-only, the same key after; many loads at once agree", () =>
    Effect.gen(function*() {
      const dir = stateDir()
      const keys = yield* Effect.all(Array.from({ length: 8 }, () => StoreKey.load(dir)), { concurrency: "unbounded" })
      expect(new Set(keys.map(Redacted.value)).size).toBe(1)
      expect(Redacted.value(yield* StoreKey.load(dir))).toBe(Redacted.value(keys[0]!))
      expect(fs.statSync(StoreKey.filePath(dir)).mode & 0o777).toBe(0o600)
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
      const file = JSON.parse(fs.readFileSync(StoreKey.filePath(dir), "utf8"))
      expect(file).toMatchObject({ version: 1, current: file.keys[0].id })
      expect(fs.readdirSync(dir)).toEqual(["store.key"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a key file readable by others, or not a key file, is refused and left as is", () =>
    Effect.gen(function*() {
      const dir = stateDir()
      yield* StoreKey.load(dir)
      const file = StoreKey.filePath(dir)
      const before = fs.readFileSync(file, "utf8")
      fs.chmodSync(file, 0o644)
      const open = yield* Effect.flip(StoreKey.load(dir))
      expect(open.reason).toBe("Permissions")
      expect(open.message).not.toContain(JSON.parse(before).keys[0].key)
      fs.chmodSync(file, 0o600)
      fs.writeFileSync(file, "{\"version\":1,\"current\":\"a\",\"keys\":[{\"id\":\"a\",\"key\":\"c2hvcnQ\"}]}")
      const bad = yield* Effect.flip(StoreKey.load(dir))
      expect(bad.reason).toBe("Content")
      expect(fs.readFileSync(file, "utf8")).toContain("c2hvcnQ")
      fs.chmodSync(dir, 0o777)
      expect((yield* Effect.flip(StoreKey.load(dir))).reason).toBe("Permissions")
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
