/**
 * The CLI with DPoP-bound tokens, the emulator in memory as the network:
 * `login --dpop`, `token`, `header --url`, `status`, `fetch` against the
 * protected resource (`/userinfo`) demanding proofs and nonces, and a token
 * printed by `token` refused without the key.
 */
import * as Dpop from "@effect-renewal/core/Dpop"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Harness from "./support/harness.js"

const clientId = "cli-dpop"

const tempHome = () => Harness.tempHome("dpop")

const run = Harness.run

/** `login` (device flow) in memory, with extra flags: the code read from stderr, approved, awaited. */
const login = (dirs: ReadonlyArray<string>, username: string, flags: ReadonlyArray<string>) =>
  Harness.login({ clientId, dirs, user: { username, email: `${username}@example.org` }, flags })

const userinfoUrl = Effect.map(Emulator.Emulator, (emulator) => `${emulator.issuer.replace(/\/$/, "")}/userinfo`)

/** Proofs required everywhere, nonces at the token endpoint and at the resource. */
const Strict = Layer.mergeAll(
  NodeContext.layer,
  Emulator.layerMemory({
    clientId,
    devicePollingInterval: "1 second",
    dpop: { required: true, nonce: true, resourceNonce: true }
  }),
  Dpop.layerNonces()
)

/** Proofs optional: a login without one gets Bearer tokens. */
const Optional = Layer.mergeAll(
  NodeContext.layer,
  Emulator.layerMemory({ clientId, devicePollingInterval: "1 second", dpop: {} }),
  Dpop.layerNonces()
)

const status = (dirs: ReadonlyArray<string>) =>
  Effect.map(run(["status", "--json", ...dirs]), (ran) => JSON.parse(ran.stdout) as Record<string, unknown>)

