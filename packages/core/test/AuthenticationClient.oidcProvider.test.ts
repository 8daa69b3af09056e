/**
 * Discovery and client authentication against `oidc-provider` (an OpenID
 * Certified server) in process on loopback, through a real `fetch`: the
 * client reads its discovery document, uses its endpoints (token,
 * revocation), and is accepted with `client_secret_basic`,
 * `client_secret_post` and `private_key_jwt` (RSA, EC and Ed25519 keys);
 * wrong credentials are an `invalid_client` that names the endpoint and is a
 * `Configuration` fault. And `tokenRequest` exchanges an authorization code
 * (PKCE S256), the interaction answered by the support module.
 */
import { AuthenticationClient, AuthError } from "@effect-renewal/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as Jose from "jose"
import * as OidcProvider from "./support/oidcProvider.js"

const SECRET = "a-long-enough-client-secret-0123456789"

const keyPair = (alg: "RS256" | "ES256" | "Ed25519") =>
  Effect.promise(async () => {
    const pair = await Jose.generateKeyPair(alg, { extractable: true })
    return {
      pem: await Jose.exportPKCS8(pair.privateKey),
      publicJwk: { ...(await Jose.exportJWK(pair.publicKey)), kid: `${alg}-key` }
    }
  })

const clientCredentials = (
  client_id: string,
  token_endpoint_auth_method: string,
  extra: Record<string, unknown> = {}
) => ({
  client_id,
  grant_types: ["client_credentials"],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method,
  ...extra
})

const discovered = (issuer: string, options: Omit<AuthenticationClient.DiscoveryOptions, "issuer">) =>
  AuthenticationClient.makeDiscovery({ issuer, timeout: "10 seconds", ...options }).pipe(
    Effect.provide(FetchHttpClient.layer)
  )

