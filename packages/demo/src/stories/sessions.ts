/**
 * 8. A server with 1,000 users: `Sessions` keeps one renewer per user on
 * demand over the shared store, and bounds how many renewals run at once.
 */
import * as RenewalPolicy from "@effect-renewal/core/RenewalPolicy"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Fixtures from "@effect-renewal/testing/Fixtures"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { say } from "../Narrator.js"
import { counters, policyOptions, seconds, type Story, untilExpired } from "../Stage.js"
import { TokenLedger } from "../TokenLedger.js"

const users = 1000
const bound = 8
const latency = Duration.millis(20)
const count = users.toLocaleString("en-US")

export const sessionsStory: Story = {
  title: `A server with ${count} users renews them all, ${bound} at a time`,
  name: "many users",
  expected: `${count} renewals, at most ${bound} at once`,
  run: (check) =>
    Effect.gen(function*() {
      const sessions = yield* Sessions.Sessions
      const ledger = yield* TokenLedger
      const keys = Array.from({ length: users }, (_, i) => `user-${String(i + 1).padStart(4, "0")}`)
      const logins = yield* Effect.forEach(keys, (key) =>
        Effect.gen(function*() {
          // no openid: 2,000 RS256 id_tokens nobody reads would make this a story of RSA, not of the bound
          const login = yield* Fixtures.login({ username: key, scope: "offline_access" })
          yield* ledger.addCredentials(login)
          yield* sessions.save(key, login)
          return login
        }), { concurrency: 16 })
      yield* say(
        `   ${count} users log in; Sessions keeps a renewer per user on demand (maxConcurrentRenewals ${bound}).`
      )
      yield* untilExpired(logins[logins.length - 1]!)

      // a network's round trip, so that requests overlap up to the bound
      const emulator = yield* Emulator.Emulator
      yield* emulator.faultOn("token", ...Array.from({ length: users }, () => Emulator.Fault.latency(latency)))
      const before = yield* counters
      const started = performance.now()
      const renewed = yield* Effect.forEach(keys, (key) => sessions.get(key), { concurrency: "unbounded" })
      const took = Duration.millis(performance.now() - started)
      const after = yield* counters
      for (const credentials of renewed) yield* ledger.addCredentials(credentials)
      const requests = after.requests.token - before.requests.token
      const distinct = new Set(renewed.map((c) => Redacted.value(c.accessToken)))
      const old = new Set(logins.map((c) => Redacted.value(c.accessToken)))
      const fresh = [...distinct].filter((token) => !old.has(token)).length
      yield* emulator.clearFaults
      yield* say(
        `   All ${count} expired at once; the emulator answers each renewal after ${
          Duration.format(latency)
        }, as a network would.`,
        `   ${count} concurrent sessions.get() calls returned in ${seconds(took)}.`
      )
      yield* check(requests === users, `one token request per user (counted ${requests.toLocaleString("en-US")})`)
      yield* check(fresh === users, `every user got a renewed access token of their own (${fresh} distinct)`)
      yield* check(
        after.maxInFlight === bound,
        `never more than ${bound} requests in flight at once, and that many overlapped (the emulator saw at most ${after.maxInFlight})`
      )
      return `${requests} renewals, at most ${after.maxInFlight} at once, ${seconds(took)}`
    }).pipe(
      Effect.provide(
        Sessions.layer({ maxConcurrentRenewals: bound }).pipe(Layer.provide(RenewalStrategy.refreshToken))
      ),
      // the deadline counts the wait for one of the bound's permits: the last of
      // a thousand renewals waits for all the others (seconds on a busy machine)
      Effect.provide(RenewalPolicy.layer({ ...policyOptions, deadline: "30 seconds" }))
    )
}
