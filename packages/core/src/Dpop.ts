/**
 * DPoP (RFC 9449): tokens bound to a key that only this application holds. A
 * login with `dpop: true` (the `Login` module) makes a {@link DpopKey}, and
 * the credentials it returns carry it (`Credentials.dpop`), through the
 * `TokenStore` too (encrypted by `TokenCodec.encrypted`): renewals, API
 * credentials and the `AuthorizedClient` sign their proofs with it, with no
 * further option. A stolen access or refresh token is useless without the
 * key.
 *
 * The last `DPoP-Nonce` of each origin is kept in {@link Nonces}, one memory
 * for the process unless a layer provides another.
 *
 * @example
 * ```ts
 * import * as Dpop from "@effect-renewal/core/Dpop"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const key = yield* Dpop.generateKey
 *   console.log(key.jkt.length) // 43: the key's thumbprint, which the server binds tokens to
 *   console.log(String(key.jwk)) // "<redacted>"
 *   // a proof for a request of your own (the AuthorizedClient makes these itself)
 *   const proof = yield* Dpop.proof(key, { method: "GET", url: "https://api.example.com/orders" })
 *   return proof
 * })
 *
 * Effect.runPromise(program)
 * ```
 *
 * @since 0.5.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { InvalidConfiguration, type LoginRequired } from "./AuthError.js"
import * as Binding from "./internal/dpop/binding.js"
import * as Key from "./internal/dpop/key.js"
import * as NonceMemory from "./internal/dpop/nonces.js"
import * as Proof from "./internal/dpop/proof.js"

/** A P-256 coordinate or private scalar: 32 bytes, base64url. */
const Coordinate = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{43}$/))

/**
 * The private JWK of a DPoP key: ES256 (EC P-256), only the members that make
 * the key (no `key_ops`, `ext` or `alg`: the smallest stored form).
 *
 * @since 0.5.0
 * @category schemas
 */
export const PrivateJwk: Schema.Struct<{
  kty: Schema.Literal<["EC"]>
  crv: Schema.Literal<["P-256"]>
  x: typeof Coordinate
  y: typeof Coordinate
  d: typeof Coordinate
}> = Schema.Struct({
  kty: Schema.Literal("EC"),
  crv: Schema.Literal("P-256"),
  x: Coordinate,
  y: Coordinate,
  d: Coordinate
})

/**
 * The private JWK of a DPoP key, decoded.
 *
 * @since 0.5.0
 * @category models
 */
export type PrivateJwk = typeof PrivateJwk.Type

/**
 * A DPoP key: its RFC 7638 SHA-256 thumbprint (`jkt`, which the server binds
 * the tokens to) and its private JWK, `Redacted`: `toString`, `toJSON` and
 * `inspect` never show it; the stored form of credentials does (encrypt the
 * store). Made by {@link generateKey}; before it signs, a key is checked
 * once (its thumbprint must be `jkt`, its halves must belong together).
 *
 * @since 0.5.0
 * @category models
 */
export class DpopKey extends Schema.Class<DpopKey>("@effect-renewal/core/Dpop/DpopKey")({
  jkt: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{43}$/)),
  // a Data struct: two keys with the same JWK are equal (`Equal.equals`)
  jwk: Schema.Redacted(Schema.Data(PrivateJwk))
}) {}

/**
 * A new ES256 key pair, made with WebCrypto (`crypto.subtle.generateKey`).
 *
 * @since 0.5.0
 * @category constructors
 */
export const generateKey: Effect.Effect<DpopKey> = Key.generate((fields) => new DpopKey(fields, true))

/**
 * The key of a private JWK (ES256, e.g. one kept elsewhere and restored), its
 * thumbprint computed. Fails with a `ParseError` (which names no member's
 * value) for a JWK that is not a P-256 private key.
 *
 * @since 0.5.0
 * @category constructors
 */
