/**
 * DPoP at the resource server, seen from the caller: what the response the
 * AuthorizedClient hands back renders, which 401s renew, where a nonce is
 * kept after a redirect.
 */
import type { Credentials } from "@effect-renewal/core"
import { AuthenticationClient, AuthorizedClient, Dpop, Renewer } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import { inspect } from "node:util"
import * as DpopServer from "./support/dpopServer.js"
import { api as authorized, loggedIn, login, stack } from "./support/dpopStack.js"
import { rawServer } from "./support/rawServer.js"

/** What a raw loopback server received: the path and the `htu` of its proof, if any. */
const recorder = () => {
  const seen: Array<{ readonly path: string; readonly htu: string | undefined }> = []
  const proofs: Array<string> = []
  const record = (url: string, dpop: string | string[] | undefined) => {
    if (typeof dpop === "string") proofs.push(dpop)
    seen.push({
      path: url,
      htu: typeof dpop === "string" ? (jose.decodeJwt(dpop) as { readonly htu?: string }).htu : undefined
    })
  }
  return { seen, proofs, record }
}

describe("AuthorizedClient with DPoP: what reaches the caller", () => {
  it.scopedLive("a logged response, its request and a ResponseError made from it render neither the proof nor the nonce", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      server.nonce.resource = "resource-nonce-SECRET"
      yield* Effect.gen(function*() {
        const renewer = yield* loggedIn(server, key)
        const client = yield* authorized
        const response = yield* client.execute(HttpClientRequest.get(`${server.url}/api/orders`)).pipe(Effect.orDie)
        const proof = server.requests.filter((r) => r.path === "/api/orders").at(-1)!.dpop!
        expect(proof.length).toBeGreaterThan(50)
        // the caller logs what it holds (the platform redacts headers when a logger renders them)
        const error = yield* Effect.flip(HttpClientResponse.filterStatus(response, (status) => status === 418))
        const lines: Array<string> = []
        const capture = Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ message }) => lines.push(inspect(message, { depth: 10 })))
        )
        yield* Effect.log(response.request, response, error).pipe(Effect.provide(capture))
        const text = lines.join("\n")
        // the access token is redacted (authorization is among the platform's redacted names) ...
        expect(text).not.toContain(Redacted.value((yield* renewer.get()).accessToken))
        // ... and so are the proof and the nonce, outside the send too
        expect(text).not.toContain(proof)
        expect(text).not.toContain("resource-nonce-SECRET")
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("a 401 invalid_dpop_proof (a clock 5 minutes ahead) is returned as it is: no renewal, no token request", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      yield* Effect.gen(function*() {
        yield* loggedIn(server, key)
        const client = yield* authorized
        // this machine's clock is 5 minutes ahead: every proof's iat is refused
        const real = yield* Effect.clock
        const ahead: Clock.Clock = {
          [Clock.ClockTypeId]: Clock.ClockTypeId,
          unsafeCurrentTimeMillis: () => real.unsafeCurrentTimeMillis() + 300_000,
          currentTimeMillis: Effect.map(real.currentTimeMillis, (now) => now + 300_000),
          unsafeCurrentTimeNanos: () => real.unsafeCurrentTimeNanos() + 300_000_000_000n,
          currentTimeNanos: Effect.map(real.currentTimeNanos, (now) => now + 300_000_000_000n),
          sleep: (duration) => real.sleep(duration)
        }
        const outcomes: Array<string> = []
        for (let i = 0; i < 3; i++) {
          const exit = yield* client.execute(HttpClientRequest.get(`${server.url}/api/orders`)).pipe(
            Effect.withClock(ahead),
            Effect.exit
          )
          outcomes.push(exit._tag === "Success" ? String(exit.value.status) : String(exit.cause))
        }
        const tokenCalls = server.requests.filter((r) => r.path === "/oauth/token").length
        // a new token cannot cure a refused proof: the API's 401, and no refresh-token request
        expect({ tokenCalls, outcomes }).toEqual({ tokenCalls: 0, outcomes: ["401", "401", "401"] })
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("a DPoP request is not followed across a redirect: the 3xx is handed back, no nonce lands under the wrong origin", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      // elsewhere answers with a nonce of its own
      const there = recorder()
      const elsewhere = yield* rawServer(() => (received, response) => {
        there.record(received.url, received.headers["dpop"])
        response.writeHead(200, { "content-type": "application/json", "dpop-nonce": "nonce-of-elsewhere-SECRET" })
        response.end(JSON.stringify({ ok: true }))
      })
      const here = recorder()
      const api = yield* rawServer(() => (received, response) => {
        here.record(received.url, received.headers["dpop"])
        response.writeHead(302, { location: `${elsewhere}${received.url}` })
        response.end()
      })
      yield* Effect.gen(function*() {
        const renewer = yield* Renewer.Renewer
        const nonces = yield* Dpop.Nonces
        yield* renewer.save(login(server, key))
        const client = yield* authorized
        const response = yield* client.execute(HttpClientRequest.get(`${api}/api/orders`)).pipe(Effect.orDie)
        // fetch would have followed, signed for the first URL, and kept elsewhere's nonce as the API's
        expect(response.status).toBe(302)
        expect(there.seen).toEqual([])
        expect(nonces.get(new URL(api).origin)).toBeUndefined()

        // a caller that follows wraps the AuthorizedClient: each hop signed for its own URL
        const following = yield* AuthorizedClient.make().pipe(
          Effect.provide(FetchHttpClient.layer),
          Effect.map(HttpClient.followRedirects())
        )
        const followed = yield* following.execute(HttpClientRequest.get(`${api}/api/orders`)).pipe(Effect.orDie)
        expect(followed.status).toBe(200)
        expect(there.seen).toEqual([{ path: "/api/orders", htu: `${elsewhere}/api/orders` }])
        expect(here.seen.map((r) => r.htu)).toEqual([`${api}/api/orders`, `${api}/api/orders`])
        expect(nonces.get(new URL(elsewhere).origin)).toBe("nonce-of-elsewhere-SECRET")
        expect(nonces.get(new URL(api).origin)).toBeUndefined()
        // the answer's nonce is there to read, and never renders
        expect(followed.headers["dpop-nonce"]).toBe("nonce-of-elsewhere-SECRET")
        expect(inspect(followed, { depth: 10 })).not.toContain("nonce-of-elsewhere-SECRET")
        expect(String(followed)).not.toContain("nonce-of-elsewhere-SECRET")
        expect(JSON.stringify(followed)).not.toContain("nonce-of-elsewhere-SECRET")
      }).pipe(Effect.provide(stack(server)))
    }))

  it.scopedLive("a DPoP token request is not followed across a redirect: no refresh token, proof or nonce reaches elsewhere", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const there = recorder()
      const elsewhere = yield* rawServer(() => (received, response) => {
        there.record(received.url, received.headers["dpop"])
        response.writeHead(200, { "content-type": "application/json", "dpop-nonce": "nonce-of-elsewhere-SECRET" })
        response.end(JSON.stringify({ access_token: "a", token_type: "DPoP", expires_in: 60 }))
      })
      const here = recorder()
      const authority = yield* rawServer(() => (received, response) => {
        here.record(received.url, received.headers["dpop"])
        response.writeHead(307, { location: `${elsewhere}${received.url}` })
        response.end()
      })
      const nonces = Dpop.makeNonces()
      const error = yield* Effect.gen(function*() {
        const client = yield* AuthenticationClient.AuthenticationClient
        return yield* Effect.flip(client.renewAuth(Redacted.make("refresh-SECRET"), { dpop: key }))
      }).pipe(
        Effect.provide(
          AuthenticationClient.layer({ domain: authority, clientId: "dpop-client", timeout: "10 seconds" }).pipe(
            Layer.provide(FetchHttpClient.layer),
            Layer.orDie
          )
        ),
        Effect.provideService(Dpop.Nonces, nonces)
      )
      expect(here.seen).toEqual([{ path: "/oauth/token", htu: `${authority}/oauth/token` }])
      expect(there.seen).toEqual([])
      expect(nonces.get(new URL(elsewhere).origin)).toBeUndefined()
      expect(nonces.get(new URL(authority).origin)).toBeUndefined()
      for (const text of [inspect(error, { depth: 10 }), String(error), JSON.stringify(error)]) {
        expect(text).not.toContain("refresh-SECRET")
        expect(text).not.toContain(here.proofs[0])
      }
    }))

  it.scopedLive("a token endpoint that echoes the proof and the refresh token: the logged error holds neither", () =>
    Effect.gen(function*() {
      const key = yield* Dpop.generateKey
      const here = recorder()
      const authority = yield* rawServer(() => (received, response) => {
        here.record(received.url, received.headers["dpop"])
        const proof = String(received.headers["dpop"])
        response.writeHead(400, { "content-type": "application/json", "x-echo": proof, "dpop-nonce": "echo-nonce" })
        response.end(JSON.stringify({ error: "invalid_grant", error_description: `${proof} / ${received.body}` }))
      })
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ cause, message }) => lines.push(inspect([message, cause], { depth: 10 })))
      )
      yield* Effect.gen(function*() {
        const client = yield* AuthenticationClient.AuthenticationClient
        const error = yield* Effect.flip(client.renewAuth(Redacted.make("refresh-SECRET"), { dpop: key }))
        yield* Effect.logError("renewal failed", error)
        yield* Effect.logError(error)
      }).pipe(
        Effect.provide(
          AuthenticationClient.layer({ domain: authority, clientId: "dpop-client", timeout: "10 seconds" }).pipe(
            Layer.provide(FetchHttpClient.layer),
            Layer.orDie
          )
        ),
        Effect.provideService(Dpop.Nonces, Dpop.makeNonces()),
        Effect.provide(capture)
      )
      expect(here.proofs.length).toBe(1)
      const text = lines.join("\n")
      expect(text).toContain("invalid_grant")
      expect(text).not.toContain("refresh-SECRET")
      expect(text).not.toContain(here.proofs[0])
      // the parts of the proof (header, payload, signature) none of them either
      for (const part of here.proofs[0]!.split(".")) expect(text).not.toContain(part)
    }))
})

