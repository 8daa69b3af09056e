/**
 * The built command, driven as a person drives it: `login` in a terminal
 * (tmux), its user code read from the screen and approved at the emulator,
 * which serves on loopback in this process; then `token`, twenty `token`
 * processes at once after expiry, a revoked login, `logout` and `status`;
 * a `login --dpop` whose `header --url` lines curl sends to `/userinfo`.
 */
import * as Jwt from "@effect-renewal/core/Jwt"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as SqlTokenStore from "@effect-renewal/sql/SqlTokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { execFile, spawnSync } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as StoreKey from "../src/StoreKey.js"
import { buildBundle, type Home, makeHome, runBuilt } from "./support/built.js"
import * as Tmux from "./support/tmux.js"

const clientId = "effect-renewal-cli-e2e"
const signingSecret = "cli-e2e-signing-secret"
// long enough for twenty processes to start on a slow machine: they renew when
// less than --min-ttl is left, and the renewed token has more than that
const accessTokenLifetimeSeconds = 40
const minTtlSeconds = 30

if (!Tmux.available() && process.env["CI"] === "true") {
  throw new Error("tmux is missing: the end-to-end tests of the command need it (install it in .ci/run)")
}

const runtime = ManagedRuntime.make(
  Emulator.layerServer({
    clientId,
    signingSecret,
    rotation: true,
    accessTokenLifetime: `${accessTokenLifetimeSeconds} seconds`,
    devicePollingInterval: "1 second"
  })
)
const emulator = () => runtime.runPromise(Emulator.Emulator)

let entry = ""
beforeAll(async () => {
  entry = await buildBundle()
  await emulator()
}, 120_000)
afterAll(() => runtime.dispose())

/** Whether the emulator's protected resource (`/userinfo`) takes the token, as an API would. */
const acceptedByEmulator = async (token: string): Promise<boolean> => {
  const tenant = await emulator()
  const access = await runtime.runPromise(tenant.verifyResourceRequest({
    method: "GET",
    url: `${tenant.issuer.replace(/\/$/, "")}/userinfo`,
    authorization: `Bearer ${token}`
  }))
  return access._tag === "Authorized"
}

const tokenRequests = async () =>
  (await runtime.runPromise(Effect.flatMap(Emulator.Emulator, (e) => e.requests))).filter((entry) =>
    entry.endpoint === "token" && entry.grantType === "refresh_token"
  ).length

/** `login` in a terminal: read the code on the screen, approve it, see who logged in. */
const loginInTerminal = async (home: Home, username: string, flags: ReadonlyArray<string> = []) => {
  const tenant = await emulator()
  const terminal = Tmux.start([
    process.execPath,
    entry,
    "login",
    "--issuer",
    tenant.issuer,
    "--client-id",
    clientId,
    ...flags
  ], {
    HOME: home.root,
    ...home.env
  })
  try {
    const [, code] = await terminal.waitFor(/enter the code: ([A-Z]{4}-[A-Z]{4})/)
    expect(terminal.screen()).toContain(`${tenant.issuer}activate`)
    await runtime.runPromise(tenant.approveDevice(code!, { username, email: `${username}@example.org` }))
    await terminal.waitFor(new RegExp(`Logged in to .* as ${username} <${username}@example.org>`))
    expect(await terminal.exitCode()).toBe(0)
    return terminal.screen()
  } finally {
    terminal.close()
  }
}

/** The refresh token in a home's store, read through the library as another program would. */
const storedRefreshToken = (home: Home) =>
  runtime.runPromise(
    Effect.flatMap(TokenStore.TokenStore, (store) => store.get(TokenStore.entryKey("default"))).pipe(
      Effect.map((stored) => Redacted.value(Option.getOrThrow(stored).refreshToken!)),
      Effect.provide(
        SqlTokenStore.layerSqlite({ filename: path.join(home.env["EFFECT_RENEWAL_STATE_DIR"]!, "credentials.db") })
          .pipe(
            Layer.provide(Layer.unwrapEffect(
              Effect.map(StoreKey.loadKeyring(home.env["EFFECT_RENEWAL_STATE_DIR"]!), TokenCodec.layerEncrypted)
            )),
            Layer.provide(NodeFileSystem.layer)
          )
      )
    )
  )

