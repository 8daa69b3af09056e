/**
 * A DPoP key (RFC 9449, `Dpop.DpopKey`): an ES256 (P-256) key pair made with
 * WebCrypto, kept as its private JWK (`Redacted`) beside its RFC 7638
 * thumbprint (`jkt`), the form that travels with the credentials through the
 * store. Before it signs,
 * a key is imported once per value and checked: its thumbprint must be the
 * recorded one, and its private half must sign what its public half verifies.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import type { PrivateJwk } from "../../Dpop.js"

/** The fields of a key (`Dpop.DpopKey`'s). @internal */
export interface KeyFields {
  readonly jkt: string
  readonly jwk: Redacted.Redacted<PrivateJwk>
}

/**
 * What signs a proof: the imported private key (not extractable) and the
 * public JWK of the proof's header.
 *
 * @internal
 */
export interface Signer {
  readonly privateKey: CryptoKey
  readonly publicJwk: jose.JWK
}

const algorithm = { name: "ECDSA", namedCurve: "P-256" } as const
const signing = { name: "ECDSA", hash: "SHA-256" } as const

/** The public members of a private JWK, in the order of RFC 7638. @internal */
export const publicOf = (jwk: PrivateJwk): jose.JWK => ({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })

/** The RFC 7638 SHA-256 thumbprint of a key's public half. @internal */
export const thumbprint = (jwk: PrivateJwk): Effect.Effect<string> =>
  Effect.promise(() => jose.calculateJwkThumbprint(publicOf(jwk), "sha256"))

/** Keys already imported and checked, per value: a renewal or a request after the first costs nothing here. */
const signers = new WeakMap<KeyFields, Signer>()

/**
 * A new key pair (WebCrypto, extractable so that its private JWK can be kept
 * with the credentials).
 *
 * @internal
 */
export const generate = <K extends KeyFields>(make: (fields: KeyFields) => K): Effect.Effect<K> =>
  Effect.promise(async () => {
    const pair = await globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])
    const exported = await globalThis.crypto.subtle.exportKey("jwk", pair.privateKey)
    const jwk: PrivateJwk = { kty: "EC", crv: "P-256", x: exported.x!, y: exported.y!, d: exported.d! }
    const key = make({
      jkt: await jose.calculateJwkThumbprint(publicOf(jwk), "sha256"),
      jwk: Redacted.make(Data.struct(jwk))
    })
    signers.set(key, { privateKey: pair.privateKey, publicJwk: publicOf(jwk) })
    return key
  })

/**
 * Why a key cannot sign for its recorded thumbprint: `"mismatch"` (another
 * key: its thumbprint is not the recorded one, or its halves do not belong
 * together), or `"unusable"` (WebCrypto does not take it).
 *
 * @internal
 */
export type Problem = "mismatch" | "unusable"

const probe = new TextEncoder().encode("effect-renewal dpop key check")

/**
 * The signer of `key`, checked once per key value: its thumbprint is the
 * recorded `jkt`, and a signature of its private half verifies with its
 * public half (a key whose `d` was swapped would otherwise sign proofs the
 * server refuses).
 *
 * @internal
 */
export const signer = (key: KeyFields): Effect.Effect<Signer, Problem> => {
  const known = signers.get(key)
  if (known !== undefined) return Effect.succeed(known)
  return Effect.flatMap(
    Effect.tryPromise({
      try: async (): Promise<Signer | "mismatch"> => {
        const jwk = Redacted.value(key.jwk)
        const publicJwk = publicOf(jwk)
        if (await jose.calculateJwkThumbprint(publicJwk, "sha256") !== key.jkt) return "mismatch"
        const subtle = globalThis.crypto.subtle
        const privateKey = await subtle.importKey("jwk", { ...jwk, ext: false }, algorithm, false, ["sign"])
        const verifyKey = await subtle.importKey("jwk", { ...publicJwk, ext: true }, algorithm, false, ["verify"])
        const signature = await subtle.sign(signing, privateKey, probe)
        if (!(await subtle.verify(signing, verifyKey, signature, probe))) return "mismatch"
        return { privateKey, publicJwk }
      },
      catch: (): Problem => "unusable"
    }),
    (result) => {
      if (result === "mismatch") return Effect.fail(result)
      signers.set(key, result)
      return Effect.succeed(result)
    }
  )
}
