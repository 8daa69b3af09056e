import * as Emulator from "@effect-renewal/testing/Emulator"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash, randomBytes } from "node:crypto"
import { claimsOf, CLIENT_ID } from "./support/wire.js"

const REDIRECT_URI = "http://127.0.0.1:8765/callback"

const pkce = () => {
  const verifier = randomBytes(32).toString("base64url")
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") }
}

const query = (challenge: string, extra: Record<string, string> = {}) =>
  new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: "openid profile offline_access",
    state: "state-1",
    nonce: "nonce-1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...extra
  }).toString()

const hiddenQuery = (html: string) => {
  const match = /name="query" value="([^"]*)"/.exec(html)
  return match![1]!.replace(/&amp;/g, "&")
}

const post = (url: string, form: Record<string, string>) =>
  Effect.promise(() =>
    fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString()
    })
  )

const withServer = <A, E>(f: (base: string, emulator: Emulator.Emulator.Service) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const server = yield* Emulator.EmulatorServer
    return yield* f(server.url, emulator)
  }).pipe(Effect.provide(Emulator.layerServer({ loginPage: true })))

describe("the emulator's login page (layerServer({ loginPage: true }))", () => {
  it.live("a username typed and Allow give a code whose tokens have that sub", () =>
    withServer((base, emulator) =>
      Effect.gen(function*() {
        const { challenge, verifier } = pkce()
        const page = yield* Effect.promise(() => fetch(`${base}/authorize?${query(challenge)}`, { redirect: "manual" }))
        expect(page.status).toBe(200)
        expect(page.headers.get("content-type")).toContain("text/html")
        const loginHtml = yield* Effect.promise(() => page.text())
        expect(loginHtml).toContain(`name="username"`)
        const consent = yield* post(`${base}/authorize/login`, { query: hiddenQuery(loginHtml), username: "alice" })
        const consentHtml = yield* Effect.promise(() => consent.text())
        expect(consentHtml).toContain("alice")
        expect(consentHtml).toContain(`value="allow"`)
        // nothing issued before the decision
        expect((yield* emulator.counters).authorizations).toBe(0)
        const redirect = yield* post(`${base}/authorize/consent`, {
          query: hiddenQuery(consentHtml),
          username: "alice",
          decision: "allow"
        })
        expect(redirect.status).toBe(302)
        const location = new URL(redirect.headers.get("location")!)
        expect(location.origin + location.pathname).toBe(REDIRECT_URI)
        expect(location.searchParams.get("state")).toBe("state-1")
        const token = yield* post(`${base}/oauth/token`, {
          grant_type: "authorization_code",
          client_id: CLIENT_ID,
          code: location.searchParams.get("code")!,
          redirect_uri: REDIRECT_URI,
          code_verifier: verifier
        })
        const body = yield* Effect.promise(() => token.json() as Promise<Record<string, string>>)
        expect(claimsOf(body.id_token!).sub).toBe("alice")
        expect(claimsOf(body.id_token!).nonce).toBe("nonce-1")
        const check = (token: string) =>
          Effect.map(
            emulator.verifyResourceRequest({
              method: "GET",
              url: `${base}/userinfo`,
              authorization: `Bearer ${token}`
            }),
            (access) => access._tag
          )
        expect(yield* check(body.access_token!)).toBe("Authorized")
        expect(yield* check(body.access_token! + "x")).toBe("Refused")
      })
    ))

  it.live("Deny redirects with access_denied; a bad username or a forged query gets a page, no code", () =>
    withServer((base, emulator) =>
      Effect.gen(function*() {
        const { challenge } = pkce()
        const q = query(challenge)
        const denied = yield* post(`${base}/authorize/consent`, { query: q, username: "bob", decision: "deny" })
        expect(denied.status).toBe(302)
        expect(new URL(denied.headers.get("location")!).searchParams.get("error")).toBe("access_denied")
        const bad = yield* post(`${base}/authorize/login`, { query: q, username: "<script>" })
        expect(bad.status).toBe(400)
        expect(yield* Effect.promise(() => bad.text())).not.toContain("<script>")
        const forged = yield* post(`${base}/authorize/consent`, {
          query: query(challenge, { client_id: "someone-else" }),
          username: "bob",
          decision: "allow"
        })
        expect(forged.status).toBe(400)
        expect((yield* emulator.counters).authorizations).toBe(0)
        // an invalid request is the emulator's own answer, not a login page
        const unknown = yield* Effect.promise(() =>
          fetch(`${base}/authorize?${query(challenge, { client_id: "x" })}`, { redirect: "manual" })
        )
        expect(unknown.status).toBe(400)
        expect(yield* Effect.promise(() => unknown.text())).not.toContain(`name="username"`)
      })
    ))

  it.live("without the option, /authorize answers at once with the scripted decision", () =>
    Effect.gen(function*() {
      const server = yield* Emulator.EmulatorServer
      const { challenge } = pkce()
      const reply = yield* Effect.promise(() =>
        fetch(`${server.url}/authorize?${query(challenge)}`, { redirect: "manual" })
      )
      expect(reply.status).toBe(302)
    }).pipe(Effect.provide(Emulator.layerServer())))
})
