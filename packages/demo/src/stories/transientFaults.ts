/**
 * 4. A burst of transient faults is ridden out by the retry policy.
 */
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { say } from "../Narrator.js"
import { logIn, sameToken, seconds, since, type Story, untilExpired, withRenewer } from "../Stage.js"
import { fingerprint } from "../TokenLedger.js"

const key = "dave-faults"
const Fault = Emulator.Fault

const expectedStatuses = [503, "reset", 502, 200] as const

export const transientFaults: Story = {
  title: "A burst of transient faults ridden out",
  name: "transient faults",
  expected: "503, reset, 502, then 200",
  run: (check) =>
    withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const login = yield* logIn(renewer, { username: "dave" })
        yield* say(`   Dave logs in (session "${key}"): refresh ${fingerprint(login.refreshToken)}.`)
        yield* untilExpired(login)

        const logged = (yield* emulator.requests).length
        yield* emulator.faultOn("token", Fault.status(503, { retryAfter: 1 }), Fault.reset(), Fault.html(502))
        yield* say("   The next token requests will meet a 503 with Retry-After: 1, a dropped connection, an HTML 502.")
        const start = yield* DateTime.now
        const renewed = yield* renewer.get()
        const took = yield* since(start)
        const statuses = (yield* emulator.requests).slice(logged)
          .filter((entry) => entry.endpoint === "token")
          .map((entry) => entry.status)
        yield* say(`   renewer.get() succeeded after ${seconds(took)}; token requests: ${statuses.join(" -> ")}.`)
        yield* check(
          statuses.length === expectedStatuses.length && statuses.every((s, i) => s === expectedStatuses[i]),
          `the emulator saw ${statuses.join(", ")}`
        )
        yield* check(
          Duration.greaterThanOrEqualTo(took, Duration.seconds(1)),
          `Retry-After was honoured (${seconds(took)} >= 1.0 s)`
        )
        const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key))
        yield* check(
          Option.exists(stored, (s) => sameToken(s.refreshToken, renewed.refreshToken)) &&
            !sameToken(renewed.refreshToken, login.refreshToken),
          `the rotated refresh token was saved (${fingerprint(renewed.refreshToken)})`
        )
        return `${statuses.join(", ")} in ${seconds(took)}`
      }))
}