export const fromJwk = (jwk: unknown): Effect.Effect<DpopKey, ParseResult.ParseError> =>
  Effect.flatMap(
    Effect.mapError(
      Schema.decodeUnknown(PrivateJwk)(jwk),
      () =>
        new ParseResult.ParseError({
          issue: new ParseResult.Type(PrivateJwk.ast, "<redacted>", "an EC P-256 private JWK")
        })
    ),
    (decoded) =>
      Effect.map(
        Key.thumbprint(decoded),
        (jkt) => new DpopKey({ jkt, jwk: Redacted.make(Data.struct(decoded)) }, true)
      )
  )

/**
 * What a proof is for: the request's method and absolute URL (its query and
 * fragment are left out of `htu`), the access token sent with it (for
 * `ath`) and the server's nonce, when known.
 *
 * @since 0.5.0
 * @category models
 */
export interface ProofOptions {
  readonly method: string
  readonly url: string | URL
  readonly accessToken?: Redacted.Redacted<string> | undefined
  readonly nonce?: string | undefined
}

/**
 * A DPoP proof (RFC 9449 §4) signed with `key`: `typ` `dpop+jwt`, ES256, the
 * public JWK in its header; `htm`, `htu`, `iat` from the `Clock`, a fresh
 * `jti`, `nonce` and `ath` when given. Fails with `LoginRequired`
 * `DpopKeyMismatch` for a key that is not the one its thumbprint names, and
 * with `InvalidConfiguration` for a URL that is not absolute.
 *
 * @since 0.5.0
 * @category constructors
 */
export const proof = (
  key: DpopKey,
  options: ProofOptions
): Effect.Effect<Redacted.Redacted<string>, LoginRequired | InvalidConfiguration> =>
  Effect.flatMap(Binding.signerOf(key), (signer) => {
    const href = String(options.url)
    if (!URL.canParse(href)) {
      return Effect.fail(new InvalidConfiguration({ description: "the URL of a DPoP proof must be absolute" }))
    }
    const url = new URL(href)
    return options.accessToken === undefined
      ? Proof.sign(signer, { method: options.method, url, nonce: options.nonce })
      : Effect.flatMap(
        Proof.accessTokenHash(options.accessToken),
        (ath) => Proof.sign(signer, { method: options.method, url, nonce: options.nonce, ath })
      )
  })

/**
 * The last `DPoP-Nonce` each origin gave (the token endpoint's and each
 * resource server's apart), updated from every answer, error or not. Shared
 * by every session of the process (a nonce is the server's); bounded (the
 * least recently set origin is forgotten first); a value that is not a
 * nonce's characters is not kept.
 *
 * @since 0.5.0
 * @category tags
 */
export class Nonces extends Context.Reference<Nonces>()("@effect-renewal/core/Dpop/Nonces", {
  defaultValue: (): Nonces.Service => NonceMemory.make()
}) {}

/**
 * The nonce memory's types.
 *
 * @since 0.5.0
 * @category models
 */
export declare namespace Nonces {
  /**
   * What a nonce memory does: read and keep the last nonce of an origin.
   *
   * @since 0.5.0
   * @category models
   */
  export interface Service {
    /** The last nonce of `origin` (a `URL`'s `origin`), if one is known. */
    readonly get: (origin: string) => string | undefined
    /** Keeps `nonce` as the last of `origin`. */
    readonly set: (origin: string, nonce: string) => void
  }
}

/**
 * A nonce memory of its own, for at most `capacity` origins (1024 unless
 * given).
 *
 * @since 0.5.0
 * @category constructors
 */
export const makeNonces = (capacity?: number): Nonces.Service => NonceMemory.make(capacity)

/**
 * Provides a nonce memory of its own (a test that starts from no nonce).
 *
 * @since 0.5.0
 * @category layers
 */
export const layerNonces = (capacity?: number): Layer.Layer<Nonces> => Layer.sync(Nonces, () => makeNonces(capacity))
