/**
 * 6. API credentials: a token for another API, renewed with the login's
 * refresh token, kept apart from the login's own credentials.
 */
import * as AuthError from "@effect-renewal/core/AuthError"
import * as Jwt from "@effect-renewal/core/Jwt"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { say } from "../Narrator.js"
import { counters, logIn, ordersApi, sameToken, type Story, withRenewer } from "../Stage.js"
import { fingerprint, TokenLedger } from "../TokenLedger.js"

const key = "dana-apis"
const otherApi = "https://billing.example.test"

export const apiCredentials: Story = {
  title: "API credentials for another audience, with the login's refresh token",
  name: "API credentials",
  expected: "1 token request, login kept, wrong audience refused",
  run: (check) =>
    withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
      Effect.gen(function*() {
        const ledger = yield* TokenLedger
        const login = yield* logIn(renewer, { username: "dana" })
        yield* say(`   Dana logs in (session "${key}"): access ${fingerprint(login.accessToken)}.`)
        const before = yield* counters

        const orders = yield* renewer.get({ audience: ordersApi })
        yield* ledger.addCredentials(orders)
        const audience = Option.match(Option.getRight(yield* Effect.either(Jwt.decode(orders.accessToken))), {
          onNone: () => undefined,
          onSome: (claims) => claims.aud
        })
        yield* say(`   renewer.get({ audience: "${ordersApi}" }): access ${fingerprint(orders.accessToken)}.`)
        yield* check(audience === ordersApi, `its access token is for ${ordersApi} (aud)`)
        yield* renewer.get({ audience: ordersApi })
        const requests = (yield* counters).requests.token - before.requests.token
        yield* check(requests === 1, `asked twice, ${requests} token request${requests === 1 ? "" : "s"}`)

        const store = yield* TokenStore.TokenStore
        const stored = Option.getOrUndefined(yield* store.get(key))
        yield* check(
          stored !== undefined && sameToken(stored.accessToken, login.accessToken),
          "the login's own credentials are not replaced by the API's"
        )
        yield* check(
          stored !== undefined && !sameToken(stored.refreshToken, login.refreshToken),
          `the rotated refresh token went to the session's entry (${fingerprint(stored?.refreshToken)})`
        )

        const refused = yield* Effect.flip(renewer.get({ audience: otherApi }))
        yield* say(`   renewer.get({ audience: "${otherApi}" }) failed: ${refused.message}`)
        const mismatch = refused._tag === "RenewalFailed" && refused.reason === "AudienceMismatch"
        yield* check(mismatch, "an audience the refresh token may not ask for is refused, nothing handed out")
        yield* check(!AuthError.isLoginRequired(refused), "and Dana stays logged in")
        const reuse = (yield* counters).reuseDetections - before.reuseDetections
        yield* check(reuse === 0, "no refresh token was used twice")
        return `${requests} token request${requests === 1 ? "" : "s"}, login kept, ${
          mismatch ? "wrong audience refused" : "wrong audience NOT refused"
        }`
      }))
}
