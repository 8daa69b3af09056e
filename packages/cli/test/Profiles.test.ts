import * as Profiles from "@effect-renewal/cli/Profiles"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const configDir = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-cli-profiles-")), "config")

const profile = (n: number) =>
  new Profiles.Profile({ issuer: `https://issuer-${n}.example.org/`, clientId: `client-${n}`, scope: "openid" })

describe("Profiles", () => {
  it.live("concurrent puts of different profiles keep every one (two logins at once)", () =>
    Effect.gen(function*() {
      const dir = configDir()
      yield* Profiles.put(dir, "first", profile(0))
      const names = Array.from({ length: 24 }, (_, n) => `p${n}`)
      yield* Effect.all(names.map((name, n) => Profiles.put(dir, name, profile(n))), { concurrency: "unbounded" })
      const all = yield* Profiles.readAll(dir)
      expect(Object.keys(all).sort()).toEqual(["first", ...names].sort())
      for (const [n, name] of names.entries()) expect(all[name]?.clientId).toBe(`client-${n}`)
      // no lock or temporary file left behind
      expect(fs.readdirSync(dir)).toEqual(["config.json"])
      expect(fs.statSync(Profiles.filePath(dir)).mode & 0o777).toBe(0o600)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("a stale lock (its process gone) is broken; a live one makes put wait, then fail clearly", () =>
    Effect.gen(function*() {
      const dir = configDir()
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      const lock = `${Profiles.filePath(dir)}.lock`
      // a pid that no process has: the highest possible, above pid_max
      fs.writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 1, host: os.hostname(), nonce: "x" }))
      yield* Profiles.put(dir, "a", profile(1))
      expect(Object.keys(yield* Profiles.readAll(dir))).toEqual(["a"])
      expect(fs.existsSync(lock)).toBe(false)
      fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), nonce: "y" }))
      const busy = yield* Effect.flip(Profiles.put(dir, "b", profile(2), { wait: "300 millis" }))
      expect(busy._tag).toBe("ConfigFileError")
      expect(busy.message).toContain("lock")
      expect(Object.keys(yield* Profiles.readAll(dir))).toEqual(["a"])
      fs.rmSync(lock)
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
