/**
 * The signing keys of id_tokens: RS256 key pairs, the JWKS that publishes
 * them, and the check of an id_token presented back to the tenant.
 *
 * Signing and checking are synchronous (`node:crypto`), as the rest of a
 * request is: a request of the in-memory transport runs to its answer (or to
 * the sleep of a `Latency` fault) without waiting on a Promise, so that a
 * `TestClock` adjusted right after it finds its sleep registered. Keys are
 * generated asynchronously, outside requests.
 *
 * Generating an RSA key takes a quarter of a second on a busy machine, and a
 * test run builds hundreds of emulators: the first key of every emulator
 * shares one key pair per process, under a `kid` of its own. A token is
 * looked up by its `kid`, so an emulator refuses a token of another emulator
 * as it refuses one signed by a stranger. `rotate` draws a fresh key pair.
 */
import * as Effect from "effect/Effect"
import type { JsonWebKey, KeyObject } from "node:crypto"
import { generateKeyPair, sign as signWith, verify as verifyWith } from "node:crypto"
import * as Jwt from "./jwt.js"

/** The algorithm of every id_token: RSASSA-PKCS1-v1_5 with SHA-256. @internal */
export const ALGORITHM = "RS256"

/** @internal */
export interface SigningKey {
  readonly kid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly publicJwk: JsonWebKey
}

/** The keys of one emulator: the current one signs, every one is published. @internal */
export interface Keys {
  readonly current: SigningKey
  /** Newest first, the current one included. */
  readonly all: ReadonlyArray<SigningKey>
}

interface Pair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

const generate = (): Promise<Pair> =>
  new Promise((resolve, reject) =>
    generateKeyPair(
      "rsa",
      { modulusLength: 2048 },
      (error, publicKey, privateKey) => error ? reject(error) : resolve({ publicKey, privateKey })
    )
  )

let shared: Promise<Pair> | undefined

const signingKey = (pair: Pair): SigningKey => {
  const kid = Jwt.jwtId()
  // a public RSA key exports `kty`, `n` and `e` only
  const jwk = pair.publicKey.export({ format: "jwk" })
  return { kid, ...pair, publicJwk: { ...jwk, kid, alg: ALGORITHM, use: "sig" } }
}

/** The first keys of an emulator: the process's shared key pair under a fresh `kid`. @internal */
export const initial: Effect.Effect<Keys> = Effect.map(
  Effect.promise(() => (shared ??= generate())),
  (pair) => {
    const key = signingKey(pair)
    return { current: key, all: [key] }
  }
)

/** A fresh key pair signs from now on; the previous keys stay published. @internal */
export const rotate = (keys: Keys): Effect.Effect<Keys> =>
  Effect.map(Effect.promise(generate), (pair) => {
    const key = signingKey(pair)
    return { current: key, all: [key, ...keys.all] }
  })

/** The JWKS document: the public keys, newest first. @internal */
export const jwks = (keys: Keys): { readonly keys: ReadonlyArray<JsonWebKey> } => ({
  keys: keys.all.map((key) => key.publicJwk)
})

const segment = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64url")

/** A JWT signed with the current key (`alg` RS256, `typ` JWT, `kid`). @internal */
export const sign = (keys: Keys, claims: Jwt.Claims): string => {
  const input = `${segment({ alg: ALGORITHM, typ: "JWT", kid: keys.current.kid })}.${segment(claims)}`
  return `${input}.${signWith("sha256", Buffer.from(input), keys.current.privateKey).toString("base64url")}`
}

const base64UrlPattern = /^[A-Za-z0-9_-]*$/

const decode = (part: string): Record<string, unknown> | undefined => {
  if (!base64UrlPattern.test(part)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The claims of a JWT signed by one of the keys (found by its `kid`), or
 * `undefined` for a malformed token, an unknown `kid`, another algorithm or a
 * bad signature. The claims are not checked: time is the caller's `Clock`.
 *
 * @internal
 */
export const verify = (keys: Keys, token: string): Jwt.Claims | undefined => {
  const parts = token.split(".")
  if (parts.length !== 3) return undefined
  const [header, payload, signature] = parts as [string, string, string]
  const decodedHeader = decode(header)
  if (decodedHeader === undefined || decodedHeader.alg !== ALGORITHM) return undefined
  const key = keys.all.find((candidate) => candidate.kid === decodedHeader.kid)
  if (key === undefined || !base64UrlPattern.test(signature)) return undefined
  const valid = verifyWith(
    "sha256",
    Buffer.from(`${header}.${payload}`),
    key.publicKey,
    Buffer.from(signature, "base64url")
  )
  return valid ? decode(payload) : undefined
}
