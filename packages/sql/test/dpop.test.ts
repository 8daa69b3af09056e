/**
 * DPoP across processes: one session, its credentials bound to a key, kept
 * in an encrypted SqlTokenStore shared by this process and a child process
 * that is given no key. Both renew at the same time against the emulator on
 * loopback (refresh tokens rotating with reuse detection, DPoP nonces
 * required at the token endpoint): each renewal proves the session's key,
 * found in the store; no refresh token is presented twice; one key.
 * PostgreSQL tables are prefixed `dpop_`.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Credentials from "@effect-renewal/core/Credentials"
import * as Dpop from "@effect-renewal/core/Dpop"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as TokenCodec from "@effect-renewal/core/TokenCodec"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import { SqlTokenStore } from "@effect-renewal/sql"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as childProcess from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { backends, randomPrefix } from "./support.js"

const packageRoot = path.join(__dirname, "..")
const fixture = path.join(__dirname, "fixtures", "dpopRenewer.ts")
const rounds = 10

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`DPoP with SqlTokenStore across processes on ${backend.name}`, () => {
    it.scopedLive(
      "two processes renew one DPoP session: the key found in the store, no reuse, one key",
      () =>
        Effect.gen(function*() {
          const db = yield* backend.database(`dpop_${randomPrefix()}`)
          const storeKey = yield* TokenCodec.generateKey
          const tenant = yield* Layer.build(
            Emulator.layerServer({ rotation: true, dpop: { nonce: true } })
          )
          const emulator = Context.get(tenant, Emulator.Emulator)
          const store = SqlTokenStore.layer({ tablePrefix: db.prefix }).pipe(
            Layer.provide([db.client(), Layer.orDie(TokenCodec.layerEncrypted(storeKey))])
          )
          const renewerContext = yield* Layer.build(
            Renewer.layer({ key: "alice" }).pipe(
              Layer.provideMerge(store),
              Layer.provide(RenewalStrategy.refreshToken),
              Layer.provide(
                AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId: emulator.clientId }).pipe(
                  Layer.provide(FetchHttpClient.layer)
                )
              ),
              Layer.orDie
            )
          )
          const renewer = Context.get(renewerContext, Renewer.Renewer)

          // a login bound to a key, saved once: the child gets it from the store
          const key = yield* Dpop.generateKey
          const login = yield* Fixtures.login({ username: "alice", jkt: key.jkt }).pipe(
            Effect.provideService(Emulator.Emulator, emulator)
          )
          expect(login.tokenType).toBe("DPoP")
          yield* renewer.save(new Credentials.Credentials({ ...login, dpop: key }))

          const child = childProcess.spawn(
            process.execPath,
            [
              "--import",
              "tsx",
              fixture,
              db.target,
              db.prefix,
              emulator.issuer,
              emulator.clientId,
              Redacted.value(storeKey),
              String(rounds)
            ],
            { cwd: packageRoot, stdio: ["pipe", "pipe", "pipe"] }
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
          let stderr = ""
          child.stderr.on("data", (chunk) => (stderr += String(chunk)))
          const jkts: Array<string> = []
          const ready = yield* Deferred.make<void>()
          const done = yield* Deferred.make<void, string>()
          readline.createInterface({ input: child.stdout }).on("line", (line) => {
            if (line === "ready") Deferred.unsafeDone(ready, Effect.void)
            else if (line === "done") Deferred.unsafeDone(done, Effect.void)
            else if (line.startsWith("renewed ")) jkts.push(line.slice("renewed ".length))
          })
          child.on("exit", (code) => {
            if (code !== 0) Deferred.unsafeDone(done, Effect.fail(`the child exited with ${code}: ${stderr}`))
          })
          yield* Deferred.await(ready).pipe(Effect.timeout("240 seconds"))
          child.stdin?.write("go\n")

          // this process renews at the same time
          const mine: Array<string | undefined> = []
          for (let i = 0; i < rounds; i++) {
            mine.push((yield* renewer.get({ forceRefresh: true })).dpop?.jkt)
          }
          yield* Deferred.await(done).pipe(Effect.timeout("240 seconds"))

          expect(jkts).toEqual(Array.from({ length: rounds }, () => key.jkt))
          expect(mine).toEqual(Array.from({ length: rounds }, () => key.jkt))
          const counters = yield* emulator.counters
          expect(counters.reuseDetections).toBe(0)
          expect(counters.dpopRefusals).toBe(0)
          // each process met the nonce once at most before it knew it
          expect(counters.dpopNonceChallenges).toBeLessThanOrEqual(2)
          const stored = Option.getOrThrow(
            yield* Context.get(renewerContext, TokenStore.TokenStore).get(TokenStore.entryKey("alice"))
          )
          expect(stored.dpop?.jkt).toBe(key.jkt)
          // the user is still logged in
          expect((yield* renewer.get({ forceRefresh: true })).dpop?.jkt).toBe(key.jkt)
        }),
      300_000
    )
  })
}
