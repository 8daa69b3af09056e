/**
 * Checking the id_token a login brings (OpenID Connect Core §3.1.3.7): its
 * signature against the provider's JWKS, `iss`, `aud` (and `azp` with several
 * audiences), `exp` and `iat` with a small leeway on the `Clock`, `sub`, and
 * the `nonce` of the authorization request. Only asymmetric algorithms are
 * accepted (never `none`, never an HMAC keyed with a public document).
 *
 * The JWKS is fetched through the `HttpClient` (not jose's own fetch), kept,
 * and fetched again once when a token names a key it does not hold (the
 * provider rotated its keys).
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as jose from "jose"
import { AuthApiError, classify, InvalidResponseCode, LoginFailed } from "../../AuthError.js"
import * as Http from "../http.js"
import { equalSecrets } from "./pkce.js"

/** @internal */
export interface Options {
  readonly issuer: string
  readonly clientId: string
  readonly jwksUri: string | undefined
  /** The provider's `id_token_signing_alg_values_supported`; asymmetric ones are kept. */
  readonly algorithms: ReadonlyArray<string> | undefined
  /** How far `exp` and `iat` may be off, in seconds. */
  readonly clockTolerance: number
}

/** @internal */
export interface Verifier {
  /**
   * Succeeds when `idToken` is one this login may accept; `nonce` is the one
   * the authorization request sent (none for the device flow).
   */
  readonly verify: (
    idToken: Redacted.Redacted<string>,
    expected: { readonly nonce: Redacted.Redacted<string> | undefined }
  ) => Effect.Effect<void, LoginFailed>
}

/** The leeway of `exp` and `iat`, in seconds. @internal */
export const defaultClockTolerance = 30

const asymmetric = /^(?:(?:RS|PS|ES)(?:256|384|512)|EdDSA|Ed25519)$/

/** What is accepted when the provider does not say. */
const defaultAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

