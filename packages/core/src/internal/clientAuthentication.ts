/**
 * How the client proves who it is to the token endpoint (RFC 6749 §2.3,
 * OpenID Core §9): `none`, `client_secret_post`, `client_secret_basic`, or
 * `private_key_jwt` (RFC 7523 §3: an assertion signed with `jose`, fresh for
 * every request). The choice and the key are checked once, when the client is
 * built; the secrets each request carries are named so that the exchange
 * keeps them out of its errors.
 *
 * @internal
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Jose from "jose"
import type * as AuthenticationClient from "../AuthenticationClient.js"
import { AuthApiError, InvalidConfiguration } from "../AuthError.js"

/** @internal */
export const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/**
 * The lifetime of a client assertion: long enough for one request to reach
 * the server, short enough that a captured one is soon useless.
 *
 * @internal
 */
export const assertionLifetimeSeconds = 60

/** @internal */
export interface Authenticated {
  /** Form fields the request gets (`client_id`, a secret or an assertion). */
  readonly fields: Readonly<Record<string, string | undefined>>
  /** A header the request gets (Basic), or the request as is. */
  readonly apply: (request: HttpClientRequest.HttpClientRequest) => HttpClientRequest.HttpClientRequest
  /** What this one request carries that no error may repeat (the assertion). */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/** @internal */
export interface ClientAuthentication {
  readonly method: AuthenticationClient.ClientAuthentication
  /** Secrets every request may carry (the client secret, and its Basic form). */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  /** The authentication of one request; a `private_key_jwt` one is signed now. */
  readonly authenticate: Effect.Effect<Authenticated, AuthApiError>
}

/** @internal */
export interface Options {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  readonly clientAuthentication?: AuthenticationClient.ClientAuthentication | undefined
  readonly privateKey?: AuthenticationClient.PrivateKey | undefined
  readonly privateKeyAlgorithm?: string | undefined
  readonly privateKeyId?: string | undefined
  /** The `aud` of an assertion: the issuer. */
  readonly audience: string
}

const invalid = (description: string) => new InvalidConfiguration({ description })

const methods: ReadonlySet<string> = new Set(["none", "client_secret_post", "client_secret_basic", "private_key_jwt"])

/**
 * Which method the options ask for: the one named, else `client_secret_post`
 * with a secret, `private_key_jwt` with a key, `none` without either. Options
 * that contradict each other fail: a secret and a key, a method without what
 * it needs, or with what another method needs.
 *
 * @internal
 */
export const method = (
  options: Options
): Effect.Effect<AuthenticationClient.ClientAuthentication, InvalidConfiguration> =>
  Effect.suspend(() => {
    const hasSecret = options.clientSecret !== undefined
    const hasKey = options.privateKey !== undefined
    const named = options.clientAuthentication
    if (named !== undefined && !methods.has(named)) {
      return Effect.fail(
        invalid(
          `clientAuthentication must be one of none, client_secret_post, client_secret_basic, private_key_jwt`
        )
      )
    }
    if (hasSecret && hasKey) {
      return Effect.fail(invalid("clientSecret and privateKey are both given: a client authenticates with one of them"))
    }
    if (!hasKey && (options.privateKeyAlgorithm !== undefined || options.privateKeyId !== undefined)) {
      return Effect.fail(invalid("privateKeyAlgorithm and privateKeyId need a privateKey"))
    }
    const chosen = named ?? (hasSecret ? "client_secret_post" : hasKey ? "private_key_jwt" : "none")
    switch (chosen) {
      case "none":
        return hasSecret || hasKey
          ? Effect.fail(invalid(`clientAuthentication none sends no ${hasSecret ? "clientSecret" : "privateKey"}`))
          : Effect.succeed(chosen)
      case "client_secret_post":
      case "client_secret_basic":
        return hasSecret ? Effect.succeed(chosen) : Effect.fail(
          invalid(`clientAuthentication ${chosen} needs a clientSecret${hasKey ? ", not a privateKey" : ""}`)
        )
      case "private_key_jwt":
        return hasKey ? Effect.succeed(chosen) : Effect.fail(
          invalid(`clientAuthentication private_key_jwt needs a privateKey${hasSecret ? ", not a clientSecret" : ""}`)
        )
    }
  })

/** @internal */
export const make = (options: Options): Effect.Effect<ClientAuthentication, InvalidConfiguration> =>
  Effect.gen(function*() {
    const chosen = yield* method(options)
    const clientId = options.clientId
    const secret = options.clientSecret
    switch (chosen) {
      case "none":
        return { method: chosen, secrets: [], authenticate: Effect.succeed(plain({ client_id: clientId })) }
      case "client_secret_post":
      case "client_secret_basic": {
        const value = Redacted.value(secret!)
        // RFC 6749 2.3.1: both parts are form-urlencoded before base64
        const password = Redacted.make(encodeURIComponent(value))
        const secrets = [secret!, Redacted.make(`${encodeURIComponent(clientId)}:${encodeURIComponent(value)}`)]
        // Secrets become plain text here, in the body (or header) of one request, and nowhere else.
        const authenticated: Authenticated = chosen === "client_secret_post"
          ? plain({ client_id: clientId, client_secret: value })
          : {
            fields: { client_id: clientId },
            apply: (request) => HttpClientRequest.basicAuth(request, encodeURIComponent(clientId), password),
            secrets: []
          }
        return { method: chosen, secrets, authenticate: Effect.succeed(authenticated) }
      }
      case "private_key_jwt": {
        const key = yield* importKey(options.privateKey!, options.privateKeyAlgorithm)
        const kid = options.privateKeyId ?? key.kid
        const sign = signer(clientId, options.audience, key, kid)
        // A key that imports may still not sign with the algorithm given (an RSA key and ES256):
        // found now, not at the first request.
        yield* Effect.mapError(
          sign,
          () => invalid(`privateKey cannot sign with ${key.alg}: give the privateKeyAlgorithm that fits the key`)
        )
        return {
          method: chosen,
          secrets: [],
          authenticate: sign.pipe(
            Effect.map((assertion) =>
              plain({ client_id: clientId, client_assertion_type: AssertionType, client_assertion: assertion }, [
                Redacted.make(assertion)
              ])
            ),
            Effect.mapError(() =>
              new AuthApiError({
                status: 0,
                code: "invalid_client",
                description: "not sent: the client assertion could not be signed"
              })
            )
          )
        }
      }
    }
  })

const plain = (
  fields: Readonly<Record<string, string>>,
  secrets: ReadonlyArray<Redacted.Redacted<string>> = []
): Authenticated => ({ fields, apply: (request) => request, secrets })

interface ImportedKey {
  readonly key: Jose.CryptoKey | Uint8Array
  readonly alg: string
  readonly kid: string | undefined
}

/** A fresh assertion (RFC 7523 §3), its times from the `Clock`. */
const signer = (clientId: string, audience: string, key: ImportedKey, kid: string | undefined) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const iat = Math.floor(now / 1000)
    return Effect.tryPromise(() =>
      new Jose.SignJWT({})
        .setProtectedHeader(kid === undefined ? { alg: key.alg, typ: "JWT" } : { alg: key.alg, typ: "JWT", kid })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(audience)
        .setJti(crypto.randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + assertionLifetimeSeconds)
        .sign(key.key)
    )
  })

