// docs/login.md: the three flows, the refresh-token-only start, the errors.
import * as AuthenticationClient from "@effect-renewal/core/AuthenticationClient"
import * as Credentials from "@effect-renewal/core/Credentials"
import * as Login from "@effect-renewal/core/Login"
import * as RenewalStrategy from "@effect-renewal/core/RenewalStrategy"
import * as Renewer from "@effect-renewal/core/Renewer"
import * as Sessions from "@effect-renewal/core/Sessions"
import * as TokenStore from "@effect-renewal/core/TokenStore"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"

// The provider from OIDC_ISSUER and OIDC_CLIENT_ID, found by discovery; the
// login and a Renewer over the same client.
const Client = AuthenticationClient.layerDiscoveryConfig().pipe(Layer.provide(FetchHttpClient.layer))
export const LoginLive = Login.layer().pipe(Layer.provide([Client, FetchHttpClient.layer]))
export const RenewerLive = Renewer.layer().pipe(
  Layer.provide(RenewalStrategy.refreshToken),
  Layer.provide([Client, TokenStore.layerMemory])
)

// A CLI without a browser: the device flow. The code goes to stderr, the
// credentials to the Renewer, which renews them from then on.
export const deviceLogin = Effect.gen(function*() {
  const login = yield* Login.Login
  const authorization = yield* login.device({ scope: "openid profile offline_access" })
  yield* Console.error(`Open ${authorization.verificationUri} and enter the code ${authorization.userCode}`)
  const credentials = yield* authorization.credentials // polls until the person approves
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
})

// A desktop app or a CLI with a browser: the loopback redirect. The server
// listens on 127.0.0.1 at a port the system picks, for this login only.
export const browserLogin = Effect.gen(function*() {
  const credentials = yield* Login.loopback({
    scope: "openid profile offline_access",
    open: (url) => Console.error(`Open this URL in your browser: ${url}`),
    timeout: "5 minutes"
  }).pipe(Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))
  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
})

// A web server: authorize on the way out, complete on the way back. The
// pending authorization waits in the user's cookie (encrypt and sign it
// with your cookie key), used once.
const PendingJson = Schema.parseJson(Login.PendingAuthorization)

export const startLogin = (redirectUri: string) =>
  Effect.gen(function*() {
    const login = yield* Login.Login
    const { pending, url } = yield* login.authorize({ redirectUri, scope: "openid email offline_access" })
    const cookie = yield* Schema.encode(PendingJson)(pending)
    return { redirectTo: url, cookie } // 302 to `url`, Set-Cookie with `cookie` encrypted
  })

export const finishLogin = (cookie: string, callbackUrl: string, sessionKey: string) =>
  Effect.gen(function*() {
    const login = yield* Login.Login
    const pending = yield* Schema.decode(PendingJson)(cookie)
    const credentials = yield* login.complete(pending, callbackUrl)
    const sessions = yield* Sessions.Sessions
    yield* sessions.save(sessionKey, credentials)
  })

// A refresh token from elsewhere (a migration, an admin tool): the first get
// renews before it hands anything out.
export const adopt = (refreshToken: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const renewer = yield* Renewer.Renewer
    yield* renewer.save(yield* Credentials.fromRefreshToken(refreshToken, { scope: "openid offline_access" }))
    return yield* renewer.get()
  })

// What a failed login means for the person in front of the screen.
export const explained = deviceLogin.pipe(
  Effect.catchTag("LoginFailed", (error) => {
    switch (error.reason) {
      case "AccessDenied":
        return Console.error("The login was refused.")
      case "Expired":
      case "Timeout":
        return Console.error("The login took too long: start again.")
      case "Transient":
        return Console.error("The provider could not be reached: try again later.")
      case "Configuration":
        return Console.error(`The application is misconfigured: ${error.description}`)
      default:
        // InvalidCallback, InvalidIdToken, Rejected: nothing was saved
        return Console.error(`The login failed (${error.reason}): start again.`)
    }
  })
)
