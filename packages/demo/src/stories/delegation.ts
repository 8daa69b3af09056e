/**
 * Delegation with a still-valid id_token: a `Renewer` built with
 * `RenewalStrategy.delegation` renews through Auth0's legacy `/delegation`,
 * which only the client's Auth0 `domain` form reaches.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Jwt from "@effect-renewal/core/Jwt"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { say } from "../Narrator.js"
import {
  counters,
  describeTokens,
  logIn,
  sameToken,
  seconds,
  Stage,
  type Story,
  untilExpired,
  withRenewer
} from "../Stage.js"
import { fingerprint } from "../TokenLedger.js"

const key = "bob-delegation"

const idTokenTtl = (token: Parameters<typeof Jwt.decode>[0]) =>
  Effect.gen(function*() {
    const claims = yield* Jwt.decode(token)
    const now = yield* DateTime.now
    return Option.match(Jwt.expiresAt(claims), {
      onNone: () => "no exp",
      onSome: (exp) => seconds(Duration.millis(DateTime.toEpochMillis(exp) - DateTime.toEpochMillis(now)))
    })
  })

export const delegation: Story = {
  title: "Delegation with a still-valid id_token",
  name: "delegation",
  expected: "delegation +1, token +0",
  run: (check) =>
    Effect.flatMap(Stage, ({ auth0Client }) =>
      withRenewer(
        key,
        RenewalStrategy.delegation({ idTokenLeeway: "1 second" }).pipe(
          Layer.orDie,
          // Auth0's domain form: its endpoints derived, /delegation among them
          Layer.provide(Layer.succeed(AuthenticationClient.AuthenticationClient, auth0Client))
        ),
        (renewer) =>
          Effect.gen(function*() {
            const login = yield* logIn(renewer, { username: "bob", scope: "openid profile offline_access" })
            yield* say(
              `   Bob logs in (session "${key}", RenewalStrategy.delegation() over Auth0's domain form of the client): ${
                describeTokens(login)
              }.`
            )
            if (login.idToken === undefined) {
              yield* check(false, "the login brought an id_token")
              return "no id_token at login"
            }
            yield* untilExpired(login)
            yield* say(
              `   The access token has expired; the id_token is valid for another ${yield* idTokenTtl(login.idToken)}.`
            )

            const before = yield* counters
            const renewed = yield* renewer.get()
            const after = yield* counters
            const delegations = after.requests.delegation - before.requests.delegation
            const tokenRequests = after.requests.token - before.requests.token
            yield* say(`   renewer.get() renewed: ${describeTokens(renewed)}.`)
            yield* check(
              delegations === 1 && tokenRequests === 0,
              `counters.requests.delegation grew by ${delegations}, token requests by ${tokenRequests}`
            )
            yield* check(
              !sameToken(renewed.idToken, login.idToken) && sameToken(renewed.accessToken, renewed.idToken),
              `a new id_token, also the bearer token (${fingerprint(login.idToken)} -> ${fingerprint(renewed.idToken)})`
            )
            yield* check(
              sameToken(renewed.refreshToken, login.refreshToken),
              `the refresh token is kept (${fingerprint(renewed.refreshToken)})`
            )
            return `delegation +${delegations}, token +${tokenRequests}`
          })
      ))
}
