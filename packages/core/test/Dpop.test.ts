/**
 * DPoP (RFC 9449) end to end against a server of our own on loopback
 * (`support/dpopServer.ts`), whose checks use `jose`'s verifier, not the
 * library's signing: proofs at the token endpoint and at a resource server,
 * nonces demanded at each end (apart), rotation with reuse detection across
 * nonce rotations, key loss and mismatch, API credentials, two Renewers on
 * one store, Sessions.
 */
import {
  AuthenticationClient,
  Credentials,
  Dpop,
  RenewalStrategy,
  Renewer,
  Sessions,
  TokenCodec,
  TokenStore
} from "@effect-renewal/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import { inspect } from "node:util"
import * as DpopServer from "./support/dpopServer.js"
import { api, clientLayer, loggedIn, login, refusal, stack } from "./support/dpopStack.js"
import { rawServer } from "./support/rawServer.js"

const get = (client: HttpClient.HttpClient.With<unknown>, url: string) =>
  client.execute(HttpClientRequest.get(url)).pipe(Effect.flatMap((response) => response.json), Effect.orDie)

const tokenRequests = (server: DpopServer.DpopServer) => server.requests.filter((r) => r.path === "/oauth/token")

describe("DPoP at the token endpoint", () => {
  it.scopedLive("a renewal carries a proof the server verifies; a demanded nonce is sent once more, then remembered", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      server.nonce.token = "nonce-1"
      yield* Effect.gen(function*() {
        const renewer = yield* loggedIn(server, key)
        const renewed = yield* renewer.get({ forceRefresh: true })
        expect(renewed.tokenType).toBe("DPoP")
        expect(renewed.dpop?.jkt).toBe(key.jkt)
        // refused for its nonce, then accepted with the one the answer gave
        expect(tokenRequests(server).map((r) => [r.status, r.error])).toEqual([[400, "use_dpop_nonce"], [
          200,
          undefined
        ]])
        expect(server.proofs.map((p) => [p.jkt, p.payload.htm, p.payload.htu, p.payload.nonce])).toEqual([
          [key.jkt, "POST", `${server.url}/oauth/token`, undefined],
          [key.jkt, "POST", `${server.url}/oauth/token`, "nonce-1"]
        ])
        // the next renewal knows the nonce: one request
        yield* renewer.get({ forceRefresh: true })
        expect(tokenRequests(server).length).toBe(3)
        expect(server.proofs[2]!.payload.nonce).toBe("nonce-1")
        expect(new Set(server.proofs.map((p) => p.payload.jti)).size).toBe(3)
        expect(server.reuses()).toBe(0)
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive(
    "many renewals across nonce rotations, refresh tokens rotating with reuse detection: still logged in",
    () =>
      Effect.gen(function*() {
        const server = yield* DpopServer.start
        const key = yield* Dpop.generateKey
        yield* Effect.gen(function*() {
          const renewer = yield* Renewer.Renewer
          const store = yield* TokenStore.TokenStore
          yield* renewer.save(login(server, key))
          for (let i = 0; i < 30; i++) {
            // the server rotates its nonce every third renewal
            if (i % 3 === 0) server.nonce.token = `nonce-${i}`
            yield* renewer.get({ forceRefresh: true })
          }
          expect(server.reuses()).toBe(0)
          expect(tokenRequests(server).filter((r) => r.error === "use_dpop_nonce").length).toBe(10)
          expect(tokenRequests(server).filter((r) => r.status === 200).length).toBe(30)
          // the stored refresh token is the server's current one: the next renewal works
          const stored = Option.getOrThrow(yield* store.get(TokenStore.entryKey("default")))
          expect(stored.dpop?.jkt).toBe(key.jkt)
          yield* renewer.get({ forceRefresh: true })
          expect(server.reuses()).toBe(0)
        }).pipe(Effect.provide(stack(server)))
      }),
    30_000
  )

  it.scopedLive("API credentials (another audience) are renewed with the session's key and carry it", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      yield* Effect.gen(function*() {
        const renewer = yield* loggedIn(server, key)
        const forApi = yield* renewer.get({ audience: "https://orders.example.com" })
        expect(forApi.dpop?.jkt).toBe(key.jkt)
        expect(forApi.tokenType).toBe("DPoP")
        expect(server.proofs.map((p) => p.jkt)).toEqual([key.jkt])
        const orders = yield* get(yield* api, `${server.url}/api/orders`)
        expect(orders).toEqual({ sub: "alice", scheme: "DPoP" })
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("a stolen refresh token is refused without the key; the library never presents one without it", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      const credentials = login(server, key)
      const client = yield* AuthenticationClient.AuthenticationClient.pipe(Effect.provide(clientLayer(server)))
      const stolen = yield* Effect.flip(client.renewAuth(credentials.refreshToken!))
      expect([stolen._tag, stolen._tag === "AuthApiError" && stolen.code]).toEqual(["AuthApiError", "invalid_grant"])
      const thief = yield* Dpop.generateKey
      const withOtherKey = yield* Effect.flip(client.renewAuth(credentials.refreshToken!, { dpop: thief }))
      expect(withOtherKey._tag === "AuthApiError" && withOtherKey.code).toBe("invalid_grant")
      // a stolen access token, sent as a bearer token or with another key's proof
      const bearer = yield* Effect.promise(() =>
        fetch(`${server.url}/api/orders`, {
          headers: { authorization: `Bearer ${Redacted.value(credentials.accessToken)}` }
        })
      )
      expect(bearer.status).toBe(401)
    }).pipe(Effect.provide(Dpop.layerNonces())))
})

describe("DPoP at the resource server (AuthorizedClient)", () => {
  it.scopedLive("Authorization: DPoP with a proof with ath; a nonce challenge is answered without renewing", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      server.nonce.resource = "resource-nonce-1"
      server.nonce.token = "token-nonce-1"
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        const credentials = login(server, key)
        yield* renewer.save(credentials)
        const client = yield* api
        expect(yield* get(client, `${server.url}/api/orders?page=2#top`)).toEqual({ sub: "alice", scheme: "DPoP" })
        const calls = server.requests.filter((r) => r.path === "/api/orders")
        expect(calls.map((r) => [r.status, r.error])).toEqual([[401, "use_dpop_nonce"], [200, undefined]])
        expect(calls.every((r) => r.authorization === `DPoP ${Redacted.value(credentials.accessToken)}`)).toBe(true)
        expect(server.proofs.map((p) => [p.payload.htm, p.payload.htu, p.payload.nonce])).toEqual([
          ["GET", `${server.url}/api/orders`, undefined],
          ["GET", `${server.url}/api/orders`, "resource-nonce-1"]
        ])
        // no renewal for a nonce; the token endpoint's nonce is another origin's business
        expect(tokenRequests(server).length).toBe(0)
        yield* get(client, `${server.url}/api/orders`)
        expect(server.requests.filter((r) => r.path === "/api/orders").length).toBe(3)

        // a rejected token renews once (with a proof, and the token endpoint's own nonce dance)
        server.expire(Redacted.value(credentials.accessToken))
        expect(yield* get(client, `${server.url}/api/orders`)).toEqual({ sub: "alice", scheme: "DPoP" })
        expect(tokenRequests(server).map((r) => r.status)).toEqual([400, 200])
        expect(server.reuses()).toBe(0)
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("tokens issued as Bearer are sent as Bearer, with no proof", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(login(server, undefined))
        expect(yield* get(yield* api, `${server.url}/api/me`)).toEqual({ sub: "alice", scheme: "Bearer" })
        expect(server.requests.map((r) => r.dpop)).toEqual([undefined])
      }).pipe(Effect.provide(stack(server)))
    }))
})

describe("DPoP key lost or swapped", () => {
  it.scopedLive("credentials bound to a key stored without it: DpopKeyMissing, the refresh token kept, nothing sent", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        const store = yield* TokenStore.TokenStore
        const { dpop: _, ...withoutKey } = login(server, key)
        yield* renewer.save(new Credentials.Credentials(withoutKey))
        const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
        expect([error._tag, error._tag === "LoginRequired" && error.reason]).toEqual([
          "LoginRequired",
          "DpopKeyMissing"
        ])
        const kept = Option.getOrThrow(yield* store.get(TokenStore.entryKey("default")))
        expect(Redacted.value(kept.refreshToken!)).toBe(Redacted.value(withoutKey.refreshToken!))
        // the resource is not sent the token either
        expect(yield* refusal(server)).toBe("DpopKeyMissing")
        expect(server.requests).toEqual([])
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("a key swapped under its recorded thumbprint: DpopKeyMismatch, the refresh token kept, nothing sent", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      const other = yield* Dpop.generateKey
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        const store = yield* TokenStore.TokenStore
        const swapped = new Dpop.DpopKey({ jkt: key.jkt, jwk: other.jwk })
        // the key's own halves swapped: the private scalar of another key
        const halves = new Dpop.DpopKey({
          jkt: key.jkt,
          jwk: Redacted.make(Data.struct({ ...Redacted.value(key.jwk), d: Redacted.value(other.jwk).d }))
        })
        for (const wrong of [swapped, halves]) {
          yield* renewer.save(new Credentials.Credentials({ ...login(server, key), dpop: wrong }))
          const error = yield* Effect.flip(renewer.get({ forceRefresh: true }))
          expect(error._tag === "LoginRequired" && error.reason).toBe("DpopKeyMismatch")
          expect(Option.getOrThrow(yield* store.get(TokenStore.entryKey("default"))).refreshToken).toBeDefined()
          expect(yield* refusal(server)).toBe("DpopKeyMismatch")
        }
        expect(server.requests).toEqual([])
      }).pipe(Effect.provide(stack(server)))
    }))

  it.effect("clear removes the key with the credentials", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const renewer = yield* Renewer.Renewer
      const store = yield* TokenStore.TokenStore
      yield* renewer.save(
        new Credentials.Credentials({
          accessToken: Redacted.make("at"),
          refreshToken: Redacted.make("rt"),
          tokenType: "DPoP",
          expiresAt: DateTime.unsafeMake(3_600_000),
          dpop: key
        })
      )
      expect(Option.getOrThrow(yield* store.get(TokenStore.entryKey("default"))).dpop?.jkt).toBe(key.jkt)
      yield* renewer.clear()
      expect(Option.isNone(yield* store.get(TokenStore.entryKey("default")))).toBe(true)
    }).pipe(
      Effect.provide(
        Renewer.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provide(Layer.succeed(RenewalStrategy.RenewalStrategy, {
            renew: () => Effect.die("no renewal"),
            revoke: () => Effect.void
          }))
        )
      )
    ))
})

