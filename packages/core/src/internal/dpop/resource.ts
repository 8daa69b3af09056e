/**
 * A request to a resource server with DPoP-bound credentials (RFC 9449 §7):
 * `Authorization: DPoP <token>` and a proof with `ath` and the resource
 * origin's last nonce. The answer's `DPoP-Nonce` is kept; a 401 whose
 * `WWW-Authenticate` says `DPoP error="use_dpop_nonce"` is sent once more
 * with the new nonce (no renewal: the token is fine). The `http.client` span
 * is the exchange's own (`Http.traced`: the request as the caller made it,
 * allow-listed headers, the status), not the platform's, whose exit holds the
 * request sent; a transport error names the request as the caller made it;
 * `dpop` and `dpop-nonce` are redacted wherever the platform still renders
 * headers (an inspected request or response).
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import { constTrue } from "effect/Function"
import * as Redacted from "effect/Redacted"
import type { LoginRequired } from "../../AuthError.js"
import type { Credentials } from "../../Credentials.js"
import { Nonces } from "../../Dpop.js"
import * as Http from "../http.js"
import * as Binding from "./binding.js"
import * as NonceMemory from "./nonces.js"
import * as Proof from "./proof.js"

/** Whether a `WWW-Authenticate` value is a DPoP challenge with `error="use_dpop_nonce"`. @internal */
export const isNonceChallenge = (header: string | undefined): boolean =>
  header !== undefined && /(^|[\s,])DPoP\b/i.test(header) &&
  /(^|[\s,])error\s*=\s*"?use_dpop_nonce"?/i.test(header)

const redactedNames = ["dpop", "dpop-nonce"] as const

/** @internal */
export interface Sender {
  readonly send: (
    request: HttpClientRequest.HttpClientRequest,
    credentials: Credentials
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | LoginRequired>
}

/** @internal */
export const make = (client: HttpClient.HttpClient): Sender => {
  // the token of the last request and its `ath`: the next requests with the same token reuse it
  let last: { readonly token: string; readonly ath: string } | undefined

  const athOf = (token: Redacted.Redacted<string>): Effect.Effect<string> => {
    const value = Redacted.value(token)
    if (last !== undefined && last.token === value) return Effect.succeed(last.ath)
    return Effect.map(Proof.accessTokenHash(token), (ath) => {
      last = { token: value, ath }
      return ath
    })
  }

  const send: Sender["send"] = (request, credentials) =>
    Effect.gen(function*() {
      const key = credentials.dpop
      if (key === undefined) {
        return yield* Binding.missing("the credentials are DPoP-bound and no DPoP key is stored with them")
      }
      const signer = yield* Binding.signerOf(key)
      if (!URL.canParse(request.url)) {
        return yield* new HttpClientError.RequestError({
          request,
          reason: "InvalidUrl",
          description: "a DPoP proof needs the request's absolute URL"
        })
      }
      const url = new URL(request.url)
      const origin = url.origin
      const ath = yield* athOf(credentials.accessToken)
      const nonces = yield* Nonces
      const authorization = `DPoP ${Redacted.value(credentials.accessToken)}`
      const once = (nonce: string | undefined) =>
        Effect.flatMap(Proof.sign(signer, { method: request.method, url, nonce, ath }), (proof) =>
          // the platform's span would end with the request sent (the token, the proof): this one
          // records the request as the caller made it, and the status
          Http.traced(request, (traceHeaders) =>
            client.execute(
              HttpClientRequest.setHeaders(request, {
                ...traceHeaders,
                authorization,
                dpop: Redacted.value(proof)
              })
            ).pipe(
              Effect.locally(HttpClient.currentTracerDisabledWhen, constTrue),
              Effect.tap((response) => NonceMemory.observe(nonces, origin, response.headers)),
              // a failure names the request as the caller made it: no token, no proof
              Effect.mapError((error) =>
                error._tag === "RequestError" ? new HttpClientError.RequestError({ ...error, request }) : error
              )
            )))
      const used = nonces.get(origin)
      const response = yield* once(used)
      if (response.status !== 401 || !isNonceChallenge(response.headers["www-authenticate"])) return response
      const fresh = nonces.get(origin)
      return fresh === undefined || fresh === used ? response : yield* once(fresh)
    }).pipe(Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, ...redactedNames]))

  return { send }
}
