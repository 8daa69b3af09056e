/**
 * 3. One renewal for 1,000 concurrent callers.
 */
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { say } from "../Narrator.js"
import { counters, logIn, sameToken, seconds, since, type Story, untilExpired, withRenewer } from "../Stage.js"
import { fingerprint } from "../TokenLedger.js"

const key = "carol-concurrent"
const callers = 1000
const count = callers.toLocaleString("en-US")

export const singleFlight: Story = {
  title: "1,000 concurrent callers, one request",
  name: "single flight",
  expected: "1 token request, 1 access token",
  run: (check) =>
    withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
      Effect.gen(function*() {
        const login = yield* logIn(renewer, { username: "carol" })
        yield* say(`   Carol logs in (session "${key}"): access ${fingerprint(login.accessToken)}.`)
        yield* untilExpired(login)

        const before = yield* counters
        const start = yield* DateTime.now
        const results = yield* Effect.all(Array.from({ length: callers }, () => renewer.get()), {
          concurrency: "unbounded"
        })
        const took = yield* since(start)
        const after = yield* counters
        const requests = after.requests.token - before.requests.token
        const distinct = new Set(results.map((c) => Redacted.value(c.accessToken)))
        const first = results[0]!.accessToken
        yield* say(`   ${count} concurrent renewer.get() calls returned in ${seconds(took)}.`)
        yield* check(
          requests === 1,
          `the emulator counted ${requests} token request${requests === 1 ? "" : "s"} for ${count} callers`
        )
        yield* check(
          distinct.size === 1,
          `${
            distinct.size === 1 ? "all of them got" : `they got ${distinct.size} different tokens, not`
          } the same access token (${fingerprint(first)})`
        )
        yield* check(!sameToken(first, login.accessToken), "it is a renewed one, not the expired one")
        return `${requests} token request${requests === 1 ? "" : "s"}, ${distinct.size} access token${
          distinct.size === 1 ? "" : "s"
        }`
      }))
}