describe("DPoP with one store shared", () => {
  it.scopedLive("two Renewers of one session share the key through the store; Sessions keep one key per session", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const alice = yield* Dpop.generateKey
      const bob = yield* Dpop.generateKey
      server.nonce.token = "shared-nonce"
      yield* Effect.gen(function*() {
        const first = yield* Renewer.make({ key: "alice" })
        const second = yield* Renewer.make({ key: "alice" })
        yield* first.save(login(server, alice))
        const renewed = yield* second.get({ forceRefresh: true })
        expect(renewed.dpop?.jkt).toBe(alice.jkt)
        const again = yield* first.get({ forceRefresh: true })
        expect(again.dpop?.jkt).toBe(alice.jkt)
        expect(server.reuses()).toBe(0)

        const sessions = yield* Sessions.make()
        yield* sessions.save("bob", login(server, bob))
        const [a, b] = yield* Effect.all([
          sessions.get("alice", { forceRefresh: true }),
          sessions.get("bob", { forceRefresh: true })
        ], { concurrency: 2 })
        expect([a.dpop?.jkt, b.dpop?.jkt]).toEqual([alice.jkt, bob.jkt])
        const granted = server.proofs.filter((p) => p.status === 200).map((p) => p.jkt)
        expect(granted.filter((jkt) => jkt === bob.jkt).length).toBe(1)
        expect(server.reuses()).toBe(0)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(TokenStore.layerMemory, RenewalStrategy.refreshToken.pipe(Layer.provide(clientLayer(server))))
        ),
        Effect.provide(Dpop.layerNonces())
      )
    }))
})

