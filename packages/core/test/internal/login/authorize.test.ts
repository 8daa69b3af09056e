import { AuthError, Credentials, Login } from "@effect-renewal/core"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import * as Authorize from "../../../src/internal/login/authorize.js"
import type { Client, Metadata } from "../../../src/internal/login/client.js"
import type { Verifier } from "../../../src/internal/login/idToken.js"
import * as Pkce from "../../../src/internal/login/pkce.js"

const issuer = "https://issuer.example/"
const redirectUri = "https://app.example/callback"

type Exchange = { grantType: string; fields: Record<string, string | undefined>; options: unknown }

const setup = (
  metadata: Partial<Metadata> = {},
  answer?: Effect.Effect<Credentials.Credentials, AuthError.AuthApiError>
) => {
  const exchanges: Array<Exchange> = []
  const nonces: Array<string | undefined> = []
  const client: Client = {
    clientId: "client-1",
    metadata: {
      issuer,
      tokenEndpoint: "https://issuer.example/token",
      authorizationEndpoint: "https://issuer.example/authorize?tenant=t1",
      jwksUri: "https://issuer.example/jwks",
      authorizationResponseIssParameterSupported: true,
      ...metadata
    },
    formRequest: () => Effect.die("not used"),
    tokenRequest: (grantType, fields, options) =>
      Effect.suspend(() => {
        exchanges.push({ grantType, fields, options })
        return answer ?? Effect.map(DateTime.now, (now) =>
          new Credentials.Credentials({
            accessToken: Redacted.make("at"),
            idToken: Redacted.make("id"),
            refreshToken: Redacted.make("rt"),
            tokenType: "Bearer",
            expiresAt: DateTime.add(now, { hours: 1 })
          }))
      })
  }
  const events: Array<string> = []
  const verifier: Verifier = {
    verify: (_, expected) =>
      Effect.sync(() => nonces.push(expected.nonce === undefined ? undefined : Redacted.value(expected.nonce))),
    prepare: Effect.sync(() => void events.push("prepare"))
  }
  return { client, verifier, exchanges, nonces, events }
}

const callback = (params: Record<string, string> | Array<[string, string]>) =>
  `${redirectUri}?${new URLSearchParams(params).toString()}`

const lifetime = Authorize.defaultPendingLifetime

