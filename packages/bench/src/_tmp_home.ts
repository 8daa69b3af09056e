import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { spawn } from "node:child_process"
const [entry, root] = process.argv.slice(2) as [string, string]
const env = { PATH: process.env["PATH"], HOME: root, EFFECT_RENEWAL_CONFIG_DIR: root + "/config", EFFECT_RENEWAL_STATE_DIR: root + "/state" }
const runtime = ManagedRuntime.make(Emulator.layerServer({ accessTokenLifetime: "10 hours", devicePollingInterval: "1 second" }))
const tenant = await runtime.runPromise(Emulator.Emulator)
await new Promise<void>((resolve, reject) => {
  const child = spawn(process.execPath, [entry, "login", "--issuer", tenant.issuer, "--client-id", tenant.clientId], { env, stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""; let done = false
  child.stderr.setEncoding("utf8").on("data", (c: string) => { stderr += c; const code = /enter the code: ([A-Z]{4}-[A-Z]{4})/.exec(stderr)?.[1]; if (code && !done) { done = true; runtime.runPromise(Effect.orDie(tenant.approveDevice(code))) } })
  child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(stderr)))
})
await runtime.dispose()
console.log("ok")
