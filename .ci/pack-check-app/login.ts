/**
 * The login program of `.ci/pack-check`, against the packed packages: the
 * client found by discovery from the emulator's issuer
 * (`AuthenticationClient.layerDiscovery`), a device-flow login with `Login`
 * approved through the emulator (in memory), its id_token checked and the
 * credentials saved, then renewed once past expiry.
 */
import { AuthenticationClient, Jwt, Login, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import * as LoginModule from "@effect-renewal/core/Login"
import { Emulator } from "@effect-renewal/testing"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { check, run, sameToken } from "./support.js"

const accessTokenLifetime = Duration.seconds(2)
const minTtl = Duration.seconds(1)
const clientId = "pack-check-cli"

// The emulator in memory serves any host: the client reaches its issuer
// (https://emulator.effect-renewal.test/ unless told) through its HttpClient.
const Tenant = Emulator.layerMemory({
  clientId,
  rotation: true,
  accessTokenLifetime,
  devicePollingInterval: "1 second"
})

const Client = Layer.unwrapEffect(
  Effect.map(
    Emulator.Emulator,
    (emulator) => AuthenticationClient.layerDiscovery({ issuer: emulator.issuer, clientId })
  )
)

const Stack = Layer.mergeAll(Login.layer(), Renewer.layer({ minTtl }).pipe(Layer.provide(RenewalStrategy.refreshToken)))
  .pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(Client),
    Layer.provideMerge(Tenant)
  )

const program = Effect.gen(function*() {
  yield* check(Login.Login === LoginModule.Login, "the barrel and the subpath export of Login are the same module")
  const emulator = yield* Emulator.Emulator
  const client = yield* AuthenticationClient.AuthenticationClient
  yield* check(
    client.metadata.issuer === emulator.issuer &&
      client.metadata.deviceAuthorizationEndpoint === new URL("oauth/device/code", emulator.issuer).href,
    "the client's metadata comes from the emulator's discovery document"
  )

  const login = yield* Login.Login
  const authorization = yield* login.device({ scope: "openid email offline_access" })
  yield* check(/^[A-Z]{4}-[A-Z]{4}$/.test(authorization.userCode), "a user code to show")
  // the person enters the code and approves
  yield* emulator.approveDevice(authorization.userCode, { username: "pat", email: "pat@example.org" })
  const credentials = yield* authorization.credentials
  const claims = yield* Jwt.decode(credentials.idToken!)
  yield* check(
    claims.sub === "pat" && claims["email"] === "pat@example.org" && claims.iss === emulator.issuer,
    "the verified id_token names the person who approved"
  )

  const renewer = yield* Renewer.Renewer
  yield* renewer.save(credentials)
  const now = yield* DateTime.now
  const untilStale = DateTime.distance(now, credentials.expiresAt) - Duration.toMillis(minTtl)
  yield* Effect.sleep(Duration.millis(Math.max(0, untilStale) + 200))
  const before = (yield* emulator.counters).requests.token
  const renewed = yield* renewer.get()
  const requests = (yield* emulator.counters).requests.token - before
  yield* check(requests === 1, `one token request renews the login (saw ${requests})`)
  yield* check(
    !sameToken(renewed.accessToken, credentials.accessToken) &&
      !sameToken(renewed.refreshToken, credentials.refreshToken),
    "a new access token and a rotated refresh token"
  )
  return `discovered ${emulator.issuer}, logged in with the device flow, renewed once`
})

run("login", program.pipe(Effect.provide(Stack)))