describe("the DPoP key in the stored form", () => {
  const credentialsWith = (key: Dpop.DpopKey) =>
    new Credentials.Credentials({
      accessToken: Redacted.make("at"),
      refreshToken: Redacted.make("rt"),
      tokenType: "DPoP",
      expiresAt: DateTime.unsafeMake(3_600_000),
      dpop: key
    })

  it.effect("round-trips through the JSON codec and the encrypted one, and still signs", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const credentials = credentialsWith(key)
      const d = Redacted.value(key.jwk).d
      const plain = yield* TokenCodec.json.encode("alice", credentials)
      // the JSON form holds the key in plain text, like the tokens: encrypt the store
      expect(plain).toContain(d)
      const back = yield* TokenCodec.json.decode("alice", plain)
      expect(Equal.equals(back, credentials)).toBe(true)
      const codec = yield* TokenCodec.encrypted(yield* TokenCodec.generateKey)
      const sealed = yield* codec.encode("alice", credentials)
      expect(sealed).not.toContain(d)
      const opened = yield* codec.decode("alice", sealed)
      expect(opened.dpop?.jkt).toBe(key.jkt)
      // a decoded key is a new value: checked once, then it signs
      const proof = yield* Dpop.proof(opened.dpop!, { method: "GET", url: "https://api.example.com/x?y=1" })
      const verified = yield* Effect.promise(() =>
        jose.jwtVerify(Redacted.value(proof), jose.EmbeddedJWK, { typ: "dpop+jwt" })
      )
      expect(verified.payload.htu).toBe("https://api.example.com/x")
      expect(yield* Effect.promise(() => jose.calculateJwkThumbprint(verified.protectedHeader.jwk!))).toBe(key.jkt)
    }))

  it.effect("entries written before decode with no key; a broken key is a StoreError naming the field only", () =>
    Effect.gen(function*() {
      const old = JSON.stringify({
        accessToken: "at",
        refreshToken: "rt",
        tokenType: "Bearer",
        expiresAt: "1970-01-01T01:00:00.000Z"
      })
      const decoded = yield* TokenCodec.json.decode("alice", old)
      expect(decoded.dpop).toBeUndefined()
      const key = yield* Dpop.generateKey
      const stored = JSON.parse(yield* TokenCodec.json.encode("alice", credentialsWith(key)))
      stored.dpop.jwk.d = "not-a-scalar"
      const error = yield* Effect.flip(TokenCodec.json.decode("alice", JSON.stringify(stored)))
      expect(error.message).toContain("dpop")
      expect(error.message).not.toContain("not-a-scalar")
      expect(error.message).not.toContain(stored.dpop.jwk.x)
    }))

  it.effect("toString, toJSON and inspect of the credentials and the key never show the private key", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const credentials = credentialsWith(key)
      const d = Redacted.value(key.jwk).d
      for (const value of [credentials, key]) {
        for (const text of [String(value), JSON.stringify(value), inspect(value, { depth: 10 })]) {
          expect(text).not.toContain(d)
        }
      }
      expect(String(key)).toContain(key.jkt)
    }))

  it.effect("fromJwk restores a key from its JWK, thumbprint computed; anything else is a ParseError without values", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const restored = yield* Dpop.fromJwk({ ...Redacted.value(key.jwk), key_ops: ["sign"] })
      expect(restored.jkt).toBe(key.jkt)
      const error = yield* Effect.flip(Dpop.fromJwk({ kty: "RSA", n: "secret-modulus", d: "secret-exponent" }))
      expect(String(error)).not.toContain("secret")
    }))
})