describe("internal/login/authorize", () => {
  it.effect("the URL carries the flow's parameters, S256 of the verifier, and extras that override none", () =>
    Effect.gen(function*() {
      const { client } = setup()
      const { pending, url } = yield* Authorize.authorize(client, {
        redirectUri,
        audience: "https://api.example",
        prompt: "consent",
        loginHint: "alice@example.com",
        parameters: { state: "forced", scope: "admin", client_id: "evil", code_challenge_method: "plain", foo: "bar" }
      })
      expect(url.origin + url.pathname).toBe("https://issuer.example/authorize")
      const q = Object.fromEntries(url.searchParams)
      expect(q).toEqual({
        tenant: "t1",
        foo: "bar",
        response_type: "code",
        client_id: "client-1",
        redirect_uri: redirectUri,
        scope: "openid offline_access",
        state: Redacted.value(pending.state),
        nonce: Redacted.value(pending.nonce),
        code_challenge: yield* Pkce.challenge(pending.codeVerifier),
        code_challenge_method: "S256",
        audience: "https://api.example",
        prompt: "consent",
        login_hint: "alice@example.com"
      })
      expect(Pkce.isVerifier(Redacted.value(pending.codeVerifier))).toBe(true)
      expect(pending.scope).toBe("openid offline_access")
      expect(pending.audience).toBe("https://api.example")
      // fresh values every time
      const again = yield* Authorize.authorize(client, { redirectUri })
      expect(Redacted.value(again.pending.state)).not.toBe(Redacted.value(pending.state))
      expect(Redacted.value(again.pending.codeVerifier)).not.toBe(Redacted.value(pending.codeVerifier))
    }))

  it.effect("the challenge is base64url(SHA-256(verifier)), as node:crypto computes it", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 20; i++) {
        const verifier = Pkce.verifier()
        const expected = createHash("sha256").update(Redacted.value(verifier)).digest("base64url")
        expect(yield* Pkce.challenge(verifier)).toBe(expected)
        expect(Pkce.isVerifier(Redacted.value(verifier))).toBe(true)
      }
    }))

  it.effect("no endpoint, no S256, or an unusable redirect URI is Configuration", () =>
    Effect.gen(function*() {
      const none = yield* Effect.flip(
        Authorize.authorize(setup({ authorizationEndpoint: undefined }).client, { redirectUri })
      )
      expect(none.reason).toBe("Configuration")
      const plain = yield* Effect.flip(
        Authorize.authorize(setup({ codeChallengeMethodsSupported: ["plain"] }).client, { redirectUri })
      )
      expect(plain.reason).toBe("Configuration")
      for (const uri of ["/callback", "https://app.example/cb#x", "https://u:p@app.example/cb"]) {
        const error = yield* Effect.flip(Authorize.authorize(setup().client, { redirectUri: uri }))
        expect(error.reason).toBe("Configuration")
      }
    }))

  it.effect("openid asked of a provider without a jwks_uri is Configuration in authorize, before any code exists", () =>
    Effect.gen(function*() {
      const { client } = setup({ jwksUri: undefined })
      const error = yield* Effect.flip(Authorize.authorize(client, { redirectUri }))
      expect(error.reason).toBe("Configuration")
      expect(error.description).toContain("jwks_uri")
      // without openid, no id_token is checked: the login goes on
      yield* Authorize.authorize(client, { redirectUri, scope: "offline_access" })
    }))

  it.effect("complete reads the keys before the code is spent: a JWKS that cannot be read leaves the code unexchanged", () =>
    Effect.gen(function*() {
      const { client, events, exchanges, verifier } = setup()
      const { pending } = yield* Authorize.authorize(client, { redirectUri })
      const url = callback({ code: "the-code", state: Redacted.value(pending.state), iss: issuer })
      const down: Verifier = {
        ...verifier,
        prepare: Effect.fail(new AuthError.LoginFailed({ reason: "Transient", description: "JWKS down" }))
      }
      expect((yield* Effect.flip(Authorize.complete(client, down, pending, url, lifetime))).reason).toBe("Transient")
      expect(exchanges).toEqual([])
      const tracked: Verifier = {
        ...verifier,
        prepare: Effect.zipRight(
          Effect.sync(() => expect(exchanges).toEqual([])),
          verifier.prepare
        )
      }
      yield* Authorize.complete(client, tracked, pending, url, lifetime)
      expect(events).toEqual(["prepare"])
      expect(exchanges).toHaveLength(1)
    }))

  it.effect("max_age in the parameters is kept in the pending authorization and checked against auth_time", () =>
    Effect.gen(function*() {
      const { client, verifier } = setup()
      const maxAges: Array<number | undefined> = []
      const recording: Verifier = {
        ...verifier,
        verify: (_, expected) => Effect.sync(() => void maxAges.push(expected.maxAge))
      }
      const { pending, url } = yield* Authorize.authorize(client, { redirectUri, parameters: { max_age: "300" } })
      expect(url.searchParams.get("max_age")).toBe("300")
      expect(pending.maxAge).toBe(300)
      yield* Authorize.complete(
        client,
        recording,
        pending,
        callback({ code: "c", state: Redacted.value(pending.state), iss: issuer }),
        lifetime
      )
      expect(maxAges).toEqual([300])
      const bad = yield* Effect.flip(Authorize.authorize(client, { redirectUri, parameters: { max_age: "soon" } }))
      expect(bad.reason).toBe("Configuration")
      // a pending authorization encoded before max_age was kept still decodes
      const json = Schema.parseJson(Login.PendingAuthorization)
      const encoded = yield* Schema.encode(json)(new Login.PendingAuthorization(pending))
      const old = JSON.parse(encoded)
      delete old.maxAge
      const decoded = yield* Schema.decode(json)(JSON.stringify(old))
      expect(decoded.maxAge).toBeUndefined()
      expect(decoded.redirectUri).toBe(redirectUri)
      expect((yield* Schema.decode(json)(encoded)).maxAge).toBe(300)
    }))

  it.effect("complete exchanges the code with the verifier and checks the id_token with the nonce", () =>
    Effect.gen(function*() {
      const { client, exchanges, nonces, verifier } = setup()
      const { pending } = yield* Authorize.authorize(client, { redirectUri, scope: "openid email offline_access" })
      const state = Redacted.value(pending.state)
      const credentials = yield* Authorize.complete(
        client,
        verifier,
        pending,
        callback({ code: "the-code", state, iss: issuer }),
        lifetime
      )
      expect(exchanges).toHaveLength(1)
      const { fields, grantType, options } = exchanges[0]!
      expect(grantType).toBe("authorization_code")
      expect(fields).toEqual({
        code: "the-code",
        redirect_uri: redirectUri,
        code_verifier: Redacted.value(pending.codeVerifier)
      })
      const sent = options as { presented: string; secrets: ReadonlyArray<Redacted.Redacted<string>> }
      expect(sent.presented).toBe("authorization_code")
      expect(sent.secrets.map(Redacted.value)).toEqual(["the-code", Redacted.value(pending.codeVerifier)])
      expect(nonces).toEqual([Redacted.value(pending.nonce)])
      // the answer named no scope: the one asked is remembered
      expect(credentials.scope).toBe("openid email offline_access")
      // a path alone, as a server's request gives it
      yield* Authorize.complete(client, verifier, pending, `/callback?code=c2&state=${state}&iss=${issuer}`, lifetime)
      expect(exchanges[1]!.fields["code"]).toBe("c2")
    }))

  it.effect("state, iss, duplicates, error and code are checked before any exchange (oauth4webapi's order)", () =>
    Effect.gen(function*() {
      const { client, exchanges, verifier } = setup()
      const { pending } = yield* Authorize.authorize(client, { redirectUri })
      const state = Redacted.value(pending.state)
      const cases: Array<[string, string, string | undefined]> = [
        [callback({ code: "c", iss: issuer }), "InvalidCallback", undefined],
        [callback({ code: "c", state: "forged", iss: issuer }), "InvalidCallback", undefined],
        [callback([["code", "c"], ["state", state], ["state", state], ["iss", issuer]]), "InvalidCallback", undefined],
        [callback([["code", "c"], ["code", "d"], ["state", state], ["iss", issuer]]), "InvalidCallback", undefined],
        [callback({ code: "c", state, iss: "https://evil.example/" }), "InvalidCallback", undefined],
        [callback({ code: "c", state }), "InvalidCallback", undefined],
        [callback({ state, iss: issuer }), "InvalidCallback", undefined],
        [callback({ code: "", state, iss: issuer }), "InvalidCallback", undefined],
        // an error is believed only with this login's state
        [callback({ error: "access_denied", state: "forged", iss: issuer }), "InvalidCallback", undefined],
        [callback({ error: "access_denied", state, iss: issuer }), "AccessDenied", "access_denied"],
        [callback({ error: "login_required", state, iss: issuer }), "Rejected", "login_required"],
        [callback({ error: "<script>alert(1)</script>\"", state, iss: issuer }), "Rejected", "invalid_error_code"],
        ["not a url at all http://[", "InvalidCallback", undefined]
      ]
      for (const [url, reason, code] of cases) {
        const error = yield* Effect.flip(Authorize.complete(client, verifier, pending, url, lifetime))
        expect([url, error.reason, error.code]).toEqual([url, reason, code])
        expect(error.message).not.toContain(state)
      }
      expect(exchanges).toHaveLength(0)
    }))

  it.effect("iss may be absent when the provider does not say it sends it", () =>
    Effect.gen(function*() {
      const { client, exchanges, verifier } = setup({ authorizationResponseIssParameterSupported: false })
      const { pending } = yield* Authorize.authorize(client, { redirectUri })
      yield* Authorize.complete(
        client,
        verifier,
        pending,
        callback({ code: "c", state: Redacted.value(pending.state) }),
        lifetime
      )
      expect(exchanges).toHaveLength(1)
    }))

  it.effect("a pending authorization older than its lifetime is Expired", () =>
    Effect.gen(function*() {
      const { client, exchanges, verifier } = setup()
      const { pending } = yield* Authorize.authorize(client, { redirectUri })
      yield* TestClock.adjust(Duration.sum(lifetime, Duration.seconds(1)))
      const url = callback({ code: "c", state: Redacted.value(pending.state), iss: issuer })
      const error = yield* Effect.flip(Authorize.complete(client, verifier, pending, url, lifetime))
      expect(error.reason).toBe("Expired")
      expect(exchanges).toHaveLength(0)
    }))

  it.effect("a refused exchange is Rejected with the server's code; openid without an id_token is InvalidIdToken", () =>
    Effect.gen(function*() {
      const replayed = setup(
        {},
        Effect.fail(new AuthError.AuthApiError({ status: 400, code: "invalid_grant", description: "used" }))
      )
      const first = yield* Authorize.authorize(replayed.client, { redirectUri })
      const url = callback({ code: "c", state: Redacted.value(first.pending.state), iss: issuer })
      const error = yield* Effect.flip(
        Authorize.complete(replayed.client, replayed.verifier, first.pending, url, lifetime)
      )
      expect([error.reason, error.code]).toEqual(["Rejected", "invalid_grant"])

      const noIdToken = setup(
        {},
        Effect.map(
          DateTime.now,
          (now) =>
            new Credentials.Credentials({ accessToken: Redacted.make("at"), tokenType: "Bearer", expiresAt: now })
        )
      )
      const second = yield* Authorize.authorize(noIdToken.client, { redirectUri })
      const url2 = callback({ code: "c", state: Redacted.value(second.pending.state), iss: issuer })
      const missing = yield* Effect.flip(
        Authorize.complete(noIdToken.client, noIdToken.verifier, second.pending, url2, lifetime)
      )
      expect(missing.reason).toBe("InvalidIdToken")
      // without openid, none is needed
      const third = yield* Authorize.authorize(noIdToken.client, { redirectUri, scope: "offline_access" })
      const url3 = callback({ code: "c", state: Redacted.value(third.pending.state), iss: issuer })
      const credentials = yield* Authorize.complete(noIdToken.client, noIdToken.verifier, third.pending, url3, lifetime)
      expect(credentials.scope).toBe("offline_access")
    }))
})
