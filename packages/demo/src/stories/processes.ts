/**
 * 7. Several processes, one session: real Node processes share the session
 * through the SQLite store; its per-key lock makes one renewal per expiry,
 * so a rotating refresh token is never presented twice.
 */
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { say } from "../Narrator.js"
import * as Fleet from "../processes/Fleet.js"
import { counters, seconds, Stage, type Story, untilExpired } from "../Stage.js"
import { fingerprint, TokenLedger } from "../TokenLedger.js"

const key = "dave-everywhere"
const processes = 4
const callsEach = 250
const rounds = 2

export const processesStory: Story = {
  title: `${processes} processes share one session through the SQLite store`,
  name: "many processes",
  expected: `1 request per expiry, ${rounds} expiries`,
  run: (check) =>
    Effect.gen(function*() {
      const stage = yield* Stage
      const store = yield* TokenStore.TokenStore
      const ledger = yield* TokenLedger
      const emulator = yield* Emulator.Emulator
      const server = yield* Emulator.EmulatorServer
      const login = yield* Fixtures.login({ username: "dave" })
      yield* ledger.addCredentials(login)
      yield* store.set(key, login)
      const workers = yield* Fleet.spawn(processes, {
        emulatorUrl: server.url,
        clientId: emulator.clientId,
        key,
        store: stage.store,
        codecKey: Redacted.value(stage.codecKey)
      })
      yield* say(
        `   Dave's session "${key}" is shared by ${processes} Node processes (pids ${
          workers.map((w) => w.pid).join(", ")
        }), each with its own Renewer over the same SQLite file.`
      )
      const before = yield* counters
      let current = login
      const observed: Array<string> = []
      for (let round = 1; round <= rounds; round++) {
        yield* untilExpired(current)
        const started = performance.now()
        const answers = yield* Effect.forEach(workers, (worker) => worker.get(callsEach), {
          concurrency: "unbounded"
        })
        const took = Duration.millis(performance.now() - started)
        const after = yield* counters
        const requests = after.requests.token - before.requests.token - (round - 1)
        const tokens = new Set(answers.flatMap((answer) => answer.fingerprints))
        const failures = answers.flatMap((answer) => answer.failures)
        // what the processes stored, known to the self-check
        const stored = yield* store.get(key)
        if (Option.isSome(stored)) {
          yield* ledger.addCredentials(stored.value)
          current = stored.value
        }
        yield* say(
          `   Expiry ${round}: ${processes} x ${callsEach} concurrent get() calls, answered in ${seconds(took)}.`
        )
        yield* check(requests === 1, `one token request for all ${processes} processes (counted ${requests})`)
        yield* check(
          tokens.size === 1 && failures.length === 0,
          tokens.size === 1
            ? `every process got the same access token (${[...tokens][0]})`
            : `the processes got ${tokens.size} access tokens and failures ${failures.join(", ") || "none"}`
        )
        yield* check(
          Option.exists(stored, (s) => fingerprint(s.accessToken) === [...tokens][0]),
          "it is the one the store holds"
        )
        observed.push(`${requests}`)
      }
      const after = yield* counters
      const revoked = after.revokedFamilies - before.revokedFamilies
      const reuse = after.reuseDetections - before.reuseDetections
      yield* check(
        reuse === 0 && revoked === 0,
        `no refresh token was presented twice: ${reuse} reuse detected, ${revoked} families revoked`
      )
      return `${observed.join(" + ")} requests for ${rounds} expiries of ${processes} x ${callsEach} calls`
    }).pipe(Effect.scoped)
}