describe("AuthenticationClient against oidc-provider", () => {
  it.scopedLive("discovery reads its document; client_secret_basic and _post are accepted; revocation used", () =>
    Effect.gen(function*() {
      const op = yield* OidcProvider.start({
        clients: [
          clientCredentials("basic-client", "client_secret_basic", { client_secret: SECRET }),
          clientCredentials("post-client", "client_secret_post", { client_secret: SECRET })
        ],
        features: { clientCredentials: { enabled: true }, revocation: { enabled: true } }
      })
      const basic = yield* discovered(op.issuer, {
        clientId: "basic-client",
        clientSecret: Redacted.make(SECRET),
        clientAuthentication: "client_secret_basic"
      })
      expect(basic.metadata.issuer).toBe(op.issuer)
      expect(basic.metadata.tokenEndpoint).toBe(`${op.issuer}/token`)
      expect(basic.metadata.revocationEndpoint).toBe(`${op.issuer}/token/revocation`)
      expect(basic.metadata.jwksUri).toBe(`${op.issuer}/jwks`)
      expect(basic.metadata.authorizationEndpoint).toBe(`${op.issuer}/auth`)
      expect(basic.metadata.authorizationResponseIssParameterSupported).toBe(true)

      const credentials = yield* basic.tokenRequest("client_credentials", {})
      expect(credentials.tokenType).toBe("Bearer")
      expect(Redacted.value(credentials.accessToken).length).toBeGreaterThan(10)
      // the revocation endpoint, with the client's authentication (RFC 7009 answers 200 for any token)
      yield* basic.revoke(credentials.accessToken)

      const post = yield* discovered(op.issuer, { clientId: "post-client", clientSecret: Redacted.make(SECRET) })
      const posted = yield* post.tokenRequest("client_credentials", {})
      expect(posted.tokenType).toBe("Bearer")
    }))

  it.scopedLive("a wrong secret is invalid_client: a Configuration fault naming the endpoint, no secret in it", () =>
    Effect.gen(function*() {
      const op = yield* OidcProvider.start({
        clients: [clientCredentials("basic-client", "client_secret_basic", { client_secret: SECRET })],
        features: { clientCredentials: { enabled: true } }
      })
      const wrong = "wrong-secret-9876543210"
      const client = yield* discovered(op.issuer, {
        clientId: "basic-client",
        clientSecret: Redacted.make(wrong),
        clientAuthentication: "client_secret_basic"
      })
      const error = yield* Effect.flip(client.tokenRequest("client_credentials", {}))
      expect(error._tag).toBe("AuthApiError")
      expect(error._tag === "AuthApiError" && error.code).toBe("invalid_client")
      expect(AuthError.classify(error)).toBe("Configuration")
      expect(error.message).toContain(`POST ${op.issuer}/token answered 401`)
      expect(error.message).not.toContain(wrong)
    }))

  for (const alg of ["RS256", "ES256", "Ed25519"] as const) {
    it.scopedLive(`private_key_jwt with an ${alg} key is accepted; another key is not`, () =>
      Effect.gen(function*() {
        const registered = yield* keyPair(alg)
        const other = yield* keyPair(alg)
        const op = yield* OidcProvider.start({
          clients: [
            clientCredentials("jwt-client", "private_key_jwt", {
              jwks: { keys: [registered.publicJwk] },
              token_endpoint_auth_signing_alg: alg === "Ed25519" ? "EdDSA" : alg
            })
          ],
          features: { clientCredentials: { enabled: true } }
        })
        const client = yield* discovered(op.issuer, {
          clientId: "jwt-client",
          privateKey: Redacted.make(registered.pem),
          privateKeyId: `${alg}-key`
        })
        // two requests: each with its own assertion (a replayed jti would be refused)
        yield* client.tokenRequest("client_credentials", {})
        const credentials = yield* client.tokenRequest("client_credentials", {})
        expect(credentials.tokenType).toBe("Bearer")

        const impostor = yield* discovered(op.issuer, {
          clientId: "jwt-client",
          privateKey: Redacted.make(other.pem)
        })
        const error = yield* Effect.flip(impostor.tokenRequest("client_credentials", {}))
        expect(error._tag === "AuthApiError" && error.code).toBe("invalid_client")
      }))
  }

  it.scopedLive("tokenRequest exchanges an authorization code (PKCE) for credentials with an id_token", () =>
    Effect.gen(function*() {
      const redirectUri = "http://127.0.0.1:9/callback"
      const op = yield* OidcProvider.start({
        clients: [{
          client_id: "web-client",
          client_secret: SECRET,
          grant_types: ["authorization_code"],
          response_types: ["code"],
          redirect_uris: [redirectUri],
          token_endpoint_auth_method: "client_secret_basic"
        }],
        accounts: { alice: { email: "alice@example.com" } },
        interaction: () => OidcProvider.approve("alice")
      })
      const client = yield* discovered(op.issuer, {
        clientId: "web-client",
        clientSecret: Redacted.make(SECRET),
        clientAuthentication: "client_secret_basic"
      })
      const verifier = Encoding.encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)))
      const challenge = Encoding.encodeBase64Url(
        new Uint8Array(yield* Effect.promise(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))))
      )
      const authorize = new URL(client.metadata.authorizationEndpoint!)
      for (
        const [name, value] of Object.entries({
          client_id: "web-client",
          response_type: "code",
          redirect_uri: redirectUri,
          scope: "openid email",
          state: "state-1",
          nonce: "nonce-1",
          code_challenge: challenge,
          code_challenge_method: "S256"
        })
      ) authorize.searchParams.set(name, value)
      const callback = new URL(yield* OidcProvider.browse(authorize.href, (url) => url.startsWith(redirectUri)))
      expect(callback.searchParams.get("state")).toBe("state-1")
      expect(callback.searchParams.get("iss")).toBe(op.issuer)
      const code = callback.searchParams.get("code")!

      const credentials = yield* client.tokenRequest("authorization_code", {
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier
      }, { presented: "authorization_code", secrets: [Redacted.make(code), Redacted.make(verifier)] })
      expect(credentials.idToken).toBeDefined()
      const claims = Jose.decodeJwt(Redacted.value(credentials.idToken!))
      expect(claims).toMatchObject({ iss: op.issuer, aud: "web-client", sub: "alice", nonce: "nonce-1" })
      expect(op.interactions.map((i) => i.prompt.name)).toEqual(["login", "consent"])

      // a code is single use: the replay is invalid_grant, presented as the code, the code kept out
      const replay = yield* Effect.flip(
        client.tokenRequest("authorization_code", { code, redirect_uri: redirectUri, code_verifier: verifier }, {
          presented: "authorization_code",
          secrets: [Redacted.make(code), Redacted.make(verifier)]
        })
      )
      expect(replay._tag === "AuthApiError" && [replay.code, replay.presented]).toEqual([
        "invalid_grant",
        "authorization_code"
      ])
      expect(replay.message).not.toContain(code)
    }))
})