describe("Dpop.proof and fromRefreshToken", () => {
  it.effect("a URL that is not absolute is an InvalidConfiguration, not a defect", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const error = yield* Effect.flip(Dpop.proof(key, { method: "GET", url: "/orders" }))
      expect(error._tag).toBe("InvalidConfiguration")
    }))

  it.scopedLive("a bound refresh token restored alone with its key renews with a proof", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      const restored = yield* Dpop.fromJwk(Redacted.value(key.jwk))
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        const { refreshToken } = server.mint(key.jkt)
        yield* renewer.save(
          yield* Credentials.fromRefreshToken(Redacted.make(refreshToken), { scope: "openid", dpop: restored })
        )
        const renewed = yield* renewer.get()
        expect([renewed.tokenType, renewed.dpop?.jkt]).toEqual(["DPoP", key.jkt])
        expect(server.proofs.map((p) => p.jkt)).toEqual([key.jkt])
      }).pipe(Effect.provide(stack(server)))
    }))
})

describe("DPoP edge cases", () => {
  it.scopedLive("a nonce challenge without a nonce is returned as it is: no renewal", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      let calls = 0
      const url = yield* rawServer(() => (_, response) => {
        calls++
        response.writeHead(401, { "www-authenticate": `DPoP error="use_dpop_nonce"` }).end()
      })
      const server = yield* DpopServer.start
      yield* Effect.gen(function*() {
        yield* loggedIn(server, key)
        const response = yield* (yield* api).execute(HttpClientRequest.get(`${url}/x`))
        expect(response.status).toBe(401)
        expect(calls).toBe(1)
        expect(tokenRequests(server)).toEqual([])
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("clear({ revoke: true }) with a wrong key revokes without a proof rather than not at all", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      const other = yield* Dpop.generateKey
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        yield* renewer.save(
          new Credentials.Credentials({
            ...login(server, key),
            dpop: new Dpop.DpopKey({ jkt: key.jkt, jwk: other.jwk })
          })
        )
        yield* renewer.clear({ revoke: true })
        const revocations = server.requests.filter((r) => r.path === "/oauth/revoke")
        expect(revocations.map((r) => [r.status, r.dpop])).toEqual([[200, undefined]])
      }).pipe(Effect.provide(stack(server)))
    }))
})
