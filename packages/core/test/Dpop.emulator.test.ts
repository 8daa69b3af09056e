/**
 * DPoP against the emulator (in memory, under the TestClock): logins with
 * `dpop: true`, nonces demanded at the token endpoint and at the resource
 * (`/userinfo`) and rotated at run time, refresh tokens rotating with reuse
 * detection: the user stays logged in across many renewals and nonce
 * rotations, and no nonce retry counts as a reuse.
 */
import { AuthorizedClient, Dpop, Login, Renewer } from "@effect-renewal/core"
import * as Emulator from "@effect-renewal/testing/Emulator"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { createServer } from "node:http"
import * as Stack from "./support/loginStack.js"

const redirectUri = "http://127.0.0.1:8765/callback"

const tenant = Stack.layerMemory({
  emulator: { rotation: true, dpop: { required: true, nonce: true, resourceNonce: true } }
}).pipe(Layer.provideMerge(Dpop.layerNonces()))

const userinfo = Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  const client = yield* AuthorizedClient.make()
  const response = yield* client.execute(HttpClientRequest.get(`${emulator.issuer.replace(/\/$/, "")}/userinfo`))
  return response.status
})

describe("DPoP against the emulator", () => {
  it.effect("authorize with dpop: true, then renewals across nonce rotations with rotation and reuse detection", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri, dpop: true })
      expect(new URL(url).searchParams.get("dpop_jkt")).toBe(pending.dpop!.jkt)
      const credentials = yield* login.complete(pending, yield* Stack.followAuthorize(url))
      expect(credentials.tokenType).toBe("DPoP")
      expect(credentials.dpop?.jkt).toBe(pending.dpop!.jkt)

      const renewer = yield* Renewer.Renewer
      yield* renewer.save(credentials)
      const before = yield* emulator.counters
      let refreshToken = Redacted.value(credentials.refreshToken!)
      for (let i = 0; i < 30; i++) {
        if (i % 3 === 0) yield* emulator.rotateDpopNonce("token")
        const renewed = yield* renewer.get({ forceRefresh: true })
        expect(renewed.dpop?.jkt).toBe(pending.dpop!.jkt)
        expect(Redacted.value(renewed.refreshToken!)).not.toBe(refreshToken)
        refreshToken = Redacted.value(renewed.refreshToken!)
      }
      const after = yield* emulator.counters
      expect(after.reuseDetections).toBe(0)
      expect(after.dpopNonceChallenges - before.dpopNonceChallenges).toBe(10)
      expect(after.dpopRefusals).toBe(0)

      // the resource demands its own nonce: answered without a renewal, rotated too
      const tokenRequests = after.requests.token
      expect(yield* userinfo).toBe(200)
      yield* emulator.rotateDpopNonce("resource")
      expect(yield* userinfo).toBe(200)
      const last = yield* emulator.counters
      expect(last.requests.token).toBe(tokenRequests)
      expect(last.dpopNonceChallenges - after.dpopNonceChallenges).toBe(2)
    }).pipe(Effect.provide(tenant)))

  it.effect("device flow with dpop: true: polls prove the key, the credentials are bound to it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const login = yield* Login.Login
      const authorization = yield* login.device({ dpop: true })
      const polling = yield* Effect.fork(authorization.credentials)
      yield* TestClock.adjust(authorization.interval)
      yield* emulator.approveDevice(authorization.userCode)
      yield* TestClock.adjust(authorization.interval)
      const credentials = yield* Fiber.join(polling)
      expect(credentials.tokenType).toBe("DPoP")
      const renewer = yield* Renewer.Renewer
      yield* renewer.save(credentials)
      expect(yield* userinfo).toBe(200)
      const renewed = yield* renewer.get({ forceRefresh: true })
      expect(renewed.dpop?.jkt).toBe(credentials.dpop?.jkt)
      expect((yield* emulator.counters).reuseDetections).toBe(0)
    }).pipe(Effect.provide(tenant)))

  it.effect("a stolen access token is refused without the key", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri, dpop: true })
      const credentials = yield* login.complete(pending, yield* Stack.followAuthorize(url))
      const http = yield* HttpClient.HttpClient
      const stolen = yield* http.execute(
        HttpClientRequest.get(`${emulator.issuer.replace(/\/$/, "")}/userinfo`).pipe(
          HttpClientRequest.bearerToken(credentials.accessToken)
        )
      )
      expect(stolen.status).toBe(401)
      expect(stolen.headers["www-authenticate"]).toMatch(/invalid_token/)
    }).pipe(Effect.provide(tenant)))
})

describe("Login.loopback with dpop: true", () => {
  it.live("the authorization URL names the key, the code exchange proves it, the credentials carry it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const opened = yield* Deferred.make<string>()
      const fiber = yield* Effect.fork(
        Login.loopback({ dpop: true, open: (url) => Deferred.succeed(opened, url) }).pipe(
          Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
        )
      )
      const url = yield* Deferred.await(opened)
      const jkt = new URL(url).searchParams.get("dpop_jkt")
      yield* Effect.promise(async () => {
        const authorize = await fetch(url, { redirect: "manual" })
        await fetch(authorize.headers.get("location")!, { redirect: "manual" })
      })
      const credentials = yield* Fiber.join(fiber)
      expect(credentials.tokenType).toBe("DPoP")
      expect(credentials.dpop?.jkt).toBe(jkt)
      expect((yield* emulator.counters).dpopProofs).toBeGreaterThanOrEqual(1)
    }).pipe(
      Effect.provide(
        Stack.layer(Layer.merge(Emulator.layerServer({ dpop: { nonce: true } }), FetchHttpClient.layer)).pipe(
          Layer.provideMerge(Dpop.layerNonces())
        )
      )
    ))
})

describe("a PendingAuthorization with a DPoP key, encoded (a web app's cookie)", () => {
  it.effect("round-trips, stays small, and completes with the key it carried", () =>
    Effect.gen(function*() {
      const login = yield* Login.Login
      const { pending, url } = yield* login.authorize({ redirectUri, dpop: true })
      const encoded = JSON.stringify(yield* Schema.encode(Login.PendingAuthorization)(pending))
      const plain = yield* login.authorize({ redirectUri })
      const withoutKey = JSON.stringify(yield* Schema.encode(Login.PendingAuthorization)(plain.pending))
      // the key adds its thumbprint and a P-256 private JWK: about 230 bytes
      expect(encoded.length - withoutKey.length).toBeLessThan(260)
      const decoded = yield* Schema.decodeUnknown(Login.PendingAuthorization)(JSON.parse(encoded))
      expect(String(decoded)).not.toContain(Redacted.value(pending.dpop!.jwk).d)
      const credentials = yield* login.complete(decoded, yield* Stack.followAuthorize(url))
      expect(credentials.dpop?.jkt).toBe(pending.dpop!.jkt)
      expect(credentials.tokenType).toBe("DPoP")
    }).pipe(Effect.provide(tenant)))
})
