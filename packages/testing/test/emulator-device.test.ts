import * as Emulator from "@effect-renewal/testing/Emulator"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { claimsOf, CLIENT_ID, ISSUER, memory } from "./support/wire.js"

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

const post = (url: string, params: Record<string, string>) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUrlParams(params)))
    const text = yield* response.text
    const json = response.headers["content-type"]?.includes("json") ? JSON.parse(text) : undefined
    return { status: response.status, json }
  })

const start = (params: Record<string, string> = {}, issuer = ISSUER) =>
  post(`${issuer}oauth/device/code`, { client_id: CLIENT_ID, scope: "openid offline_access", ...params })

const poll = (deviceCode: string, extra: Record<string, string> = {}, issuer = ISSUER) =>
  post(`${issuer}oauth/token`, { grant_type: DEVICE_GRANT, client_id: CLIENT_ID, device_code: deviceCode, ...extra })

const errorOf = (reply: { readonly status: number; readonly json: any }) => [reply.status, reply.json?.error]

describe("device authorization endpoint", () => {
  it.effect("answers a device code, a user code like ABCD-EFGH, the verification URIs, expires_in 600 and interval 5", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const reply = yield* start()
      expect(reply.status).toBe(200)
      expect(Object.keys(reply.json).sort()).toEqual([
        "device_code",
        "expires_in",
        "interval",
        "user_code",
        "verification_uri",
        "verification_uri_complete"
      ])
      expect(reply.json.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/)
      expect(reply.json.device_code.length).toBeGreaterThanOrEqual(32)
      expect(reply.json).toMatchObject({
        verification_uri: `${ISSUER}activate`,
        verification_uri_complete: `${ISSUER}activate?user_code=${reply.json.user_code}`,
        expires_in: 600,
        interval: 5
      })
      expect((yield* start()).json.user_code).not.toBe(reply.json.user_code)
      const counters = yield* emulator.counters
      expect(counters.deviceAuthorizations).toBe(2)
      expect(counters.requests.device).toBe(2)
    }).pipe(memory()))

  it.effect("the lifetime and the interval are options", () =>
    Effect.gen(function*() {
      const reply = yield* start()
      expect(reply.json).toMatchObject({ expires_in: 120, interval: 2 })
    }).pipe(memory({ deviceCodeLifetime: "2 minutes", devicePollingInterval: "2 seconds" })))

  it.effect("authenticates the client; a GET is a 405; scripted faults reach it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      expect(errorOf(yield* start())).toEqual([401, "invalid_client"])
      expect(errorOf(yield* start({ client_id: "someone-else", client_secret: "s3cret" }))).toEqual([
        401,
        "invalid_client"
      ])
      expect((yield* start({ client_secret: "s3cret" })).status).toBe(200)
      const client = yield* HttpClient.HttpClient
      expect((yield* client.execute(HttpClientRequest.get(`${ISSUER}oauth/device/code`))).status).toBe(405)
      yield* emulator.faultOn("device", Emulator.Fault.status(503))
      expect((yield* start({ client_secret: "s3cret" })).status).toBe(503)
      expect((yield* emulator.counters).deviceAuthorizations).toBe(1)
    }).pipe(memory({ clientSecret: "s3cret" })))
})

