/**
 * The signing keys of id_tokens: RS256 key pairs with `jose`, the JWKS that
 * publishes them, and the check of an id_token presented back to the tenant.
 *
 * Generating an RSA key takes a quarter of a second on a busy machine, and a
 * test run builds hundreds of emulators: the first key of every emulator
 * shares one key pair per process, under a `kid` of its own. A token is
 * looked up by its `kid`, so an emulator refuses a token of another emulator
 * as it refuses one signed by a stranger. `rotate` draws a fresh key pair.
 */
import * as Effect from "effect/Effect"
import * as Jose from "jose"
import * as Jwt from "./jwt.js"

/** The algorithm of every id_token. @internal */
export const ALGORITHM = "RS256"

/** @internal */
export interface SigningKey {
  readonly kid: string
  readonly privateKey: Jose.CryptoKey
  readonly publicJwk: Jose.JWK
}

/** The keys of one emulator: the current one signs, every one is published. @internal */
export interface Keys {
  readonly current: SigningKey
  /** Newest first, the current one included. */
  readonly all: ReadonlyArray<SigningKey>
}

let shared: Promise<Jose.GenerateKeyPairResult> | undefined

const generate = () => Jose.generateKeyPair(ALGORITHM, { extractable: true })

const signingKey = (pair: Jose.GenerateKeyPairResult): Effect.Effect<SigningKey> =>
  Effect.promise(async () => {
    const kid = Jwt.jwtId()
    const jwk = await Jose.exportJWK(pair.publicKey)
    return { kid, privateKey: pair.privateKey, publicJwk: { ...jwk, kid, alg: ALGORITHM, use: "sig" } }
  })

/** The first keys of an emulator: the process's shared key pair under a fresh `kid`. @internal */
export const initial: Effect.Effect<Keys> = Effect.promise(() => (shared ??= generate())).pipe(
  Effect.flatMap(signingKey),
  Effect.map((key) => ({ current: key, all: [key] }))
)

/** A fresh key pair signs from now on; the previous keys stay published. @internal */
export const rotate = (keys: Keys): Effect.Effect<Keys> =>
  Effect.promise(generate).pipe(
    Effect.flatMap(signingKey),
    Effect.map((key) => ({ current: key, all: [key, ...keys.all] }))
  )

/** The JWKS document: the public keys, newest first. @internal */
export const jwks = (keys: Keys): { readonly keys: ReadonlyArray<Jose.JWK> } => ({
  keys: keys.all.map((key) => key.publicJwk)
})

/** A JWT signed with the current key (`alg` RS256, `typ` JWT, `kid`). @internal */
export const sign = (keys: Keys, claims: Jwt.Claims): Effect.Effect<string> =>
  Effect.promise(() =>
    new Jose.SignJWT({ ...claims })
      .setProtectedHeader({ alg: ALGORITHM, typ: "JWT", kid: keys.current.kid })
      .sign(keys.current.privateKey)
  )

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The claims of a JWT signed by one of the keys (found by its `kid`), or
 * `undefined` for a malformed token, an unknown `kid`, another algorithm or a
 * bad signature. The claims are not checked: time is the caller's `Clock`.
 *
 * @internal
 */
export const verify = (keys: Keys, token: string): Effect.Effect<Jwt.Claims | undefined> => {
  const keySet = Jose.createLocalJWKSet({ keys: keys.all.map((key) => key.publicJwk) })
  return Effect.promise(() =>
    Jose.compactVerify(token, keySet, { algorithms: [ALGORITHM] }).then(
      (result) => {
        try {
          const claims: unknown = JSON.parse(new TextDecoder().decode(result.payload))
          return isRecord(claims) ? claims : undefined
        } catch {
          return undefined
        }
      },
      () => undefined
    )
  )
}
