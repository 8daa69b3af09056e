/**
 * A request of the client to the authorization server with a DPoP proof
 * (RFC 9449 §5): `htm` `POST`, `htu` the endpoint, the last nonce the
 * server's origin gave. The answer's `DPoP-Nonce` (success or error) is kept;
 * a `use_dpop_nonce` error is answered once more with the new nonce, inside
 * the same call (so inside the same attempt of the `RenewalPolicy`). The
 * server refused the first request before it looked at the grant (RFC 9449
 * §8), so presenting it again is no reuse.
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { AuthApiError, type AuthenticationError } from "../../AuthError.js"
import { Nonces } from "../../Dpop.js"
import * as Key from "./key.js"
import * as NonceMemory from "./nonces.js"
import * as Proof from "./proof.js"

/** @internal */
export const send = <A>(
  key: Key.KeyFields,
  endpoint: string,
  request: (
    proof: Redacted.Redacted<string>,
    observe: (headers: Headers.Headers) => void
  ) => Effect.Effect<A, AuthenticationError>
): Effect.Effect<A, AuthenticationError> =>
  Effect.gen(function*() {
    const signer = yield* Effect.mapError(Key.signer(key), (problem) =>
      new AuthApiError({
        status: 400,
        code: "invalid_dpop_proof",
        description: `not sent: the DPoP key ${
          problem === "mismatch" ? "is not the key its thumbprint names" : "cannot be used by WebCrypto"
        }`
      }))
    const url = new URL(endpoint)
    const origin = url.origin
    const nonces = yield* Nonces
    const observe = (headers: Headers.Headers) => NonceMemory.observe(nonces, origin, headers)
    const once = (nonce: string | undefined) =>
      Effect.flatMap(Proof.sign(signer, { method: "POST", url, nonce }), (proof) => request(proof, observe))
    const used = nonces.get(origin)
    return yield* Effect.catchIf(
      once(used),
      (error) => {
        if (error._tag !== "AuthApiError" || error.code !== "use_dpop_nonce") return false
        const fresh = nonces.get(origin)
        return fresh !== undefined && fresh !== used
      },
      () => once(nonces.get(origin))
    )
  })