describe("device_code grant", () => {
  it.effect("authorization_pending until approved, then tokens once; the code is then spent", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { device_code, user_code } = (yield* start({ scope: "openid email offline_access" })).json
      expect(errorOf(yield* poll(device_code))).toEqual([403, "authorization_pending"])
      yield* TestClock.adjust("5 seconds")
      expect(errorOf(yield* poll(device_code))).toEqual([403, "authorization_pending"])
      // as typed by a person: case and dash do not matter
      yield* emulator.approveDevice(user_code.toLowerCase().replace("-", ""), {
        username: "alice",
        email: "alice@example.org"
      })
      yield* TestClock.adjust("5 seconds")
      const granted = yield* poll(device_code)
      expect(granted.status).toBe(200)
      expect(granted.json).toMatchObject({ token_type: "Bearer", scope: "openid email offline_access" })
      expect(granted.json.refresh_token).toBeTypeOf("string")
      const claims = claimsOf(granted.json.id_token)
      expect(claims).toMatchObject({ iss: ISSUER, aud: CLIENT_ID, sub: "alice", email: "alice@example.org" })
      expect(claims).not.toHaveProperty("nonce")
      yield* TestClock.adjust("5 seconds")
      expect(errorOf(yield* poll(device_code))).toEqual([403, "invalid_grant"])
      expect(yield* emulator.counters).toMatchObject({ devicePolls: 4, logins: 1 })
    }).pipe(memory()))

  it.effect("approved without a user: demo-user; the audience asked is the access token's", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { device_code, user_code } = (yield* start({ audience: "https://api.example.org" })).json
      yield* emulator.approveDevice(user_code)
      const granted = yield* poll(device_code)
      expect(claimsOf(granted.json.id_token).sub).toBe("demo-user")
      expect(claimsOf(granted.json.access_token).aud).toBe("https://api.example.org")
    }).pipe(memory()))

  it.effect("slow_down when polled sooner than the interval since the last poll; the interval grows by 5 s for good", () =>
    Effect.gen(function*() {
      const { device_code } = (yield* start()).json
      expect(errorOf(yield* poll(device_code))).toEqual([403, "authorization_pending"]) // t = 0
      yield* TestClock.adjust("4 seconds") // t = 4: sooner than 5
      const slow = yield* poll(device_code)
      expect(errorOf(slow)).toEqual([403, "slow_down"])
      expect(slow.json.error_description).toContain("10 seconds")
      yield* TestClock.adjust("9 seconds") // t = 13: 9 s since the last poll, the interval is now 10
      expect(errorOf(yield* poll(device_code))).toEqual([403, "slow_down"])
      yield* TestClock.adjust("14 seconds") // t = 27: 14 s, the interval is now 15
      expect(errorOf(yield* poll(device_code))).toEqual([403, "slow_down"])
      yield* TestClock.adjust("20 seconds") // t = 47: 20 s, the interval 20
      expect(errorOf(yield* poll(device_code))).toEqual([403, "authorization_pending"])
      yield* TestClock.adjust("20 seconds") // stays 20: only too soon a poll makes it grow
      expect(errorOf(yield* poll(device_code))).toEqual([403, "authorization_pending"])
    }).pipe(memory()))

  it.effect("expired_token from its lifetime on, approved or not", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const pending = (yield* start()).json
      const approved = (yield* start()).json
      yield* TestClock.adjust("599 seconds")
      expect(errorOf(yield* poll(pending.device_code))).toEqual([403, "authorization_pending"])
      yield* emulator.approveDevice(approved.user_code)
      yield* TestClock.adjust("1 second")
      expect(errorOf(yield* poll(approved.device_code))).toEqual([403, "expired_token"])
      yield* TestClock.adjust("5 seconds")
      expect(errorOf(yield* poll(pending.device_code))).toEqual([403, "expired_token"])
    }).pipe(memory()))

  it.effect("access_denied after denyDevice, poll after poll", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { device_code, user_code } = (yield* start()).json
      yield* emulator.denyDevice(user_code)
      expect(errorOf(yield* poll(device_code))).toEqual([403, "access_denied"])
      yield* TestClock.adjust("5 seconds")
      expect(errorOf(yield* poll(device_code))).toEqual([403, "access_denied"])
      expect((yield* emulator.counters).logins).toBe(0)
    }).pipe(memory()))

  it.effect("an unknown user code cannot be approved or denied; an unknown device code is invalid_grant", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const approve = yield* Effect.flip(emulator.approveDevice("BBBB-BBBB"))
      expect(approve._tag).toBe("NoSuchElementException")
      expect((yield* Effect.flip(emulator.denyDevice("nope")))._tag).toBe("NoSuchElementException")
      expect(errorOf(yield* poll("made-up"))).toEqual([403, "invalid_grant"])
      const missing = yield* post(`${ISSUER}oauth/token`, { grant_type: DEVICE_GRANT, client_id: CLIENT_ID })
      expect(errorOf(missing)).toEqual([400, "invalid_request"])
    }).pipe(memory()))

  it.effect("the request log holds no device code", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const { device_code } = (yield* start()).json
      yield* poll(device_code)
      const log = yield* emulator.requests
      expect(log.map((entry) => [entry.endpoint, entry.grantType, entry.status])).toEqual([
        ["device", undefined, 200],
        ["token", DEVICE_GRANT, 403]
      ])
      expect(log[1]!.params["device_code"]).toBe("<redacted>")
      expect(JSON.stringify(log)).not.toContain(device_code)
    }).pipe(memory()))
})

describe("device flow over loopback", () => {
  it.live("start, approve, poll over real HTTP; verification_uri on the server's issuer", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const started = yield* start({}, emulator.issuer)
      expect(started.json.verification_uri).toBe(`${emulator.issuer}activate`)
      expect(errorOf(yield* poll(started.json.device_code, {}, emulator.issuer))).toEqual([
        403,
        "authorization_pending"
      ])
      yield* emulator.approveDevice(started.json.user_code)
      const granted = yield* poll(started.json.device_code, {}, emulator.issuer)
      expect(granted.status).toBe(200)
      expect(claimsOf(granted.json.id_token).iss).toBe(emulator.issuer)
    }).pipe(
      // an interval of 0: the second poll need not wait in real time
      Effect.provide(Layer.merge(Emulator.layerServer({ devicePollingInterval: 0 }), FetchHttpClient.layer))
    ))
})
