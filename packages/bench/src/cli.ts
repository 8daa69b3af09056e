/**
 * `effect-renewal token` as a shell loop pays for it: a whole process with
 * valid credentials (start Node.js, load the bundle, read the profile and
 * the encrypted SQLite store, print the token), against `node -e ""`, the
 * floor of any Node.js command, and `gh auth token` (GitHub's CLI, a Go
 * binary, when it is on the PATH: `GH_TOKEN` in its environment makes it
 * print that token without a login). The command is built as published (the
 * esbuild bundle of `packages/cli/scripts/bundle.mjs`), logged in once with
 * the device flow against the emulator on loopback, then timed.
 */
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { median, p90 } from "./stats.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const bundleScript = path.join(here, "../../cli/scripts/bundle.mjs")
const runs = 20

const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 })

/** One whole process, wall time in milliseconds; fails unless it exits 0. */
const time = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, command: string = process.execPath): number => {
  const start = process.hrtime.bigint()
  const child = spawnSync(command, args, { env, encoding: "utf8" })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (child.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${child.status}): ${child.stderr}`)
  return ms
}

/** `gh auth token` prints `GH_TOKEN` without a login; whether `gh` is on the PATH and does so. */
const ghWorks = (env: NodeJS.ProcessEnv): boolean => {
  const child = spawnSync("gh", ["auth", "token"], { env, encoding: "utf8" })
  return child.status === 0 && child.stdout.trim() === env["GH_TOKEN"]
}

/** Logs in with the built command: reads the user code on its stderr and approves it. */
const login = (
  entry: string,
  env: NodeJS.ProcessEnv,
  tenant: Emulator.Emulator.Service,
  run: <A>(e: Effect.Effect<A>) => Promise<A>
) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [entry, "login", "--issuer", tenant.issuer, "--client-id", tenant.clientId], {
      env,
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    let approved = false
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
      const code = /enter the code: ([A-Z]{4}-[A-Z]{4})/.exec(stderr)?.[1]
      if (code !== undefined && !approved) {
        approved = true
        run(Effect.orDie(tenant.approveDevice(code, { username: "bench" }))).catch(reject)
      }
    })
    child.on("exit", (code) => code === 0 ? resolve() : reject(new Error(`login failed (${code}): ${stderr}`)))
  })

/** Builds, logs in, times; answers the section's Markdown lines. */
export const cliSection = async (): Promise<ReadonlyArray<string>> => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "effect-renewal-bench-cli-"))
  const runtime = ManagedRuntime.make(
    Emulator.layerServer({ accessTokenLifetime: "1 hour", devicePollingInterval: "1 second" })
  )
  try {
    const built = spawnSync(process.execPath, [bundleScript, path.join(root, "bundle"), "--native-from-here"], {
      encoding: "utf8"
    })
    if (built.status !== 0) throw new Error(`the bundle could not be built: ${built.stderr}`)
    const entry = built.stdout.trim()
    const env = {
      PATH: process.env["PATH"],
      HOME: root,
      EFFECT_RENEWAL_CONFIG_DIR: path.join(root, "config"),
      EFFECT_RENEWAL_STATE_DIR: path.join(root, "state")
    }
    const ghEnv = {
      PATH: process.env["PATH"],
      HOME: root,
      GH_CONFIG_DIR: path.join(root, "gh"),
      GH_TOKEN: "dummy",
      GH_NO_UPDATE_NOTIFIER: "1"
    }
    const gh = ghWorks(ghEnv)
    const tenant = await runtime.runPromise(Emulator.Emulator)
    await login(entry, env, tenant, (effect) => runtime.runPromise(effect))
    const before = (await runtime.runPromise(tenant.counters)).requests.token
    // warm the file cache, then alternate the two, so that the machine's noise falls on both
    time([entry, "token"], env)
    time(["-e", ""], env)
    if (gh) time(["auth", "token"], ghEnv, "gh")
    const token: Array<number> = []
    const floor: Array<number> = []
    const ghToken: Array<number> = []
    for (let i = 0; i < runs; i++) {
      token.push(time([entry, "token"], env))
      floor.push(time(["-e", ""], env))
      if (gh) ghToken.push(time(["auth", "token"], ghEnv, "gh"))
    }
    const requests = (await runtime.runPromise(tenant.counters)).requests.token - before
    const ratio = median(token) / median(floor)
    return [
      "## `effect-renewal token`: a whole process with valid credentials",
      "",
      `What a shell loop pays per token: \`node <bundle> token\` (the published esbuild bundle: Node.js start, the bundle loaded, the profile read, the encrypted SQLite store opened and read, the token printed), ${runs} whole processes, alternated with as many \`node -e ""\`, the floor of any Node.js command${
        gh
          ? `, and as many \`gh auth token\` (GitHub's CLI, a Go binary, printing \`GH_TOKEN\` without a login)`
          : " (\`gh\` is not on this machine's PATH: no \`gh auth token\` to compare with)"
      }. ${requests} token request${requests === 1 ? "" : "s"} during the runs.`,
      "",
      "| what | median ms | p90 ms | vs floor |",
      "| --- | ---: | ---: | ---: |",
      `| \`effect-renewal token\` | ${fmt(median(token))} | ${fmt(p90(token))} | ${ratio.toFixed(2)}x |`,
      `| floor: \`node -e ""\` | ${fmt(median(floor))} | ${fmt(p90(floor))} | 1.00x |`,
      ...(gh
        ? [
          `| \`gh auth token\` (GH_TOKEN set) | ${fmt(median(ghToken))} | ${fmt(p90(ghToken))} | ${
            (median(ghToken) / median(floor)).toFixed(2)
          }x |`
        ]
        : []),
      "",
      `\`effect-renewal token\` takes ${ratio.toFixed(2)}x the floor (target: at most 2x).`,
      ""
    ]
  } finally {
    await runtime.dispose()
    fs.rmSync(root, { recursive: true, force: true })
  }
}

// run alone: `pnpm exec tsx src/cli.ts`
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cliSection().then((lines) => console.log(lines.join("\n")), (error) => {
    console.error(error)
    process.exitCode = 1
  })
}
