/**
 * The program of `.ci/pack-check`. It runs in a project outside the workspace,
 * against the packed packages installed by npm, and reaches them only through
 * their public entry points: a user's view of the library.
 *
 * The emulator serves on loopback; a login is saved, handed out as saved,
 * renewed over HTTP once its access token is past expiry (real time, short
 * lifetimes), and a revoked refresh token ends in a typed `LoginRequired`.
 */
import { AuthError, RenewalStrategy, Renewer, TokenStore } from "@effect-renewal/core"
import * as AuthErrorModule from "@effect-renewal/core/AuthError"
import * as RenewerModule from "@effect-renewal/core/Renewer"
import { Emulator, Fixtures } from "@effect-renewal/testing"
import * as EmulatorModule from "@effect-renewal/testing/Emulator"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { check, run, sameToken } from "./support.js"

const accessTokenLifetime = Duration.seconds(2)
const minTtl = Duration.seconds(1)

// the server's URL is known once it listens: the client is built from it
const ClientOverLoopback = Layer.unwrapEffect(
  Effect.map(Emulator.EmulatorServer, (server) => Fixtures.layerClient({ domain: server.url }))
).pipe(Layer.provide(FetchHttpClient.layer))

const Stack = Renewer.layer({ minTtl }).pipe(
  Layer.provideMerge(RenewalStrategy.refreshToken),
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provideMerge(ClientOverLoopback),
  Layer.provideMerge(Emulator.layerServer({ rotation: true, accessTokenLifetime }))
)

const program = Effect.gen(function*() {
  yield* check(
    Renewer.Renewer === RenewerModule.Renewer && Emulator.Emulator === EmulatorModule.Emulator,
    "the barrels and the subpath exports are the same modules"
  )
  const server = yield* Emulator.EmulatorServer
  const emulator = yield* Emulator.Emulator
  const renewer = yield* Renewer.Renewer
  yield* check(server.url.startsWith("http://127.0.0.1:"), "the emulator listens on loopback")

  const login = yield* Fixtures.login()
  yield* renewer.save(login)
  const fresh = yield* renewer.get()
  yield* check(sameToken(fresh.accessToken, login.accessToken), "a fresh login is handed out as saved")
  yield* check((yield* emulator.requests).length === 0, "no request while the access token is fresh")

  // real time, past the point where less than minTtl is left
  const now = yield* DateTime.now
  const untilStale = DateTime.distance(now, login.expiresAt) - Duration.toMillis(minTtl)
  yield* Effect.sleep(Duration.millis(Math.max(0, untilStale) + 200))
  const renewed = yield* renewer.get()
  yield* check(!sameToken(renewed.accessToken, login.accessToken), "a new access token after expiry")
  yield* check(!sameToken(renewed.refreshToken, login.refreshToken), "the refresh token was rotated")
  const log = (yield* emulator.requests).map((entry) => `${entry.path} ${entry.grantType} ${entry.status}`)
  yield* check(
    log.length === 1 && log[0] === "/oauth/token refresh_token 200",
    `one refresh_token request over HTTP (saw: ${log.join(", ") || "none"})`
  )

  // errors keep their identity across the packages: one copy of core
  yield* emulator.revokeFamilyOf(Redacted.value(renewed.refreshToken!))
  const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
  yield* check(
    error instanceof AuthError.LoginRequired && error.reason === "RefreshTokenRejected" &&
      AuthErrorModule.isLoginRequired(error),
    `a revoked refresh token is LoginRequired (got ${error._tag})`
  )
  return `saved, renewed after expiry and refused after revocation over ${server.url}`
})

run("core + testing", program.pipe(Effect.provide(Stack)))