describe("the CLI with DPoP", () => {
  it.live("login --dpop: bound tokens, renewed with the stored key by a later command with no flag", () =>
    Effect.gen(function*() {
      const { dirs, root } = tempHome()
      const loggedIn = yield* login(dirs, "ada", ["--dpop"])
      expect(loggedIn.code).toBe(0)
      const jkt = /bound to a DPoP key \(thumbprint ([\w-]{43})\)/.exec(loggedIn.stderr)?.[1]
      expect(jkt).toBeDefined()
      const config = JSON.parse(fs.readFileSync(path.join(root, "config", "config.json"), "utf8"))
      expect(config.profiles.default.dpop).toBe(true)

      const json = JSON.parse((yield* run(["token", "--json", ...dirs])).stdout)
      expect(json.token_type).toBe("DPoP")
      const claims = JSON.parse(Buffer.from(json.access_token.split(".")[1], "base64url").toString())
      expect(claims.cnf).toEqual({ jkt })

      const shown = yield* run(["status", ...dirs])
      expect(shown.stdout).toContain(`DPoP:           tokens bound to key ${jkt}`)
      expect(yield* status(dirs)).toMatchObject({ token_type: "DPoP", dpop_jkt: jkt })
      expect(shown.stdout).not.toContain(json.access_token)

      // a renewal, in another command, with the token endpoint's nonce demanded: the same key
      const emulator = yield* Emulator.Emulator
      const before = yield* emulator.counters
      const forced = yield* run(["token", "--force", "--json", ...dirs])
      expect(forced.code).toBe(0)
      const renewed = JSON.parse(forced.stdout)
      expect(renewed.token_type).toBe("DPoP")
      expect(renewed.access_token).not.toBe(json.access_token)
      const after = yield* emulator.counters
      expect(after.requests.token - before.requests.token).toBeGreaterThanOrEqual(1)
      expect(after.dpopRefusals).toBe(before.dpopRefusals)
      expect((yield* status(dirs)).dpop_jkt).toBe(jkt)
    }).pipe(Effect.provide(Strict)))

  it.live("--dpop sticks to the profile: a later login is bound too, --no-dpop turns it off", () =>
    Effect.gen(function*() {
      const { dirs } = tempHome()
      expect((yield* login(dirs, "bob", ["--dpop"])).code).toBe(0)
      const first = (yield* status(dirs)).dpop_jkt
      const again = yield* login(dirs, "bob", [])
      expect(again.code).toBe(0)
      const second = yield* status(dirs)
      expect(second.token_type).toBe("DPoP")
      // a new login, a new key
      expect(second.dpop_jkt).not.toBe(first)

      expect((yield* login(dirs, "bob", ["--no-dpop"])).code).toBe(0)
      const off = yield* status(dirs)
      expect(off.token_type).toBe("Bearer")
      expect(off.dpop_jkt).toBeUndefined()
      // a Bearer token needs no proof: header --url prints the one line
      const header = yield* run(["header", "--url", yield* userinfoUrl, ...dirs])
      expect(header.code).toBe(0)
      expect(header.stdout).toMatch(/^Authorization: Bearer [\w.-]+$/)

      const both = yield* run(["login", "--dpop", "--no-dpop", ...dirs])
      expect(both.code).toBe(2)
      expect(both.stderr).toContain("not both")
    }).pipe(Effect.provide(Optional)))

  it.live("header: a usage error without --url; with it, an Authorization and a DPoP line the resource accepts", () =>
    Effect.gen(function*() {
      const { dirs } = tempHome()
      expect((yield* login(dirs, "cy", ["--dpop"])).code).toBe(0)
      const emulator = yield* Emulator.Emulator
      const url = yield* userinfoUrl

      const bare = yield* run(["header", ...dirs])
      expect(bare.code).toBe(2)
      expect(bare.stdout).toBe("")
      expect(bare.stderr).toContain("effect-renewal fetch")
      expect(bare.stderr).toContain("--url")

      const insecure = yield* run(["header", "--url", "http://api.example.com/orders", ...dirs])
      expect(insecure.code).toBe(2)
      expect(insecure.stdout).toBe("")

      const nonce = yield* emulator.dpopNonce("resource")
      const printed = yield* run(["header", "--url", url, "--nonce", nonce, ...dirs])
      expect(printed.code).toBe(0)
      const [authorization, proof, ...rest] = printed.stdout.split("\n")
      expect(rest).toEqual([])
      expect(authorization).toMatch(/^Authorization: DPoP [\w.-]+$/)
      expect(proof).toMatch(/^DPoP: [\w-]+\.[\w-]+\.[\w-]+$/)
      const headers = { authorization: authorization!.slice("Authorization: ".length), dpop: proof!.slice(6) }
      const access = yield* emulator.verifyResourceRequest({ method: "GET", url, ...headers })
      expect(access._tag).toBe("Authorized")
      if (access._tag === "Authorized") expect(access.jkt).toBe((yield* status(dirs)).dpop_jkt)

      // the proof names one request: not another method, not without the nonce
      const post = yield* emulator.verifyResourceRequest({ method: "POST", url, ...headers })
      expect(post).toMatchObject({ _tag: "Refused", error: "invalid_dpop_proof" })
      const stale = yield* run(["header", "--url", url, "-X", "post", ...dirs])
      expect(stale.code).toBe(0)
      const [, staleProof] = stale.stdout.split("\n")
      const unnonced = yield* emulator.verifyResourceRequest({
        method: "POST",
        url,
        authorization: headers.authorization,
        dpop: staleProof!.slice(6)
      })
      expect(unnonced).toMatchObject({ _tag: "Refused", error: "use_dpop_nonce" })
    }).pipe(Effect.provide(Strict)))

  it.live("fetch /userinfo: DPoP and a nonce demanded by the resource, one nonce retry, no renewal", () =>
    Effect.gen(function*() {
      const { dirs } = tempHome()
      expect((yield* login(dirs, "dee", ["--dpop"])).code).toBe(0)
      const emulator = yield* Emulator.Emulator
      yield* emulator.rotateDpopNonce("resource")
      const before = yield* emulator.counters
      const fetched = yield* run(["fetch", yield* userinfoUrl, ...dirs])
      expect(fetched.code).toBe(0)
      expect(JSON.parse(fetched.stdout)).toMatchObject({ sub: "dee" })
      const after = yield* emulator.counters
      expect(after.requests.userinfo - before.requests.userinfo).toBe(2)
      expect(after.dpopNonceChallenges - before.dpopNonceChallenges).toBe(1)
      expect(after.requests.token).toBe(before.requests.token)
      expect(after.dpopRefusals).toBe(before.dpopRefusals)
    }).pipe(Effect.provide(Strict)))

  it.live("a token printed by `token` is refused without the key: as a Bearer, as DPoP unproven or with another key", () =>
    Effect.gen(function*() {
      const { dirs } = tempHome()
      expect((yield* login(dirs, "eve", ["--dpop"])).code).toBe(0)
      const emulator = yield* Emulator.Emulator
      const url = yield* userinfoUrl
      const stolen = (yield* run(["token", ...dirs])).stdout
      expect(stolen).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)

      const http = yield* HttpClient.HttpClient
      const asBearer = yield* http.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.bearerToken(stolen)))
      expect(asBearer.status).toBe(401)
      const unproven = yield* http.execute(
        HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("authorization", `DPoP ${stolen}`))
      )
      expect(unproven.status).toBe(400)

      // the thief's own key, with the resource's current nonce: the token is bound to another
      const theirs = yield* Dpop.generateKey
      const proof = yield* Dpop.proof(theirs, {
        method: "GET",
        url,
        accessToken: Redacted.make(stolen),
        nonce: yield* emulator.dpopNonce("resource")
      })
      const forged = yield* emulator.verifyResourceRequest({
        method: "GET",
        url,
        authorization: `DPoP ${stolen}`,
        dpop: Redacted.value(proof)
      })
      expect(forged).toMatchObject({ _tag: "Refused", status: 401, error: "invalid_token" })
      if (forged._tag === "Refused") expect(forged.description).toContain("not signed by the access token's key")

      // and the owner, through fetch, still gets in
      expect((yield* run(["fetch", url, ...dirs])).code).toBe(0)
    }).pipe(Effect.provide(Strict)))
})