describe("DPoP nonces across a restart", () => {
  it.scopedLive("the memory is the process's: a restart's first renewal goes without a nonce, unless a Nonces of one's own kept it", () =>
    Effect.gen(function*() {
      const server = yield* DpopServer.start
      const key = yield* Dpop.generateKey
      server.nonce.token = "token-nonce-1"
      const tokenAnswers = () =>
        server.requests.filter((r) => r.path === "/oauth/token").map((r) => r.error ?? r.status)
      // one process's life: a renewal, whose first request learns the nonce
      const run = (credentials: Credentials.Credentials, nonces: Dpop.Nonces.Service) =>
        Effect.gen(function*() {
          const renewer = yield* Renewer.Renewer
          yield* renewer.save(credentials)
          return yield* renewer.get({ forceRefresh: true })
        }).pipe(Effect.provide(stack(server, Layer.succeed(Dpop.Nonces, nonces))))
      const kept = Dpop.makeNonces()
      const first = yield* run(login(server, key), kept)
      expect(tokenAnswers()).toEqual(["use_dpop_nonce", 200])
      expect(kept.get(new URL(server.url).origin)).toBe("token-nonce-1")

      // restarted with a memory of its own that kept the nonce: one request, with it
      const restored = Dpop.makeNonces()
      restored.set(new URL(server.url).origin, kept.get(new URL(server.url).origin)!)
      const second = yield* run(first, restored)
      expect(tokenAnswers().slice(2)).toEqual([200])
      expect(server.proofs.filter((p) => p.path === "/oauth/token").at(-1)!.payload.nonce).toBe("token-nonce-1")

      // restarted with the default memory: the first request goes without a nonce and is refused
      // (this server checks the nonce before the grant, so the retry goes through)
      yield* run(second, Dpop.makeNonces())
      expect(tokenAnswers().slice(3)).toEqual(["use_dpop_nonce", 200])
      expect(server.reuses()).toBe(0)
    }))
})