describe.skipIf(!Tmux.available())("the built command, in a terminal, against the emulator on loopback", () => {
  const home = makeHome()
  let loggedInAt = 0

  it("login prints a user code; approved, it ends with the subject", async () => {
    const screen = await loginInTerminal(home, "ada")
    loggedInAt = Date.now()
    // a code is shown, never a token
    expect(screen).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/)
  })

  it("token prints a token the emulator accepts, and nothing else", async () => {
    const ran = await runBuilt(entry, home, ["token"])
    expect(ran).toMatchObject({ code: 0, stderr: "" })
    const token = ran.stdout.trimEnd()
    expect(ran.stdout).toBe(`${token}\n`)
    expect(await acceptedByEmulator(token)).toBe(true)
    expect(await acceptedByEmulator(`${token}x`)).toBe(false)
    const claims = await runtime.runPromise(Jwt.decode(Redacted.make(token)))
    expect(claims.sub).toBe("ada")
  })

  it("twenty concurrent token processes after expiry make one token request and print one token", async () => {
    // past the point where less than --min-ttl is left: every process wants a renewal
    const wait = loggedInAt + (accessTokenLifetimeSeconds - minTtlSeconds) * 1000 + 500 - Date.now()
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)))
    const before = await tokenRequests()
    const runs = await Promise.all(
      Array.from({ length: 20 }, () => runBuilt(entry, home, ["token", "--min-ttl", `${minTtlSeconds}s`]))
    )
    expect(runs.map((ran) => ran.code)).toEqual(Array(20).fill(0))
    expect(new Set(runs.map((ran) => ran.stdout)).size).toBe(1)
    expect(await tokenRequests() - before).toBe(1)
    expect(await acceptedByEmulator(runs[0]!.stdout.trim())).toBe(true)
  })

  it("logout, then status says logged out (exit 4)", async () => {
    const refreshToken = await storedRefreshToken(home)
    const logout = await runBuilt(entry, home, ["logout"])
    expect(logout.code).toBe(0)
    expect(logout.stderr).toContain("Logged out")
    expect(await runtime.runPromise(Effect.flatMap(Emulator.Emulator, (e) => e.isRevoked(refreshToken)))).toBe(true)
    const status = await runBuilt(entry, home, ["status"])
    expect(status.code).toBe(4)
    expect(status.stdout).toContain("Not logged in")
  })
})

describe.skipIf(!Tmux.available())("a login revoked at the provider", () => {
  const home = makeHome()

  it("makes token exit 4 with a message that says to log in again", async () => {
    await loginInTerminal(home, "grace")
    const tenant = await emulator()
    await runtime.runPromise(tenant.revokeFamilyOf(await storedRefreshToken(home)))
    const terminal = Tmux.start([process.execPath, entry, "token", "--force"], { HOME: home.root, ...home.env })
    try {
      expect(await terminal.exitCode()).toBe(4)
      const screen = terminal.screen()
      expect(screen).toMatch(/Log in again: effect-renewal login/)
      expect(screen.split("\n").filter((line) => line.startsWith("effect-renewal:"))).toHaveLength(1)
      expect(screen).not.toMatch(/eyJ|at .*\.mjs/)
    } finally {
      terminal.close()
    }
  })
})

const curlAvailable = spawnSync("curl", ["--version"]).status === 0
if (!curlAvailable && process.env["CI"] === "true") {
  throw new Error("curl is missing: the DPoP end-to-end test pipes the command's headers to it (install it in .ci/run)")
}

/**
 * `curl -s -H @- URL` with the headers on its stdin: the status code and the
 * body (asynchronously: the emulator answers from this process).
 */
const curl = (headers: string, url: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const child = execFile(
      "curl",
      ["-s", "-w", "\\n%{http_code}", "-H", "@-", url],
      { timeout: 30_000 },
      (error, out) => {
        if (error !== null) return reject(error)
        const lines = out.split("\n")
        resolve({ status: Number(lines.pop()), body: lines.join("\n") })
      }
    )
    child.stdin?.end(headers)
  })

describe.skipIf(!Tmux.available() || !curlAvailable)("login --dpop, then curl with header --url", () => {
  const home = makeHome()

  it("the two lines of header --url, given to curl -H @-, reach /userinfo; the token alone does not", async () => {
    const screen = await loginInTerminal(home, "hopper", ["--dpop"])
    expect(screen).toMatch(/bound to a DPoP key \(thumbprint [\w-]{43}\)/)
    const url = `${(await emulator()).issuer}userinfo`
    const header = await runBuilt(entry, home, ["header", "--url", url])
    expect(header.code).toBe(0)
    expect(header.stdout).toMatch(/^Authorization: DPoP \S+\nDPoP: \S+\n$/)
    const answered = await curl(header.stdout, url)
    expect(answered.status).toBe(200)
    expect(JSON.parse(answered.body)).toMatchObject({ sub: "hopper" })

    const token = (await runBuilt(entry, home, ["token"])).stdout.trim()
    expect((await curl(`Authorization: Bearer ${token}\n`, url)).status).toBe(401)
    expect((await runBuilt(entry, home, ["header"])).code).toBe(2)
    const fetched = await runBuilt(entry, home, ["fetch", url])
    expect(fetched.code).toBe(0)
    expect(JSON.parse(fetched.stdout)).toMatchObject({ sub: "hopper" })
  })
})