/** Only asymmetric algorithms: `none` and `HS*` are dropped from whatever the metadata says. @internal */
export const allowedAlgorithms = (fromMetadata: ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  (fromMetadata ?? defaultAlgorithms).filter((alg) => asymmetric.test(alg))

const KeySet = Schema.Struct({ keys: Schema.Array(Schema.Object) })
const decodeKeySet = Schema.decodeUnknownEither(KeySet)

/** How long reading the JWKS may take. */
const jwksTimeout = Duration.seconds(30)

const invalid = (description: string) => new LoginFailed({ reason: "InvalidIdToken", description })

/** @internal */
export const make = (
  client: HttpClient.HttpClient,
  options: Options
): Effect.Effect<Verifier> =>
  Effect.gen(function*() {
    const cache = yield* Ref.make<jose.JSONWebKeySet | undefined>(undefined)
    const algorithms = allowedAlgorithms(options.algorithms)
    const jwksUri = options.jwksUri

    // Through the exchange every request of the client goes through: no
    // redirect followed, the body capped, a bounded wait, the `http.client` span.
    const exchange = Http.make(client, { timeout: jwksTimeout, maxResponseBytes: Http.maxBodyBytes, secrets: [] })
    const fetchKeys = (uri: string): Effect.Effect<jose.JSONWebKeySet, LoginFailed> =>
      exchange.send(
        HttpClientRequest.get(uri),
        { secrets: [] },
        (status, body) =>
          Either.match(Either.flatMap(body, (json) => Either.mapLeft(decodeKeySet(json), () => "")), {
            onLeft: () =>
              Effect.fail(
                new AuthApiError({ status, code: InvalidResponseCode, description: "not a JSON Web Key Set" })
              ),
            onRight: (set) => Effect.succeed(set as unknown as jose.JSONWebKeySet)
          })
      ).pipe(
        Effect.tap((keys) => Ref.set(cache, keys)),
        Effect.mapError((error) =>
          classify(error) === "Transient"
            ? new LoginFailed({
              reason: "Transient",
              description: `the provider's JWKS could not be read: ${error.message}`,
              cause: error
            })
            : invalid(`the id_token cannot be checked: ${error.message}`)
        )
      )

    const check = (
      token: string,
      keys: jose.JSONWebKeySet,
      now: number
    ): Effect.Effect<jose.JWTPayload, unknown> =>
      Effect.tryPromise({
        try: () =>
          jose.jwtVerify(token, jose.createLocalJWKSet(keys), {
            issuer: options.issuer,
            audience: options.clientId,
            algorithms: [...algorithms],
            clockTolerance: options.clockTolerance,
            currentDate: new Date(now),
            requiredClaims: ["iss", "sub", "aud", "exp", "iat"]
          }).then((result) => result.payload),
        catch: (error) => error
      })

    const verify: Verifier["verify"] = (idToken, expected) =>
      Effect.gen(function*() {
        if (jwksUri === undefined) {
          return yield* invalid("the id_token cannot be checked: the provider publishes no jwks_uri")
        }
        if (algorithms.length === 0) {
          return yield* invalid("the provider signs id_tokens only with algorithms that are refused (none, HS*)")
        }
        const now = yield* Clock.currentTimeMillis
        const token = Redacted.value(idToken)
        const cached = yield* Ref.get(cache)
        const first = yield* Effect.either(check(token, cached ?? (yield* fetchKeys(jwksUri)), now))
        // a key the set does not hold: the provider may have rotated its keys since they were read
        const payload = Either.isLeft(first) && cached !== undefined && isUnknownKey(first.left)
          ? yield* Effect.mapError(
            Effect.flatMap(fetchKeys(jwksUri), (keys) => check(token, keys, now)),
            (error) => error instanceof LoginFailed ? error : describe(error)
          )
          : yield* Effect.mapError(first, describe)

        const aud = payload.aud
        if (Array.isArray(aud) && aud.length > 1 && payload.azp === undefined) {
          return yield* invalid("the id_token has several audiences and no azp")
        }
        if (payload.azp !== undefined && payload.azp !== options.clientId) {
          return yield* invalid("the id_token's azp is not this client")
        }
        if (typeof payload.iat !== "number" || payload.iat * 1000 > now + options.clockTolerance * 1000) {
          return yield* invalid("the id_token's iat is in the future")
        }
        if (expected.nonce !== undefined) {
          const nonce = payload["nonce"]
          if (typeof nonce !== "string" || !equalSecrets(nonce, Redacted.value(expected.nonce))) {
            return yield* invalid("the id_token's nonce is not the one this login sent")
          }
        }
      })

    return { verify }
  })

const codeOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined

const isUnknownKey = (error: unknown): boolean => codeOf(error) === "ERR_JWKS_NO_MATCHING_KEY"

/** What jose refused, said without any value of the token (jose's messages are not repeated). */
const describe = (error: unknown): LoginFailed => {
  const code = codeOf(error)
  const claim = typeof error === "object" && error !== null && "claim" in error && typeof error.claim === "string"
    ? error.claim
    : undefined
  switch (code) {
    case "ERR_JWKS_NO_MATCHING_KEY":
      return invalid("the id_token is signed with a key the provider does not publish")
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return invalid("the id_token names no key the provider's JWKS tells apart")
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return invalid("the id_token's signature does not verify")
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return invalid("the id_token is signed with an algorithm that is refused")
    case "ERR_JWT_EXPIRED":
      return invalid("the id_token has expired")
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return invalid(`the id_token's ${claimName(claim)} check failed`)
    default:
      return invalid("the id_token is not a signed JWT this login can read")
  }
}

const knownClaims: ReadonlySet<string> = new Set(["iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "azp"])

/** A claim name jose reports, if it is one of the registered ones (never a value). */
const claimName = (claim: string | undefined): string =>
  claim !== undefined && knownClaims.has(claim) ? claim : "claims"
