/**
 * DPoP (RFC 9449): a device-flow login with `dpop: true` binds the tokens to
 * a key that only this application holds. The key is saved with the
 * credentials in the (encrypted) store; renewals and the `AuthorizedClient`
 * sign their proofs with it; the emulator demands nonces at the token
 * endpoint and at its resource (`/userinfo`), answered once each. A stolen
 * access token or refresh token is refused without the key.
 */
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as AuthorizedClient from "@effect-renewal/core/AuthorizedClient"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { say } from "../Narrator.js"
import { counters, describeTokens, provideLogin, Stage, type Story, withRenewer } from "../Stage.js"
import { TokenLedger } from "../TokenLedger.js"

const key = "ivan-dpop"
const person = { username: "ivan", email: "ivan@example.org" }

export const dpop: Story = {
  title: "DPoP: tokens bound to a key, a stolen token refused",
  name: "dpop",
  expected: "bound tokens, nonces answered, theft refused",
  run: (check) =>
    provideLogin(Effect.gen(function*() {
      const login = yield* Login.Login
      const emulator = yield* Emulator.Emulator
      const ledger = yield* TokenLedger
      const { http } = yield* Stage
      const authorization = yield* login.device({ scope: "openid profile offline_access", dpop: true })
      yield* emulator.approveDevice(authorization.userCode, person)
      const credentials = yield* authorization.credentials
      yield* ledger.addCredentials(credentials)
      const jkt = credentials.dpop?.jkt ?? "none"
      yield* say(
        `   login.device({ dpop: true }) made an ES256 key; every poll carried a proof of it.`,
        `   The server bound the tokens to the key's thumbprint ${
          jkt.slice(0, 8)
        }… (token_type ${credentials.tokenType}): ${describeTokens(credentials)}.`
      )
      yield* check(
        credentials.tokenType === "DPoP" && credentials.dpop !== undefined,
        "the login gave DPoP-bound credentials that carry their key"
      )

      // From now on, the emulator wants a fresh nonce at both ends.
      yield* emulator.requireDpopNonce("token")
      yield* emulator.requireDpopNonce("resource")
      const userinfo = `${emulator.issuer.replace(/\/$/, "")}/userinfo`

      return yield* withRenewer(key, RenewalStrategy.refreshToken, (renewer) =>
        Effect.gen(function*() {
          yield* renewer.save(credentials)
          const store = yield* TokenStore.TokenStore
          const stored = Option.getOrUndefined(yield* store.get(TokenStore.entryKey(key)))
          yield* check(
            stored?.dpop?.jkt === jkt,
            "the key was saved with the credentials (the store's entry is encrypted by the codec)"
          )

          const before = yield* counters
          const renewed = yield* renewer.get({ forceRefresh: true })
          yield* ledger.addCredentials(renewed)
          const renewal = yield* counters
          const challenges = renewal.dpopNonceChallenges - before.dpopNonceChallenges
          yield* say(
            `   A renewal: the token endpoint asked for a nonce (use_dpop_nonce), the proof was signed again with it,`,
            `   in the same attempt: ${
              describeTokens(renewed)
            }; refresh-token reuse detected: ${renewal.reuseDetections}.`
          )
          yield* check(
            challenges === 1 && renewal.reuseDetections === before.reuseDetections && renewed.dpop?.jkt === jkt,
            `renewed with one nonce retry (${challenges}), the rotated refresh token bound to the same key, no reuse`
          )

          const api = yield* AuthorizedClient.make().pipe(Effect.provideService(HttpClient.HttpClient, http))
          const first = yield* api.execute(HttpClientRequest.get(userinfo))
          const second = yield* api.execute(HttpClientRequest.get(userinfo))
          const calls = yield* counters
          yield* say(
            `   AuthorizedClient → GET /userinfo: "Authorization: DPoP …" and a proof with ath; the resource asked for its own`,
            `   nonce once (${
              calls.dpopNonceChallenges - renewal.dpopNonceChallenges
            } challenge), answered without renewing: HTTP ${first.status}, then ${second.status}.`
          )
          yield* check(
            first.status === 200 && second.status === 200 && calls.requests.token === renewal.requests.token,
            "the protected resource answered, with no renewal for its nonce"
          )

          // A thief with the tokens and without the key.
          const stolenAccess = yield* HttpClient.execute(
            HttpClientRequest.get(userinfo).pipe(HttpClientRequest.bearerToken(renewed.accessToken))
          ).pipe(Effect.provideService(HttpClient.HttpClient, http))
          const client = yield* AuthenticationClient.AuthenticationClient
          const stolenRefresh = yield* Effect.flip(client.renewAuth(renewed.refreshToken!))
          const refusedCode = stolenRefresh._tag === "AuthApiError" ? stolenRefresh.code : stolenRefresh._tag
          yield* say(
            `   A stolen access token sent as Bearer: HTTP ${stolenAccess.status}. The stolen refresh token without a proof: ${refusedCode}.`
          )
          yield* check(
            stolenAccess.status === 401 && refusedCode === "invalid_grant",
            "the stolen tokens are useless without the key"
          )
          const still = yield* renewer.get({ forceRefresh: true })
          yield* ledger.addCredentials(still)
          yield* check(still.dpop?.jkt === jkt, "the user is still logged in with the key")
          yield* renewer.clear()
          // the emulator is shared with the other stories: back to nonces on no demand
          yield* emulator.requireDpopNonce("token", false)
          yield* emulator.requireDpopNonce("resource", false)
          return `bound to ${jkt.slice(0, 8)}…, ${challenges} nonce retry, theft refused`
        }))
    }))
}
