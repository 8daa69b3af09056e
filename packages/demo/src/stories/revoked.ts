/**
 * 5. A revoked refresh token: the next renewal is rejected with
 * `invalid_grant`, which means `LoginRequired`, and the refresh token is
 * dropped from the store.
 */
import * as AuthError from "@effect-renewal/core/AuthError"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { say } from "../Narrator.js"
import { counters, logIn, type Story, untilExpired, withRenewer } from "../Stage.js"
import { fingerprint } from "../TokenLedger.js"

const key = "erin-revoked"

export const revoked: Story = {
  title: "A revoked refresh token leads to LoginRequired",
  name: "revoked",
  expected: "LoginRequired (invalid_grant), refresh dropped",
  run: (check) =>
    withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const login = yield* logIn(renewer, { username: "erin" })
        yield* say(`   Erin logs in (session "${key}"): refresh ${fingerprint(login.refreshToken)}.`)
        if (login.refreshToken === undefined) {
          yield* check(false, "the login brought a refresh token")
          return "no refresh token at login"
        }
        yield* emulator.revokeFamilyOf(Redacted.value(login.refreshToken))
        yield* say("   An administrator revokes her refresh token family at the tenant.")
        yield* untilExpired(login)

        const before = yield* counters
        const result = yield* Effect.either(renewer.get())
        const after = yield* counters
        const requests = after.requests.token - before.requests.token
        if (Either.isRight(result)) {
          yield* check(false, "renewer.get() failed")
          return "get() succeeded"
        }
        const error = result.left
        yield* say(`   renewer.get() failed: ${error.message}`)
        yield* check(
          error._tag === "LoginRequired" && AuthError.isInvalidGrant(error),
          `the error is ${error._tag}${AuthError.isInvalidGrant(error) ? " caused by invalid_grant" : ""}`
        )
        yield* check(requests === 1, `a definitive rejection: not retried (${requests} token request)`)
        const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key))
        yield* check(
          Option.isSome(stored) && stored.value.refreshToken === undefined,
          `the stored credentials ${
            Option.match(stored, {
              onNone: () => "are gone",
              onSome: (s) => s.refreshToken === undefined ? "no longer hold a refresh token" : "still hold one"
            })
          }`
        )
        const hasValid = yield* renewer.hasValid()
        yield* check(!hasValid, `renewer.hasValid() is ${hasValid}: the app must ask Erin to log in again`)
        return `${error._tag}${AuthError.isInvalidGrant(error) ? " (invalid_grant)" : ""}, refresh ${
          Option.exists(stored, (s) => s.refreshToken === undefined) ? "dropped" : "kept"
        }`
      }))
}
