/**
 * The CLI step of `.ci/pack-check`: the `effect-renewal` command installed
 * with `npm install -g` from its tarball, used as a person would against the
 * packed emulator on loopback: `login` (the user code read from its stderr
 * and approved at the emulator), then `token` and `status --json`.
 *
 *   node cli.mjs <path of the installed effect-renewal>
 */
import { Emulator } from "@effect-renewal/testing"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const command = process.argv[2]
const clientId = "pack-check-cli-command"
const home = fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-pack-check-cli-"))
const env = {
  PATH: process.env.PATH,
  HOME: home,
  EFFECT_RENEWAL_CONFIG_DIR: path.join(home, "config"),
  EFFECT_RENEWAL_STATE_DIR: path.join(home, "state")
}
const runtime = ManagedRuntime.make(Emulator.layerServer({ clientId, devicePollingInterval: "1 second" }))

const fail = (message) => {
  throw new Error(message)
}

try {
  const tenant = await runtime.runPromise(Emulator.Emulator)
  await new Promise((resolve, reject) => {
    const child = spawn(command, ["login", "--issuer", tenant.issuer, "--client-id", clientId], {
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    let approved = false
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`login did not end: ${stderr}`))
    }, 60_000)
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk
      const code = /enter the code: ([A-Z]{4}-[A-Z]{4})/.exec(stderr)?.[1]
      if (code !== undefined && !approved) {
        approved = true
        runtime.runPromise(tenant.approveDevice(code, { username: "pat", email: "pat@example.org" })).catch(reject)
      }
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      if (code !== 0) reject(new Error(`login exited ${code}: ${stderr}`))
      else if (!stderr.includes("as pat <pat@example.org>")) reject(new Error(`login did not say who: ${stderr}`))
      else resolve()
    })
  })
  const token = execFileSync(command, ["token"], { env, encoding: "utf8" }).trim()
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) fail("token did not print a JWT")
  const status = JSON.parse(execFileSync(command, ["status", "--json"], { env, encoding: "utf8" }))
  if (status.logged_in !== true || status.subject !== "pat") fail(`status: ${JSON.stringify(status)}`)
  const key = fs.statSync(path.join(env.EFFECT_RENEWAL_STATE_DIR, "store.key"))
  if ((key.mode & 0o077) !== 0) fail("the key file is readable by others")
  const requests = await runtime.runPromise(Effect.map(tenant.counters, (counters) => counters.deviceAuthorizations))
  if (requests !== 1) fail(`expected one device authorization, saw ${requests}`)
  console.log("cli: installed with npm -g, logged in with the device flow, printed a token and the status")
} finally {
  await runtime.dispose()
  fs.rmSync(home, { recursive: true, force: true })
}