/** The algorithm a key's type implies (RFC 7518, RFC 8037). */
const algorithmOf = (jwk: Jose.JWK): string | undefined => {
  switch (jwk.kty) {
    case "RSA":
      return "RS256"
    case "EC":
      return jwk.crv === "P-256" ? "ES256" : jwk.crv === "P-384" ? "ES384" : jwk.crv === "P-521" ? "ES512" : undefined
    case "OKP":
      return jwk.crv === "Ed25519" ? "EdDSA" : undefined
    default:
      return undefined
  }
}

/** The algorithms a PKCS#8 key is tried with to learn its type, one per type. */
const probes: ReadonlyArray<string> = ["RS256", "ES256", "ES384", "ES512", "EdDSA"]

const notImported = (what: string) =>
  invalid(`privateKey could not be imported: ${what} (the key itself is never repeated)`)

/**
 * A PKCS#8 PEM, or a private JWK (an object, or its JSON text), imported
 * with `jose`. Without `algorithm`, the key's type says which: RSA → RS256,
 * EC P-256/P-384/P-521 → ES256/ES384/ES512, Ed25519 → EdDSA (a JWK's own
 * `alg` first). No error repeats the key or what `jose` said about it.
 */
const importKey = (
  privateKey: AuthenticationClient.PrivateKey,
  algorithm: string | undefined
): Effect.Effect<ImportedKey, InvalidConfiguration> =>
  Effect.gen(function*() {
    const value: unknown = Redacted.value(privateKey as Redacted.Redacted<unknown>)
    if (typeof value === "string" && value.trim().startsWith("-----BEGIN")) {
      const pem = value.trim()
      if (algorithm !== undefined) {
        const key = yield* Effect.mapError(
          Effect.tryPromise(() => Jose.importPKCS8(pem, algorithm)),
          () => notImported(`not a PKCS#8 PEM private key usable with ${algorithm}`)
        )
        return { key, alg: algorithm, kid: undefined }
      }
      for (const alg of probes) {
        const key = yield* Effect.option(Effect.tryPromise(() => Jose.importPKCS8(pem, alg)))
        if (key._tag === "Some") {
          // ES256 also accepts nothing but P-256, and so on: the first fit is the key's algorithm
          return { key: key.value, alg, kid: undefined }
        }
      }
      return yield* notImported("not a PKCS#8 PEM private key of type RSA, EC (P-256, P-384, P-521) or Ed25519")
    }
    let jwk: unknown = value
    if (typeof value === "string") {
      try {
        jwk = JSON.parse(value)
      } catch {
        return yield* notImported("neither a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) nor a JWK in JSON")
      }
    }
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      return yield* notImported("neither a PKCS#8 PEM nor a JWK object")
    }
    const parsed = jwk as Jose.JWK
    if (typeof parsed.d !== "string") return yield* notImported("the JWK is not a private key (it has no \"d\")")
    const alg = algorithm ?? (typeof parsed.alg === "string" ? parsed.alg : algorithmOf(parsed))
    if (alg === undefined) {
      return yield* notImported(
        "the JWK's key type is not RSA, EC (P-256, P-384, P-521) or Ed25519: give privateKeyAlgorithm"
      )
    }
    const key = yield* Effect.mapError(
      Effect.tryPromise(() => Jose.importJWK(parsed, alg)),
      () => notImported(`the JWK is not a private key usable with ${alg}`)
    )
    return { key, alg, kid: typeof parsed.kid === "string" ? parsed.kid : undefined }
  })
