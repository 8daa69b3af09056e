/**
 * What both login stories do with the credentials a login gave, as an
 * application does: check what it got, save it through a `Renewer`, say who
 * logged in, and past expiry let `get()` renew it.
 */
import type { Credentials } from "@effect-renewal/core/Credentials"
import * as Jwt from "@effect-renewal/core/Jwt"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as Effect from "effect/Effect"
import { say } from "../Narrator.js"
import { type Check, counters, describeTokens, sameToken, untilExpired, withRenewer } from "../Stage.js"
import { fingerprint, TokenLedger } from "../TokenLedger.js"

/** Who approves the login at the emulator. */
export interface Person {
  readonly name: string
  readonly username: string
  readonly email: string
}

export interface LoggedIn {
  /** The session key the credentials are saved under. */
  readonly key: string
  readonly person: Person
  readonly credentials: Credentials
  /** The emulator's counters before the login started, and after it ended. */
  readonly before: Emulator.Counters
  readonly after: Emulator.Counters
}

/**
 * Checks the login's credentials (every token known to the ledger, the
 * id_token verified and naming the person), saves them through a `Renewer`
 * for `key`, and renews them once past expiry: one token request, a rotated
 * refresh token. Returns the summary's "observed".
 */
export const afterLogin = (check: Check, { after, before, credentials, key, person }: LoggedIn) =>
  withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
    Effect.gen(function*() {
      const ledger = yield* TokenLedger
      const emulator = yield* Emulator.Emulator
      yield* check(
        yield* ledger.knows(credentials.accessToken, credentials.idToken, credentials.refreshToken),
        `its tokens (${describeTokens(credentials)}) came over HTTP through the ledger's client`
      )
      if (credentials.idToken === undefined || credentials.refreshToken === undefined) {
        yield* check(false, "the login brought an id_token and a refresh token")
        return "no id_token or refresh token"
      }

      // Login verified the id_token before answering; its claims say who logged in.
      const claims = yield* Jwt.decode(credentials.idToken)
      const email = typeof claims["email"] === "string" ? claims["email"] : "none"
      yield* say(`   Logged in: ${claims.sub ?? "no sub"} <${email}> (the id_token's sub and email, by Jwt.decode).`)
      const jwks = after.requests.jwks - before.requests.jwks
      const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud ?? []
      yield* check(
        jwks >= 1 && claims.iss === emulator.issuer && audiences.includes(emulator.clientId),
        `the id_token was verified: its RS256 signature against the JWKS (GET /.well-known/jwks.json: ${jwks}), iss the issuer, aud the client id`
      )
      yield* check(
        claims.sub === person.username && email === person.email,
        `it names the person who approved (${person.name})`
      )

      yield* renewer.save(credentials)
      yield* say(`   renewer.save(credentials): session "${key}", in the encrypted SQLite store.`)
      yield* untilExpired(credentials)

      const beforeRenewal = yield* counters
      const renewed = yield* renewer.get()
      const afterRenewal = yield* counters
      const requests = afterRenewal.requests.token - beforeRenewal.requests.token
      yield* say(`   renewer.get() renewed: ${describeTokens(renewed)}.`)
      yield* check(requests === 1, `one POST /oauth/token (counted ${requests})`)
      const rotated = renewed.refreshToken !== undefined && !sameToken(renewed.refreshToken, credentials.refreshToken)
      yield* check(
        rotated,
        `the refresh token rotated (${fingerprint(credentials.refreshToken)} -> ${fingerprint(renewed.refreshToken)})`
      )
      yield* check(
        yield* ledger.knows(renewed.accessToken, renewed.idToken, renewed.refreshToken),
        "the renewed tokens are known to the ledger too"
      )
      return `${person.name} logged in, renewed once, refresh ${fingerprint(credentials.refreshToken)} -> ${
        fingerprint(renewed.refreshToken)
      }`
    }))
